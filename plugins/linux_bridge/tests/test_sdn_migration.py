"""The Bash tool's SDN keys through `tenctl migrate`: the [sdn] table, each value checked by its rules."""

from __future__ import annotations

import pytest
from tenctl_linux_bridge.migration import migrate_bash_config
from tenctl_linux_bridge.settings import SETTINGS, SdnSettings

from tenctl_core.config import build_config

BASH_SDN = {"SDN_ZONE_TYPE": "vxlan", "SDN_ZONE_NAME": "tenants", "NETWORK_BRIDGE": "vmbr1", "VXLAN_PORT": "4790"}


def test_the_bash_zone_becomes_the_sdn_table():
    out = migrate_bash_config(BASH_SDN)
    assert out is not None and out.invalid == {} and out.ignored == {}
    assert out.tables == {"sdn": {"zone": "tenants", "zone_type": "vxlan", "bridge": "vmbr1", "vxlan_port": 4790}}
    assert out.used["VXLAN_PORT"] == ["sdn.vxlan_port = 4790"]
    config = build_config(dict(out.tables), ("migrated",), None, "migrated")
    assert config.settings(SETTINGS) == SdnSettings(zone_type="vxlan", bridge="vmbr1", vxlan_port=4790)
    assert any("tenctl init" in action and "tenants" in action for action in out.actions)


def test_no_sdn_key_no_answer():
    assert migrate_bash_config({"VLAN_START": "100"}) is None


def test_an_empty_value_keeps_the_default():
    out = migrate_bash_config({"NETWORK_BRIDGE": " "})
    assert out is not None and out.tables == {}
    assert out.ignored["NETWORK_BRIDGE"] == "empty: sdn.bridge keeps its default"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("SDN_ZONE_NAME", "tenants01", "must be 2-8 letters or digits"),
        ("SDN_ZONE_NAME", "1zone", "starting with a letter"),
        ("SDN_ZONE_TYPE", "evpn", "must be one of vlan, qinq, vxlan, simple"),
        ("NETWORK_BRIDGE", "vmbr0;reboot", "is not a valid interface name"),
        ("VXLAN_PORT", "70000", "must be between 1 and 65535"),
        ("VXLAN_PORT", "4789/udp", "must be a whole number"),
    ],
)
def test_a_value_that_would_be_wrong_is_refused(key, value, reason):
    out = migrate_bash_config({**BASH_SDN, key: value})
    assert out is not None
    assert reason in out.invalid[key]
    assert set(out.invalid) == {key}
