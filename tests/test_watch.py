"""``tenctl watch`` against the lab: each crossing announced once, to standard output and the audit trail;
the history and the guard's cache written; GET requests only, and not one guest touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    audit_events,
    check_named,
    health_of,
    lab_snapshot,
    lock_entries,
    ok,
    seed_tenants,
    tenants_dir,
)
from test_trust import config_with

from tenctl_core.announcer import ANNOUNCED_DIR, ANNOUNCED_NAME, read_announced
from tenctl_core.history import HISTORY_NAME, read_history
from tenctl_core.limits import CACHE_NAME, read_cache
from tenctl_core.locking import STALE_AFTER, WATCHER_LOCK, read_lock

RESOURCES_PATH = "/api2/json/cluster/resources"


def state_dir(lab: Any) -> Path:
    return Path(tomllib.loads(lab.config.read_text(encoding="utf-8"))["paths"]["state_dir"])


def announced_file(lab: Any) -> Path:
    """The statuses the cluster last announced, on the lab's cluster file system."""
    return lab.dir / "etc-pve" / ANNOUNCED_DIR / ANNOUNCED_NAME


def announced(lab: Any, name: str) -> dict[str, str]:
    return read_announced(announced_file(lab)).of(name)


def add_guest(
    lab: Any, vmid: int, pool: str, cores: int, memory_mb: int, disk_gb: int, status: str = "running"
) -> Any:
    vm = lab.pve.add_vm(
        vmid,
        f"vm{vmid}",
        node="pve1",
        status=status,
        config={"cores": cores, "memory": memory_mb, "scsi0": f"local-lvm:vm-{vmid}-disk-0,size={disk_gb}G"},
    )
    lab.pve._pool_join(pool, vmid)
    return vm


def crossings(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def watch_events(lab: Any) -> list[dict[str, Any]]:
    """The crossings in the audit trail (each run of `tenctl watch` also leaves a line of its own at the end)."""
    return [e for e in audit_events(lab) if e["command"] == "watch" and "kind" in e["details"]]


def only_reads(lab: Any, mark: int) -> list[tuple[str, str]]:
    """The requests since mark, after checking that every one was a GET."""
    seen = [(r["method"], r["path"]) for r in lab.requests_log_since(mark)]
    assert all(method == "GET" for method, _ in seen), seen
    return seen


def test_each_crossing_is_announced_once_and_proxmox_is_only_read(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "8", "-r", "8192", "-s", "100"))
    ok(lab.run("add", "-n", "beta", "-c", "8", "-r", "8192", "-s", "100"))
    # alpha's one guest holds more than each limit; beta's stays well within them.
    add_guest(lab, 701, "tenant_alpha", cores=12, memory_mb=9216, disk_gb=150)
    add_guest(lab, 702, "tenant_beta", cores=2, memory_mb=1024, disk_gb=10)
    before = lab_snapshot(lab)

    mark = lab.mark()
    first = ok(lab.run("watch", "--once", "--json"))
    assert only_reads(lab, mark) == [("GET", RESOURCES_PATH)]
    events = crossings(first)
    assert sorted((e["tenant"], e["resource"], e["from"], e["to"], e["kind"]) for e in events) == [
        ("alpha", "cpu", "OK", "OVER", "limit"),
        ("alpha", "ram", "OK", "OVER", "limit"),
        ("alpha", "storage", "OK", "OVER", "limit"),
    ]
    cpu = next(e for e in events if e["resource"] == "cpu")
    assert cpu["message"] == "tenant alpha: cpu OVER (12 of 8 cores, 4 over)"
    assert (cpu["counted"], cpu["limit"], cpu["unit"], cpu["node"]) == (12, 8, "cores", "pve1")
    trail = watch_events(lab)
    assert len(trail) == 3
    entry = next(e for e in trail if e["details"]["resource"] == "cpu")
    assert (entry["tenant"], entry["outcome"], entry["message"]) == ("alpha", "success", cpu["message"])
    assert entry["details"] == {
        "kind": "limit",
        "resource": "cpu",
        "from": "OK",
        "to": "OVER",
        "counted": 12,
        "limit": 8,
        "unit": "cores",
        "percent": 150.0,
    }

    # Still over: a second watcher process announces nothing.
    mark = lab.mark()
    second = ok(lab.run("watch", "--once", "--json"))
    assert second.stdout == ""
    assert only_reads(lab, mark) == [("GET", RESOURCES_PATH)]
    assert len(watch_events(lab)) == 3

    assert lab_snapshot(lab) == before

    # The tenant stops its guest: CPU and RAM are back to OK (storage is held by stopped guests too).
    lab.pve.vm(701).status = "stopped"
    before = lab_snapshot(lab)
    mark = lab.mark()
    third = ok(lab.run("watch", "--once"))
    assert only_reads(lab, mark) == [("GET", RESOURCES_PATH)]
    assert lab_snapshot(lab) == before
    lines = third.stdout.splitlines()
    assert len(lines) == 2, third.stdout
    assert any(
        line.endswith("tenant alpha: cpu back to OK (0 of 8 cores, 0.0 %; was OVER)") for line in lines
    )
    assert any("tenant alpha: ram back to OK" in line for line in lines)
    assert [e["details"]["kind"] for e in watch_events(lab)[3:]] == ["recovery", "recovery"]

    history = read_history(state_dir(lab) / HISTORY_NAME)
    assert set(history.tenants) == {"alpha", "beta"}
    alpha = history.tenants["alpha"]
    assert len(alpha.samples) == 3
    assert announced(lab, "alpha") == {"cpu": "OK", "ram": "OK", "storage": "OVER"}
    assert read_announced(announced_file(lab)).node == "pve1"
    # Each --once took the announcer lock and gave it back.
    assert lock_entries(lab) == []
    assert [s.percent("cpu") for s in alpha.samples] == [150.0, 150.0, 0.0]
    assert alpha.samples[0].limits == (8, 8192, 100)
    written, guests = read_cache(state_dir(lab) / CACHE_NAME) or (0, [])
    assert time.time() - written < 60
    assert {g["vmid"]: g.get("pool") for g in guests} == {701: "tenant_alpha", 702: "tenant_beta"}


