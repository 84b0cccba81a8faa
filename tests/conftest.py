"""Shared fixtures of the end-to-end suite; the ``lab`` fixture comes from tenctl-lab's pytest plugin."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

LAB_FIXTURES = {"lab", "lab_session", "cluster", "shared_cluster"}


def pytest_configure(config: Any) -> None:
    """Every command writes an audit line, also one run without a configuration file of its own
    (``tenctl plugins``, ``migrate``). Such a command reads the user's file, ``$XDG_CONFIG_HOME/tenctl``:
    for the session that is one whose paths are in a directory of the session, so that no test writes
    to the machine's ``/var/log/tenctl``, ``/var/lib/tenctl``, ``/var/backups/tenctl`` or ``/etc/pve`` (where root's defaults
    point) or to the user's own state directory."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    import tomli_w

    session = Path(tempfile.mkdtemp(prefix="tenctl-test-session-"))
    user_config = session / "config" / "tenctl" / "tenctl.toml"
    user_config.parent.mkdir(parents=True)
    paths = {f"{name}_dir": str(session / name) for name in ("log", "cluster", "tenants", "state", "backup")}
    user_config.write_text(tomli_w.dumps({"paths": paths}), encoding="utf-8")
    os.environ["XDG_CONFIG_HOME"] = str(session / "config")
    os.environ["XDG_STATE_HOME"] = str(session / "state")
    config.add_cleanup(lambda: shutil.rmtree(session, ignore_errors=True))


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests that use the lab are end-to-end tests: tox runs them in their own environment."""
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def lab_snapshot(lab: Any) -> dict[str, Any]:
    """The simulated cluster's state that tenctl can change, to compare before and after a command."""
    pve = lab.pve
    state = pve.state()
    return {
        "pools": state.get("pools"),
        "access": pve.access_state(),
        "sdn_config": json.loads(json.dumps(pve.sdn_config)),
        "sdn_running": json.loads(json.dumps(pve.sdn_running)),
        "sdn_lock": pve.sdn_lock,
        "guests": state.get("guests"),
    }


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def created_password(stdout: str) -> str:
    match = re.search(r"\(shown once, store it safely\): (\S+)", stdout)
    assert match, stdout
    return match.group(1)


@pytest.fixture(scope="session")
def shared_cluster(lab_session: Any) -> Any:
    """One initialised lab for the tests that must not change it (bad input, read-only commands)."""
    ok(lab_session.run("init"))
    return lab_session


@pytest.fixture
def cluster(lab: Any) -> Any:
    """A lab on which `tenctl init` has run: the tenants SDN zone exists."""
    ok(lab.run("init"))
    return lab


def seed_tenants(lab: Any, count: int, start_vlan: int = 500) -> list[str]:
    """Put `count` complete tenants straight into the lab (see tenctl_lab.seed)."""
    from tenctl_lab.seed import seed_tenants as seed

    return seed(lab, count, first_vlan=start_vlan)


def tenants_dir(lab: Any) -> Any:
    return lab.dir / "etc-pve" / "tenants"


def lock_entries(lab: Any) -> list[str]:
    """The names in <lab>/etc-pve/priv/lock (tenctl's cluster-wide locks)."""
    directory = lab.dir / "etc-pve" / "priv" / "lock"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def audit_events(lab: Any) -> list[dict[str, Any]]:
    """The audit trail <lab>/log/tenant-management.log, one dict per line."""
    path = lab.dir / "log" / "tenant-management.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def health_of(lab: Any, **run_kwargs: Any) -> dict[str, Any]:
    """`tenctl health --json`, parsed (whatever its exit code)."""
    result = lab.run("health", "--json", **run_kwargs)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def check_named(health: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in health["checks"] if c["check"] == name]


def load_records(directory: Any) -> dict[str, Any]:
    """Every tenant record in a tenants directory, by name (tenctl's own reader)."""
    from pathlib import Path

    from tenctl_core.store import TenantStore

    return {t.name: t for t in TenantStore(Path(directory)).all()}


