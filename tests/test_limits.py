"""Unit tests of the limits arithmetic (tenctl_core.limits): statuses, what is counted, the guard's verdict."""

from __future__ import annotations

from pathlib import Path

from tenctl_core.guests import Guest
from tenctl_core.limits import (
    CRITICAL,
    OK,
    OVER,
    WARNING,
    measure,
    read_cache,
    start_refusals,
    status_of,
    write_cache,
)
from tenctl_core.model import Tenant

GB = 1024**3
MB = 1024**2


def tenant(cpu: int = 8, ram: int = 16384, storage: int = 500) -> Tenant:
    return Tenant("alpha", "tenant_alpha", "group_alpha", "admin_alpha@pve", 100, "10.100.0.0/24", "10.100.0.1", cpu, ram, storage)


def guest(vmid: int, cores: int, ram_mb: int, disk_gb: int, status: str = "running") -> Guest:
    return Guest(vmid, f"g{vmid}", "qemu", status, "pve1", "tenant_alpha", cores, ram_mb * MB, disk_gb * GB)


def test_thresholds_follow_the_configured_percentages() -> None:
    assert [status_of(v, 100) for v in (0, 79, 80, 89.9, 90, 100, 100.5)] == [
        OK, OK, WARNING, WARNING, CRITICAL, CRITICAL, OVER,
    ]
    assert status_of(70, 100, warning=70, critical=75) == WARNING
    assert status_of(75, 100, warning=70, critical=75) == CRITICAL


def test_cpu_and_ram_count_running_guests_and_storage_every_guest() -> None:
    usage = measure(tenant(), [guest(1, 64, 1024, 2000), guest(2, 4, 2048, 100, status="stopped")])
    assert (usage.cpu.counted, usage.cpu.allocated, usage.cpu.running) == (64, 68, 64)
    assert usage.cpu.status == OVER and usage.cpu.over_by == 56
    assert (usage.ram.counted, usage.ram.allocated) == (1024, 3072)
    assert usage.ram.status == OK
    assert usage.storage.counted == 2100 and usage.storage.status == OVER
    assert usage.overall_status == OVER
    assert [m.resource for m in usage.over] == ["cpu", "storage"]
    data = usage.as_dict()
    assert data["resources"]["cpu"]["allocated"] == 68
    assert data["resources"]["storage"]["used_gb"] == 2100
    assert (data["vm_count"], data["running_count"]) == (2, 1)


def test_starting_a_guest_is_judged_with_the_running_ones() -> None:
    running = guest(1, 6, 8192, 100)
    stopped = guest(2, 4, 4096, 100, status="stopped")
    usage = measure(tenant(), [running, stopped])
    reasons = start_refusals(usage, stopped)
    assert reasons == [
        "cpu limit of tenant alpha is 8 cores: running, qemu 2 (4 cores) would bring it to 10 cores, 2 cores over"
    ]
    small = guest(3, 2, 1024, 10, status="stopped")
    assert start_refusals(measure(tenant(), [running, small]), small) == []


def test_a_tenant_over_its_storage_starts_nothing() -> None:
    big = guest(1, 1, 512, 600, status="stopped")
    reasons = start_refusals(measure(tenant(), [big]), big)
    assert len(reasons) == 1 and reasons[0].startswith("storage limit of tenant alpha is 500 GB")
    assert reasons[0].endswith("100 GB over")


def test_cache_round_trip_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    write_cache(path, [{"type": "qemu", "vmid": 1, "pool": "p", "maxcpu": 2, "secret": "x"}, {"type": "node"}])
    written, resources = read_cache(path) or (0, [])
    assert written > 0 and resources == [{"type": "qemu", "vmid": 1, "pool": "p", "maxcpu": 2}]
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    path.write_text("{not json")
    assert read_cache(path) is None
    assert read_cache(tmp_path / "missing.json") is None
