"""Limits against the lab: a tenant's guests pushed over each limit, seen by usage, list, show and health."""

from __future__ import annotations

import json

import pytest
from conftest import ok


def add_guest(lab, vmid, pool, cores, memory_mb, disk_gb, status="running", kind="qemu"):
    config = {"cores": cores, "memory": memory_mb}
    if kind == "qemu":
        config["scsi0"] = f"local-lvm:vm-{vmid}-disk-0,size={disk_gb}G"
        vm = lab.pve.add_vm(vmid, f"vm{vmid}", node="pve1", status=status, config=config)
    else:
        config["rootfs"] = f"local-lvm:subvol-{vmid}-disk-0,size={disk_gb}G"
        vm = lab.pve.add_ct(vmid, f"ct{vmid}", node="pve1", status=status, config=config)
    lab.pve._pool_join(pool, vmid)
    return vm


@pytest.fixture
def tenant_over(cluster):
    """Tenant alpha (8 cores, 4096 MB, 500 GB) with a running 64-core VM on a 2000 GB disk and 6 GB of RAM."""
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "8", "-r", "4096", "-s", "500"))
    ok(lab.run("add", "-n", "bravo", "-c", "8", "-r", "4096", "-s", "500"))
    add_guest(lab, 701, "tenant_alpha", cores=64, memory_mb=6144, disk_gb=2000)
    add_guest(lab, 702, "tenant_alpha", cores=4, memory_mb=1024, disk_gb=10, status="stopped")
    add_guest(lab, 711, "tenant_bravo", cores=7, memory_mb=1024, disk_gb=100)
    return lab


def test_usage_json_names_every_limit_gone_over(tenant_over):
    lab = tenant_over
    mark = lab.mark()
    data = json.loads(ok(lab.run("usage", "-n", "alpha", "--json")).stdout)
    assert [(r["method"], r["path"]) for r in lab.requests_log_since(mark)] == [
        ("GET", "/api2/json/cluster/resources")
    ]
    assert data["tenant_name"] == "alpha" and data["pool_id"] == "tenant_alpha"
    assert data["overall_status"] == "OVER"
    assert (data["vm_count"], data["running_count"]) == (2, 1)
    cpu, ram, disk = (data["resources"][k] for k in ("cpu", "ram", "storage"))
    assert (cpu["running"], cpu["allocated"], cpu["limit"], cpu["percent"], cpu["status"]) == (64, 68, 8, 800.0, "OVER")
    assert (ram["running_mb"], ram["allocated_mb"], ram["limit_mb"], ram["status"]) == (6144, 7168, 4096, "OVER")
    assert (disk["used_gb"], disk["limit_gb"], disk["percent"], disk["status"]) == (2010, 500, 402.0, "OVER")
    assert sorted(vm["vmid"] for vm in data["vms"]) == [701, 702]


def test_usage_sorts_every_tenant_by_highest_share(tenant_over):
    lab = tenant_over
    data = json.loads(ok(lab.run("usage", "--json")).stdout)
    assert [(d["tenant_name"], d["overall_status"]) for d in data] == [("alpha", "OVER"), ("bravo", "WARNING")]
    assert data[1]["resources"]["cpu"]["percent"] == 87.5
    text = ok(lab.run("usage", "-v")).stdout
    assert "✗ alpha: OVER" in text and "⚠ bravo: WARNING" in text
    assert "56 over" in text  # 64 of 8 cores
    assert "VMs: 2 total, 1 running" in text
    assert "701" in text and "vm701" in text  # -v lists the guests
    assert "2 tenant(s): 1 over a limit, 1 near one" in text


def test_list_and_show_flag_the_tenant_over_its_limits(tenant_over):
    lab = tenant_over
    rows = {r["tenant_name"]: r for r in json.loads(ok(lab.run("list", "--json")).stdout)}
    assert rows["alpha"]["limits_status"] == "OVER"
    assert [t.split(" ")[0] for t in rows["alpha"]["over_limits"]] == ["cpu", "ram", "storage"]
    assert rows["bravo"]["limits_status"] == "WARNING" and rows["bravo"]["over_limits"] == []
    table = ok(lab.run("list")).stdout
    assert "OVER: cpu, ram, storage" in table
    shown = ok(lab.run("show", "-n", "alpha")).stdout
    assert "cpu 64 of 8 cores (800.0 %, 56 over)" in shown
    assert "storage 2010 of 500 GB (402.0 %, 1510 over)" in shown


def test_health_fails_on_a_tenant_over_its_limits(tenant_over):
    lab = tenant_over
    result = lab.run("health", "--json")
    assert result.exit_code == 1
    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["limits"]["status"] == "fail"
    details = checks["limits"]["details"]
    assert details[0] == (
        "tenant alpha: cpu 64 of 8 cores (800.0 %, 56 over); ram 6144 of 4096 MB (150.0 %, 2048 over); "
        "storage 2010 of 500 GB (402.0 %, 1510 over)"
    )
    assert not [d for d in details if "bravo" in d]  # 87.5 % is below the critical 90 %


def test_containers_count_like_vms(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "gamma", "-c", "2", "-r", "2048", "-s", "20"))
    add_guest(lab, 801, "tenant_gamma", cores=2, memory_mb=512, disk_gb=30, kind="lxc")
    data = json.loads(ok(lab.run("usage", "-n", "gamma", "--json")).stdout)
    assert data["resources"]["cpu"]["status"] == "CRITICAL"
    assert data["resources"]["storage"]["status"] == "OVER"
    assert data["vms"][0]["type"] == "lxc"


def test_bad_name_is_refused_before_any_request(shared_cluster):
    lab = shared_cluster
    mark = lab.mark()
    result = lab.run("usage", "-n", "Bad Name!")
    assert result.exit_code == 2 and "Bad Name!" in result.stderr
    assert lab.requests_log_since(mark) == []