def settle_requests(lab: Any, timeout: float = 30.0) -> None:
    """Wait until the lab has answered (and logged) every request it received.

    A killed client may leave a request in flight; the lab still finishes it. Bounded poll: the lab counts
    each request when it arrives and logs it when it is answered.
    """
    import time

    deadline = time.monotonic() + timeout
    while lab.pve.requests_seen() > len(lab._log_lines()):
        assert time.monotonic() < deadline, "the lab did not finish the requests it received"
        time.sleep(0.02)


def assert_cluster_matches_records(lab: Any, records: dict[str, Any], zone: str = "tenants") -> None:
    """Every record has its objects on the lab and every tenant-like object on the lab has a record.

    Also: VLANs and subnets are distinct across records, VNet tags and SDN subnets, and SDN holds no
    pending change and no lock.
    """
    import ipaddress

    pve = lab.pve
    assert pve.sdn_lock is None, pve.sdn_lock
    assert not pve.sdn_pending(), (pve.sdn_config, pve.sdn_running)
    running_vnets = {k: v for k, v in pve.sdn_running["vnets"].items() if v.get("zone") == zone}
    running_subnets = {k: v for k, v in pve.sdn_running["subnets"].items() if k.startswith(zone + "-")}
    for tenant in records.values():
        assert tenant.status == "active", (tenant.name, tenant.status)
        assert not tenant.journal, (tenant.name, tenant.journal)
        assert tenant.pool in pve.pools, tenant.name
        assert tenant.group in pve.lab_groups, tenant.name
        user = pve.lab_users.get(tenant.admin_user)
        assert user is not None and tenant.group in user["groups"], tenant.name
        vnet = running_vnets.get(tenant.plugins["sdn-vnet"]["vnet"])
        assert vnet is not None and int(vnet["tag"]) == tenant.vlan, (tenant.name, vnet)
        assert tenant.subnet in vnet.get("alias", ""), (tenant.name, vnet)
        network = ipaddress.IPv4Network(tenant.subnet)
        sid = f"{zone}-{network.network_address}-{network.prefixlen}"
        assert running_subnets.get(sid, {}).get("vnet") == tenant.plugins["sdn-vnet"]["vnet"], (
            tenant.name,
            sid,
        )
    # No orphans.
    assert {p for p in pve.pools if p.startswith("tenant_")} == {t.pool for t in records.values()}
    assert {g for g in pve.lab_groups if g.startswith("group_")} == {t.group for t in records.values()}
    assert {u for u in pve.lab_users if u.startswith("admin_")} == {t.admin_user for t in records.values()}
    assert set(running_vnets) == {t.plugins["sdn-vnet"]["vnet"] for t in records.values()}
    assert {s["vnet"] for s in running_subnets.values()} == {
        t.plugins["sdn-vnet"]["vnet"] for t in records.values()
    }
    # Distinct VLANs and subnets.
    vlans = [t.vlan for t in records.values()]
    assert len(vlans) == len(set(vlans)), sorted(vlans)
    tags = [int(v["tag"]) for v in running_vnets.values()]
    assert len(tags) == len(set(tags)), sorted(tags)
    networks = sorted(ipaddress.IPv4Network(t.subnet) for t in records.values())
    for a, b in zip(networks, networks[1:], strict=False):
        assert not a.overlaps(b), (a, b)
    assert len(running_subnets) == len(records)
    # ACLs: each tenant's group has exactly its grants, and no tenant-like path is granted to anyone else.
    for tenant in records.values():
        granted = sorted(
            (e["path"], e["roleid"])
            for e in pve.lab_acl
            if e["type"] == "group" and e["ugid"] == tenant.group
        )
        assert granted == sorted(
            [
                (f"/pool/{tenant.pool}", "TenctlTenant"),
                (f"/sdn/zones/{zone}/{tenant.plugins['sdn-vnet']['vnet']}", "PVESDNUser"),
                ("/storage/local-lvm", "PVEDatastoreUser"),
            ]
        ), (tenant.name, granted)
    owners = {t.group for t in records.values()}
    for entry in pve.lab_acl:
        if entry["path"].startswith(("/pool/tenant_", f"/sdn/zones/{zone}/")) or entry["ugid"].startswith(
            "group_"
        ):
            assert entry["ugid"] in owners, entry


def installation_id(lab: Any) -> str:
    """The installation id `tenctl init` made for the lab's tenants directory."""
    return (tenants_dir(lab) / ".tenctl-installation").read_text().strip()
