"""Shared fixtures of the end-to-end suite; the ``lab`` fixture comes from tenctl-lab's pytest plugin."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest


def pytest_configure(config: Any) -> None:
    # The suite runs tenctl in hundreds of subprocesses: let them cache bytecode even where the
    # environment turns that off, or each start-up recompiles every module it imports.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


LAB_FIXTURES = {"lab", "lab_session", "cluster", "shared_cluster"}


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
    """Put `count` complete tenants straight into the lab and the tenants directory, as tenctl would leave them.

    Building them through the command line would take minutes; the objects are the same ones `add` makes.
    """
    import ipaddress

    from tenctl_core.model import ACTIVE, Tenant
    from tenctl_core.store import TenantStore

    store = TenantStore(lab.dir / "etc-pve" / "tenants")
    pve = lab.pve
    names = []
    pool = ipaddress.IPv4Network("10.200.0.0/16").subnets(new_prefix=26)
    for i in range(count):
        name = f"seed{i:04d}"
        vlan = start_vlan + i
        subnet = next(pool)
        tenant = Tenant(
            name=name,
            pool=f"tenant_{name}",
            group=f"group_{name}",
            admin_user=f"admin_{name}@pve",
            vlan=vlan,
            subnet=str(subnet),
            gateway=str(subnet.network_address + 1),
            zone="tenants",
            vnet=f"vn{vlan}",
            cpu_limit=1,
            ram_limit=512,
            storage_limit=1,
            status=ACTIVE,
            storages=["local-lvm"],
            created_objects=[f"pool:tenant_{name}", f"group:group_{name}", f"user:admin_{name}@pve"],
        )
        store.save(tenant)
        pve.pools[tenant.pool] = set()
        pve.pool_info[tenant.pool] = {"comment": None, "storage": set()}
        pve.lab_groups[tenant.group] = {"comment": ""}
        pve.lab_users[tenant.admin_user] = {"enable": 1, "expire": 0, "groups": {tenant.group}}
        for key in ("sdn_config", "sdn_running"):
            getattr(pve, key)["vnets"][tenant.vnet] = {
                "vnet": tenant.vnet,
                "zone": "tenants",
                "tag": vlan,
                "type": "vnet",
            }
        names.append(name)
    return names
