"""The lab router's configuration model: set/delete with VyOS's refusals, commit checks, compare, save,
commit-confirm."""

import json

import pytest
from tenctl_lab.vyos import CommitFailed, EditError, VyosRouter


@pytest.fixture
def router(tmp_path):
    return VyosRouter(state_dir=tmp_path / "vyos", minute_seconds=0.05)


def edge(session, vlan=100, net="10.100.0"):
    session.set(f"interfaces ethernet eth1 vif {vlan} address {net}.1/24")
    session.set(f"interfaces ethernet eth1 vif {vlan} description 'tenant acme'")
    session.set(f"nat source rule {vlan} source address {net}.0/24")
    session.set(f"nat source rule {vlan} outbound-interface name eth0")
    session.set(f"nat source rule {vlan} translation address masquerade")


def test_factory_config_has_wan_lan_and_ssh(router):
    assert router.running_commands() == [
        "set interfaces ethernet eth0 address 'dhcp'",
        "set interfaces ethernet eth0 hw-id '0c:76:c4:1e:00:00'",
        "set interfaces ethernet eth1 hw-id '0c:76:c4:1e:00:01'",
        "set service ssh port '22'",
        "set system host-name 'vyos'",
    ]


def test_set_commit_shows_every_value_quoted(router):
    session = router.session()
    edge(session)
    assert session.commit() == []
    commands = router.running_commands()
    assert "set interfaces ethernet eth1 vif 100 description 'tenant acme'" in commands
    assert "set nat source rule 100 translation address 'masquerade'" in commands
    tree = router.running_tree()
    assert tree["interfaces"]["ethernet"]["eth1"]["vif"]["100"] == {
        "address": "10.100.0.1/24",
        "description": "tenant acme",
    }


def test_tag_entries_sort_naturally(router):
    router.configure(
        "set firewall group network-group T10 network 10.10.0.0/24",
        "set firewall group network-group T9 network 10.9.0.0/24",
        "set firewall ipv4 forward filter rule 10 action drop",
        "set firewall ipv4 forward filter rule 9 action accept",
    )
    lines = [x for x in router.running_commands() if x.startswith("set firewall")]
    assert lines == [
        "set firewall group network-group T9 network '10.9.0.0/24'",
        "set firewall group network-group T10 network '10.10.0.0/24'",
        "set firewall ipv4 forward filter rule 9 action 'accept'",
        "set firewall ipv4 forward filter rule 10 action 'drop'",
    ]


@pytest.mark.parametrize(
    ("line", "lines"),
    [
        (
            "interfaces ethernet eth1 vlan 100",
            ["Configuration path: [interfaces ethernet eth1 vlan 100] is not valid", "Set failed"],
        ),
        ("protocols bgp 65000", ["Configuration path: [protocols bgp 65000] is not valid", "Set failed"]),
        (
            "interfaces ethernet eth1 vif 5000",
            ["VLAN ID must be between 0 and 4094", "Value validation failed", "Set failed"],
        ),
        (
            "interfaces ethernet eth1 address 10.0.0.0/24",
            ["Error: 10.0.0.0/24 is not a valid IP host", "Value validation failed", "Set failed"],
        ),
        (
            "interfaces ethernet eth1 description 'a \"b\"'",
            ["Invalid value", "Value validation failed", "Set failed"],
        ),
        (
            "nat source rule 0 translation address masquerade",
            ["NAT rule number must be between 1 and 999999", "Value validation failed", "Set failed"],
        ),
        (
            "firewall ipv4 forward filter rule 1 action jump-anywhere",
            ["Invalid value", "Value validation failed", "Set failed"],
        ),
        (
            "firewall group network-group 'bad name' network 10.0.0.0/24",
            [
                "Name of firewall group can only contain alphanumeric letters, hyphen, underscores and dot",
                "Value validation failed",
                "Set failed",
            ],
        ),
        (
            "firewall group network-group T network 10.0.0.1/24",
            ["Error: 10.0.0.1/24 is not a valid IPv4 prefix", "Value validation failed", "Set failed"],
        ),
        (
            "vrf name t1 table 99",
            ["VRF routing table must be in range from 100 to 65535", "Value validation failed", "Set failed"],
        ),
        ("system host-name", ["Configuration path: [system host-name] requires a value", "Set failed"]),
        (
            "system host-name vyos extra",
            ["Configuration path: [system host-name vyos extra] is not valid", "Set failed"],
        ),
    ],
)
def test_set_refusals_use_vyos_words(router, line, lines):
    session = router.session()
    with pytest.raises(EditError) as refused:
        session.set(line)
    assert refused.value.lines == lines
    assert not session.changed()


def test_delete_of_a_missing_node_is_a_note_not_a_failure(router):
    session = router.session()
    assert session.delete("interfaces ethernet eth1 vif 300") == (
        "Nothing to delete (the specified node does not exist)"
    )
    with pytest.raises(EditError) as refused:
        session.delete("interfaces ethernet eth1 bogus")
    assert refused.value.lines[-1] == "Delete failed"


def test_delete_removes_a_value_a_subtree_and_empty_tag_nodes(router):
    session = router.session()
    edge(session)
    session.set("system name-server 192.0.2.53")
    session.set("system name-server 192.0.2.54")
    session.commit()
    session = router.session()
    session.delete("system name-server 192.0.2.53")
    session.delete("interfaces ethernet eth1 vif 100")
    session.delete("nat source rule 100 description")  # not set: a note only
    session.commit()
    commands = router.running_commands()
    assert "set system name-server '192.0.2.54'" in commands
    assert "set system name-server '192.0.2.53'" not in commands
    assert not any("vif" in line for line in commands)
    assert "vif" not in router.running_tree()["interfaces"]["ethernet"]["eth1"]


