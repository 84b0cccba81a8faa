"""The command's one Proxmox session over time: a password session outlives its ticket."""

from __future__ import annotations

import pytest
from test_trust import config_with

from tenctl_core.config import load_config
from tenctl_core.errors import ProxmoxError
from tenctl_core.proxmox import ProxmoxClient


def test_an_expired_ticket_is_renewed_once_and_the_request_sent_again(lab, tmp_path):
    config = config_with(
        lab, tmp_path / "password.toml", {}, drop=["proxmox.token_name", "proxmox.token_secret_file"]
    )
    client = ProxmoxClient(load_config(str(config)))
    try:
        assert client.get("/version")
        lab.pve.revoke_tickets()  # what PVE does to a ticket after two hours
        mark = lab.mark()
        assert client.get("/version")
    finally:
        client.close()
    assert [(r["method"], r["path"], r["status"]) for r in lab.requests_log_since(mark)] == [
        ("GET", "/api2/json/version", 401),
        ("POST", "/api2/json/access/ticket", 200),
        ("GET", "/api2/json/version", 200),
    ]


def test_a_refused_token_is_not_retried(lab):
    client = ProxmoxClient(load_config(str(lab.config)))
    try:
        assert client.get("/version")
        lab.pve.apitokens.clear()
        mark = lab.mark()
        with pytest.raises(ProxmoxError) as refused:
            client.get("/version")
    finally:
        client.close()
    assert refused.value.status == 401
    assert lab.requests_since(mark) == 1
