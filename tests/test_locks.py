"""tenctl's cluster-wide locks and Proxmox's SDN lock: reported, waited for, broken when stale, released
by hand with an audit line."""

from __future__ import annotations

import json
import os
import re
import time

from conftest import audit_events, check_named, health_of, lab_snapshot, lock_entries, ok, tenants_dir


def lock_dir(lab):
    return lab.dir / "etc-pve" / "priv" / "lock"


def plant_tenant_lock(lab, tenant: str, node: str, age: float, pid: int = 4242) -> os.PathLike:
    path = lock_dir(lab) / f"tenctl-tenant-{tenant}"
    path.mkdir(parents=True)
    holder = {
        "node": node,
        "pid": pid,
        "command": f"modify {tenant}",
        "operator": "alice",
        "time": time.time() - age,
    }
    (path / "holder.json").write_text(json.dumps(holder))
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def lock_status(lab) -> dict:
    return json.loads(ok(lab.run("lock", "status", "--json")).stdout)


def test_a_stale_tenant_lock_is_reported_and_broken_by_the_next_command(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    path = plant_tenant_lock(lab, "acme", "pve2", age=200)

    status = lock_status(lab)
    [lock] = status["locks"]
    assert lock["name"] == "tenctl-tenant-acme" and lock["stale"] is True
    assert lock["node"] == "pve2" and lock["age_seconds"] >= 190
    text = ok(lab.run("lock", "status")).stdout
    assert "tenctl-tenant-acme: stale" in text and "pve2" in text

    health = health_of(lab)
    [locks] = check_named(health, "locks")
    assert locks["status"] == "fail" and any("tenctl-tenant-acme" in d for d in locks["details"])
    assert health["summary"]["failed"] >= 1

    result = ok(lab.run("modify", "-n", "acme", "-c", "2", "--force"))
    assert "warning: broke the tenctl lock" in result.stderr and "stale" in result.stderr and "pve2" in result.stderr
    assert json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)["cpu_limit"] == 2
    assert not path.exists() and lock_entries(lab) == []
    assert health_of(lab)["summary"]["failed"] == 0


