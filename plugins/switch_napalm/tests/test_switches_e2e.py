"""The switch provider end to end: the real command line against the lab's Proxmox and its four EOS
switches (two sites of two), driven by napalm's own eos driver. Every assertion reads the switch models."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import tomli_w

SITES = {"site-a": ("pve1", "pve2"), "site-b": ("pve3",)}


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def switch_config(lab, **extra) -> Path:
    """The lab's configuration with a [switches] inventory of its four switches."""
    data = tomllib.loads(lab.config.read_text())
    sites = []
    for site, nodes in SITES.items():
        entries = [
            {
                "name": info["name"],
                "driver": info["driver"],
                "host": info["host"],
                "port": info["port"],
                "user": info["user"],
                "password_file": info["password_file"],
                "ca_file": info["ca_file"],
                "trunk_ports": list(info["trunk_ports"]),
            }
            for info in lab.switches_info
            if info["site"] == site
        ]
        sites.append({"name": site, "nodes": list(nodes), "switches": entries})
    data["switches"] = {"sites": sites, **extra}
    path = lab.dir / "switches.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def snapshot(lab) -> dict[str, str]:
    return {name: switch.running_config() for name, switch in lab.switches.items()}


def test_a_tenant_vlan_reaches_every_switch_of_both_sites_and_goes_away_with_it(lab):
    config = switch_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    before = snapshot(lab)
    # A VLAN made by hand on one switch is in use: the tenant gets the next one.
    lab.switches["sw-b1"].configure("vlan 100", "   name by-hand")
    by_hand = snapshot(lab)
    ok(run("add", "-n", "acme"))
    shown = json.loads(ok(run("show", "-n", "acme", "--json")).stdout)
    vlan = shown["vlan_id"]
    assert vlan == 101
    for name, switch in lab.switches.items():
        vlans = switch.vlans()
        assert vlans[vlan]["name"] == "acme", name
        assert vlan in switch.trunk_allowed("Ethernet1") and vlan in switch.trunk_allowed("Ethernet2"), name
        assert {1, 10} <= switch.trunk_allowed("Ethernet1"), name  # what was allowed stays
        assert "tenctl:" in switch.running_config() and ":acme" in switch.running_config()
    assert lab.switches["sw-b1"].vlans()[100]["name"] == "by-hand"
    ok(run("remove", "-n", "acme", "-f"))
    assert snapshot(lab) == by_hand
    lab.switches["sw-b1"].configure("no vlan 100")
    assert snapshot(lab) == before


def test_one_switch_refusing_its_commit_puts_every_switch_back_and_undoes_the_tenant(lab):
    config = switch_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    before = snapshot(lab)
    lab.switches["sw-b2"].fail_next_commit()
    result = run("add", "-n", "acme")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "sw-b2" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(lab) == before
    assert not any(s.commit_timer_pending() for s in lab.switches.values())
    assert "tenant_acme" not in lab.pve.pools and "vn100" not in lab.pve.sdn_running["vnets"]
    ok(run("add", "-n", "acme"))  # and the same command works once the switch does


def test_a_dry_run_shows_each_switch_and_changes_nothing(lab):
    config = switch_config(lab)
    ok(lab.run("--config", str(config), "init"))
    before = snapshot(lab)
    plan = json.loads(ok(lab.run("--config", str(config), "add", "-n", "acme", "--dry-run", "--json")).stdout)
    [step] = [s for s in plan["steps"] if s["provider"] == "switch-vlans"]
    for name in lab.switches:
        assert f"--- switch {name}" in step["diff"]
    # The switches' own diffs (compare_config), not the texts sent: the trunk's whole new allowed list.
    assert "+vlan 100" in step["diff"] and "+   switchport trunk allowed vlan 1,10,100" in step["diff"]
    assert snapshot(lab) == before
    assert all(not s.session_states() or "pending" not in str(s.session_states()) for s in lab.switches.values())


