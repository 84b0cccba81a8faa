"""A batch (``add --from-file``, ``migrate --records``) stopped between two tenants: killed at each write
of a finished tenant's record, or interrupted with Ctrl-C while the next tenant is under way.

The kill comes from inside the tenctl process, right after a chosen write of the tenant record: the
command runs through :data:`KILL_AFTER_SAVE`, which wraps ``TenantStore.save`` of that process only (no
hook in tenctl itself). The interrupt comes while the lab holds a request of the second tenant back, so the
signal lands at a known step; the lab lets the request go once tenctl has said it took the signal.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

from conftest import audit_events, lab_snapshot, load_records, ok, tenants_dir
from test_crash import assert_healthy, repair, settle
from test_migrate_records import sdn_applies

WAIT = 60.0
TENANTS = (("one", 201), ("two", 202))

KILL_AFTER_SAVE = """
import os, runpy, signal, sys

from tenctl_core.store import TenantStore

name, when = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
save = TenantStore.save
seen = []


def marking(tenant):
    return any(e["id"] == f"core:record:mark tenant {name} active" for e in tenant.journal)


def save_then_die(self, tenant):
    save(self, tenant)
    if tenant.name != name:
        return
    if when == "plan-end":
        if marking(tenant):
            seen.append(tenant.name)
        elif seen:
            os.kill(os.getpid(), signal.SIGKILL)
    elif tenant.status == "active":
        seen.append(tenant.name)
        if len(seen) == int(when):
            os.kill(os.getpid(), signal.SIGKILL)


TenantStore.save = save_then_die
sys.argv[0] = "tenctl"
runpy.run_module("tenctl_core", run_name="__main__", alter_sys=True)
"""
"""``python -c KILL_AFTER_SAVE NAME WHEN ARGS...``: tenctl ARGS, SIGKILLed right after a write of NAME's
record: the WHEN-th in which NAME is active, or with ``plan-end`` the write that ends NAME's plan (the
first whose journal no longer holds the plan's last step, marking NAME active)."""


def killed_at_save(lab, name, when, *args):
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SAVE, name, str(when), *map(str, args)],
        env=lab.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    settle(lab)
    assert proc.returncode in (0, -signal.SIGKILL), (when, proc.returncode, proc.stderr)
    return proc.returncode == -signal.SIGKILL


def tenant_file(tmp_path):
    source = tmp_path / "tenants.json"
    source.write_text(json.dumps([{"name": n, "vlan": v} for n, v in TENANTS]), encoding="utf-8")
    return source


def is_whole(lab, name, vlan) -> bool:
    """The tenant's objects are all there, its VNet applied (running), or none of them is."""
    pve = lab.pve
    parts = [
        f"tenant_{name}" in pve.pools,
        f"group_{name}" in pve.lab_groups,
        f"admin_{name}@pve" in pve.lab_users,
        f"vn{vlan}" in pve.sdn_running["vnets"],
        (tenants_dir(lab) / f"{name}.toml").exists(),
    ]
    assert all(parts) or not any(parts), (name, parts)
    return all(parts)


def test_add_from_file_killed_at_each_write_of_a_finished_tenant_is_repaired(cluster, tmp_path):
    """The end of a tenant's plan and its batch journal entry are one write: at no kill point does a tenant
    whose VNet is only staged look finished, and `repair --all` completes it with one SDN apply at most."""
    lab = cluster
    source = tenant_file(tmp_path)
    empty = lab_snapshot(lab)
    finished_unapplied = 0
    nth = 0
    while True:
        nth += 1
        if not killed_at_save(lab, "one", nth, "add", "--from-file", source):
            break  # no nth write of that kind: the command ran to its end
        record = load_records(tenants_dir(lab))["one"]
        if "vn201" not in lab.pve.sdn_running["vnets"]:
            # Its VNet is staged, not applied: the record must send `repair` to it.
            assert record.unfinished(), (nth, record.journal)
            finished_unapplied += not record.journal[:-1] and record.journal[-1]["id"] == "core:batch:commit"
        mark = lab.mark()
        repair(lab)
        assert len(sdn_applies(lab, mark)) <= 1, nth
        assert is_whole(lab, "one", 201), nth  # it had finished its own steps: rolled forward
        is_whole(lab, "two", 202)
        assert_healthy(lab, nth)
        for name in load_records(tenants_dir(lab)):
            ok(lab.run("remove", "-n", name, "-f"))
        assert lab_snapshot(lab) == empty, nth
    assert nth > 2, "the command never wrote the finished tenant's record: the test did not kill anything"
    # One kill point came right after the write that ended the plan: the batch's entry alone is journaled.
    assert finished_unapplied, "no kill point left the tenant with its plan ended and its VNet only staged"
    for name, vlan in TENANTS:
        assert is_whole(lab, name, vlan)


