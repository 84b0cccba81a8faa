"""Guest hookscripts as Proxmox VE checks and runs them (see tenctl_lab.hookscripts for the sources)."""

import time
from pathlib import Path

import pytest
from conftest import PveClient

TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
SCRIPT = "snippets:snippets/hook.sh"


@pytest.fixture
def root_pw(lab):
    """root@pam logged in with its password: the only user Proxmox lets set a hookscript."""
    client = PveClient(lab.url, str(lab.ca_file))
    assert client.login("root@pam", lab.password).status_code == 200
    return client


@pytest.fixture
def snippets(lab):
    directory = Path(lab.pve.storages["snippets"]["path"]) / "snippets"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_hook(directory, body, name="hook.sh", mode=0o755):
    """A hookscript that appends '<vmid> <phase>' to calls.log beside it, then runs body."""
    path = directory / name
    path.write_text(f'#!/bin/sh\necho "$1 $2" >> "{directory}/calls.log"\n{body}\n')
    path.chmod(mode)
    return path


def calls(directory):
    log = directory / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def run_task(client, method, path):
    upid = client.ok(method, path)
    node = upid.split(":")[1]
    deadline = time.monotonic() + 30
    while True:
        status = client.ok("GET", f"/nodes/{node}/tasks/{upid}/status")
        if status["status"] == "stopped" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    log = [line["t"] for line in client.ok("GET", f"/nodes/{node}/tasks/{upid}/log", limit=200)]
    return status.get("exitstatus"), log


def test_storages_keep_their_files_in_the_lab_directory(lab, root, snippets):
    store = root.ok("GET", "/storage/snippets")
    assert (store["type"], store["content"], store["shared"]) == ("dir", "snippets", 1)
    assert Path(store["path"]).is_relative_to(lab.dir)
    assert Path(root.ok("GET", "/storage/local")["path"]).is_relative_to(lab.dir)
    write_hook(snippets, "exit 0")
    (snippets / ".hidden").write_text("x")
    listed = root.ok("GET", "/nodes/pve2/storage/snippets/content", content="snippets")
    assert [(item["volid"], item["format"]) for item in listed] == [(SCRIPT, "snippet")]


def test_a_vms_hookscript_is_checked_as_check_hookscript_does(lab, root_pw, snippets):
    lab.pve.add_vm(700, "web", config={"cores": 1})
    write_hook(snippets, "exit 0", name="plain.sh", mode=0o644)

    def refusal(volid):
        answer = root_pw.call("PUT", "/nodes/pve1/qemu/700/config", hookscript=volid)
        assert answer.status_code == 400, answer.text
        return answer.json()["errors"]["hookscript"].strip()

    assert refusal("snippets:snippets/nope.sh") == "script 'snippets:snippets/nope.sh' does not exist"
    assert refusal("snippets:snippets/plain.sh") == "script 'snippets:snippets/plain.sh' is not executable"
    assert refusal("local:iso/x.iso") == "'local:iso/x.iso' is not in the snippets directory"
    assert refusal("nosuch:snippets/x") == "storage 'nosuch' does not exist"
    assert refusal("local-lvm:snippets/x") == "unable to parse lvm volume name 'snippets/x'"
    write_hook(snippets, "exit 0")
    root_pw.ok("PUT", "/nodes/pve1/qemu/700/config", hookscript=SCRIPT)
    assert lab.pve.vm(700).config["hookscript"] == SCRIPT


def test_only_root_at_pam_itself_sets_a_vms_hookscript_not_its_token(lab, root, root_pw, snippets):
    lab.pve.add_vm(700, "web", config={"cores": 1})
    write_hook(snippets, "exit 0")
    assert root.error("PUT", "/nodes/pve1/qemu/700/config", hookscript=SCRIPT) == (
        500,
        "only root can set 'hookscript' config",
    )
    # The volume is checked first: a bad one is a 400 for the token too.
    assert root.call("PUT", "/nodes/pve1/qemu/700/config", hookscript="snippets:snippets/nope").status_code == 400
    root_pw.ok("PUT", "/nodes/pve1/qemu/700/config", hookscript=SCRIPT)
    assert root.error("PUT", "/nodes/pve1/qemu/700/config", delete="hookscript") == (
        500,
        "only root can set 'hookscript' config",
    )
    root_pw.ok("PUT", "/nodes/pve1/qemu/700/config", delete="hookscript")
    assert "hookscript" not in lab.pve.vm(700).config


