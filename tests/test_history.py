"""Unit tests of the watcher's pure parts: crossings between statuses, the usage history file and the file of
announced statuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tenctl_core.announcer import (
    Announced,
    AnnouncedDamaged,
    load_announced,
    read_announced,
    write_announced,
)
from tenctl_core.guests import Guest
from tenctl_core.history import (
    History,
    HistoryDamaged,
    Sample,
    TenantHistory,
    load_history,
    read_history,
    write_history,
)
from tenctl_core.limits import measure
from tenctl_core.model import Tenant
from tenctl_core.watch import LIMIT, RECOVERY, THRESHOLD, Crossing, crossings_of

GB = 1024**3
MB = 1024**2


def tenant(cpu: int = 8, ram: int = 16384, storage: int = 500) -> Tenant:
    return Tenant(
        "alpha",
        "tenant_alpha",
        "group_alpha",
        "admin_alpha@pve",
        100,
        "10.100.0.0/24",
        "10.100.0.1",
        cpu,
        ram,
        storage,
    )


def usage(cores: int, ram_mb: int = 1024, disk_gb: int = 10, cpu_limit: int = 8):
    guest = Guest(1, "g1", "qemu", "running", "pve1", "tenant_alpha", cores, ram_mb * MB, disk_gb * GB)
    return measure(tenant(cpu=cpu_limit), [guest])


def follow(core_counts: list[int]) -> list[tuple[str, str, str]]:
    """The crossings a watcher announces while the tenant's running cores go through core_counts."""
    last: dict[str, str] = {}
    seen = []
    for at, cores in enumerate(core_counts):
        current = usage(cores)
        seen += [(c.before, c.after, c.kind) for c in crossings_of(current, last, at)]
        last = {m.resource: m.status for m in current.measures}
    return seen


def test_staying_over_is_announced_once_and_coming_back_again() -> None:
    assert follow([12] * 100) == [("OK", "OVER", LIMIT)]
    assert follow([12, 12, 2, 2, 12]) == [
        ("OK", "OVER", LIMIT),
        ("OVER", "OK", RECOVERY),
        ("OK", "OVER", LIMIT),
    ]


def test_each_step_up_and_down_is_one_crossing() -> None:
    # Of 8 cores, 7 are 87.5 % (WARNING), 8 are 100 % (CRITICAL: at the limit, not over it), 9 are OVER.
    assert follow([1, 7, 8, 9, 8, 7, 1]) == [
        ("OK", "WARNING", THRESHOLD),
        ("WARNING", "CRITICAL", THRESHOLD),
        ("CRITICAL", "OVER", LIMIT),
        ("OVER", "CRITICAL", RECOVERY),
        ("CRITICAL", "WARNING", RECOVERY),
        ("WARNING", "OK", RECOVERY),
    ]
    # A jump over several lines is one crossing.
    assert follow([1, 20, 1]) == [("OK", "OVER", LIMIT), ("OVER", "OK", RECOVERY)]


def test_a_tenant_never_seen_starts_from_ok() -> None:
    assert crossings_of(usage(1), {}, 0) == []
    assert [c.after for c in crossings_of(usage(12, ram_mb=20000), {}, 0)] == ["OVER", "OVER"]


def test_messages_name_the_tenant_the_figures_and_the_change() -> None:
    def crossing(before: str, after: str, counted: float, limit: int = 8) -> Crossing:
        return Crossing("alpha", "cpu", before, after, counted, limit, round(100 * counted / limit, 1), 0)

    assert crossing("OK", "OVER", 12).message == "tenant alpha: cpu OVER (12 of 8 cores, 4 over)"
    assert crossing("OK", "WARNING", 7).message == "tenant alpha: cpu WARNING (7 of 8 cores, 87.5 %)"
    assert (
        crossing("OVER", "OK", 2).message == "tenant alpha: cpu back to OK (2 of 8 cores, 25.0 %; was OVER)"
    )
    assert (
        crossing("OVER", "CRITICAL", 8).message
        == "tenant alpha: cpu down to CRITICAL (8 of 8 cores, 100.0 %; was OVER)"
    )
    ram = Crossing("alpha", "storage", "OK", "OVER", 120.5, 100, 120.5, 0)
    assert ram.message == "tenant alpha: storage OVER (120.5 of 100 GB, 20.5 over)"
    assert ram.details() == {
        "kind": "limit",
        "resource": "storage",
        "from": "OK",
        "to": "OVER",
        "counted": 120.5,
        "limit": 100,
        "unit": "GB",
        "percent": 120.5,
    }


def sample(at: float, cpu: float = 4, ram: float = 1024, storage: float = 10.5) -> Sample:
    return Sample(at, (cpu, ram, storage), (8, 16384, 500))


