"""Observe before acting: 0.2's defects where the journal was trusted instead of the world.

Each test makes the fault against the lab, runs the real command line, and then looks at the lab: what
exists, what carries tenctl's marker, what is pending, which locks are held.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import audit_events, check_named, health_of, lock_entries, ok, tenants_dir

ADD = ("add", "-n", "acme", "-e", "ops@acme.example")


def requests_of(lab, *args) -> int:
    mark = lab.mark()
    ok(lab.run(*args))
    return lab.requests_since(mark)


def hand_made(lab) -> None:
    """Objects an administrator made by hand, with names tenctl would never use."""
    pve = lab.pve
    pve.pools["handmade"] = set()
    pve.pool_info["handmade"] = {"comment": "made by hand", "storage": set()}
    pve.lab_groups["ops"] = {"comment": "made by hand"}
    pve.lab_users["alice@pve"] = pve._new_user_record(groups={"ops"})


def assert_hand_made_intact(lab) -> None:
    pve = lab.pve
    assert "handmade" in pve.pools and "ops" in pve.lab_groups and "alice@pve" in pve.lab_users


def assert_whole_or_absent(lab, name: str = "acme") -> bool:
    """The tenant is complete and clean, or nothing of it is left; returns whether it exists."""
    pve = lab.pve
    record = tenants_dir(lab) / f"{name}.toml"
    assert pve.sdn_lock is None, pve.sdn_lock
    assert not pve.sdn_pending(), (pve.sdn_config, pve.sdn_running)
    assert [e for e in lock_entries(lab) if not e.startswith(".")] == []
    if record.exists():
        health = health_of(lab)
        assert health["summary"]["failed"] == 0, health
        assert f"tenant_{name}" in pve.pools and f"group_{name}" in pve.lab_groups
        assert f"admin_{name}@pve" in pve.lab_users
        return True
    assert f"tenant_{name}" not in pve.pools
    assert f"group_{name}" not in pve.lab_groups
    assert f"admin_{name}@pve" not in pve.lab_users
    assert not [v for v in pve.sdn_config["vnets"].values() if name in str(v.get("alias"))]
    assert not [e for e in pve.lab_acl if e["ugid"] == f"group_{name}"]
    return False


def test_the_answer_to_any_request_of_add_lost_then_repair_leaves_the_tenant_whole_or_absent(cluster):
    lab = cluster
    hand_made(lab)
    count = requests_of(lab, *ADD)
    ok(lab.run("remove", "-n", "acme", "-f"))
    for k in range(1, count + 1):
        lab.pve.lose_nth(k)
        result = lab.run(*ADD)
        assert result.exit_code in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
        lab.pve.clear_faults()
        ok(lab.run("repair", "--all"))
        exists = assert_whole_or_absent(lab)
        assert_hand_made_intact(lab)
        if exists:
            ok(lab.run("remove", "-n", "acme", "-f"))
        ok(lab.run(*ADD))  # the same command succeeds again
        ok(lab.run("remove", "-n", "acme", "-f"))


@pytest.mark.parametrize(
    "command",
    [
        ("modify", "-n", "acme", "-c", "4", "-e", "new@acme.example", "-f"),
        ("suspend", "-n", "acme", "--reason", "unpaid"),
        ("resume", "-n", "acme"),
        ("remove", "-n", "acme", "-f"),
    ],
    ids=lambda c: c[0],
)
def test_the_answer_to_any_request_of_a_change_lost_then_repair_converges(cluster, command):
    lab = cluster
    hand_made(lab)
    ok(lab.run(*ADD))
    if command[0] == "resume":
        ok(lab.run("suspend", "-n", "acme"))
    count = requests_of(lab, *command)
    for k in range(1, count + 1):
        back_to_before(lab, command)
        lab.pve.lose_nth(k)
        result = lab.run(*command)
        assert result.exit_code in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
        lab.pve.clear_faults()
        ok(lab.run("repair", "--all"))
        assert_whole_or_absent(lab)
        assert_hand_made_intact(lab)
        back_to_before(lab, command)
        ok(lab.run(*command))  # the same command succeeds again


def back_to_before(lab, command) -> None:
    """The state the command starts from: the tenant exists, suspended for resume, active otherwise."""
    if not (tenants_dir(lab) / "acme.toml").exists():
        ok(lab.run(*ADD))
    status = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout).get("status")
    if command[0] == "resume" and status != "SUSPENDED":
        ok(lab.run("suspend", "-n", "acme"))
    if command[0] != "resume" and status == "SUSPENDED":
        ok(lab.run("resume", "-n", "acme"))


@pytest.mark.parametrize(
    "command",
    [
        ADD,
        ("modify", "-n", "acme", "-c", "4", "-e", "new@acme.example", "-f"),
        ("suspend", "-n", "acme", "--reason", "unpaid"),
        ("resume", "-n", "acme"),
        ("remove", "-n", "acme", "-f"),
    ],
    ids=lambda c: c[0],
)
def test_a_kill_at_seeded_requests_of_every_command_converges_after_repair(cluster, command):
    """SIGKILL while the k-th request is in flight (held by the lab), at seeded points and, for add and
    remove, inside the SDN lock; then `repair --all` with no lock released by hand."""
    import random
    import signal
    import time

    from tenctl_lab.conformance import LabPeer

    lab = cluster
    peer = LabPeer(lab)
    hand_made(lab)
    ok(lab.run(*ADD))
    if command[0] == "add":
        ok(lab.run("remove", "-n", "acme", "-f"))
    else:
        back_to_before(lab, command)
    mark = lab.mark()
    ok(lab.run(*command))
    log = lab.requests_log_since(mark)
    points = set(random.Random(len(command[0])).sample(range(1, len(log) + 1), min(4, len(log))))
    sdn = [i + 2 for i, r in enumerate(log) if r["path"].endswith("/cluster/sdn/lock")]
    points.update(k for k in sdn if k <= len(log))  # the request after the lock was taken
    for k in sorted(points):
        if command[0] == "add":
            if (tenants_dir(lab) / "acme.toml").exists():
                ok(lab.run("remove", "-n", "acme", "-f"))
        else:
            back_to_before(lab, command)
        lab.pve.hold_nth(k, 0.5)
        proc = peer.start(*command)
        deadline = time.monotonic() + 60
        while not lab.pve.holding and proc.poll() is None:
            assert time.monotonic() < deadline, k
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        lab.pve.clear_faults()
        peer.settle()
        assert "Traceback" not in stderr
        ok(lab.run("repair", "--all"))
        assert_whole_or_absent(lab)
        assert_hand_made_intact(lab)


def test_repair_never_deletes_a_user_that_existed_before_add(cluster):
    lab = cluster
    lab.pve.lab_users["alice@pve"] = lab.pve._new_user_record(groups=set())
    result = lab.run("add", "-n", "m1", "-u", "alice@pve")
    assert result.exit_code == 1 and "alice@pve" in result.stderr and "not tenctl's" in result.stderr
    assert "tenant_m1" not in lab.pve.pools
    # A record left in provisioning whose journal claims the user was being created: repair reads the
    # world, sees no marker on alice, and leaves her alone.
    lab.pve.lose_nth(1)
    lab.run("add", "-n", "m1")
    lab.pve.clear_faults()
    record = tenants_dir(lab) / "m1.toml"
    if record.exists():
        text = record.read_text().replace("admin_m1@pve", "alice@pve")
        record.write_text(text)
    ok(lab.run("repair", "--all"))
    assert "alice@pve" in lab.pve.lab_users
    assert "tenant_m1" not in lab.pve.pools


def test_a_copied_record_is_refused_and_removes_nothing(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "m1"))
    shutil.copy(tenants_dir(lab) / "m1.toml", tenants_dir(lab) / "m1_bak.toml")
    result = lab.run("remove", "-n", "m1_bak", "-f")
    assert result.exit_code == 1 and "copied or renamed" in result.stderr
    assert "tenant_m1" in lab.pve.pools and "group_m1" in lab.pve.lab_groups
    assert "vn100" in lab.pve.sdn_running["vnets"]
    listing = lab.run("list")
    assert listing.exit_code == 0 and "m1_bak" in listing.stderr
    health = health_of(lab)
    assert any("copied or renamed" in c["message"] + " ".join(c["details"]) for c in health["checks"])


def test_a_damaged_record_does_not_stop_commands_on_other_tenants(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "good"))
    (tenants_dir(lab) / "bad.toml").write_bytes(b"\xff\xfe not utf-8")
    listing = lab.run("list", "--json")
    assert listing.exit_code == 0 and "bad.toml" in listing.stderr and "Traceback" not in listing.stderr
    assert [row["tenant_name"] for row in json.loads(listing.stdout)] == ["good"]
    ok(lab.run("suspend", "-n", "good"))
    shown = lab.run("show", "-n", "bad")
    assert shown.exit_code == 1 and "UTF-8" in shown.stderr and "Traceback" not in shown.stderr


def test_a_pool_deleted_behind_tenctls_back_is_named_by_health_and_restored_by_repair(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    lab.pve.pools.pop("tenant_acme")
    lab.pve.pool_info.pop("tenant_acme")
    health = health_of(lab)
    drift = check_named(health, "drift")
    assert drift and drift[0]["status"] == "fail" and any("tenant_acme" in d for d in drift[0]["details"])
    ok(lab.run("repair", "acme"))
    assert "tenant_acme" in lab.pve.pools
    assert health_of(lab)["summary"]["failed"] == 0


def test_a_disabled_user_and_a_revoked_acl_are_restored_by_sync(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    lab.pve.lab_users["admin_acme@pve"]["enable"] = 0
    lab.pve.lab_acl[:] = [e for e in lab.pve.lab_acl if e["roleid"] != "TenctlTenant"]
    lab.pve.rebuild_grants()
    assert check_named(health_of(lab), "drift")[0]["status"] == "fail"
    ok(lab.run("sync", "--all"))
    assert lab.pve.lab_users["admin_acme@pve"]["enable"] in (1, "1")
    assert any(e["roleid"] == "TenctlTenant" and e["ugid"] == "group_acme" for e in lab.pve.lab_acl)
    second = json.loads(ok(lab.run("sync", "--all", "--json")).stdout)
    assert all(plan["steps"] == [] for plan in second)


def test_an_emptied_record_of_a_live_tenant_is_not_deleted_by_repair(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    (tenants_dir(lab) / "acme.toml").write_bytes(b"")
    result = lab.run("repair", "--all")
    assert result.exit_code == 1 and "tenant_acme" in result.stderr
    assert (tenants_dir(lab) / "acme.toml").exists()
    assert "tenant_acme" in lab.pve.pools and "vn100" in lab.pve.sdn_running["vnets"]


@pytest.mark.parametrize("kind", ["vnet", "subnet", "zone"])
def test_pending_sdn_changes_of_someone_else_stay_pending(cluster, kind):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    pve = lab.pve
    if kind == "vnet":
        pve.sdn_config["vnets"]["other"] = {"zone": "tenants", "tag": 3000, "type": "vnet"}
    elif kind == "subnet":
        pve.sdn_config["vnets"]["other"] = {"zone": "tenants", "tag": 3000, "type": "vnet"}
        pve.sdn_running["vnets"]["other"] = {"zone": "tenants", "tag": 3000, "type": "vnet"}
        pve.sdn_config["subnets"]["tenants-192.168.77.0-24"] = {"vnet": "other", "type": "subnet"}
    else:
        pve.sdn_config["zones"]["otherz"] = {"type": "simple"}
    before = json.dumps(pve.sdn_config, sort_keys=True)
    commands = (
        ("add", "-n", "beta"),
        ("modify", "-n", "acme", "-c", "6", "-f"),
        ("suspend", "-n", "acme"),
        ("resume", "-n", "acme"),
        ("sync", "--all"),
        ("remove", "-n", "acme", "-f"),
        ("repair", "--all"),
    )
    for command in commands:
        result = lab.run(*command)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        # Someone else's change is still pending, exactly as they left it, and no lock is left.
        assert json.dumps(pve.sdn_config, sort_keys=True) == before, command
        assert pve.sdn_pending() and pve.sdn_lock is None, command
    assert "tenant_beta" not in pve.pools
    # The commands that needed an SDN change said why they stopped.
    refused = lab.run("add", "-n", "gamma")
    assert refused.exit_code == 1 and "pending changes" in refused.stderr


def test_a_lock_of_a_dead_process_is_broken_at_once_and_audited(cluster):
    lab = cluster
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = lab.dir / "etc-pve" / "priv" / "lock" / "tenctl-tenant-acme"
    lock.mkdir(parents=True)
    (lock / "holder.json").write_text(
        json.dumps({"node": "pve1", "pid": dead.pid, "command": "add acme", "operator": "root"})
    )
    status = json.loads(ok(lab.run("lock", "status", "--json")).stdout)
    assert status["locks"][0]["dead"] is True
    result = ok(lab.run("add", "-n", "acme"))
    assert "dead" in result.stderr
    assert any(e["command"] == "lock break" for e in audit_events(lab))


def test_a_lost_answer_to_the_sdn_lock_leaves_no_lock_held(cluster):
    lab = cluster
    lab.pve.fault_on("POST", "/cluster/sdn/lock", "lose")
    result = lab.run("add", "-n", "acme")
    assert "Traceback" not in result.stderr
    ok(lab.run("repair", "--all"))
    assert lab.pve.sdn_lock is None
    assert_whole_or_absent(lab)


def test_the_lost_answer_of_the_sdn_apply_is_settled_by_reading_back(cluster):
    lab = cluster
    lab.pve.fault_on("PUT", "/cluster/sdn", "lose")
    result = lab.run("add", "-n", "acme")
    assert "Traceback" not in result.stderr
    ok(lab.run("repair", "--all"))
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()
    assert_whole_or_absent(lab)
    assert os.path.exists(tenants_dir(lab)) and ok(lab.run("list"))


def make_02_tenant(lab, name: str = "old", vlan: int = 300) -> None:
    """A tenant as tenctl 0.2 left it: a schema-1 record without an installation id, objects whose comments
    and alias name the tenant in 0.2's words, and no ownership marker anywhere."""
    pve = lab.pve
    subnet, gateway, vnet = f"10.100.{vlan - 200}.0/24", f"10.100.{vlan - 200}.1", f"vn{vlan}"
    record = {
        "name": name,
        "pool": f"tenant_{name}",
        "group": f"group_{name}",
        "admin_user": f"admin_{name}@pve",
        "vlan": vlan,
        "subnet": subnet,
        "gateway": gateway,
        "zone": "tenants",
        "vnet": vnet,
        "cpu_limit": 2,
        "ram_limit": 2048,
        "storage_limit": 20,
        "storages": ["local-lvm"],
        "status": "active",
        "created_objects": [f"pool:tenant_{name}", f"group:group_{name}", f"user:admin_{name}@pve"],
        "schema": 1,
    }
    import tomli_w

    path = tenants_dir(lab) / f"{name}.toml"
    path.write_text(tomli_w.dumps(record))
    path.chmod(0o640)
    pve.pools[f"tenant_{name}"] = set()
    pve.pool_info[f"tenant_{name}"] = {"comment": f"tenctl tenant {name}", "storage": set()}
    pve.lab_groups[f"group_{name}"] = {"comment": f"tenctl tenant {name}"}
    pve.lab_users[f"admin_{name}@pve"] = pve._new_user_record(groups={f"group_{name}"})
    pve.lab_users[f"admin_{name}@pve"]["comment"] = f"Administrator of tenant {name}"
    for path_, role in (
        (f"/pool/tenant_{name}", "PVEPoolAdmin"),
        (f"/pool/tenant_{name}", "PVEVMAdmin"),
        ("/storage/local-lvm", "PVEDatastoreUser"),
        (f"/sdn/zones/tenants/{vnet}", "PVESDNUser"),
    ):
        pve.lab_acl.append(
            {"path": path_, "type": "group", "ugid": f"group_{name}", "roleid": role, "propagate": True}
        )
    pve.rebuild_grants()
    for state in (pve.sdn_config, pve.sdn_running):
        state["vnets"][vnet] = {
            "zone": "tenants",
            "tag": vlan,
            "alias": f"Network for {name} ({subnet})",
            "type": "vnet",
        }
        state["subnets"][f"tenants-10.100.{vlan - 200}.0-24"] = {
            "gateway": gateway,
            "type": "subnet",
            "vnet": vnet,
        }
    pve.state_changed()


