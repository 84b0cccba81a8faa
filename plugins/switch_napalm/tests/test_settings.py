"""The [switches] inventory: sites, their nodes and switches, checked with core's rules before any
switch is touched; every error names the entry and the key."""

from __future__ import annotations

import pytest
from tenctl_switch_napalm.settings import SETTINGS, SiteSpec, SwitchSettings, SwitchSpec

from tenctl_core.config import build_config, refuse_secrets
from tenctl_core.errors import ConfigError


def parsed(table: dict) -> SwitchSettings:
    return build_config({"switches": table}, ("test.toml",), None, "test.toml").settings(SETTINGS)


def switch(name: str, **extra) -> dict:
    """A switch entry; a key given as None is left out (TOML has no null)."""
    entry = {
        "name": name,
        "host": "192.0.2.10",
        "user": "tenctl",
        "password_file": f"/etc/tenctl/{name}.password",
        "trunk_ports": ["Ethernet1", "Ethernet2"],
        **extra,
    }
    return {key: value for key, value in entry.items() if value is not None}


def test_an_inventory_of_two_sites_is_read_with_its_defaults():
    settings = parsed(
        {
            "concurrency": 4,
            "sites": [
                {"name": "site-a", "nodes": ["pve1", "pve2"], "switches": [switch("sw-a1"), switch("sw-a2")]},
                {"name": "site-b", "nodes": ["pve3"], "switches": [switch("sw-b1", driver="junos", port=830)]},
            ],
        }
    )
    assert settings.configured and settings.concurrency == 4 and settings.revert_in == 120
    assert [s.name for _, s in settings.switches()] == ["sw-a1", "sw-a2", "sw-b1"]
    assert settings.sites[1] == SiteSpec(
        "site-b",
        ("pve3",),
        (
            SwitchSpec(
                "sw-b1",
                "192.0.2.10",
                "tenctl",
                ("Ethernet1", "Ethernet2"),
                driver="junos",
                port=830,
                password_file="/etc/tenctl/sw-b1.password",
            ),
        ),
    )
    assert parsed({}).configured is False


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"sites": [{"name": "a", "switches": [switch("sw1", host="bad host;")]}]}, "switches.sites[0].switches[0].host"),
        ({"sites": [{"name": "a", "switches": [switch("sw1", trunk_ports=["Eth 1"])]}]}, "trunk_ports"),
        ({"sites": [{"name": "a", "switches": [switch("sw1", trunk_ports=[])]}]}, "names no trunk_ports"),
        ({"sites": [{"name": "a", "switches": [switch("sw1", password_file=None)]}]}, "needs password_file"),
        ({"sites": [{"name": "a", "switches": [switch("sw1", password="x")]}]}, "secrets do not go"),
        ({"sites": [{"name": "a", "switches": [switch("sw1"), switch("sw1")]}]}, "switch sw1 is given twice"),
        ({"sites": [{"name": "a", "nodes": ["pve1"]}, {"name": "b", "nodes": ["pve1"]}]}, "node pve1 is in sites a and b"),
        ({"sites": [{"name": "a"}, {"name": "a"}]}, "site a is given twice"),
        ({"sites": [{"name": "a", "switches": [switch("sw1", transport="telnet")]}]}, "must be one of"),
        ({"sites": [{"name": "a", "switches": [{"name": "sw1"}]}]}, "switches.sites[0].switches[0].host is required"),
        ({"concurrency": 0}, "switches.concurrency"),
    ],
)
def test_a_wrong_inventory_is_refused_naming_the_entry(table, words):
    with pytest.raises(ConfigError) as caught:
        refuse_secrets("test.toml", {"switches": table})
        parsed(table)
    assert words in str(caught.value)