def test_watch_leaves_every_guest_as_it_found_it(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "1"))
    for vmid in (801, 802, 803):
        add_guest(lab, vmid, "tenant_alpha", cores=8, memory_mb=8192, disk_gb=500)
    before = lab_snapshot(lab)
    configs = {vmid: dict(lab.pve.vm(vmid).config) for vmid in (801, 802, 803)}
    mark = lab.mark()
    result = ok(lab.run("watch", "--once", "--json"))
    assert len(crossings(result)) == 3
    ok(lab.run("watch", "--once"))
    assert only_reads(lab, mark) == [("GET", RESOURCES_PATH)] * 2
    assert lab_snapshot(lab) == before
    assert {vmid: dict(lab.pve.vm(vmid).config) for vmid in configs} == configs
    assert all(lab.pve.vm(vmid).status == "running" for vmid in configs)


def test_thresholds_rise_one_step_at_a_time_and_a_lowered_limit_is_a_crossing(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "gamma", "-c", "10", "-r", "10240", "-s", "100"))
    vm = add_guest(lab, 901, "tenant_gamma", cores=8, memory_mb=1024, disk_gb=10)
    first = crossings(ok(lab.run("watch", "--once", "--json")))
    assert [(e["resource"], e["from"], e["to"], e["kind"]) for e in first] == [
        ("cpu", "OK", "WARNING", "threshold")
    ]
    assert first[0]["message"] == "tenant gamma: cpu WARNING (8 of 10 cores, 80.0 %)"
    vm.config["cores"] = 9
    second = crossings(ok(lab.run("watch", "--once", "--json")))
    assert [(e["from"], e["to"]) for e in second] == [("WARNING", "CRITICAL")]
    # The administrator lowers the limit below what runs: announced once, as going over.
    ok(lab.run("modify", "-n", "gamma", "-c", "4", "--force"))
    third = crossings(ok(lab.run("watch", "--once", "--json")))
    assert [(e["from"], e["to"], e["message"]) for e in third] == [
        ("CRITICAL", "OVER", "tenant gamma: cpu OVER (9 of 4 cores, 5 over)")
    ]
    assert vm.status == "running" and vm.config["cores"] == 9
    assert crossings(ok(lab.run("watch", "--once", "--json"))) == []