def test_a_02_tenant_is_left_alone_until_sync_takes_it_over(cluster):
    """Upgrade from 0.2: before `sync` nothing of the old tenant is changed or deleted (health names it);
    `sync --all` writes the marker into each object; then health is clean and remove deletes it all."""
    lab = cluster
    make_02_tenant(lab)
    pve = lab.pve
    health = health_of(lab)
    assert health["summary"]["failed"] >= 1 and "tenant_old" in json.dumps(health)
    refused = lab.run("remove", "-n", "old", "-f")
    assert refused.exit_code == 1 and "made by tenctl 0.2" in refused.stderr, refused.stderr
    assert "tenctl sync -n old" in refused.stderr
    assert (tenants_dir(lab) / "old.toml").exists()  # nothing changed, the record included
    assert "tenant_old" in pve.pools and "vn300" in pve.sdn_running["vnets"]
    synced = json.loads(ok(lab.run("sync", "--all", "--json")).stdout)
    assert [s["op"] for plan in synced for s in plan["steps"] if s["op"] == "adopt"], synced
    marker = f"(tenctl:{(tenants_dir(lab) / '.tenctl-installation').read_text().strip()}:old)"
    assert pve.pool_info["tenant_old"]["comment"].endswith(marker)
    assert pve.lab_groups["group_old"]["comment"].endswith(marker)
    assert pve.lab_users["admin_old@pve"]["comment"].endswith(marker)
    assert pve.sdn_running["vnets"]["vn300"]["alias"].endswith(marker)
    again = json.loads(ok(lab.run("sync", "--all", "--json")).stdout)
    assert [s for plan in again for s in plan["steps"]] == []
    assert health_of(lab)["summary"]["failed"] == 0
    ok(lab.run("remove", "-n", "old", "-f"))
    assert "tenant_old" not in pve.pools and "group_old" not in pve.lab_groups
    assert "admin_old@pve" not in pve.lab_users and "vn300" not in pve.sdn_running["vnets"]
    assert not [e for e in pve.lab_acl if e["ugid"] == "group_old"]


