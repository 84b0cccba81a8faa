"""The router lines tenctl writes and how it reads the router's configuration back (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tenctl_vyos.model import (
    SUSPENDED_GROUP,
    TENANTS_GROUP,
    RouterConfig,
    base_lines,
    isolation_problems,
    member_line,
    nat_lines,
    nat_rule,
    parse_lines,
    quote,
    tree_lines,
    vif_lines,
)


@given(st.text(max_size=40))
def test_quote_lets_no_quote_or_control_character_through(text):
    try:
        quoted = quote(text)
    except ValueError:
        assert set(text) & set("'\"\\\n\r\t;$`&|<>{}[]!#*?~=%^") or not text.isascii() or not text.isprintable()
        return
    assert quoted == f"'{text}'" and "'" not in text and "\n" not in text


def test_a_tenants_lines_are_quoted_and_numbered_by_vlan():
    label = "Tenant acme (tenctl:0123456789ab:acme)"
    assert vif_lines("eth1", 100, {"address": "10.100.0.1/24", "description": label}) == [
        "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'",
        f"set interfaces ethernet eth1 vif 100 description '{label}'",
    ]
    assert nat_rule(100) == 1000
    attrs = {"description": label, "outbound": "eth0", "source": "10.100.0.0/24", "translation": "masquerade"}
    assert nat_lines(1000, attrs) == [
        f"set nat source rule 1000 description '{label}'",
        "set nat source rule 1000 outbound-interface name 'eth0'",
        "set nat source rule 1000 source address '10.100.0.0/24'",
        "set nat source rule 1000 translation address 'masquerade'",
    ]
    assert member_line("set", TENANTS_GROUP, "10.100.0.0/24") == (
        f"set firewall group network-group {TENANTS_GROUP} network '10.100.0.0/24'"
    )
    with pytest.raises(ValueError):
        member_line("set", "OTHER", "10.100.0.0/24")
    with pytest.raises(ValueError):
        vif_lines("eth1", 100, {"address": "10.100.0.1/24'; reboot", "description": label})


def test_an_update_changes_only_what_differs():
    before = {"address": "10.100.0.1/24", "description": "old"}
    after = {"address": "10.100.0.1/24", "description": "new"}
    assert vif_lines("eth1", 7, after, before) == ["set interfaces ethernet eth1 vif 7 description 'new'"]
    moved = {"address": "10.100.9.1/24", "description": "old"}
    assert vif_lines("eth1", 7, moved, before) == [
        "delete interfaces ethernet eth1 vif 7 address",
        "set interfaces ethernet eth1 vif 7 address '10.100.9.1/24'",
    ]


def test_the_running_configuration_reads_the_same_from_commands_and_from_the_api_tree():
    lines = [
        "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'",
        "set interfaces ethernet eth1 vif 100 description 'Tenant acme (tenctl:0123456789ab:acme)'",
        "set nat source rule 1000 source address '10.100.0.0/24'",
        "set nat source rule 1000 translation address 'masquerade'",
        f"set firewall group network-group {TENANTS_GROUP} network '10.100.0.0/24'",
        f"set firewall group network-group {TENANTS_GROUP} network '10.100.1.0/24'",
        "set service ssh",
    ]
    tree = {
        "interfaces": {
            "ethernet": {
                "eth1": {
                    "vif": {
                        "100": {
                            "address": ["10.100.0.1/24"],
                            "description": "Tenant acme (tenctl:0123456789ab:acme)",
                        }
                    }
                }
            }
        },
        "nat": {"source": {"rule": {"1000": {"source": {"address": "10.100.0.0/24"}, "translation": {"address": "masquerade"}}}}},
        "firewall": {"group": {"network-group": {TENANTS_GROUP: {"network": ["10.100.0.0/24", "10.100.1.0/24"]}}}},
        "service": {"ssh": {}},
    }
    for paths in (parse_lines(lines), tree_lines(tree)):
        config = RouterConfig(paths)
        assert config.vifs("eth1") == {
            100: {"address": "10.100.0.1/24", "description": "Tenant acme (tenctl:0123456789ab:acme)"}
        }
        assert config.nat_rules()[1000]["source"] == "10.100.0.0/24"
        assert config.group(TENANTS_GROUP) == ["10.100.0.0/24", "10.100.1.0/24"]
        assert config.has("service", "ssh")


def test_the_base_configuration_holds_the_isolation_rules_it_checks():
    lines = base_lines(lan="eth1", wan="eth0", wan_address="203.0.113.2/24", wan_gateway="203.0.113.1", name_servers=["192.0.2.53"])
    config = RouterConfig(parse_lines(lines))
    assert isolation_problems(config) == []
    assert config.group(SUSPENDED_GROUP) == [] and config.has("firewall", "group", "network-group", SUSPENDED_GROUP)
    broken = RouterConfig([p for p in config.paths if p[:6] != ["firewall", "ipv4", "forward", "filter", "rule", "30"]])
    assert any("rule 30" in p for p in isolation_problems(broken))