def test_ctrl_c_inside_a_batch_undoes_the_tenant_under_way_and_applies_the_ones_done(cluster, tmp_path):
    """Ctrl-C while tenant two stages its SDN changes: two is undone, one (done) is applied by the batch's
    one SDN apply, and the command exits 130 with a warning and an audit line saying so."""
    lab = cluster
    source = tenant_file(tmp_path)
    pve = lab.pve
    # Held until released below: a request of tenant two's own plan (its subnet, staged for the batch).
    pve.fault_on("POST", "/cluster/sdn/vnets/vn202/subnets", "hold", seconds=WAIT)
    mark = lab.mark()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", "add", "--from-file", str(source)],
        env=lab.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    stderr: list[str] = []
    try:
        # Bounded waits on states, not on time: the request is held, then tenctl says it took the signal.
        deadline = time.monotonic() + WAIT
        while pve.holding == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the add never reached tenant two's subnet"
            time.sleep(0.01)
        assert "vn201" not in pve.sdn_running["vnets"]  # nothing applied yet: one is staged, two under way
        proc.send_signal(signal.SIGINT)
        while not any("interrupt: finishing the current step" in line for line in stderr):
            stderr.append(lines.get(timeout=WAIT))
        pve.release_holds()
        stdout = proc.stdout.read() if proc.stdout else ""
        proc.wait(timeout=WAIT)
        reader.join(timeout=WAIT)
    finally:
        pve.release_holds()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while not lines.empty():
        stderr.append(lines.get())
    errors = "".join(stderr)
    settle(lab)
    assert proc.returncode == 130, (stdout, errors)
    assert "interrupted: tenants added before the interrupt: one; the others were not added" in errors
    assert "Traceback" not in errors, errors
    # One whole and applied, two absent everywhere, one SDN apply for the batch.
    assert is_whole(lab, "one", 201)
    assert not is_whole(lab, "two", 202)
    assert "vn202" not in pve.sdn_config["vnets"] and not any(e["ugid"] == "group_two" for e in pve.lab_acl)
    assert len(sdn_applies(lab, mark)) == 1
    assert pve.sdn_lock is None and not pve.sdn_pending()
    records = load_records(tenants_dir(lab))
    assert list(records) == ["one"] and records["one"].status == "active" and not records["one"].journal
    assert_healthy(lab, "after Ctrl-C")
    line = [event for event in audit_events(lab) if event["command"] == "add"][-1]
    assert (line["command"], line["outcome"], line["exit_code"]) == ("add", "interrupted", 130), line
    states = {step["action"]: step["state"] for step in line["steps"]}
    assert states["create pool tenant_one"] == "done" and states["create pool tenant_two"] == "undone", states
    assert {s for a, s in states.items() if "two" in a} == {"undone"}, states


def test_migrate_records_killed_as_a_tenant_plan_ends_is_repaired(cluster, tmp_path):
    """The same gap in `migrate --records`: killed by the write that ends acme's plan (bolt not begun), the
    record says acme is unfinished; `repair --all` ends the batch's SDN lock, and the next run, as the
    migration guide says, takes acme over for good and bolt too, with one SDN apply."""
    from test_migrate_records import bash_record, bash_tenant

    lab = cluster
    records = tmp_path / "records"
    records.mkdir()
    for name, vlan in (("acme", 100), ("bolt", 101)):
        bash_tenant(lab, name, vlan)
        bash_record(records, name, name, vlan)
    assert killed_at_save(lab, "acme", "plan-end", "migrate", "--records", records)
    record = load_records(tenants_dir(lab))["acme"]
    assert [entry["id"] for entry in record.journal] == ["core:batch:commit"], record.journal
    assert "bolt" not in load_records(tenants_dir(lab))
    assert lab.pve.sdn_lock is not None and "tenctl" not in lab.pve.sdn_running["vnets"]["vn100"]["alias"]
    repair(lab)
    mark = lab.mark()
    ok(lab.run("migrate", "--records", records))
    assert len(sdn_applies(lab, mark)) == 1
    installation = (tenants_dir(lab) / ".tenctl-installation").read_text().strip()
    for name, vlan in (("acme", 100), ("bolt", 101)):
        assert f"tenctl:{installation}:{name}" in lab.pve.sdn_running["vnets"][f"vn{vlan}"]["alias"]
        assert not load_records(tenants_dir(lab))[name].journal
    assert_healthy(lab, "migrate killed at the end of a plan, then run again")
