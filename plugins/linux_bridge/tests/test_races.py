"""Lost races and shared clusters: what two tenctl installations, or tenctl and someone else, do at once."""

from __future__ import annotations

import json
import tomllib

import pytest
import tomli_w
from conftest import ok, record, records


@pytest.fixture
def cluster(lab):
    ok(lab.run("init"))
    return lab


def position_of_vnet_create(lab) -> int:
    """Which request of an `add` creates the VNet (1-based), learnt from a real add."""
    mark = lab.mark()
    ok(lab.run("add", "-n", "probe"))
    entries = lab.requests_log_since(mark)
    ok(lab.run("remove", "-n", "probe", "-f"))
    logins = sum(1 for e in entries if e["path"].endswith("/access/ticket"))
    for number, entry in enumerate(e for e in entries if not e["path"].endswith("/access/ticket")):
        if entry["method"] == "POST" and entry["path"].endswith("/cluster/sdn/vnets"):
            return number + 1
    raise AssertionError(f"no VNet creation among {entries} ({logins} logins)")


def test_a_tag_taken_meanwhile_is_replaced_by_the_next_free_one(cluster):
    lab = cluster
    k = position_of_vnet_create(lab)
    # Proxmox answers the VNet creation as it does when another client took the tag a moment before.
    lab.pve.fail_nth(k, 500, "create sdn vnet object failed: tag 100 already exist in vnet other")
    result = ok(lab.run("add", "-n", "acme"))
    lab.pve.clear_faults()
    assert "taken by another client" in result.stderr
    tenant = record(lab, "acme")
    assert tenant["vlan"] == 101 and tenant["status"] == "active"
    assert set(lab.pve.sdn_running["vnets"]) == {"vn101"}
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()
    assert "tenant_acme" in lab.pve.pools and "admin_acme@pve" in lab.pve.lab_users
    assert not tenant["journal"]


def test_two_installations_with_separate_records_share_vlans_and_subnets(cluster, tmp_path):
    lab = cluster
    config = tomllib.loads(lab.config.read_text())
    config["paths"]["tenants_dir"] = str(tmp_path / "other-tenants")
    other = tmp_path / "other.toml"
    other.write_text(tomli_w.dumps(config))
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("--config", str(other), "init"))  # its own installation id; the zone is there already
    ok(lab.run("--config", str(other), "add", "-n", "beta"))
    first, second = record(lab, "acme"), json.loads(
        ok(lab.run("--config", str(other), "show", "-n", "beta", "--json")).stdout
    )
    assert first["vlan"] != second["vlan_id"]
    assert first["subnet"] != second["subnet"]
    assert sorted(records(lab)) == ["acme"]
    aliases = sorted(v["alias"] for v in lab.pve.sdn_running["vnets"].values())
    assert [a.partition(" (tenctl:")[0] for a in aliases] == [
        f"Network for acme {first['subnet']}",
        f"Network for beta {second['subnet']}",
    ]
    # Each installation marks its own objects: two different installation ids.
    assert len({a.rpartition("tenctl:")[2].partition(":")[0] for a in aliases}) == 2