def test_one_request_per_poll_whatever_the_number_of_tenants(cluster):
    lab = cluster
    seed_tenants(lab, 1)
    mark = lab.mark()
    ok(lab.run("watch", "--once"))
    assert lab.requests_since(mark) == 1
    seed_tenants(lab, 30, start_vlan=600)
    mark = lab.mark()
    result = ok(lab.run("watch", "--once"))
    assert lab.requests_since(mark) == 1
    assert "31 tenant(s) polled" in result.stderr
    assert len(read_history(state_dir(lab) / HISTORY_NAME).tenants) == 31


def test_a_removed_tenant_leaves_the_history(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha"))
    ok(lab.run("add", "-n", "beta"))
    ok(lab.run("watch", "--once"))
    ok(lab.run("remove", "-n", "beta", "--force"))
    result = ok(lab.run("watch", "--once"))
    assert "tenant beta: its record is gone; dropped from the usage history" in result.stderr
    assert set(read_history(state_dir(lab) / HISTORY_NAME).tenants) == {"alpha"}


def test_a_damaged_history_is_moved_aside_with_a_warning(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 711, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    assert [e["resource"] for e in crossings(ok(lab.run("watch", "--once", "--json")))] == ["cpu"]
    path = state_dir(lab) / HISTORY_NAME
    path.write_text('{"version": 1, "tenants": {"alpha": {"samples": [[1, 2]]}}}')
    result = ok(lab.run("watch", "--once", "--json"))
    assert "is damaged" in result.stderr and "moved it to" in result.stderr
    aside = list(path.parent.glob(f"{HISTORY_NAME}.damaged-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"version": 1')
    # A new history began; what was announced is the cluster's, so nothing is announced again.
    assert result.stdout == ""
    assert len(read_history(path).tenants["alpha"].samples) == 1
    assert len(watch_events(lab)) == 1


def test_damaged_announced_statuses_are_moved_aside_and_what_holds_is_announced_again(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 712, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    ok(lab.run("watch", "--once"))
    path = announced_file(lab)
    path.write_text('{"version": 1, "tenants": {"alpha": {"cpu": "FINE"}}}')
    result = ok(lab.run("watch", "--once", "--json"))
    assert "announced statuses" in result.stderr and "damaged" in result.stderr, result.stderr
    aside = list(path.parent.glob(f"{ANNOUNCED_NAME}.damaged-*"))
    assert len(aside) == 1 and "FINE" in aside[0].read_text()
    # Repeated rather than lost: the crossing that still holds is announced once more, then remembered.
    assert [e["resource"] for e in crossings(result)] == ["cpu"]
    assert announced(lab, "alpha")["cpu"] == "OVER"
    assert ok(lab.run("watch", "--once")).stdout == ""


def test_an_announcer_that_cannot_remember_announces_nothing(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 713, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    # The directory of the announced statuses cannot be made (here a file is in the way; under systemd,
    # a directory outside the unit's ReadWritePaths): announcing would repeat at every poll.
    blocker = announced_file(lab).parent
    blocker.write_text("not a directory")
    result = lab.run("watch", "--once", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"cannot make the directory {blocker}" in result.stderr and "ReadWritePaths" in result.stderr
    assert watch_events(lab) == [] and lock_entries(lab) == []
    assert samples_of(lab, "alpha") == 0
    blocker.unlink()
    assert [e["resource"] for e in crossings(ok(lab.run("watch", "--once", "--json")))] == ["cpu"]


def test_a_missing_tenants_directory_fails_the_poll_with_a_hint(lab):
    # /etc/pve not mounted (pve-cluster down): no tenant may be taken for removed.
    tenants_dir(lab).rmdir()
    result = lab.run("watch", "--once")
    assert result.exit_code == 1
    assert "tenants directory" in result.stderr and "tenctl init" in result.stderr


def test_a_bad_interval_is_a_usage_error(cluster):
    result = cluster.run("watch", "--interval", "0")
    assert result.exit_code == 2
    assert "--interval" in result.stderr


# ------------------------------------------------------------------------------ the long-running watcher


def start_watch(lab: Any, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", "watch", *args],
        env=dict(lab.env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_if_running(process: subprocess.Popen) -> None:
    """A watcher a failed test left running is killed, so that no test leaves one behind."""
    if process.poll() is None:
        process.kill()
        process.communicate()


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def samples_of(lab: Any, name: str) -> int:
    try:
        history = read_history(state_dir(lab) / HISTORY_NAME)
    except Exception:  # noqa: BLE001 - read while the watcher replaces it: try again
        return 0
    entry = history.tenants.get(name)
    return len(entry.samples) if entry else 0


def test_sigterm_ends_the_watcher_cleanly(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 721, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    mark = lab.mark()
    process = start_watch(lab, "--interval", "1", "--json")
    try:
        wait_for(lambda: samples_of(lab, "alpha") >= 3)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        kill_if_running(process)
    assert process.returncode == 0, stderr
    assert "stopped (SIGTERM)" in stderr
    assert [e["resource"] for e in map(json.loads, stdout.splitlines())] == ["cpu"]
    polls = only_reads(lab, mark)
    assert set(polls) == {("GET", RESOURCES_PATH)} and len(polls) >= 3


def test_sigint_ends_the_watcher_with_130(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha"))
    process = start_watch(lab, "--interval", "1")
    try:
        wait_for(lambda: samples_of(lab, "alpha") >= 1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        kill_if_running(process)
    assert process.returncode == 130, stderr
    assert "stopped (SIGINT)" in stderr and "Traceback" not in stderr


def test_failed_polls_are_reported_and_announce_nothing(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 731, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    assert len(crossings(ok(lab.run("watch", "--once", "--json")))) == 1
    lab.pve.fail("GET", "/cluster/resources", 500, "boom", times=3)
    process = start_watch(lab, "--interval", "1", "--json")
    try:
        wait_for(lambda: samples_of(lab, "alpha") >= 3)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        kill_if_running(process)
    assert process.returncode == 0, stderr
    assert stderr.count("warning: poll failed: Proxmox refused GET /cluster/resources: 500 boom") == 3
    assert "polls work again after 3 failed poll(s)" in stderr
    # Still OVER after the failures: no "back to OK", no new "OVER".
    assert stdout == ""
    assert len(watch_events(lab)) == 1


def test_once_fails_when_proxmox_fails_and_keeps_the_statuses(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 741, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    ok(lab.run("watch", "--once"))
    lab.pve.fail("GET", "/cluster/resources", 500, "boom", times=1)
    failed = lab.run("watch", "--once")
    assert failed.exit_code == 1 and "500 boom" in failed.stderr and failed.stdout == ""
    assert announced(lab, "alpha")["cpu"] == "OVER"
    assert lock_entries(lab) == []
    assert ok(lab.run("watch", "--once")).stdout == ""


def test_a_watcher_with_a_password_logs_in_again_when_its_ticket_expires(cluster, tmp_path):
    lab = cluster
    ok(lab.run("add", "-n", "alpha"))
    config = config_with(
        lab, tmp_path / "password.toml", {}, drop=["proxmox.token_name", "proxmox.token_secret_file"]
    )
    env = dict(lab.env, TENCTL_CONFIG=str(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", "watch", "--interval", "1"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: samples_of(lab, "alpha") >= 1)
        lab.pve.revoke_tickets()
        mark = lab.mark()
        wait_for(lambda: samples_of(lab, "alpha") >= 3)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        kill_if_running(process)
    assert process.returncode == 0, stderr
    assert "poll failed" not in stderr
    log = [(r["method"], r["path"], r.get("status")) for r in lab.requests_log_since(mark)]
    logins = [entry for entry in log if entry[1].endswith("/access/ticket")]
    assert len(logins) == 1, log
    assert log[0][2] == 401 and log[1][1].endswith("/access/ticket")


def test_the_journal_gets_priorities_instead_of_times(cluster, tmp_path):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 751, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    out = tmp_path / "journal"
    with open(out, "w") as stream:
        found = os.fstat(stream.fileno())
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", "watch", "--once"],
            env=dict(lab.env, JOURNAL_STREAM=f"{found.st_dev}:{found.st_ino}"),
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "<4>tenant alpha: cpu OVER (2 of 1 cores, 1 over)\n"


# ---------------------------------------------------------------------- the watchers of a cluster's nodes


class NodeWatcher:
    """``tenctl watch --interval 1 --json`` running on a simulated node, with the node's own state directory
    (its history and guard cache); the lab's cluster file system and audit trail are the whole cluster's."""

    def __init__(self, lab: Any, node: str, directory: Path) -> None:
        self.node = node
        self.state = directory / f"state-{node}"
        config = config_with(lab, directory / f"{node}.toml", {"paths": {"state_dir": str(self.state)}})
        self.out, self.err = directory / f"{node}.stdout", directory / f"{node}.stderr"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tenctl_core", "watch", "--interval", "1", "--json"],
                env=dict(lab.env, TENCTL_CONFIG=str(config), TENCTL_NODE=node),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
            )

    def stderr(self) -> str:
        return self.err.read_text()

    def announced(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def samples(self, name: str) -> int:
        try:
            entry = read_history(self.state / HISTORY_NAME).tenants.get(name)
        except Exception:  # noqa: BLE001 - read while the watcher replaces it: try again
            return 0
        return len(entry.samples) if entry else 0

    def wait_for_polls(self, name: str, count: int = 2) -> None:
        """Until this watcher has polled count more times (each poll adds a sample of tenant name)."""
        target = self.samples(name) + count
        wait_for(lambda: self.samples(name) >= target)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def node_watchers(tmp_path: Path) -> Iterator[Callable[[Any, str], NodeWatcher]]:
    """Start watchers on simulated nodes; whatever a test leaves running is killed at its end."""
    started: list[NodeWatcher] = []

    def start(lab: Any, node: str) -> NodeWatcher:
        started.append(NodeWatcher(lab, node, tmp_path))
        return started[-1]

    yield start
    for watcher in started:
        watcher.end()


def announcer_lock(lab: Any) -> Path:
    return lab.dir / "etc-pve" / "priv" / "lock" / WATCHER_LOCK


def announcer_node(lab: Any) -> str | None:
    """The node whose watcher holds the announcer lock, or None when it is free."""
    holder = read_lock(announcer_lock(lab))
    return holder.node if holder else None


def test_two_watchers_announce_each_crossing_once_and_a_clean_exit_hands_over(cluster, node_watchers):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    first = node_watchers(lab, "pve1")
    wait_for(lambda: announcer_node(lab) == "pve1")
    second = node_watchers(lab, "pve2")
    wait_for(lambda: "standby: the watcher on node pve1" in second.stderr())

    # The announcer lock is the watcher's for as long as it runs: shown, and not a problem for health.
    status = ok(lab.run("lock", "status")).stdout
    assert f"{WATCHER_LOCK}: held by the watcher that announces crossings" in status and "pve1" in status
    [locks] = check_named(health_of(lab), "locks")
    assert locks["status"] == "pass", locks
    assert locks["message"] == "no command holds a tenctl lock; the watcher on node pve1 announces"

    vm = add_guest(lab, 761, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    wait_for(lambda: len(watch_events(lab)) >= 1)
    # Both watchers see the tenant over its limit at least twice more: still one announcement.
    first.wait_for_polls("alpha")
    second.wait_for_polls("alpha")
    [event] = watch_events(lab)
    assert (event["node"], event["tenant"], event["details"]["resource"]) == ("pve1", "alpha", "cpu")
    assert [e["message"] for e in first.announced()] == [event["message"]]
    assert second.announced() == []
    assert announced(lab, "alpha")["cpu"] == "OVER"

    # The announcer stops cleanly: it gives the lock back, the standby takes it at its next poll.
    assert first.stop() == 0
    wait_for(lambda: announcer_node(lab) == "pve2")
    wait_for(lambda: "announcing: this watcher holds the announcer lock" in second.stderr())
    second.wait_for_polls("alpha")
    assert len(watch_events(lab)) == 1  # the new announcer does not repeat what pve1 said

    vm.status = "stopped"
    wait_for(lambda: len(watch_events(lab)) >= 2)
    second.wait_for_polls("alpha")
    events = watch_events(lab)
    assert [(e["node"], e["details"]["kind"], e["details"]["resource"]) for e in events[1:]] == [
        ("pve2", "recovery", "cpu")
    ]
    assert second.stop() == 0
    assert lock_entries(lab) == []
    assert [e["command"] for e in audit_events(lab) if e["command"] == "lock break"] == []


def test_a_killed_announcer_is_taken_over_once_its_lock_is_stale(cluster, node_watchers):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 771, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    first = node_watchers(lab, "pve1")
    wait_for(lambda: len(watch_events(lab)) >= 1)
    second = node_watchers(lab, "pve2")
    wait_for(lambda: "standby: the watcher on node pve1" in second.stderr())

    first.process.kill()
    first.process.wait(timeout=30)
    # Killed: its lock stays until it is stale. A lock of another node is not judged by its pid.
    second.wait_for_polls("alpha")
    assert announcer_node(lab) == "pve1"
    assert len(watch_events(lab)) == 1

    # Nobody touched it for longer than STALE_AFTER seconds.
    past = time.time() - STALE_AFTER - 10
    os.utime(announcer_lock(lab), (past, past))
    wait_for(lambda: announcer_node(lab) == "pve2")
    wait_for(lambda: "announcing: this watcher holds the announcer lock" in second.stderr())
    assert "warning: broke the tenctl lock" in second.stderr()
    [broken] = [e for e in audit_events(lab) if e["command"] == "lock break"]
    assert (broken["node"], broken["details"]["holder"]["node"]) == ("pve2", "pve1")
    assert WATCHER_LOCK in broken["message"]

    # What pve1 announced is not repeated; a new crossing is announced once, by pve2.
    add_guest(lab, 772, "tenant_alpha", cores=1, memory_mb=1024, disk_gb=1)
    wait_for(lambda: len(watch_events(lab)) >= 2)
    second.wait_for_polls("alpha")
    events = watch_events(lab)
    assert [(e["node"], e["details"]["resource"], e["details"]["to"]) for e in events] == [
        ("pve1", "cpu", "OVER"),
        ("pve2", "ram", "OVER"),
    ]
    assert [e["resource"] for e in second.announced()] == ["ram"]
    assert second.stop() == 0


def test_on_the_node_of_a_killed_announcer_its_lock_is_broken_at_once(cluster, node_watchers):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 775, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    killed = node_watchers(lab, "pve1")
    wait_for(lambda: len(watch_events(lab)) >= 1)
    killed.process.kill()
    killed.process.wait(timeout=30)
    # Its node can tell that the process is gone: no need to wait until the lock is stale.
    result = ok(lab.run("watch", "--once", "--json", node="pve1"))
    assert "warning: broke the tenctl lock" in result.stderr and "dead" in result.stderr
    assert result.stdout == "" and "1 tenant(s) polled, 0 crossing(s)" in result.stderr
    assert len(watch_events(lab)) == 1 and lock_entries(lab) == []


def test_an_announcer_that_lost_its_lock_while_paused_becomes_a_standby(cluster, node_watchers):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 781, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    first = node_watchers(lab, "pve1")
    wait_for(lambda: len(watch_events(lab)) >= 1)
    second = node_watchers(lab, "pve2")
    wait_for(lambda: "standby: the watcher on node pve1" in second.stderr())

    # pve1's watcher stops for longer than its lock stays fresh (a frozen VM, a stalled node)...
    first.process.send_signal(signal.SIGSTOP)
    past = time.time() - STALE_AFTER - 10
    os.utime(announcer_lock(lab), (past, past))
    wait_for(lambda: announcer_node(lab) == "pve2")
    # ... and comes back: it finds the lock is another's, and stands by instead of announcing too.
    first.process.send_signal(signal.SIGCONT)
    wait_for(lambda: "lost the announcer lock" in first.stderr())
    wait_for(lambda: "standby: the watcher on node pve2" in first.stderr())
    assert announcer_node(lab) == "pve2"

    add_guest(lab, 782, "tenant_alpha", cores=1, memory_mb=1024, disk_gb=1)
    wait_for(lambda: len(watch_events(lab)) >= 2)
    first.wait_for_polls("alpha")
    second.wait_for_polls("alpha")
    assert [(e["node"], e["details"]["resource"]) for e in watch_events(lab)] == [
        ("pve1", "cpu"),
        ("pve2", "ram"),
    ]
    # Its clean exit leaves the lock it no longer holds alone.
    assert first.stop() == 0
    assert announcer_node(lab) == "pve2"
    assert second.stop() == 0
    assert lock_entries(lab) == []


def test_once_beside_a_running_announcer_is_a_standby(cluster, node_watchers):
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1", "-r", "512", "-s", "10"))
    add_guest(lab, 791, "tenant_alpha", cores=2, memory_mb=256, disk_gb=1)
    service = node_watchers(lab, "pve2")
    wait_for(lambda: len(watch_events(lab)) >= 1)
    pid = service.process.pid

    # On another node, and on the service's own node: nothing announced, and it says who announces.
    for node in ("pve1", "pve2"):
        result = ok(lab.run("watch", "--once", "--json", node=node))
        assert result.stdout == ""
        assert f"standby: the watcher on node pve2 (pid {pid}) announces" in result.stderr
        assert "1 tenant(s) polled; nothing announced here" in result.stderr
        assert announcer_node(lab) == "pve2"
    assert len(watch_events(lab)) == 1

    # Once the service is stopped, --once takes the lock, repeats nothing, and gives the lock back.
    assert service.stop() == 0
    result = ok(lab.run("watch", "--once", "--json", node="pve1"))
    assert result.stdout == "" and "1 tenant(s) polled, 0 crossing(s)" in result.stderr
    assert len(watch_events(lab)) == 1
    assert lock_entries(lab) == []


# ------------------------------------------------------------------------------------ the systemd unit

UNIT = Path(__file__).resolve().parent.parent / "tenctl_core" / "data" / "tenctl-watcher.service"


def unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    """The unit file's sections and their key=value lines, in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and key.strip().isidentifier(), f"line {number}: {line}"
        current.append((key.strip(), value.strip()))
    return sections


def test_the_service_unit_runs_tenctl_watch_and_is_shipped():
    from importlib import resources

    shipped = resources.files("tenctl_core") / "data" / "tenctl-watcher.service"
    assert shipped.read_text(encoding="utf-8") == UNIT.read_text(encoding="utf-8")
    pyproject = tomllib.loads((UNIT.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["tenctl_core"]
    assert any(UNIT.relative_to(UNIT.parents[1]).match(glob) for glob in globs), globs

    sections = unit_entries(UNIT.read_text(encoding="utf-8"))
    assert set(sections) == {"Unit", "Service", "Install"}
    service = dict(sections["Service"])
    assert service["ExecStart"] == "/opt/tenctl/bin/tenctl watch"
    assert service["Restart"] == "on-failure" and service["Type"] == "simple"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    # Room to write the default state and log directories of root (history, guard cache, audit trail),
    # the announcer lock and the announced statuses; no more of /etc/pve.
    writable = service["ReadWritePaths"].split()
    assert {"/var/lib/tenctl", "/var/log/tenctl"} <= set(writable)
    cluster = [path.lstrip("-") for path in writable if "/etc/pve" in path]
    # /etc/pve/tenctl holds the announced statuses, this node's audit copy and its version note.
    assert sorted(cluster) == ["/etc/pve/priv/lock", "/etc/pve/tenctl"]
    assert ANNOUNCED_DIR.startswith("tenctl/")
    assert service["ExecStartPre"].split()[1:] == ["-p", *cluster]
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"

    # ExecStart names a command of this tenctl, with options it accepts.
    args = service["ExecStart"].split()[1:]
    done = subprocess.run(
        [sys.executable, "-m", "tenctl_core", *args, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Usage: tenctl watch" in done.stdout, done.stderr


def test_systemd_accepts_the_service_unit(tmp_path):
    import shutil

    import pytest

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    tenctl = Path(sys.executable).with_name("tenctl")
    unit = tmp_path / "tenctl-watcher.service"
    # The installed path of the guide (/opt/tenctl) does not exist here: verify runs this venv's tenctl.
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/tenctl/bin/tenctl", str(tenctl)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stdout + done.stderr
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if security.returncode != 0 and "offline" in security.stderr:
        pytest.skip("this systemd-analyze cannot judge a unit file offline")
    assert "Overall exposure level" in security.stdout, security.stdout + security.stderr
    exposure = float(
        security.stdout.split("Overall exposure level for tenctl-watcher.service:")[1].split()[0]
    )
    assert exposure <= 3.0, security.stdout