def test_a_fresh_lock_of_another_node_makes_modify_wait_then_fail_naming_the_holder(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    record = (tenants_dir(lab) / "acme.toml").read_text()
    before = lab_snapshot(lab)
    path = plant_tenant_lock(lab, "acme", "pve3", age=0)
    try:
        result = lab.run("modify", "-n", "acme", "-c", "2", "--force")
    finally:
        # Held for this test only: release it by hand whatever happened.
        lab.run("lock", "release", "--force", "--tenant", "acme")
    assert result.exit_code == 1, result.stderr
    assert "node pve3" in result.stderr and "waited 10 s" in result.stderr, result.stderr
    assert "pid 4242" in result.stderr and "alice" in result.stderr
    assert lab_snapshot(lab) == before
    assert (tenants_dir(lab) / "acme.toml").read_text() == record
    assert not path.exists()


def test_release_of_a_tenant_lock_needs_force_and_is_audited(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    path = plant_tenant_lock(lab, "acme", "pve2", age=5)
    refused = lab.run("lock", "release", "--tenant", "acme")
    assert refused.exit_code == 2, refused.stderr
    assert "--force" in refused.stderr
    assert path.exists()

    events_before = len(audit_events(lab))
    released = ok(lab.run("lock", "release", "--force", "--tenant", "acme"))
    assert "released lock tenctl-tenant-acme" in released.stdout
    assert not path.exists() and lock_entries(lab) == []
    new = audit_events(lab)[events_before:]
    assert len(new) == 1, new
    [event] = new
    assert event["command"] == "lock release" and event["outcome"] == "success"
    assert event["tenant"] == "acme" and event["details"]["lock"] == "tenctl-tenant-acme"
    assert event["details"]["holder"]["node"] == "pve2"

    # Releasing what is not held changes nothing and says so.
    again = ok(lab.run("lock", "release", "--force", "--tenant", "acme"))
    assert "not held" in again.stdout


def test_release_of_the_allocation_lock(cluster):
    lab = cluster
    path = lock_dir(lab) / "tenctl"
    path.mkdir(parents=True)
    (path / "holder.json").write_text(
        json.dumps({"node": "pve2", "pid": 7, "command": "add x", "operator": "bob"})
    )
    assert lab.run("lock", "release", "--allocation").exit_code == 2
    ok(lab.run("lock", "release", "--allocation", "--force"))
    assert lock_entries(lab) == []
    event = audit_events(lab)[-1]
    assert event["command"] == "lock release" and event["details"]["lock"] == "tenctl"


def test_a_stale_sdn_lock_is_reported_blocks_add_and_is_released_with_an_audit_line(cluster):
    lab = cluster
    lab.pve.sdn_lock = {"token": "x", "created": time.time() - 600, "user": "root@pam"}
    before = lab_snapshot(lab)

    status = lock_status(lab)
    assert status["locks"] == []
    assert status["sdn_lock"]["stale"] is True and status["sdn_lock"]["age_seconds"] >= 590
    assert "Proxmox SDN lock: STALE" in ok(lab.run("lock", "status")).stdout

    health = health_of(lab)
    [sdn_lock] = check_named(health, "sdn-lock")
    assert sdn_lock["status"] == "fail", sdn_lock
    assert re.search(r"held for (\d+) s", sdn_lock["message"])

    result = lab.run("add", "-n", "acme", timeout=180)
    assert result.exit_code == 1, result.stderr
    assert "STALE" in result.stderr, result.stderr
    age = int(re.search(r"SDN lock is held by another client for (\d+) s", result.stderr).group(1))
    assert age >= 600
    assert "tenctl lock release --sdn --force" in result.stderr
    assert "COULD NOT BE UNDONE" not in result.stderr
    # The add left nothing behind: no object, no record, the foreign lock untouched.
    assert lab_snapshot(lab) == before
    assert not (tenants_dir(lab) / "acme.toml").exists()
    assert lock_entries(lab) == []

    events_before = len(audit_events(lab))
    ok(lab.run("lock", "release", "--sdn", "--force"))
    assert lab.pve.sdn_lock is None
    assert not (lab.dir / "etc-pve" / "sdn" / ".lock").exists()
    [event] = audit_events(lab)[events_before:]
    assert event["command"] == "lock release" and event["outcome"] == "success"
    assert event["details"]["lock"] == "sdn" and event["details"]["age_seconds"] >= 600
    assert check_named(health_of(lab), "sdn-lock")[0]["status"] == "pass"
    # And the cluster works again.
    ok(lab.run("add", "-n", "acme"))
    assert health_of(lab)["summary"]["failed"] == 0


def test_a_stale_watcher_lock_fails_health_with_its_own_hint_and_is_released_by_hand(cluster):
    lab = cluster
    path = lock_dir(lab) / "tenctl-watcher"
    path.mkdir(parents=True)
    (path / "holder.json").write_text(
        json.dumps({"node": "pve2", "pid": 4242, "command": "watch", "operator": "root@pam"})
    )
    past = time.time() - 300
    os.utime(path, (past, past))

    [lock] = lock_status(lab)["locks"]
    assert lock["name"] == "tenctl-watcher" and lock["stale"] is True
    assert lock["purpose"].startswith("announcing crossings")
    [locks] = check_named(health_of(lab), "locks")
    assert locks["status"] == "fail"
    assert any("systemctl start tenctl-watcher" in d for d in locks["details"]), locks
    assert not any("--tenant NAME" in d for d in locks["details"]), locks

    assert lab.run("lock", "release", "--watcher").exit_code == 2
    released = ok(lab.run("lock", "release", "--force", "--watcher"))
    assert "released lock tenctl-watcher" in released.stdout
    assert lock_entries(lab) == []
    event = audit_events(lab)[-1]
    assert event["command"] == "lock release" and event["details"]["lock"] == "tenctl-watcher"
    assert event["details"]["holder"]["node"] == "pve2"
    assert check_named(health_of(lab), "locks")[0]["status"] == "pass"


def test_a_lock_broken_and_retaken_is_not_the_old_holders_any_more(tmp_path):
    from tenctl_core.locking import break_lock, try_lock

    cluster_dir = str(tmp_path)
    old = try_lock(cluster_dir, "pve1", "watch", "root@pam", name="tenctl-watcher")
    assert old is not None and old.confirm()
    # Held by a live holder: another cannot take it without waiting.
    assert try_lock(cluster_dir, "pve2", "watch", "root@pam", name="tenctl-watcher") is None
    # The old holder was paused past STALE_AFTER: its lock was broken, and pve2 took it.
    break_lock(old.path)
    new = try_lock(cluster_dir, "pve2", "watch", "root@pam", name="tenctl-watcher")
    assert new is not None
    assert not old.confirm()
    old.release()  # leaves pve2's lock alone
    assert json.loads((new.path / "holder.json").read_text())["node"] == "pve2"
    new.release()
    assert not new.path.exists()
    # A lock released by hand is not the holder's either.
    again = try_lock(cluster_dir, "pve1", "watch", "root@pam", name="tenctl-watcher")
    assert again is not None
    break_lock(again.path)
    assert not again.confirm()
    again.release()