def test_a_containers_hookscript_is_root_at_pams_and_checked(lab, root, root_pw, snippets):
    root.ok("POST", "/nodes/pve1/lxc", vmid=300, ostemplate=TEMPLATE, rootfs="local-lvm:4")
    write_hook(snippets, "exit 0")
    assert root.error("PUT", "/nodes/pve1/lxc/300/config", hookscript=SCRIPT) == (
        403,
        "Permission check failed (changing the hookscript is only allowed for root@pam)",
    )
    assert root_pw.error("PUT", "/nodes/pve1/lxc/300/config", hookscript="snippets:snippets/nope") == (
        500,
        "script 'snippets:snippets/nope' does not exist",
    )
    root_pw.ok("PUT", "/nodes/pve1/lxc/300/config", hookscript=SCRIPT)
    status, log = run_task(root_pw, "POST", "/nodes/pve1/lxc/300/status/start")
    assert status == "OK", log
    assert calls(snippets) == ["300 pre-start", "300 post-start"]


def test_a_start_runs_pre_start_and_post_start_with_their_output_in_the_task_log(lab, root_pw, snippets):
    vm = lab.pve.add_vm(700, "web", config={"cores": 1, "hookscript": SCRIPT})
    write_hook(snippets, 'echo "guard says: $2 fine"; echo "to stderr" >&2')
    status, log = run_task(root_pw, "POST", "/nodes/pve1/qemu/700/status/start")
    assert status == "OK" and vm.status == "running"
    assert calls(snippets) == ["700 pre-start", "700 post-start"]
    assert log[:3] == ["guard says: pre-start fine", "to stderr", "guard says: post-start fine"]
    status, log = run_task(root_pw, "POST", "/nodes/pve1/qemu/700/status/stop")
    assert status == "OK" and vm.status == "stopped"
    assert calls(snippets)[2:] == ["700 pre-stop", "700 post-stop"]


def test_a_failing_pre_start_fails_the_start_and_other_phases_only_warn(lab, root_pw, snippets):
    vm = lab.pve.add_vm(700, "web", config={"cores": 1, "hookscript": SCRIPT})
    script = write_hook(snippets, 'echo "no room for $1"; [ "$2" = post-start ] && exit 0; exit 3')
    status, log = run_task(root_pw, "POST", "/nodes/pve1/qemu/700/status/start")
    failure = f"hookscript error for 700 on pre-start: command '{script} 700 pre-start' failed: exit code 3"
    assert status == failure
    assert log == ["no room for 700", failure, f"TASK ERROR: {failure}"]
    assert vm.status == "stopped"

    vm.status = "running"
    status, log = run_task(root_pw, "POST", "/nodes/pve1/qemu/700/status/shutdown")
    assert status == "OK" and vm.status == "stopped"
    assert f"hookscript error for 700 on pre-stop: command '{script} 700 pre-stop' failed: exit code 3" in log
    assert f"hookscript error for 700 on post-stop: command '{script} 700 post-stop' failed: exit code 3" in log


def test_the_starts_own_checks_come_before_the_hookscript(lab, root_pw, snippets):
    lab.pve.add_vm(700, "web", status="running", config={"cores": 1, "hookscript": SCRIPT})
    write_hook(snippets, "exit 0")
    status, _ = run_task(root_pw, "POST", "/nodes/pve1/qemu/700/status/start")
    assert status == "VM 700 already running"
    assert calls(snippets) == []
    # A hookscript whose file went away fails the start as Proxmox does.
    lab.pve.add_vm(701, "gone", config={"cores": 1, "hookscript": "snippets:snippets/gone.sh"})
    status, _ = run_task(root_pw, "POST", "/nodes/pve1/qemu/701/status/start")
    assert status == "hookscript error for 701 on pre-start: script 'snippets:snippets/gone.sh' does not exist"