def test_history_round_trip_is_bounded_and_compact(tmp_path: Path) -> None:
    history = History()
    entry = history.of("alpha")
    for at in range(10):
        entry.add(sample(1_700_000_000 + 60 * at, cpu=at), keep=4)
    path = tmp_path / "state" / "usage-history.json"
    write_history(path, history)
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    raw = json.loads(path.read_text())
    assert raw["tenants"]["alpha"]["samples"][0] == [1_700_000_360, 6, 8, 1024, 16384, 10.5, 500]
    again = read_history(path)
    assert [s.value("cpu") for s in again.tenants["alpha"].samples] == [6, 7, 8, 9]
    assert again.tenants["alpha"].samples[-1].percent("cpu") == 112.5
    assert [p.name for p in path.parent.iterdir()] == ["usage-history.json"]


def test_keep_only_forgets_removed_tenants() -> None:
    history = History({"alpha": TenantHistory([sample(1)]), "beta": TenantHistory([sample(1)])})
    assert history.keep_only({"alpha", "gamma"}) == ["beta"]
    assert set(history.tenants) == {"alpha"}


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": 2, "tenants": {}}',
        '{"version": 1, "tenants": []}',
        '{"version": 1, "tenants": {"a": {"samples": [[1, 2, 3]]}}}',
        '{"version": 1, "tenants": {"a": {"samples": [[1, 2, 3, 4, 5, 6, "7"]]}}}',
        '{"version": 1, "tenants": {"a": {"samples": [[1, 2, 3, 4, 5, 6, -7]]}}}',
        '{"version": 1, "tenants": {"a": {"samples": [[1, 2, 3, 4, 5, 6, NaN]]}}}',
    ],
)
def test_a_damaged_history_is_recognised(tmp_path: Path, text: str) -> None:
    path = tmp_path / "usage-history.json"
    path.write_text(text)
    with pytest.raises(HistoryDamaged):
        read_history(path)
    warnings: list[str] = []
    assert load_history(path, warnings.append).tenants == {}
    assert not path.exists() and len(warnings) == 1
    assert [p.read_text() for p in tmp_path.iterdir()] == [text]


def test_a_missing_history_is_empty_and_binary_garbage_is_damage(tmp_path: Path) -> None:
    assert read_history(tmp_path / "none.json").tenants == {}
    path = tmp_path / "usage-history.json"
    path.write_bytes(os.urandom(64) + b"\xff\xfe")
    with pytest.raises(HistoryDamaged):
        read_history(path)


def test_a_history_with_the_statuses_of_a_development_version_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "usage-history.json"
    path.write_text(
        '{"version": 1, "tenants": {"a": {"statuses": {"cpu": "OVER"}, "samples": [[1, 2, 8, 3, 4, 5, 6]]}}}'
    )
    history = read_history(path)
    assert [s.value("cpu") for s in history.tenants["a"].samples] == [2]
    write_history(path, history)
    assert "statuses" not in path.read_text()


# ------------------------------------------------------------------------------------ announced statuses


def test_announced_statuses_round_trip_and_name_their_writer(tmp_path: Path) -> None:
    path = tmp_path / "cluster" / "tenctl" / "watch" / "announced.json"
    assert read_announced(path).tenants == {}
    statuses = Announced({"beta": {"cpu": "OK"}, "alpha": {"ram": "WARNING", "cpu": "OVER"}})
    write_announced(path, statuses, "pve2")
    raw = json.loads(path.read_text())
    assert raw["node"] == "pve2" and raw["tenants"]["alpha"] == {"cpu": "OVER", "ram": "WARNING"}
    again = read_announced(path)
    assert again.of("alpha") == {"cpu": "OVER", "ram": "WARNING"} and again.of("gamma") == {}
    assert again.node == "pve2" and again.time > 0
    assert again.keep_only({"alpha"}) == ["beta"] and set(again.tenants) == {"alpha"}
    assert [p.name for p in path.parent.iterdir()] == ["announced.json"]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": 2, "tenants": {}}',
        '{"version": 1, "tenants": []}',
        '{"version": 1, "tenants": {"a": {"cpu": "BAD"}}}',
        '{"version": 1, "tenants": {"a": {"disk": "OK"}}}',
        '{"version": 1, "tenants": {"a": ["cpu"]}}',
        '{"version": 1, "time": "noon", "tenants": {}}',
    ],
)
def test_damaged_announced_statuses_are_recognised_and_moved_aside(tmp_path: Path, text: str) -> None:
    path = tmp_path / "announced.json"
    path.write_text(text)
    with pytest.raises(AnnouncedDamaged):
        read_announced(path)
    warnings: list[str] = []
    assert load_announced(path, warnings.append).tenants == {}
    assert not path.exists() and len(warnings) == 1 and "moved it to" in warnings[0]
    assert [p.read_text() for p in tmp_path.iterdir()] == [text]
