"""The sdn-vnet provider through the real command line, checked on the lab's SDN state and request log."""

from __future__ import annotations

import json
from importlib import metadata

import pytest
from conftest import count, failed, group_acl, ok, record, records, writes

ZONE = "tenants"
SUBNET_100 = "tenants-10.100.0.0-24"
LOCK = ("POST", "/cluster/sdn/lock")
APPLY = ("PUT", "/cluster/sdn")
ROLLBACK = ("POST", "/cluster/sdn/rollback")


def sdn_writes(lab, mark):
    return [(m, p) for m, p in writes(lab, mark) if p.startswith("/cluster/sdn")]


def sdn_acl(lab, group):
    return [entry for entry in group_acl(lab, group) if entry[0].startswith("/sdn/")]


def nothing_left_of(lab, name):
    pve = lab.pve
    assert f"tenant_{name}" not in pve.pools
    assert f"group_{name}" not in pve.lab_groups
    assert f"admin_{name}@pve" not in pve.lab_users
    assert group_acl(lab, f"group_{name}") == []
    assert name not in records(lab)


# ---------------------------------------------------------------------- registration


def test_registered_through_the_tenctl_entry_point_group():
    found = [ep for ep in metadata.entry_points(group="tenctl") if ep.name == "linux_bridge"]
    assert len(found) == 1
    ep = found[0]
    assert ep.value == "tenctl_linux_bridge.plugin"
    assert ep.dist is not None and ep.dist.name == "tenctl-linux-bridge"
    module = ep.load()
    assert callable(module.tenctl_register_network_provisioners)
    assert callable(module.tenctl_vlans_in_use)


def test_plugins_json_shows_sdn_vnet_owned_by_linux_bridge(lab):
    data = json.loads(ok(lab.run("plugins", "--json")).stdout)
    assert data["failed"] == []
    by_name = {p["name"]: p for p in data["plugins"]}
    plugin = by_name["linux_bridge"]
    assert plugin["distribution"] == "tenctl-linux-bridge" and plugin["builtin"] is False
    assert "network provisioner sdn-vnet" in plugin["provides"]
    owners = [p["name"] for p in data["plugins"] if any(item.endswith(" sdn-vnet") for item in p["provides"])]
    assert owners == ["linux_bridge"]


# ------------------------------------------------------------------------------ init


def test_init_creates_the_zone_with_one_lock_and_one_apply(lab):
    mark = lab.mark()
    ok(lab.run("init"))
    zone = lab.pve.sdn_running["zones"][ZONE]
    assert zone["type"] == "vlan" and zone["bridge"] == "vmbr0"
    assert sdn_writes(lab, mark) == [LOCK, ("POST", "/cluster/sdn/zones"), APPLY]
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()

    again = lab.mark()
    ok(lab.run("init"))
    assert writes(lab, again) == []
    assert lab.pve.sdn_running["zones"] == {ZONE: zone}


def test_init_vxlan_zone_gets_the_nodes_as_peers(lab, other):
    nodes = {
        item["ip"]
        for item in other.call("GET", "/cluster/status")
        if item.get("type") == "node" and item.get("online")
    }
    assert len(nodes) == 3
    mark = lab.mark()
    ok(lab.run("init", "-t", "vxlan", "-z", "tnx"))
    zone = lab.pve.sdn_running["zones"]["tnx"]
    assert zone["type"] == "vxlan"
    assert set(zone["peers"].split(",")) == nodes
    assert int(zone["vxlan-port"]) == 4789
    assert count(lab, mark, *LOCK) == 1 and count(lab, mark, *APPLY) == 1
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()

    again = lab.mark()
    ok(lab.run("init", "-t", "vxlan", "-z", "tnx"))
    assert writes(lab, again) == []


# ------------------------------------------------------------------------------- add


def test_add_before_init_says_to_run_init_and_writes_nothing(lab):
    mark = lab.mark()
    result = failed(lab.run("add", "-n", "acme"))
    assert "tenctl init" in result.stderr and "installation id" in result.stderr
    # An installation whose SDN zone has gone (made by init, deleted by hand) is told the same.
    from tenctl_core.access import TENANT_PRIVILEGES
    from tenctl_core.ownership import ensure_installation

    ensure_installation(lab.dir / "etc-pve" / "tenants")
    lab.pve.lab_roles["TenctlTenant"] = frozenset(TENANT_PRIVILEGES)
    result = failed(lab.run("add", "-n", "acme"))
    assert "tenctl init" in result.stderr and "zone" in result.stderr
    assert writes(lab, mark) == []
    nothing_left_of(lab, "acme")
    assert lab.pve.sdn_config["vnets"] == {} and lab.pve.sdn_running["vnets"] == {}


