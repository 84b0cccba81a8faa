"""The guard: the hookscript Proxmox runs at a guest's start refuses a start that would take the guest's
tenant over a limit. Run as Proxmox runs it (``<script> <vmid> <phase>``) and through the lab's own start,
which runs a guest's hookscript as Proxmox does."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests
import tomli_w
from conftest import audit_events, created_password, ok
from labclient import login

from tenctl_core.errors import UsageError
from tenctl_core.guard import api_budget, check_arguments, sized_from_config
from tenctl_core.guests import Guest
from tenctl_core.hookscript import MARKER, script_text

VOLID = "snippets:snippets/tenctl-guard"
PHASES = ("pre-start", "post-start", "pre-stop", "post-stop")


# ------------------------------------------------------------------------------------------- helpers


def script_path(lab) -> Path:
    return lab.dir / "storage" / "snippets" / "snippets" / "tenctl-guard"


def proxmox_env() -> dict[str, str]:
    """What a hookscript gets from Proxmox: no tenctl variable (the script brings its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TENCTL_")}


def run_script(lab, vmid, phase, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The hookscript run exactly as Proxmox runs it: ``<script> <vmid> <phase>``."""
    return subprocess.run(
        [str(script_path(lab)), str(vmid), phase],
        env=env or proxmox_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def alpha(lab, cpu=8, ram=8192, storage=100):
    """Tenant alpha with one running guest: qemu 701, 6 cores, 2048 MB, a 10 GB disk."""
    ok(lab.run("add", "-n", "alpha", "-c", cpu, "-r", ram, "-s", storage))
    guest(lab, 701, "web", status="running", cores=6, memory=2048, disk="10G")


def guest(
    lab, vmid, name, status="stopped", cores=1, memory=512, disk="1G", pool="tenant_alpha", template=False, **extra
):
    config = {"cores": cores, "memory": memory, "scsi0": f"local-lvm:vm-{vmid}-disk-0,size={disk}", **extra}
    return lab.pve.add_vm(vmid, name, node="pve1", status=status, config=config, pool=pool, template=template)


def installed(lab):
    result = ok(lab.run("guard", "install"))
    assert script_path(lab).is_file(), result.stdout
    return result


class Root:
    """root@pam through the API with its password, as an operator would start a guest."""

    def __init__(self, lab):
        self.base = f"{lab.pve.url}/api2/json"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(lab.ca_file)
        answer = self.session.post(
            f"{self.base}/access/ticket", data={"username": "root@pam", "password": lab.password}
        )
        data = answer.json()["data"]
        self.session.cookies.set("PVEAuthCookie", data["ticket"])
        self.session.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]

    def start(self, vmid, node="pve1") -> dict:
        """Start the guest and wait for its task: the task's status and log."""
        return start_task(self.session, self.base, node, vmid)


def start_task(session, base, node, vmid) -> dict:
    answer = session.post(f"{base}/nodes/{node}/qemu/{vmid}/status/start")
    assert answer.status_code == 200, answer.text
    upid = answer.json()["data"]
    deadline = time.monotonic() + 60
    while True:
        status = session.get(f"{base}/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    log = session.get(f"{base}/nodes/{node}/tasks/{upid}/log", params={"limit": 500}).json()["data"]
    return {"exitstatus": status.get("exitstatus"), "log": [line["t"] for line in log]}


# ---------------------------------------------------------------------------------------- pure parts


def test_the_arguments_are_those_proxmox_passes():
    assert check_arguments("701", "pre-start") == (701, "pre-start")
    for vmid, phase in (("abc", "pre-start"), ("7", "pre-start"), ("701", "pre-boot"), ("-1", "post-stop")):
        with pytest.raises(UsageError):
            check_arguments(vmid, phase)


def test_the_guard_waits_less_for_the_api_when_it_was_slow_to_start():
    """Proxmox waits as long as the hookscript takes; the guard answers within a second of its start."""
    assert api_budget(0.5, elapsed=0.1) == 0.5
    assert api_budget(0.5, elapsed=0.6) == pytest.approx(0.2)
    assert api_budget(0.5, elapsed=3.0) == 0.1


def test_the_guest_being_started_is_sized_from_its_configuration():
    listed = Guest(701, "web", "qemu", "stopped", "pve1", "tenant_alpha", 1, 512 * 1024**2, 8 * 1024**3)
    sized = sized_from_config(
        listed,
        {
            "sockets": 2,
            "cores": 8,
            "memory": "current=4096,balloon=1024",
            "boot": "order=ide2;virtio1;net0",
            "ide2": "local:iso/x.iso,media=cdrom",
            "scsi0": "local-lvm:vm-701-disk-0,size=32G",
            "virtio1": "local-lvm:vm-701-disk-1,size=600G",
        },
    )
    assert (sized.cpu, sized.mem // 1024**2, sized.disk // 1024**3) == (16, 4096, 600)
    assert sized_from_config(listed, {"vcpus": 3, "sockets": 2, "cores": 4}).cpu == 3
    # What the configuration does not say stays as Proxmox listed it.
    assert sized_from_config(listed, {"name": "web"}) == listed
    container = Guest(702, "ct", "lxc", "stopped", "pve1", "tenant_alpha", 1, 512 * 1024**2, 0)
    sized = sized_from_config(
        container, {"cores": 4, "memory": 2048, "rootfs": "local-lvm:subvol-702-disk-0,size=8G"}
    )
    assert (sized.cpu, sized.mem // 1024**2, sized.disk // 1024**3) == (4, 2048, 8)


def test_the_hookscript_runs_this_installation_with_its_configuration():
    text = script_text("/opt/tenctl venv/bin/python", "/etc/tenctl/lab's.toml", None)
    assert text.startswith("#!/bin/sh\n") and MARKER in text.splitlines()
    assert "TENCTL_CONFIG='/etc/tenctl/lab'\"'\"'s.toml'\nexport TENCTL_CONFIG\n" in text
    assert text.rstrip().endswith(
        """exec '/opt/tenctl venv/bin/python' -m tenctl_core.guard "$1" "$2\""""
    )
    assert "TENCTL_CONFIG" not in script_text("/usr/bin/python3", None, None)


# ------------------------------------------------------------------------------------------ install


def test_install_refuses_a_storage_without_snippets_or_files_and_a_foreign_file(cluster):
    lab = cluster
    refused = lab.run("guard", "install", "--storage", "local")
    assert refused.exit_code == 2
    assert "storage local does not allow content snippets (content: iso,vztmpl,backup)" in refused.stderr
    assert "pvesm set local --content iso,vztmpl,backup,snippets" in refused.stderr
    refused = lab.run("guard", "install", "--storage", "local-lvm")
    assert refused.exit_code == 2 and "storage local-lvm (lvmthin) holds no files" in refused.stderr
    refused = lab.run("guard", "install", "--storage", "nosuch")
    assert refused.exit_code == 2 and "storage 'nosuch' does not exist" in refused.stderr

    foreign = script_path(lab)
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_text("#!/bin/sh\nexit 0\n")
    refused = lab.run("guard", "install")
    assert refused.exit_code == 2 and "was not written by tenctl" in refused.stderr
    assert foreign.read_text() == "#!/bin/sh\nexit 0\n"
    ok(lab.run("guard", "install", "--force"))
    assert MARKER in foreign.read_text().splitlines()
    foreign.unlink()

    preview = ok(lab.run("guard", "install", "--dry-run"))
    assert f"write {foreign} (volume {VOLID}, mode 0755)" in preview.stdout and not foreign.exists()
    done = ok(lab.run("guard", "install"))
    assert "done: write" in done.stdout and VOLID in done.stdout
    info = foreign.stat()
    assert stat.S_IMODE(info.st_mode) == 0o755 and info.st_uid == 0
    text = foreign.read_text()
    assert f"TENCTL_CONFIG={lab.config}" in text and "-m tenctl_core.guard " in text
    again = ok(lab.run("guard", "install"))
    assert "unchanged" in again.stdout and "done:" not in again.stdout
    installs = [e for e in audit_events(lab) if e["command"] == "guard install"]
    assert [e["outcome"] for e in installs] == ["refused"] * 4 + ["success"] * 4
    assert [bool(e["steps"]) for e in installs[4:]] == [True, False, True, False]  # --force, dry run, write, unchanged


# ------------------------------------------------------------------------------------- the phases


def test_the_hookscript_answers_each_phase_as_proxmox_calls_it(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db", cores=1, memory=1024)
    installed(lab)
    for phase in ("post-start", "pre-stop", "post-stop"):
        mark = lab.mark()
        done = run_script(lab, 702, phase)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"tenctl guard: {phase} of guest 702: nothing to check\n"
        assert lab.requests_since(mark) == 0  # only pre-start asks anything
    mark = lab.mark()
    allowed = run_script(lab, 702, "pre-start")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == (
        "tenctl guard: qemu 702 of tenant alpha may start; with it running: cpu 7 of 8 cores, "
        "ram 3072 of 8192 MB, storage 11 of 100 GB\n"
    )
    assert lab.requests_since(mark) == 2  # /cluster/resources and the guest's configuration
    guest(lab, 650, "infra", cores=64, pool=None)
    not_a_tenant = run_script(lab, 650, "pre-start")
    assert (
        not_a_tenant.returncode == 0
        and "qemu 650 is in no pool, no tenant's: start allowed" in not_a_tenant.stdout
    )
    unknown = run_script(lab, 999, "pre-start")
    assert unknown.returncode == 0
    assert (
        "guest 999 is not in the cluster's resources; allowed (monitoring.guard_unknown = allow)"
        in unknown.stdout
    )
    for vmid, phase in (("abc", "pre-start"), ("702", "started")):
        bad = run_script(lab, vmid, phase)
        assert bad.returncode == 2 and bad.stderr.startswith("error: "), bad.stderr
    # Proxmox sets PVE_MIGRATED_FROM on the target of a live migration: the guest runs already.
    migrated = run_script(lab, 702, "pre-start", env={**proxmox_env(), "PVE_MIGRATED_FROM": "pve2"})
    assert migrated.returncode == 0 and "live migration from pve2" in migrated.stdout


@pytest.mark.parametrize(
    "limit, size, message",
    [
        (
            "cpu",
            {"cores": 4},
            "cpu limit of tenant alpha is 8 cores: running, qemu 702 (4 cores) would bring it to 10 cores, "
            "2 cores over",
        ),
        (
            "ram",
            {"memory": 7168},
            "ram limit of tenant alpha is 8192 MB: running, qemu 702 (7168 MB) would bring it to 9216 MB, "
            "1024 MB over",
        ),
        (
            "storage",
            {"disk": "95G"},
            "storage limit of tenant alpha is 100 GB: with its disks, qemu 702 (95 GB) would bring it to "
            "105 GB, 5 GB over",
        ),
    ],
)
def test_pre_start_refuses_a_start_over_each_limit_with_the_exact_message(cluster, limit, size, message):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db", **size)
    installed(lab)
    refused = run_script(lab, 702, "pre-start")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [message]
    # The refusal is in the audit trail, as a refused "guard" with the same sentence.
    [line] = [e for e in audit_events(lab) if e["command"] == "guard"]
    assert (line["tenant"], line["outcome"], line["message"]) == ("alpha", "refused", message)
    assert line["details"]["vmid"] == 702
    # The same guest, smaller, fits: the guard reads its configuration as it is now.
    shrink = {
        "cpu": ("cores", 2),
        "ram": ("memory", 1024),
        "storage": ("scsi0", "local-lvm:vm-702-disk-0,size=5G"),
    }
    key, value = shrink[limit]
    lab.pve.vm(702).config[key] = value
    assert run_script(lab, 702, "pre-start").returncode == 0


def test_a_guest_is_judged_by_its_configuration_not_by_a_stale_listing(cluster):
    """Proxmox lists a guest's size from the statistics the nodes broadcast every few seconds: a guest
    made or grown a moment ago may still be listed small. The guard reads its configuration."""
    lab = cluster
    alpha(lab)
    vm = guest(lab, 702, "fresh", cores=64)
    vm.stats = {
        "maxcpu": 1,
        "maxmem": 0,
        "maxdisk": 0,
    }  # what /cluster/resources shows before the next update
    installed(lab)
    refused = run_script(lab, 702, "pre-start")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "cpu limit of tenant alpha is 8 cores: running, qemu 702 (64 cores) would bring it to 70 cores, "
        "62 cores over"
    ]
    # Without its configuration the guard can only go by the listing, and says so.
    lab.pve.fault_on("GET", "/nodes/pve1/qemu/702/config", "fail", status=500, message="config unreadable")
    allowed = run_script(lab, 702, "pre-start")
    assert allowed.returncode == 0, allowed.stderr
    assert (
        "tenctl guard: the configuration of qemu 702 was not read (Proxmox refused GET /nodes/pve1/qemu/702/config: "
        "500 config unreadable): its size is Proxmox's last report\n" in allowed.stdout
    )


# --------------------------------------------------------------------------- through the lab's start


def test_starting_a_guest_over_the_limit_fails_with_the_guards_message(cluster):
    """The user's day: the operator installs the guard and syncs; the tenant's admin creates a big guest
    and starts it; Proxmox runs the hookscript and the start fails with the limit it would break."""
    lab = cluster
    password = created_password(ok(lab.run("add", "-n", "alpha", "-c", 8, "-r", 8192, "-s", 100)).stdout)
    guest(lab, 701, "web", status="running", cores=6, memory=2048, disk="10G")
    installed(lab)
    admin = login(lab, "admin_alpha@pve", password)
    base = f"{lab.pve.url}/api2/json"
    made = admin.session.post(
        f"{base}/nodes/pve1/qemu",
        data={"vmid": 702, "name": "big", "pool": "tenant_alpha", "cores": 64, "memory": 1024},
    )
    assert made.status_code == 200, made.text
    # The tenant's admin cannot take the guard off, nor put it on: only root@pam may touch a hookscript.
    assert admin.status("PUT", "/nodes/pve1/qemu/702/config", hookscript=VOLID) == 500
    synced = ok(lab.run("sync", "--all"))
    assert f"done: set hookscript {VOLID} on qemu 702 (big) of tenant alpha" in synced.stderr
    assert lab.pve.vm(702).config["hookscript"] == VOLID
    assert admin.status("PUT", "/nodes/pve1/qemu/702/config", delete="hookscript") == 500

    task = start_task(admin.session, base, "pve1", 702)
    message = "cpu limit of tenant alpha is 8 cores: running, qemu 702 (64 cores) would bring it to 70 cores, 62 cores over"
    assert message in task["log"], task
    assert task["exitstatus"] == (
        f"hookscript error for 702 on pre-start: command '{script_path(lab)} 702 pre-start' failed: exit code 1"
    )
    assert lab.pve.vm(702).status == "stopped"

    # Made smaller, it starts; the log has the guard's word and the post-start call.
    assert admin.status("PUT", "/nodes/pve1/qemu/702/config", cores=2) == 200
    task = start_task(admin.session, base, "pve1", 702)
    assert task["exitstatus"] == "OK", task
    assert lab.pve.vm(702).status == "running"
    assert any(line.startswith("tenctl guard: qemu 702 of tenant alpha may start") for line in task["log"])
    assert "tenctl guard: post-start of guest 702: nothing to check" in task["log"]


def test_a_suspended_tenant_starts_nothing_until_resumed(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db")
    installed(lab)
    ok(lab.run("guard", "attach", "--all"))
    ok(lab.run("suspend", "-n", "alpha", "--reason", "unpaid invoice", "--stop-vms"))
    assert lab.pve.vm(701).status == "stopped"
    refused = run_script(lab, 702, "pre-start")
    assert refused.returncode == 1
    assert refused.stderr.startswith("tenant alpha is suspended since ")
    assert (
        "(unpaid invoice): its guests may not start; `tenctl resume -n alpha` lifts the suspension"
        in refused.stderr
    )
    task = Root(lab).start(701)
    assert task["exitstatus"].startswith("hookscript error for 701 on pre-start")
    # resume marks the tenant active before it starts the guests, so the guard lets them start.
    ok(lab.run("resume", "-n", "alpha", "--start-vms"))
    assert lab.pve.vm(701).status == "running" and lab.pve.vm(702).status == "running"


# --------------------------------------------------------------------------- when the API is slow


def write_watcher_cache(lab, age: float = 0.0) -> Path:
    """One poll of the watcher, which writes the guard's cache; made `age` seconds older."""
    ok(lab.run("watch", "--once"))
    path = lab.dir / "node-state" / "resources-cache.json"
    assert path.is_file()
    if age:
        data = json.loads(path.read_text())
        data["time"] -= age
        path.write_text(json.dumps(data))
    return path


def test_the_guard_answers_from_the_watchers_cache_when_the_api_is_held(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db", cores=4)
    installed(lab)
    write_watcher_cache(lab, age=42)
    lab.pve.fault_on("GET", "/cluster/resources", "hold", seconds=5)
    refused = run_script(lab, 702, "pre-start")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "cpu limit of tenant alpha is 8 cores: running, qemu 702 (4 cores) would bring it to 10 cores, 2 cores over"
    ]
    assert re.fullmatch(
        r"tenctl guard: refused on figures from the watcher's cache, 4\d s old: the API did not answer within "
        r"0?\.\d+ s\n",  # monitoring.guard_timeout (0.5 s), less on a machine slow to start the guard
        refused.stdout,
    )
    # A refused connection is no different.
    small = guest(lab, 703, "small")
    write_watcher_cache(lab)
    lab.pve.fault_on("GET", "/cluster/resources", "drop")
    allowed = run_script(lab, small.vmid, "pre-start")
    assert allowed.returncode == 0, allowed.stderr
    assert (
        "qemu 703 of tenant alpha may start" in allowed.stdout
        and "from the watcher's cache" in allowed.stdout
    )
    assert "the API failed: lost the connection" in allowed.stdout


def test_without_api_or_cache_monitoring_guard_unknown_decides(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db", cores=4)
    installed(lab)
    lab.pve.fault_on("GET", "/cluster/resources", "hold", seconds=5)
    allowed = run_script(lab, 702, "pre-start")
    assert allowed.returncode == 0
    assert re.search(
        r"cannot tell whether guest 702 may start: the API did not answer within 0?\.\d+ s and there is no ",
        allowed.stdout,
    )
    assert "allowed (monitoring.guard_unknown = allow)" in allowed.stdout

    strict = lab.dir / "strict.toml"
    import tomllib

    document = tomllib.loads(lab.config.read_text())
    document["monitoring"]["guard_unknown"] = "refuse"
    strict.write_text(tomli_w.dumps(document))
    ok(lab.run("--config", str(strict), "guard", "install"))
    lab.pve.fault_on("GET", "/cluster/resources", "hold", seconds=5)
    refused = run_script(lab, 702, "pre-start")
    assert refused.returncode == 1
    assert "refused (monitoring.guard_unknown = refuse)" in refused.stderr


# ------------------------------------------------------------------------------------------ attach


def test_sync_attaches_the_guard_only_where_installed_and_leaves_another_hookscript(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db")
    guest(lab, 650, "infra", pool=None)
    guest(lab, 760, "tpl", template=True)  # never started: no hookscript needed
    ok(lab.run("add", "-n", "bravo"))
    guest(lab, 801, "app", pool="tenant_bravo")
    # Before the guard is installed, sync attaches nothing and says nothing about it.
    before = ok(lab.run("sync", "--all"))
    assert "hookscript" not in before.stdout + before.stderr
    assert all("hookscript" not in vm.config for vm in lab.pve.vms)

    installed(lab)
    other = script_path(lab).with_name("backup-hook.pl")
    other.write_text("#!/usr/bin/perl\nexit 0;\n")
    other.chmod(0o755)
    foreign = "snippets:snippets/backup-hook.pl"
    lab.pve.vm(702).config["hookscript"] = foreign
    preview = ok(lab.run("sync", "--all", "--dry-run"))
    assert f"set hookscript {VOLID} on qemu 701 (web) of tenant alpha" in preview.stdout
    assert "hookscript" not in lab.pve.vm(701).config

    synced = ok(lab.run("sync", "--all"))
    assert lab.pve.vm(701).config["hookscript"] == VOLID
    assert lab.pve.vm(801).config["hookscript"] == VOLID
    assert lab.pve.vm(702).config["hookscript"] == foreign
    assert "hookscript" not in lab.pve.vm(650).config  # not a tenant's guest
    assert "hookscript" not in lab.pve.vm(760).config
    assert (
        f"qemu 702 (db) of tenant alpha has a hookscript of its own ({foreign}): left alone, and the guard "
        "does not run for it" in synced.stderr
    )
    again = ok(lab.run("sync", "--all"))
    assert "done: set hookscript" not in again.stderr
    assert "2 guest(s) already have the guard" in again.stderr


def test_attach_needs_root_at_pam_s_password(cluster):
    lab = cluster
    alpha(lab)
    installed(lab)
    import tomllib

    document = tomllib.loads(lab.config.read_text())
    del document["proxmox"]["password_file"]
    token_only = lab.dir / "token-only.toml"
    token_only.write_text(tomli_w.dumps(document))
    preview = ok(lab.run("--config", str(token_only), "guard", "attach", "--all", "--dry-run"))
    assert f"set hookscript {VOLID} on qemu 701 (web) of tenant alpha" in preview.stdout
    refused = lab.run("--config", str(token_only), "guard", "attach", "--all")
    assert refused.exit_code == 2
    assert "Proxmox lets only root@pam (not an API token) set a guest's hookscript" in refused.stderr
    assert "hookscript" not in lab.pve.vm(701).config
    # What Proxmox answers the token itself.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(lab.ca_file)
    session.headers["Authorization"] = f"PVEAPIToken={lab.token_id}={lab.token_secret}"
    answer = session.put(f"{lab.pve.url}/api2/json/nodes/pve1/qemu/701/config", data={"hookscript": VOLID})
    assert answer.status_code == 500 and "only root can set 'hookscript' config" in answer.json()["message"]
    ok(lab.run("guard", "attach", "-n", "alpha"))
    assert lab.pve.vm(701).config["hookscript"] == VOLID


def test_status_names_the_tenant_guests_without_the_guard(cluster):
    lab = cluster
    alpha(lab)
    guest(lab, 702, "db")
    installed(lab)
    lacking = lab.run("guard", "status")
    assert lacking.exit_code == 1
    assert "storage: snippets (dir, shared), hookscript snippets:snippets/tenctl-guard" in lacking.stdout
    assert "node pve1: installed" in lacking.stdout
    assert "alpha: qemu 701 (web) on pve1: not guarded: run `tenctl guard attach --all`" in lacking.stdout
    assert "0 of 2 tenant guest(s) guarded" in lacking.stdout
    ok(lab.run("guard", "attach", "--all"))
    report = json.loads(ok(lab.run("guard", "status", "--json")).stdout)
    assert report["unguarded"] == 0 and [g["state"] for g in report["guests"]] == ["guarded", "guarded"]
    assert report["local_file"]["state"] == "ours" and report["cache"]["age_seconds"] is None


def test_init_installs_the_guard_when_asked(lab):
    first = ok(lab.run("init"))
    assert "tenctl-guard" not in first.stdout and not script_path(lab).exists()
    done = ok(lab.run("init", "--guard"))
    assert f"done: write {script_path(lab)}" in done.stdout
    assert script_path(lab).is_file()