def test_a_site_can_be_chosen_and_an_unknown_one_is_refused_before_any_change(lab):
    config = switch_config(lab)
    ok(lab.run("--config", str(config), "init"))
    before = snapshot(lab)
    bad = lab.run("--config", str(config), "add", "-n", "acme", "--site", "site-z")
    assert bad.exit_code == 2 and "site-z" in bad.stderr
    assert snapshot(lab) == before and "tenant_acme" not in lab.pve.pools
    ok(lab.run("--config", str(config), "add", "-n", "acme", "--site", "site-b"))
    assert 100 in lab.switches["sw-b1"].vlans() and 100 in lab.switches["sw-b2"].vlans()
    assert 100 not in lab.switches["sw-a1"].vlans() and 100 not in lab.switches["sw-a2"].vlans()


def test_status_health_and_diff_see_a_vlan_deleted_by_hand_and_sync_puts_it_back(lab):
    config = switch_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("add", "-n", "acme"))
    text = ok(run("switch", "status")).stdout
    assert "switch sw-b1 (site-b, eos): reachable" in text and "cEOSLab" in text
    first = json.loads(ok(run("switch", "status", "--site", "site-a", "--json")).stdout)
    assert [r["switch"] for r in first] == ["sw-a1", "sw-a2"]
    assert first[0]["facts"]["hostname"] == "sw-a1" and first[0]["tenants_present"] == ["acme"]
    whole = snapshot(lab)
    lab.switches["sw-a2"].configure("no vlan 100")
    status = run("switch", "status", "--json")
    assert status.exit_code == 1
    problems = {r["switch"]: r["problems"] for r in json.loads(status.stdout)}
    assert problems["sw-a2"] == ["tenant acme: VLAN 100 is missing"] and problems["sw-a1"] == []
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert checks["switch-vlans"]["status"] == "fail" and "sw-a2" in json.dumps(checks["switch-vlans"])
    diff = ok(run("switch", "diff", "-n", "acme")).stdout
    assert "--- switch sw-a2" in diff and "+vlan 100" in diff and "sw-a1" not in diff
    assert not lab.switches["sw-a2"].session_states() or all(
        s != "pending" for s in lab.switches["sw-a2"].session_states().values()
    )
    ok(run("sync", "-n", "acme"))
    assert snapshot(lab) == whole
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert checks["switch-vlans"]["status"] == "pass" and checks["switches-reachable"]["status"] == "pass"


def test_sync_prune_deletes_a_vlan_of_a_tenant_without_record_and_nothing_made_by_hand(lab):
    config = switch_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    before = snapshot(lab)
    ok(run("add", "-n", "acme"))
    (lab.dir / "etc-pve" / "tenants" / "acme.toml").unlink()
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert "belongs to tenant acme, which has no record" in json.dumps(checks["switch-vlans"])
    ok(run("sync", "--all", "--prune"))
    assert snapshot(lab) == before


def test_a_switch_that_does_not_answer_stops_add_before_any_change(lab):
    """Its VLANs cannot be read, so no VLAN can be known free: add refuses, naming the switch."""
    config = switch_config(lab)
    ok(lab.run("--config", str(config), "init"))
    before = snapshot(lab)
    lab.switches["sw-b1"].unreachable()
    try:
        result = lab.run("--config", str(config), "add", "-n", "acme")
    finally:
        lab.switches["sw-b1"].unreachable(False)
    assert result.exit_code == 1 and "sw-b1" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(lab) == before and "tenant_acme" not in lab.pve.pools


def test_tenants_added_before_the_switches_were_configured_get_their_vlan_from_sync(lab):
    ok(lab.run("init"))
    ok(lab.run("add", "-n", "acme"))  # the lab's plain configuration: no [switches]
    before = snapshot(lab)
    config = switch_config(lab)
    health = lab.run("--config", str(config), "health", "--json")
    assert health.exit_code == 1 and "VLAN 100 is missing" in health.stdout
    assert snapshot(lab) == before
    ok(lab.run("--config", str(config), "sync", "--all"))
    for name, switch in lab.switches.items():
        assert switch.vlans()[100]["name"] == "acme", name
        assert 100 in switch.trunk_allowed("Ethernet1") and 100 in switch.trunk_allowed("Ethernet2"), name
