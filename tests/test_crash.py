"""SIGKILL at randomized points of add, remove and suspend: `tenctl repair --all`, with no lock released by
hand, brings the tenant back to a consistent state (whole or absent), and health is clean."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

from conftest import (
    assert_cluster_matches_records,
    audit_events,
    check_named,
    health_of,
    lab_snapshot,
    load_records,
    lock_entries,
    ok,
    settle_requests,
    tenants_dir,
)

WAIT = 60.0
KILLS = 5  # random kill points per command (add gets one more, chosen inside the SDN lock)
ADD = ("add", "-n", "acme", "-e", "ops@acme.example")
SUSPEND = ("suspend", "-n", "acme", "--stop-vms", "--reason", "crash test")



def count_requests(lab, *args, slow: bool = False) -> int:
    """How many requests the command makes (on the slowed lab, task polls included, when slow)."""
    if slow:
        lab.pve.time_scale = 1
        lab.pve.slow_network(0.2)
    mark = lab.mark()
    try:
        ok(lab.run(*args))
    finally:
        lab.pve.slow_network(0)
        lab.pve.time_scale = 0
    settle(lab)
    return lab.requests_since(mark)


def settle(lab) -> None:
    """Wait (bounded) until the lab answered every request and ended every task a killed client started."""
    settle_requests(lab)
    deadline = time.monotonic() + WAIT
    while any(task["status"] == "running" for task in lab.pve.tasks.values()):
        assert time.monotonic() < deadline, "a task of the lab did not end"
        time.sleep(0.02)


def run_and_kill(lab, args, after: int) -> tuple[int, int]:
    """Start a tenctl command on a slowed lab and SIGKILL it once `after` requests were answered.

    Returns (requests seen when the signal was sent, exit code); the command may have ended first.
    """
    lab.pve.time_scale = 1
    lab.pve.slow_network(0.2)
    mark = lab.mark()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", *args],
        env=lab.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while lab.requests_since(mark) < after and proc.poll() is None:
            assert time.monotonic() < deadline, f"{args[0]} did not reach request {after}"
            time.sleep(0.005)
        seen = lab.requests_since(mark)
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=WAIT)
        assert "Traceback" not in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lab.pve.slow_network(0)
        lab.pve.time_scale = 0
    settle(lab)
    return seen, proc.returncode


def left_behind(lab) -> dict[str, object]:
    """What a killed command left held: tenctl's lock files and the Proxmox SDN lock."""
    return {"locks": lock_entries(lab), "sdn_lock": lab.pve.sdn_lock}


def repair(lab) -> None:
    """`tenctl repair --all`, with no lock released by hand: a dead command's locks go at once."""
    held = lock_entries(lab)
    mark = len(audit_events(lab))
    ok(lab.run("repair", "--all"))
    assert lock_entries(lab) == [] and lab.pve.sdn_lock is None
    # Every tenctl lock the dead command held was broken with an audit line naming it.
    broken = [e["message"] for e in audit_events(lab)[mark:] if e["command"] == "lock break"]
    assert all(any(name in line for line in broken) for name in held), (held, broken)
    # Repair is idempotent: a second run finds nothing to do.
    again = ok(lab.run("repair", "--all"))
    assert "nothing to repair" in again.stdout, again.stdout


def assert_healthy(lab, where) -> None:
    health = health_of(lab)
    assert health["summary"]["failed"] == 0, (where, health)
    assert not check_named(health, "unfinished-operations"), (where, health)
    assert lock_entries(lab) == [], where
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending(), where


def kill_points(seed: int, total: int, count: int = KILLS) -> list[int]:
    return sorted(random.Random(seed).sample(range(1, total + 1), min(count, total)))


