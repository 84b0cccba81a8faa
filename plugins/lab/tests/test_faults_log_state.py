"""Faults by request number, the request log, and saving/loading the lab's state."""

import json
import os
import stat

import pytest
import requests
from tenctl_lab.pve import LabPve


def test_fail_nth_fails_exactly_the_kth_request(lab, root):
    lab.pve.fail_nth(2, status=503, message="injected outage")
    assert root.call("GET", "/version").status_code == 200
    second = root.call("GET", "/version")
    assert second.status_code == 503 and second.json()["message"].strip() == "injected outage"
    assert root.call("GET", "/version").status_code == 200


def test_logins_are_not_counted_by_fail_nth(lab, client):
    pve_client = client()
    lab.pve.fail_nth(1)
    assert pve_client.login("root@pam", lab.password).status_code == 200
    assert pve_client.call("GET", "/nodes").status_code == 500
    assert pve_client.call("GET", "/nodes").status_code == 200


def test_drop_nth_resets_the_connection(lab, root):
    before = lab.pve.requests_seen()
    lab.pve.drop_nth(1)
    with pytest.raises(requests.ConnectionError):
        root.call("GET", "/version")
    assert root.call("GET", "/version").status_code == 200
    assert lab.pve.requests_seen() == before + 2


def test_request_log_has_one_line_per_request_without_secrets(lab, root, client):
    mark = lab.mark()
    root.ok("POST", "/access/users", userid="logged@pve", password="very-secret-pw")
    assert root.call("GET", "/access/users/nobody@pve").status_code == 500
    client().login("logged@pve", "very-secret-pw")
    assert lab.requests_since(mark) == 3
    lines = lab.requests_log_since(mark)
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/api2/json/access/users", 200),
        ("GET", "/api2/json/access/users/nobody@pve", 500),
        ("POST", "/api2/json/access/ticket", 200),
    ]
    assert all(set(x) == {"time", "method", "path", "status"} for x in lines)
    assert "very-secret-pw" not in lab.request_log.read_text()


def test_state_survives_save_and_load(lab, root, tmp_path):
    root.ok("POST", "/pools", poolid="tenant_s")
    root.ok("POST", "/access/groups", groupid="group_s")
    root.ok("POST", "/access/users", userid="admin_s@pve", password="saved-password", groups="group_s")
    root.ok("PUT", "/access/acl", path="/pool/tenant_s", roles="PVEPoolAdmin", groups="group_s")
    token = root.ok("POST", "/access/users/admin_s@pve/token/ci", privsep=0)["value"]
    root.ok("POST", "/cluster/sdn/zones", zone="tenants", type="vlan", bridge="vmbr0")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone="tenants", tag=100)
    root.ok("PUT", "/cluster/sdn")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn101", zone="tenants", tag=101)
    lock = root.ok("POST", "/cluster/sdn/lock", **{"allow-pending": 1})

    saved = lab.pve.save(tmp_path / "state.json")
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    json.loads(saved.read_text())

    again = LabPve()
    again.load(saved)
    assert "tenant_s" in again.pools
    assert again.check_password("admin_s@pve", "saved-password")
    assert again.group_members("group_s") == ["admin_s@pve"]
    assert again.allowed("admin_s@pve", "/pool/tenant_s", "Pool.Allocate")
    assert not again.allowed("admin_s@pve", "/pool/other", "Pool.Allocate")
    assert again.apitokens["admin_s@pve!ci"] == token
    assert set(again.sdn_running["vnets"]) == {"vn100"} and set(again.sdn_config["vnets"]) == {
        "vn100",
        "vn101",
    }
    assert again.sdn_lock["token"] == lock