def test_sync_prune_deletes_only_our_objects_that_the_record_does_not_ask_for(cluster):
    lab = cluster
    pve = lab.pve
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "beta"))
    # An extra grant to acme's group (ours, through the group) and one to beta's (someone else's tenant).
    for group in ("group_acme", "group_beta"):
        pve.lab_acl.append(
            {
                "path": "/storage/extra",
                "type": "group",
                "ugid": group,
                "roleid": "PVEDatastoreUser",
                "propagate": True,
            }
        )
    pve.rebuild_grants()
    kept = json.loads(ok(lab.run("sync", "-n", "acme", "--json")).stdout)
    assert [s for plan in kept for s in plan["steps"]] == []
    assert any(
        "not intended, kept" in note and "/storage/extra" in note for plan in kept for note in plan["notes"]
    )
    ok(lab.run("sync", "-n", "acme", "--prune"))
    extra = [(e["ugid"], e["path"]) for e in pve.lab_acl if e["path"] == "/storage/extra"]
    assert extra == [("group_beta", "/storage/extra")]


def test_sync_layer_reconciles_only_that_layer(cluster):
    lab = cluster
    pve = lab.pve
    ok(lab.run("add", "-n", "acme"))
    pve.lab_users["admin_acme@pve"]["enable"] = 0
    for state in (pve.sdn_config, pve.sdn_running):
        del state["vnets"]["vn100"]
        del state["subnets"]["tenants-10.100.0.0-24"]
    refused = lab.run("sync", "-n", "acme", "--layer", "nosuch")
    assert refused.exit_code == 2 and "--layer 'nosuch'" in refused.stderr
    ok(lab.run("sync", "-n", "acme", "--layer", "network"))
    assert "vn100" in pve.sdn_running["vnets"] and "tenants-10.100.0.0-24" in pve.sdn_running["subnets"]
    assert not int(pve.lab_users["admin_acme@pve"]["enable"])  # another layer: untouched
    ok(lab.run("sync", "-n", "acme", "--layer", "proxmox-access"))
    assert int(pve.lab_users["admin_acme@pve"]["enable"])
    assert health_of(lab)["summary"]["failed"] == 0


@pytest.mark.parametrize(
    "method, path", [("POST", "/access/groups"), ("PUT", "/access/acl"), ("PUT", "/cluster/sdn")]
)
def test_a_write_answered_but_not_applied_fails_its_verification_and_add_is_undone(cluster, method, path):
    """Every step reads its object back after it applied: an answer of success for a change that did not
    happen fails the step, and add undoes what it did."""
    from conftest import lab_snapshot

    lab = cluster
    before = lab_snapshot(lab)
    lab.pve.fault_on(method, path, "skip")
    result = lab.run(*ADD)
    lab.pve.clear_faults()
    assert result.exit_code == 1, result.stdout
    assert "does not show" in result.stderr, result.stderr
    assert "COULD NOT BE UNDONE" not in result.stderr
    assert lab_snapshot(lab) == before
    assert not (tenants_dir(lab) / "acme.toml").exists()
    ok(lab.run(*ADD))