def test_add_killed_anywhere_is_rolled_back_or_complete(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "other"))
    mark = lab.mark()
    ok(lab.run(*ADD))
    log = lab.requests_log_since(mark)
    total = len(log)
    # One point inside the SDN lock, after the lock was taken.
    sdn_point = 1 + next(i for i, r in enumerate(log) if r["path"].endswith("/cluster/sdn/lock"))
    ok(lab.run("remove", "-n", "acme", "-f"))
    before = lab_snapshot(lab)
    outcomes = []
    sdn_lock_left = []
    for k in sorted(set(kill_points(1, total) + [sdn_point])):
        seen, code = run_and_kill(lab, ADD, k)
        if left_behind(lab)["sdn_lock"] is not None:
            sdn_lock_left.append(k)
        repair(lab)
        records = load_records(tenants_dir(lab))
        if "acme" in records:
            # The kill came after the last step: the tenant is complete and consistent.
            assert_cluster_matches_records(lab, records)
            outcomes.append((k, "complete"))
            assert_healthy(lab, k)
            ok(lab.run("remove", "-n", "acme", "-f"))
        else:
            outcomes.append((k, "rolled back"))
        assert lab_snapshot(lab) == before, (k, seen, code)
        assert sorted(load_records(tenants_dir(lab))) == ["other"], k
        assert_healthy(lab, k)
    assert sdn_lock_left, "no kill point left the SDN lock held: the test did not exercise that"
    # And the name is free again.
    ok(lab.run(*ADD))
    assert_cluster_matches_records(lab, load_records(tenants_dir(lab)))


def test_remove_killed_anywhere_is_finished(cluster):
    lab = cluster
    empty = lab_snapshot(lab)
    ok(lab.run(*ADD))
    total = count_requests(lab, "remove", "-n", "acme", "-f")
    assert lab_snapshot(lab) == empty
    for k in kill_points(2, total):
        ok(lab.run(*ADD))
        run_and_kill(lab, ("remove", "-n", "acme", "-f"), k)
        repair(lab)
        records = load_records(tenants_dir(lab))
        if records:
            # Killed before the removal changed anything: the tenant is intact and a re-run removes it.
            assert_cluster_matches_records(lab, records)
            ok(lab.run("remove", "-n", "acme", "-f"))
        assert lab_snapshot(lab) == empty, k
        assert not (tenants_dir(lab) / "acme.toml").exists(), k
        assert_healthy(lab, k)


def test_suspend_killed_anywhere_leaves_users_matching_the_record(cluster):
    lab = cluster
    ok(lab.run(*ADD))
    vm = lab.pve.add_vm(701, "web", node="pve1", status="running", config={"cores": 1, "memory": 1024})
    lab.pve._pool_join("tenant_acme", 701)
    total = count_requests(lab, *SUSPEND, slow=True)
    ok(lab.run("resume", "-n", "acme", "--start-vms"))
    refused_while_unfinished = 0
    for k in kill_points(3, total):
        assert vm.status == "running"
        run_and_kill(lab, SUSPEND, k)
        record = load_records(tenants_dir(lab))["acme"]
        if record.unfinished():
            # A tenant mid-operation is refused by every other command until it is repaired.
            refused = lab.run("modify", "-n", "acme", "-c", "2", "--force")
            assert refused.exit_code == 1, refused.stderr
            assert "unfinished operation" in refused.stderr and "tenctl repair acme" in refused.stderr
            refused_while_unfinished += 1
        repair(lab)
        record = load_records(tenants_dir(lab))["acme"]
        assert record.status in ("active", "suspended") and not record.journal, (k, record)
        users = lab.pve.lab_users
        assert bool(int(users["admin_acme@pve"]["enable"])) == (record.status == "active"), (k, record.status)
        assert users["admin_acme@pve"].get("email") == "ops@acme.example"
        assert_cluster_matches_records(
            lab, {"acme": record.__class__(**{**record.to_toml_dict(), "status": "active"})}
        )
        assert_healthy(lab, k)
        # Back to the starting point for the next kill.
        if record.status == "suspended" or vm.status != "running":
            ok(lab.run("resume", "-n", "acme", "--start-vms"))
        assert json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)["status"] == "active"
    assert refused_while_unfinished, "no kill point left the tenant mid-operation"


def test_a_record_left_empty_by_a_kill_during_its_creation_is_repaired(cluster):
    """`add` reserves the record with an exclusive create, then writes it: a SIGKILL between the two (seen
    with the randomized kills above) leaves an empty file. Here that state is made directly."""
    lab = cluster
    ok(lab.run("add", "-n", "other"))
    before = lab_snapshot(lab)
    (tenants_dir(lab) / "acme.toml").touch(mode=0o640)
    repaired = lab.run("repair", "acme")
    assert repaired.exit_code == 0, repaired.stderr
    assert not (tenants_dir(lab) / "acme.toml").exists()
    assert lab_snapshot(lab) == before
    assert_healthy(lab, "empty record")
    ok(lab.run(*ADD))
