"""Ownership where the platform keeps no marker (IOS, NX-OS): a VLAN is the tenant's on a switch only if
its name is the tenant's and the tenant's record lists the switch's site. The lab cannot serve an IOS
switch (napalm's ios driver needs SCP), so this reads the rule on what napalm's get_vlans gives for one;
no device is contacted."""

from __future__ import annotations

import tomllib

import tomli_w
from tenctl_switch_napalm.provider import PROVIDER, SITES, observed_on

from tenctl_core.config import load_config
from tenctl_core.context import Context
from tenctl_core.model import Tenant
from tenctl_core.plugins import get_plugin_manager


def test_a_vlan_without_marker_is_ours_only_by_name_and_site(lab):
    assert lab.run("init").exit_code == 0
    data = tomllib.loads(lab.config.read_text())
    data["switches"] = {
        "sites": [
            {
                "name": "site-a",
                "switches": [
                    {
                        "name": "sw-i1",
                        "driver": "ios",
                        "host": "192.0.2.20",
                        "user": "tenctl",
                        "password_file": "/nonexistent/not-read",
                        "trunk_ports": ["GigabitEthernet0/1", "GigabitEthernet0/2"],
                    }
                ],
            }
        ]
    }
    path = lab.dir / "ios.toml"
    path.write_text(tomli_w.dumps(data))
    ctx = Context(config=load_config(str(path)), plugins=get_plugin_manager(), command="health")

    def tenant(name: str, vlan: int, sites: list[str]) -> Tenant:
        return Tenant(
            name, f"tenant_{name}", f"group_{name}", f"admin_{name}@pve", vlan, "10.100.0.0/24", "10.100.0.1",
            1, 512, 1, plugins={PROVIDER: {SITES: sites}},
        )

    acme, beta = tenant("acme", 100, ["site-a"]), tenant("beta", 200, ["site-b"])
    read = {
        "vlans": {
            100: {"name": "acme", "interfaces": ["GigabitEthernet0/1", "GigabitEthernet0/2"]},
            101: {"name": "acme", "interfaces": []},
            200: {"name": "beta", "interfaces": ["GigabitEthernet0/1"]},
            300: {"name": "by-hand", "interfaces": ["GigabitEthernet0/1", "GigabitEthernet0/3"]},
        },
        "markers": {},
    }
    found = {o.id: o for o in observed_on(ctx, "sw-i1", read, [acme, beta])}
    assert found["sw-i1/100"].marker == ctx.marker(acme)
    assert found["sw-i1/100"].attrs == {"name": "acme", "trunks": "GigabitEthernet0/1,GigabitEthernet0/2"}
    assert found["sw-i1/101"].marker is None  # the right name on another VLAN id
    assert found["sw-i1/200"].marker is None  # beta's record does not list site-a
    assert found["sw-i1/300"].marker is None
    assert found["sw-i1/300"].attrs["trunks"] == "GigabitEthernet0/1"  # only the inventory's trunk ports