def test_add_creates_vnet_subnet_and_acl_with_one_lock_and_one_apply(cluster):
    lab = cluster
    pve = lab.pve
    mark = lab.mark()
    ok(lab.run("add", "-n", "acme"))
    # One lock, the two writes under it, one apply that releases it.
    assert sdn_writes(lab, mark) == [
        LOCK,
        ("POST", "/cluster/sdn/vnets"),
        ("POST", "/cluster/sdn/vnets/vn100/subnets"),
        APPLY,
    ]
    assert pve.sdn_lock is None and not pve.sdn_pending()
    vnet = pve.sdn_running["vnets"]["vn100"]
    assert vnet["zone"] == ZONE and int(vnet["tag"]) == 100
    subnet = pve.sdn_running["subnets"][SUBNET_100]
    assert subnet["vnet"] == "vn100" and subnet["gateway"] == "10.100.0.1"
    assert sdn_acl(lab, "group_acme") == [(f"/sdn/zones/{ZONE}/vn100", "PVESDNUser")]
    # The role goes to the group only, never to the user.
    assert not [e for e in pve.lab_acl if e["type"] == "user" and e["path"].startswith("/sdn/")]
    saved = record(lab, "acme")
    assert saved["vlan"] == 100 and saved["plugins"]["sdn-vnet"] == {"zone": ZONE, "vnet": "vn100"} and saved["gateway"] == "10.100.0.1"
    assert saved["status"] == "active"

    second = lab.mark()
    ok(lab.run("add", "-n", "beta"))
    assert count(lab, second, *LOCK) == 1 and count(lab, second, *APPLY) == 1
    assert int(pve.sdn_running["vnets"]["vn101"]["tag"]) == 101
    assert pve.sdn_running["subnets"]["tenants-10.100.1.0-24"]["gateway"] == "10.100.1.1"
    assert set(pve.sdn_running["vnets"]) == {"vn100", "vn101"}
    assert pve.sdn_lock is None and not pve.sdn_pending()


@pytest.mark.parametrize("how", ["api", "state"])
def test_vlans_of_other_zones_are_skipped_by_allocation(cluster, other, how):
    lab = cluster
    pve = lab.pve
    if how == "api":
        other.call("POST", "/cluster/sdn/zones", zone="other", type="vlan", bridge="vmbr1")
        other.call("POST", "/cluster/sdn/vnets", vnet="vnx", zone="other", tag=100)
        other.call("PUT", "/cluster/sdn")
    else:
        for key in ("sdn_config", "sdn_running"):
            state = getattr(pve, key)
            state["zones"]["other"] = {"type": "vlan", "bridge": "vmbr1"}
            state["vnets"]["vnx"] = {"type": "vnet", "zone": "other", "tag": 100}
    assert not pve.sdn_pending()
    ok(lab.run("add", "-n", "acme"))
    assert record(lab, "acme")["vlan"] == 101
    assert int(pve.sdn_running["vnets"]["vn101"]["tag"]) == 101
    assert "vn100" not in pve.sdn_running["vnets"]
    assert (
        pve.sdn_running["vnets"]["vnx"]["zone"] == "other"
        and int(pve.sdn_running["vnets"]["vnx"]["tag"]) == 100
    )
    assert sdn_acl(lab, "group_acme") == [(f"/sdn/zones/{ZONE}/vn101", "PVESDNUser")]


def test_pending_changes_of_someone_else_make_add_refuse(cluster, other):
    lab = cluster
    pve = lab.pve
    other.call("POST", "/cluster/sdn/zones", zone="pend", type="vlan", bridge="vmbr2")
    assert pve.sdn_pending()
    config_before = json.loads(json.dumps(pve.sdn_config))
    running_before = json.loads(json.dumps(pve.sdn_running))
    mark = lab.mark()
    result = failed(lab.run("add", "-n", "acme"))
    assert "pending" in result.stderr
    nothing_left_of(lab, "acme")
    # The other client's changes are neither applied nor rolled back, and no lock is left behind.
    assert pve.sdn_config == config_before and pve.sdn_running == running_before
    assert pve.sdn_pending() and pve.sdn_lock is None
    assert APPLY not in writes(lab, mark) and ROLLBACK not in writes(lab, mark)


