"""Admission against the cluster's size, limits below what guests use, and warnings about the allocation
pools (VLAN ranges larger than the subnet pool, ranges nearly used up)."""

from __future__ import annotations

import re
import tomllib

import tomli_w
from conftest import audit_events, lab_snapshot, load_records, ok, seed_tenants, tenants_dir

GIB = 1024**3


def small_cluster(lab):
    """3 nodes of 4 cores and 8 GiB: 12 cores and 24576 MB; 80 % is 9 cores and 19660 MB."""
    lab.pve.node_cores = 4
    lab.pve.node_memory = 8 * GIB


def test_adds_beyond_the_cluster_share_are_refused_with_the_numbers(cluster):
    lab = cluster
    small_cluster(lab)
    ok(lab.run("add", "-n", "big", "-c", "8", "-r", "8192"))
    before = lab_snapshot(lab)

    refused = lab.run("add", "-n", "more", "-c", "4", "-r", "1024")
    assert refused.exit_code == 1, refused.stderr
    message = refused.stderr
    assert "not enough cluster CPU for tenant more" in message, message
    # The numbers: the total it would make, what it adds, what is allowed, of how much.
    for number in ("total 12 cores", "4 more", "9 cores are allowed", "80%", "nodes' 12 cores x capacity.cpu_ratio 1"):
        assert number in message, (number, message)
    assert lab_snapshot(lab) == before
    assert sorted(load_records(tenants_dir(lab))) == ["big"]
    assert audit_events(lab)[-1]["outcome"] == "refused"

    # RAM is checked the same way: 8192 + 12288 MB > 19660 MB.
    refused = lab.run("add", "-n", "more", "-c", "1", "-r", "12288")
    assert refused.exit_code == 1
    assert "not enough cluster RAM" in refused.stderr, refused.stderr
    for number in ("total 20480 MB", "12288 more", "19660 MB are allowed", "nodes' 24576 MB x capacity.ram_ratio 1"):
        assert number in refused.stderr, (number, refused.stderr)
    assert lab_snapshot(lab) == before

    # What still fits is accepted: 8 + 1 cores, 8192 + 11468 MB.
    ok(lab.run("add", "-n", "more", "-c", "1", "-r", "11468"))


def test_modify_beyond_the_cluster_share_is_refused(cluster):
    lab = cluster
    small_cluster(lab)
    ok(lab.run("add", "-n", "big", "-c", "8", "-r", "8192"))
    before, record = lab_snapshot(lab), (tenants_dir(lab) / "big.toml").read_text()
    refused = lab.run("modify", "-n", "big", "-c", "10", "--force")
    assert refused.exit_code == 1, refused.stderr
    assert "not enough cluster CPU for tenant big" in refused.stderr
    for number in ("total 10 cores", "2 more", "9 cores are allowed", "nodes' 12 cores x capacity.cpu_ratio 1"):
        assert number in refused.stderr, (number, refused.stderr)
    assert lab_snapshot(lab) == before and (tenants_dir(lab) / "big.toml").read_text() == record
    # Growing within the share is fine.
    ok(lab.run("modify", "-n", "big", "-c", "9", "--force"))


def test_a_limit_below_what_the_guests_use_is_accepted_with_a_warning(cluster):
    lab = cluster
    small_cluster(lab)
    ok(lab.run("add", "-n", "acme", "-c", "8", "-r", "8192"))
    vm = lab.pve.add_vm(701, "web", node="pve1", status="running", config={"cores": 4, "memory": 4096})
    lab.pve._pool_join("tenant_acme", 701)
    result = ok(lab.run("modify", "-n", "acme", "-c", "2", "-r", "2048", "--force"))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any(
        "CPU limit 2 cores is below what the tenant's guests already use (4 cores): 2 cores over" in w
        for w in warnings
    ), result.stderr
    assert any("RAM limit 2048 MB" in w and "(4096 MB): 2048 MB over" in w for w in warnings), result.stderr
    assert all("nothing is stopped or deleted" in w for w in warnings)
    # Nothing is stopped or rewritten.
    assert vm.status == "running" and vm.config["cores"] == 4 and vm.config["memory"] == 4096
    record = load_records(tenants_dir(lab))["acme"]
    assert (record.cpu_limit, record.ram_limit) == (2, 2048)


def write_config(lab, **allocation) -> str:
    document = tomllib.loads(lab.config.read_text())
    document["allocation"].update(allocation)
    path = lab.dir / "tenctl-alloc.toml"
    path.write_text(tomli_w.dumps(document))
    return str(path)


def test_config_check_warns_when_vlans_outnumber_subnets(lab):
    config = write_config(lab, vlan_ranges=["100-999"], subnet_pool="10.0.0.0/24", prefix_length=28)
    result = ok(lab.run("config", "check", env={"TENCTL_CONFIG": config}))
    assert "configuration OK" in result.stdout
    assert re.search(
        r"warning: allocation.vlan_ranges hold 900 VLANs .* only 16 /28 subnets", result.stderr
    ), result.stderr
    # The lab's own configuration (900 VLANs, 256 /24 subnets) gets the same warning; a balanced one none.
    balanced = write_config(lab, vlan_ranges=["100-115"], subnet_pool="10.0.0.0/24", prefix_length=28)
    assert "warning" not in ok(lab.run("config", "check", env={"TENCTL_CONFIG": balanced})).stderr


def test_a_warning_when_the_vlan_ranges_are_nearly_used_up(cluster):
    lab = cluster
    config = {"TENCTL_CONFIG": write_config(lab, vlan_ranges=["100-109"])}
    seen = []
    for i in range(10):
        result = ok(lab.run("add", "-n", f"t{i}", "-c", "1", "-r", "512", env=config))
        seen.append("VLAN ranges are" in result.stderr)
        if seen[-1]:
            assert re.search(r"warning: the VLAN ranges are \d+ % used \((\d+) of 10\)", result.stderr)
            break
    # 10 VLANs: more than 90 % used from the 10th tenant on, never before.
    assert seen == [False] * 9 + [True], seen
    # The ranges are full now: the next add is refused cleanly.
    before = lab_snapshot(lab)
    full = lab.run("add", "-n", "t10", "-c", "1", "-r", "512", env=config)
    assert full.exit_code == 1 and "Traceback" not in full.stderr, full.stderr
    assert "VLAN" in full.stderr
    assert lab_snapshot(lab) == before and not (tenants_dir(lab) / "t10.toml").exists()


def test_vnets_outside_the_ranges_do_not_count_towards_their_use(cluster):
    """VLANs of other zones or outside allocation.vlan_ranges are not part of the ranges' use."""
    lab = cluster
    seed_tenants(lab, 9, start_vlan=500)  # nine tenants on VLANs 500-508, outside 100-109
    config = {"TENCTL_CONFIG": write_config(lab, vlan_ranges=["100-109"])}
    result = ok(lab.run("add", "-n", "fresh", "-c", "1", "-r", "512", env=config))
    # One VLAN of ten is in use now: 10 %, far from 90 %.
    assert "VLAN ranges are" not in result.stderr, result.stderr
