"""A Proxmox request failing at any point of a command leaves the cluster consistent."""

from __future__ import annotations

import json

import pytest
from conftest import lab_snapshot, ok

ADD = ("add", "-n", "acme", "-e", "ops@acme.example")


def count_requests(lab, *args):
    mark = lab.mark()
    ok(lab.run(*args))
    return lab.requests_since(mark)


def test_every_failing_request_of_add_is_undone(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "other"))
    total = count_requests(lab, *ADD)
    ok(lab.run("remove", "-n", "acme", "-f"))
    before = lab_snapshot(lab)
    records = sorted(p.name for p in (lab.dir / "etc-pve" / "tenants").iterdir())
    assert total >= 10
    for k in range(1, total + 1):
        lab.pve.fail_nth(k, 500, f"injected failure {k}")
        result = lab.run(*ADD)
        lab.pve.clear_faults()
        assert result.exit_code == 1, (k, result.stdout, result.stderr)
        assert f"injected failure {k}" in result.stderr, (k, result.stderr)
        assert "COULD NOT BE UNDONE" not in result.stderr, (k, result.stderr)
        assert lab_snapshot(lab) == before, k
        assert sorted(p.name for p in (lab.dir / "etc-pve" / "tenants").iterdir()) == records, k
    health = json.loads(ok(lab.run("health", "--json")).stdout)
    assert health["summary"]["failed"] == 0, health


def test_a_dropped_connection_during_add_is_undone(cluster):
    lab = cluster
    total = count_requests(lab, *ADD)
    ok(lab.run("remove", "-n", "acme", "-f"))
    before = lab_snapshot(lab)
    for k in (1, total // 2, total - 1):
        lab.pve.drop_nth(k)
        result = lab.run(*ADD)
        lab.pve.clear_faults()
        assert result.exit_code == 1, (k, result.stderr)
        assert "lost the connection" in result.stderr, (k, result.stderr)
        assert lab_snapshot(lab) == before, k


@pytest.mark.parametrize(
    "command",
    [
        ("suspend", "-n", "acme", "--stop-vms"),
        ("modify", "-n", "acme", "-c", "2", "--email", "new@acme.example", "--force"),
    ],
)
def test_every_failing_request_of_a_change_is_undone(cluster, command):
    lab = cluster
    ok(lab.run(*ADD))
    lab.pve.add_vm(701, "web", node="pve1", status="running", config={"cores": 1})
    lab.pve._pool_join("tenant_acme", 701)
    record = lab.dir / "etc-pve" / "tenants" / "acme.toml"
    before, before_record = lab_snapshot(lab), record.read_text()
    total = count_requests(lab, *command)
    # Put things back as they were, through tenctl itself.
    if command[0] == "suspend":
        ok(lab.run("resume", "-n", "acme", "--start-vms"))
    else:
        ok(lab.run("modify", "-n", "acme", "-c", "8", "--email", "ops@acme.example", "--force"))
    before = lab_snapshot(lab)
    state_before = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
    for k in range(1, total + 1):
        lab.pve.fail_nth(k, 500, f"injected failure {k}")
        result = lab.run(*command)
        lab.pve.clear_faults()
        assert result.exit_code == 1, (k, result.stderr)
        assert lab_snapshot(lab) == before, k
        state = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
        for key in ("status", "cpu_limit", "email", "suspend_reason"):
            assert state[key] == state_before[key], (k, key)
    assert before_record


def test_remove_that_fails_midway_is_finished_by_a_rerun(cluster):
    lab = cluster
    empty = lab_snapshot(lab)
    ok(lab.run(*ADD))
    total = count_requests(lab, "remove", "-n", "acme", "-f")
    for k in range(1, total + 1):
        ok(lab.run(*ADD))
        lab.pve.fail_nth(k, 500, f"injected failure {k}")
        result = lab.run("remove", "-n", "acme", "-f")
        lab.pve.clear_faults()
        assert result.exit_code == 1, (k, result.stderr)
        status = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)["status"]
        if status == "removing":
            assert "run `tenctl remove -n acme` again" in result.stderr, (k, result.stderr)
        else:  # the failure came while reading, before any change
            assert status == "active" and "stopped at" not in result.stderr, (k, result.stderr)
        ok(lab.run("remove", "-n", "acme", "-f"))
        assert lab_snapshot(lab) == empty, k
        assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()