def test_nat_rule_without_translation_fails_its_unit_only(router):
    session = router.session()
    session.set("interfaces ethernet eth1 vif 100 address 10.100.0.1/24")
    session.set("nat source rule 100 source address 10.100.0.0/24")
    with pytest.raises(CommitFailed) as failed:
        session.commit()
    assert failed.value.lines == [
        "[ nat ]",
        "Source NAT configuration error in rule 100: translation requires address and/or port",
        "",
        "[[nat]] failed",
        "Commit failed",
    ]
    # VyOS commits node by node: the interface went in, the NAT rule did not; the candidate keeps both.
    assert "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in router.running_commands()
    assert "nat" not in router.running_tree()
    assert session.changed()


def test_firewall_rule_naming_a_missing_group_fails_the_commit(router):
    session = router.session()
    session.set("firewall ipv4 forward filter rule 10 action drop")
    session.set("firewall ipv4 forward filter rule 10 source group network-group TENANT_A")
    with pytest.raises(CommitFailed) as failed:
        session.commit()
    assert 'Invalid network-group "TENANT_A" on firewall rule' in failed.value.lines
    assert failed.value.lines[-1] == "Commit failed"
    session.set("firewall group network-group TENANT_A network 10.100.0.0/24")
    session.commit()
    assert (
        "set firewall ipv4 forward filter rule 10 source group network-group 'TENANT_A'"
        in router.running_commands()
    )


def test_vif_addresses_must_be_unique(router):
    router.configure("set interfaces ethernet eth1 vif 100 address 10.100.0.1/24")
    with pytest.raises(CommitFailed) as failed:
        router.configure("set interfaces ethernet eth1 vif 101 address 10.100.0.1/24")
    assert "Address 10.100.0.1/24 is already assigned to interface eth1.100!" in failed.value.lines


def test_unknown_port_and_vrf_checks(router):
    with pytest.raises(CommitFailed) as failed:
        router.configure("set interfaces ethernet eth7 description x")
    assert 'Interface "eth7" does not exist!' in failed.value.lines
    with pytest.raises(CommitFailed) as failed:
        router.configure("set interfaces ethernet eth1 vif 100 vrf tenant_a")
    assert 'VRF "tenant_a" does not exist!' in failed.value.lines
    with pytest.raises(CommitFailed) as failed:
        router.configure("set vrf name tenant_a description x")
    assert 'VRF "tenant_a" table id is mandatory!' in failed.value.lines
    router.configure("set vrf name tenant_a table 1100", "set interfaces ethernet eth1 vif 100 vrf tenant_a")


def test_no_changes_and_compare(router):
    session = router.session()
    with pytest.raises(CommitFailed) as failed:
        session.commit()
    assert failed.value.lines == ["No configuration changes to commit"]
    assert session.compare() == ["No changes between working and active configurations."]
    edge(session)
    diff = session.compare()
    assert "[edit interfaces ethernet eth1]" in diff
    assert "+vif 100 {" in diff and '+    description "tenant acme"' in diff
    assert "set interfaces ethernet eth1 vif 100 description 'tenant acme'" in session.compare(commands=True)
    session.commit()
    session.delete("interfaces ethernet eth1 vif 100")
    assert session.compare(commands=True) == ["delete interfaces ethernet eth1 vif 100"]
    session.discard()
    assert not session.changed()


def test_save_writes_the_boot_config_and_a_new_router_boots_from_it(router, tmp_path):
    router.configure("set system name-server 192.0.2.53")
    assert router.save() == ["Saving configuration to '/config/config.boot'...", "Done"]
    router.configure("set system name-server 192.0.2.54")  # committed, not saved
    saved = tmp_path / "vyos" / "config.boot.json"
    assert (saved.stat().st_mode & 0o777) == 0o600
    assert json.loads(saved.read_text())["system"]["name-server"] == ["192.0.2.53"]
    assert "name-server 192.0.2.53" in (tmp_path / "vyos" / "config.boot").read_text()
    again = VyosRouter(state_dir=tmp_path / "vyos")
    assert "set system name-server '192.0.2.53'" in again.running_commands()
    assert "set system name-server '192.0.2.54'" not in again.running_commands()
    router.reboot()
    assert router.running_commands() == again.running_commands()


def test_fail_next_commit_applies_nothing(router):
    router.fail_next_commit("commit hook exploded")
    session = router.session()
    edge(session)
    with pytest.raises(CommitFailed) as failed:
        session.commit()
    assert failed.value.lines == ["commit hook exploded", "", "Commit failed"]
    assert "nat" not in router.running_tree()
    assert session.commit() == []  # the fault fires once
    assert "nat" in router.running_tree()


def test_commit_confirm_reverts_without_confirm(router):
    session = router.session()
    edge(session)
    before = router.running_commands()
    assert session.commit_confirm(2) == ["Initialized commit-confirm; 2 minutes to confirm before reload"]
    assert router.commit_confirm_pending()
    assert "nat" in router.running_tree()
    assert router.fire_commit_confirm() is True
    assert router.running_commands() == before
    assert not router.commit_confirm_pending()
    assert router.confirm() == "No confirm pending"


def test_commit_confirm_timer_runs_in_scaled_time(router):
    import time

    session = router.session()
    edge(session)
    session.commit_confirm(1)  # one "minute" is 0.05 s here
    deadline = time.monotonic() + 5
    while router.commit_confirm_pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "nat" not in router.running_tree()
    assert router.log_lines()[-1]["outcome"] == "reverted"


def test_confirm_keeps_the_commit(router):
    session = router.session()
    edge(session)
    session.commit_confirm(1)
    assert router.confirm() == "Reload timer stopped"
    assert router.fire_commit_confirm() is False
    assert "nat" in router.running_tree()
