"""A connection reset at any request of a command, and every failing request of `resume`: the cluster ends
as it was (or, for remove, consistent and finished by a re-run or `tenctl repair`)."""

from __future__ import annotations

import json

import pytest
from conftest import (
    assert_cluster_matches_records,
    check_named,
    health_of,
    lab_snapshot,
    load_records,
    lock_entries,
    ok,
    tenants_dir,
)

ADD = ("add", "-n", "acme", "-e", "ops@acme.example", "-c", "4")
STATE_KEYS = ("status", "cpu_limit", "ram_limit", "email", "suspend_reason", "vlan_id", "subnet")


def count_requests(lab, *args) -> int:
    mark = lab.mark()
    ok(lab.run(*args))
    return lab.requests_since(mark)


def state_of(lab, name="acme") -> dict:
    shown = json.loads(ok(lab.run("show", "-n", name, "--json")).stdout)
    return {key: shown.get(key) for key in STATE_KEYS}


def assert_clean(lab) -> None:
    health = health_of(lab)
    assert health["summary"]["failed"] == 0, health
    assert not check_named(health, "unfinished-operations"), health
    assert lock_entries(lab) == []
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()


def add_guest(lab, vmid=701, status="running"):
    vm = lab.pve.add_vm(vmid, "web", node="pve1", status=status, config={"cores": 1, "memory": 1024})
    lab.pve._pool_join("tenant_acme", vmid)
    return vm


def expect_undone(lab, command, k, before, record_before, fault="drop"):
    if fault == "drop":
        lab.pve.drop_nth(k)
    else:
        lab.pve.fail_nth(k, 500, f"injected failure {k}")
    result = lab.run(*command)
    lab.pve.clear_faults()
    assert result.exit_code == 1, (command, k, result.stdout, result.stderr)
    if fault == "drop":
        assert "lost the connection" in result.stderr, (command, k, result.stderr)
    else:
        assert f"injected failure {k}" in result.stderr, (command, k, result.stderr)
    assert "Traceback" not in result.stderr
    assert "COULD NOT BE UNDONE" not in result.stderr, (command, k, result.stderr)
    assert lab_snapshot(lab) == before, (command, k)
    path = tenants_dir(lab) / "acme.toml"
    if record_before is None:
        assert not path.exists(), (command, k)
    else:
        record = load_records(tenants_dir(lab))["acme"]
        assert not record.unfinished(), (command, k, record.journal)
        assert {k2: v for k2, v in record.to_toml_dict().items() if k2 not in ("updated_date",)} == {
            k2: v for k2, v in record_before.to_toml_dict().items() if k2 not in ("updated_date",)
        }, (command, k)
    assert lock_entries(lab) == [], (command, k)


def test_dropped_connections_during_add_are_undone(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "other"))
    total = count_requests(lab, *ADD)
    ok(lab.run("remove", "-n", "acme", "-f"))
    before = lab_snapshot(lab)
    for k in sorted({2, 3, total // 3, total - 4, total - 3, total - 2, total}):
        expect_undone(lab, ADD, k, before, None)
    assert_clean(lab)


@pytest.mark.parametrize(
    "command, reset",
    [
        (
            ("modify", "-n", "acme", "-c", "2", "-r", "1024", "--email", "new@acme.example", "--force"),
            None,
        ),
        (("suspend", "-n", "acme", "--stop-vms", "--reason", "unpaid invoice"), None),
        (("resume", "-n", "acme", "--start-vms"), ("suspend", "-n", "acme", "--stop-vms")),
    ],
    ids=["modify", "suspend", "resume"],
)
def test_dropped_connections_during_a_change_are_undone(cluster, command, reset):
    lab = cluster
    ok(lab.run(*ADD))
    vm = add_guest(lab)
    if reset:
        ok(lab.run(*reset))
        assert vm.status == "stopped"
    record_before = load_records(tenants_dir(lab))["acme"]
    before = lab_snapshot(lab)
    total = count_requests(lab, *command)
    # Put things back through tenctl itself, then drop each request in turn.
    if command[0] == "modify":
        ok(
            lab.run(
                "modify", "-n", "acme", "-c", "4", "-r", "16384", "--email", "ops@acme.example", "--force"
            )
        )
    elif command[0] == "suspend":
        ok(lab.run("resume", "-n", "acme", "--start-vms"))
    else:
        ok(lab.run(*reset))
    record_before = load_records(tenants_dir(lab))["acme"]
    before = lab_snapshot(lab)
    for k in range(1, total + 1):
        expect_undone(lab, command, k, before, record_before)
    assert_clean(lab)
    # The command still works once the network does.
    ok(lab.run(*command))
    assert_clean(lab)


def test_every_failing_request_of_resume_is_undone(cluster):
    lab = cluster
    ok(lab.run(*ADD))
    add_guest(lab)
    add_guest(lab, 702, status="running")
    ok(lab.run("suspend", "-n", "acme", "--stop-vms"))
    resume = ("resume", "-n", "acme", "--start-vms")
    total = count_requests(lab, *resume)
    assert total >= 4
    ok(lab.run("suspend", "-n", "acme", "--stop-vms"))
    record_before = load_records(tenants_dir(lab))["acme"]
    before = lab_snapshot(lab)
    state_before = state_of(lab)
    assert state_before["status"] == "suspended"
    for k in range(1, total + 1):
        expect_undone(lab, resume, k, before, record_before, fault="fail")
        assert state_of(lab) == state_before, k
    assert_clean(lab)
    ok(lab.run(*resume))
    assert state_of(lab)["status"] == "active"
    assert lab.pve.lab_users["admin_acme@pve"]["enable"]
    assert {lab.pve.vm(v).status for v in (701, 702)} == {"running"}


def test_dropped_connections_during_remove_leave_it_finishable(cluster):
    lab = cluster
    empty = lab_snapshot(lab)
    ok(lab.run(*ADD))
    total = count_requests(lab, "remove", "-n", "acme", "-f")
    for k in range(1, total + 1):
        ok(lab.run(*ADD))
        lab.pve.drop_nth(k)
        result = lab.run("remove", "-n", "acme", "-f")
        lab.pve.clear_faults()
        assert result.exit_code == 1, (k, result.stderr)
        assert "lost the connection" in result.stderr, (k, result.stderr)
        assert "Traceback" not in result.stderr
        assert lock_entries(lab) == [], k
        assert lab.pve.sdn_lock is None, k
        record = load_records(tenants_dir(lab))["acme"]
        if record.status == "active":
            # The drop came while reading, before any change: the tenant is intact.
            assert not record.journal, k
            assert_cluster_matches_records(lab, {"acme": record})
        else:
            assert record.status == "removing", (k, record.status)
            assert "run `tenctl remove -n acme` again" in result.stderr, (k, result.stderr)
        # Finish it: alternately by re-running the command and by `tenctl repair`.
        if k % 2 and record.status == "removing":
            ok(lab.run("repair", "acme"))
        else:
            ok(lab.run("remove", "-n", "acme", "-f"))
        assert lab_snapshot(lab) == empty, k
        assert not (tenants_dir(lab) / "acme.toml").exists(), k
    assert_clean(lab)
