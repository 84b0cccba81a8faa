"""Helpers for the linux_bridge plugin's tests; the ``lab`` fixture comes from tenctl-lab's pytest plugin."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import requests

API_PREFIX = "/api2/json"


def ok(result: Any) -> Any:
    """The result of a tenctl run that must have succeeded."""
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def failed(result: Any) -> Any:
    """The result of a tenctl run that must have failed."""
    assert result.exit_code != 0, f"expected a failure\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def calls(lab: Any, mark: int) -> list[tuple[str, str]]:
    """(method, path without /api2/json) of every request the lab served since mark."""
    out = []
    for entry in lab.requests_log_since(mark):
        path = entry["path"]
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        out.append((entry["method"], path))
    return out


def writes(lab: Any, mark: int) -> list[tuple[str, str]]:
    """The requests since mark that can change something (everything but GET)."""
    return [(method, path) for method, path in calls(lab, mark) if method != "GET"]


def count(lab: Any, mark: int, method: str, path: str) -> int:
    return calls(lab, mark).count((method, path))


def group_acl(lab: Any, group: str) -> list[tuple[str, str]]:
    return sorted(
        (e["path"], e["roleid"]) for e in lab.pve.lab_acl if e["type"] == "group" and e["ugid"] == group
    )


def records(lab: Any) -> list[str]:
    """Names of the tenant records in the lab's tenants directory."""
    directory = lab.dir / "etc-pve" / "tenants"
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.exists() else []


def record(lab: Any, name: str) -> dict[str, Any]:
    return tomllib.loads((lab.dir / "etc-pve" / "tenants" / f"{name}.toml").read_text())


class OtherClient:
    """Another Proxmox client (not tenctl): the lab's root token over HTTPS, form-encoded like proxmoxer."""

    def __init__(self, lab: Any) -> None:
        self.base = lab.url + API_PREFIX
        self.session = requests.Session()
        # REQUESTS_CA_BUNDLE would otherwise override the lab's CA on this machine.
        self.session.trust_env = False
        self.session.verify = str(lab.ca_file)
        self.session.headers["Authorization"] = f"PVEAPIToken={lab.token_id}={lab.token_secret}"

    def call(self, method: str, path: str, **params: Any) -> Any:
        kind = "params" if method == "GET" else "data"
        answer = self.session.request(method, self.base + path, timeout=30, **{kind: params})
        assert answer.status_code == 200, (method, path, answer.status_code, answer.text)
        return answer.json()["data"]


@pytest.fixture
def other(lab: Any) -> OtherClient:
    """A second client of the lab's Proxmox, acting behind tenctl's back."""
    return OtherClient(lab)


@pytest.fixture
def cluster(lab: Any) -> Any:
    """A lab on which `tenctl init` has run: the `tenants` vlan zone exists and is applied."""
    ok(lab.run("init"))
    return lab