def test_sdn_lock_held_by_someone_else_fails_and_undoes_everything(cluster, other):
    lab = cluster
    pve = lab.pve
    token = other.call("POST", "/cluster/sdn/lock")
    mark = lab.mark()
    result = failed(lab.run("add", "-n", "acme"))
    message = result.stderr.lower()
    assert "sdn lock" in message and "held" in message
    # The core steps ran before the SDN step, and were undone.
    assert ("POST", "/pools") in writes(lab, mark)
    nothing_left_of(lab, "acme")
    assert pve.sdn_config["vnets"] == {} and pve.sdn_running["vnets"] == {}
    # tenctl did not take or break the other client's lock.
    assert pve.sdn_lock is not None and pve.sdn_lock["token"] == token
    assert APPLY not in writes(lab, mark) and ("DELETE", "/cluster/sdn/lock") not in writes(lab, mark)

    other.call("DELETE", "/cluster/sdn/lock", **{"lock-token": token})
    ok(lab.run("add", "-n", "acme"))
    assert record(lab, "acme")["vlan"] == 100 and "vn100" in pve.sdn_running["vnets"]


# ---------------------------------------------------------------------------- remove


def test_remove_deletes_vnet_subnet_and_acl_and_applies_once(cluster):
    lab = cluster
    pve = lab.pve
    ok(lab.run("add", "-n", "acme"))
    mark = lab.mark()
    ok(lab.run("remove", "-n", "acme", "-f"))
    assert sdn_writes(lab, mark) == [
        LOCK,
        ("DELETE", f"/cluster/sdn/vnets/vn100/subnets/{SUBNET_100}"),
        ("DELETE", "/cluster/sdn/vnets/vn100"),
        APPLY,
    ]
    for state in (pve.sdn_config, pve.sdn_running):
        assert state["vnets"] == {} and state["subnets"] == {}
        assert ZONE in state["zones"]
    assert sdn_acl(lab, "group_acme") == []
    assert not [e for e in pve.lab_acl if e["path"].startswith("/sdn/")]
    assert pve.sdn_lock is None and not pve.sdn_pending()
    nothing_left_of(lab, "acme")


def test_remove_survives_a_vnet_deleted_by_hand(cluster, other):
    lab = cluster
    pve = lab.pve
    ok(lab.run("add", "-n", "acme"))
    other.call("DELETE", f"/cluster/sdn/vnets/vn100/subnets/{SUBNET_100}")
    other.call("DELETE", "/cluster/sdn/vnets/vn100")
    other.call("PUT", "/cluster/sdn")
    assert "vn100" not in pve.sdn_running["vnets"] and not pve.sdn_pending()
    mark = lab.mark()
    ok(lab.run("remove", "-n", "acme", "-f"))
    assert count(lab, mark, *APPLY) <= 1 and count(lab, mark, *LOCK) == count(lab, mark, *APPLY)
    assert pve.sdn_lock is None and not pve.sdn_pending()
    assert pve.sdn_running["vnets"] == {} and pve.sdn_running["subnets"] == {}
    assert sdn_acl(lab, "group_acme") == []
    nothing_left_of(lab, "acme")


def test_tags_of_pending_vnets_count_as_taken(cluster, other):
    from tenctl_linux_bridge.sdn import sdn_vlans_in_use

    from tenctl_core.config import load_config
    from tenctl_core.context import Context
    from tenctl_core.plugins import get_plugin_manager

    lab = cluster
    other.call("POST", "/cluster/sdn/vnets", vnet="vnp", zone=ZONE, tag=100)
    assert lab.pve.sdn_pending()
    ctx = Context(load_config(str(lab.config)), get_plugin_manager())
    assert 100 in sdn_vlans_in_use(ctx)
    # And tenctl will not plan on top of someone else's unapplied change, not even a dry run.
    result = lab.run("add", "-n", "acme", "--dry-run")
    assert result.exit_code == 1 and "pending changes" in result.stderr and "vnp" in result.stderr
