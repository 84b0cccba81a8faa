"""The audit trail: one JSON line per command, however it ends, on the node and in the cluster file system."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tomli_w
from conftest import audit_events, created_password, ok

from tenctl_core import audit

KEYS = [
    "time",
    "node",
    "user",
    "command",
    "tenant",
    "outcome",
    "exit_code",
    "duration",
    "changes",
    "steps",
    "message",
    "details",
]


def node_copy(lab, node: str = "pve1") -> Path:
    return lab.dir / "etc-pve" / "tenctl" / "audit" / f"{node}.log"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def new_lines(lab, run, *args, **kwargs):
    """Run tenctl against the lab; return the result and the audit lines it added (local log)."""
    before = len(audit_events(lab))
    result = run(*args, **kwargs)
    return result, audit_events(lab)[before:]


def write_config(tmp_path: Path) -> Path:
    """A configuration whose paths are all under tmp_path (log, cluster, tenants), for tests without a lab."""
    config = tmp_path / "tenctl.toml"
    paths = {f"{name}_dir": str(tmp_path / name) for name in ("log", "cluster", "tenants")}
    config.write_text(tomli_w.dumps({"paths": paths}))
    return config


def tenctl(config: Path, *args: str, node: str = "pve1") -> subprocess.CompletedProcess[str]:
    """`tenctl --config CONFIG ARGS` in a subprocess, on node `node`, in UTC."""
    env = {key: value for key, value in os.environ.items() if key != "TENCTL_PROFILE"}
    env.update(TZ="UTC", TENCTL_NODE=node)
    return subprocess.run(
        [sys.executable, "-m", "tenctl_core", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def crafted(time: str, command: str, tenant: str | None, outcome: str, changes: bool, **extra) -> dict:
    """An audit line as tenctl writes it, with a time of the test's choosing."""
    line = {
        "time": time,
        "node": extra.pop("node", "pve1"),
        "user": "root",
        "command": command,
        "tenant": tenant,
        "outcome": outcome,
        "exit_code": {"success": 0, "refused": 2, "failure": 1, "interrupted": 130}[outcome],
        "duration": 0.5,
        "changes": changes,
        "steps": [],
        "message": "",
        "details": {},
    }
    line.update(extra)
    return line


# ---------------------------------------------------------------- one line per command, however it ends


def test_every_command_writes_one_line_at_every_verbosity(cluster):
    lab = cluster
    copy_before = len(read_lines(node_copy(lab)))
    commands = [
        ("add", "-n", "acme", "-c", "2"),
        ("--quiet", "list"),
        ("show", "-n", "acme"),
        ("health", "--json"),
        ("config", "check"),
        ("plugins",),
        ("lock", "status"),
        ("-q", "modify", "-n", "acme", "-c", "3", "--force"),
        ("add", "-n", "beta", "--dry-run"),
    ]
    lines = []
    for args in commands:
        result, added = new_lines(lab, lab.run, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert len(added) == 1, (args, added)
        lines.extend(added)
    assert [(e["command"], e["outcome"], e["tenant"]) for e in lines] == [
        ("add", "success", "acme"),
        ("list", "success", None),
        ("show", "success", "acme"),
        ("health", "success", None),
        ("config check", "success", None),
        ("plugins", "success", None),
        ("lock status", "success", None),
        ("modify", "success", "acme"),
        ("add", "success", "beta"),
    ]
    for line in lines:
        assert list(line) == KEYS, line
        assert line["node"] == "pve1" and line["user"] and line["exit_code"] == 0
        assert isinstance(line["duration"], float) and 0 <= line["duration"] < 120
        assert round(line["duration"], 3) == line["duration"]
        assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None
    # Only the commands that change something say so; a dry run changes nothing.
    assert [e["changes"] for e in lines] == [True, False, False, False, False, False, False, True, False]
    # The objects changed: each step that ran, by id and action, with its last state.
    added = lines[0]
    assert added["steps"] and all(s["state"] == "done" for s in added["steps"])
    assert {"id": "proxmox-access:create:pool:tenant_acme", "action": "create pool tenant_acme", "state": "done"} in (
        added["steps"]
    ), added["steps"]
    assert added["details"]["vlan"] == 100 and added["details"]["cpu"] == 2
    modified = lines[7]
    assert modified["steps"] and all(s["state"] == "done" for s in modified["steps"])
    assert any("cpu_limit 2 -> 3" in s["action"] for s in modified["steps"]), modified["steps"]
    assert lines[1]["steps"] == [] and lines[-1]["steps"] == []
    # The same lines are in this node's copy in the cluster file system.
    assert read_lines(node_copy(lab))[copy_before:] == lines


def test_help_version_and_unknown_commands_write_nothing(cluster):
    lab = cluster
    for args in (("--help",), ("add", "--help"), ("--version",), ("lock",), ("lock", "status", "-h"), ("nosuch",)):
        _, added = new_lines(lab, lab.run, *args)
        assert added == [], (args, added)


def test_a_refusal_before_any_request_is_logged_as_refused(cluster):
    lab = cluster
    mark = lab.mark()
    result, added = new_lines(lab, lab.run, "add", "-n", "acme corp", "-c", "2")
    assert result.exit_code == 2 and "tenant name" in result.stderr
    assert lab.requests_since(mark) == 0
    [line] = added
    assert (line["command"], line["outcome"], line["exit_code"], line["tenant"]) == ("add", "refused", 2, None)
    assert "tenant name 'acme corp' is invalid" in line["message"]
    assert line["changes"] is True and line["steps"] == []

    # The tenant is named when the name is valid and another value is not.
    result, [line] = new_lines(lab, lab.run, "add", "-n", "acme", "-e", "not-an-email")
    assert result.exit_code == 2 and (line["outcome"], line["tenant"]) == ("refused", "acme")
    assert "email" in line["message"]
    # A plugin's option refused by the plugin's own check.
    result, [line] = new_lines(lab, lab.run, "init", "-t", "qinq", "--service-vlan", "5000")
    assert result.exit_code == 2 and (line["command"], line["outcome"]) == ("init", "refused")
    assert "--service-vlan" in line["message"]
    # What the command line parser refuses names the option, never the value.
    result, [line] = new_lines(lab, lab.run, "add", "-n", "acme", "-c", "lots-of-cores")
    assert result.exit_code == 2
    assert (line["command"], line["outcome"], line["exit_code"]) == ("add", "refused", 2)
    assert line["message"] == "command line refused: invalid value for --cpu/-c"
    assert "lots-of-cores" not in json.dumps(line)
    result, [line] = new_lines(lab, lab.run, "remove")
    assert result.exit_code == 2 and line["message"] == "command line refused: missing --name/-n"
    result, [line] = new_lines(lab, lab.run, "show", "-n", "acme", "--colour")
    assert result.exit_code == 2 and line["message"] == "command line refused: no such option --colour"
    assert lab.requests_since(mark) == 0


def test_a_capacity_refusal_is_refused_and_a_missing_tenant_too(cluster):
    lab = cluster
    lab.pve.node_cores = 4  # 3 nodes: 12 cores, 80 % of them is 9
    ok(lab.run("add", "-n", "big", "-c", "8"))
    result, [line] = new_lines(lab, lab.run, "add", "-n", "more", "-c", "4")
    assert result.exit_code == 1 and "not enough cluster CPU" in result.stderr
    assert (line["command"], line["tenant"], line["outcome"], line["exit_code"]) == ("add", "more", "refused", 1)
    assert "not enough cluster CPU for tenant more" in line["message"] and line["steps"] == []
    result, [line] = new_lines(lab, lab.run, "modify", "-n", "big", "-c", "12", "--force")
    assert result.exit_code == 1 and line["outcome"] == "refused"
    result, [line] = new_lines(lab, lab.run, "show", "-n", "ghost")
    assert result.exit_code == 1 and (line["outcome"], line["tenant"]) == ("refused", "ghost")


def test_a_failed_add_lists_the_steps_that_ran_and_were_undone(cluster):
    lab = cluster
    mark = lab.mark()
    ok(lab.run("add", "-n", "probe"))
    total = lab.requests_since(mark)
    ok(lab.run("remove", "-n", "probe", "--force"))
    lab.pve.fail_nth(total - 4, 500, "injected failure")
    try:
        result, [line] = new_lines(lab, lab.run, "add", "-n", "acme")
    finally:
        lab.pve.clear_faults()
    assert result.exit_code == 1 and "injected failure" in result.stderr
    assert (line["command"], line["tenant"], line["outcome"], line["exit_code"]) == ("add", "acme", "failure", 1)
    assert "injected failure" in line["message"]
    states = [s["state"] for s in line["steps"]]
    assert states.count("failed") == 1 and "undone" in states and "done" not in states, line["steps"]
    assert {"id": "proxmox-access:create:pool:tenant_acme", "action": "create pool tenant_acme", "state": "undone"} in (
        line["steps"]
    )


def test_a_command_over_several_tenants_is_one_line_naming_them(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "beta"))
    result, [line] = new_lines(lab, lab.run, "sync", "--all")
    assert result.exit_code == 0
    assert (line["command"], line["tenant"], line["outcome"], line["changes"]) == ("sync", None, "success", True)
    assert line["details"]["tenants"] == ["acme", "beta"]
    assert sorted(line["details"]["per_tenant"]) == ["acme", "beta"]
    _, [line] = new_lines(lab, lab.run, "sync", "-n", "beta")
    assert line["tenant"] == "beta"


def test_events_announced_along_a_command_get_lines_of_their_own(cluster):
    """`tenctl watch` announces each crossing through the event hook: a line at once for each, then the
    run's own line when it ends."""
    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "1"))
    disk = "local-lvm:vm-731-disk-0,size=1G"
    lab.pve.add_vm(731, "vm731", node="pve1", status="running", config={"cores": 2, "memory": 256, "scsi0": disk})
    lab.pve._pool_join("tenant_alpha", 731)
    result, lines = new_lines(lab, lab.run, "watch", "--once")
    assert result.exit_code == 0, result.stderr
    assert [(e["command"], e["tenant"], e["outcome"], e["changes"]) for e in lines] == [
        ("watch", "alpha", "success", False),
        ("watch", None, "success", False),
    ]
    assert lines[0]["details"]["kind"] == "limit" and "cpu OVER" in lines[0]["message"]
    assert lines[1]["details"] == {} and lines[1]["message"] == ""


def test_declining_the_confirmation_is_refused(cluster):
    import pty

    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    before = len(audit_events(lab))
    master, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tenctl_core", "remove", "-n", "acme"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=lab.env,
        )
        os.close(terminal)
        os.write(master, b"n\n")
        proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert proc.returncode == 1
    assert "tenant_acme" in lab.pve.pools
    [line] = audit_events(lab)[before:]
    assert (line["command"], line["tenant"], line["outcome"]) == ("remove", "acme", "refused")
    assert line["message"] == "declined at the confirmation prompt" and line["steps"] == []


def test_plugin_commands_are_logged(cluster, tmp_path):
    lab = cluster
    result, [line] = new_lines(lab, lab.run, "vyos", "show", "-n", "acme")
    assert result.exit_code == 2
    assert (line["command"], line["tenant"], line["outcome"]) == ("vyos show", "acme", "refused")
    assert "no VyOS router is configured" in line["message"]
    result, [line] = new_lines(lab, lab.run, "lab", "status", "--dir", str(tmp_path / "no-lab"))
    assert (line["command"], line["outcome"], line["changes"]) == ("lab status", "success", False)


def test_no_line_and_no_crash_when_the_configuration_is_broken(tmp_path):
    config = tmp_path / "tenctl.toml"
    config.write_text('[paths]\nlog_dir = "relative/log"\n')
    result = tenctl(config, "config", "check")
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr and "audit trail" not in result.stderr
    assert not (tmp_path / "relative").exists()


def test_an_unwritable_trail_is_a_warning_and_changes_no_outcome(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "tenant-management.log").mkdir()  # a directory where the file should be
    result = tenctl(config, "config", "check")
    assert result.returncode == 0, result.stderr
    assert "warning: audit trail: cannot append to" in result.stderr
    # The node's copy was still written.
    [line] = read_lines(tmp_path / "cluster" / "tenctl" / "audit" / "pve1.log")
    assert line["command"] == "config check"


# ------------------------------------------------------------------------------------- secrets never


def test_passwords_never_reach_the_trail(cluster, tmp_path):
    lab = cluster
    given = tmp_path / "given.pw"
    given.write_text("Given-Passw0rd-xyz\n")
    ok(lab.run("add", "-n", "acme", "--password-file", str(given)))
    generated = created_password(ok(lab.run("add", "-n", "beta")).stdout)
    new = tmp_path / "new.pw"
    new.write_text("N3w-Passw0rd-abc\n")
    ok(lab.run("modify", "-n", "acme", "--password-file", str(new), "--force"))
    ok(lab.run("modify", "-n", "beta", "--password-file", "-", "--force", input="Piped-Passw0rd-42\n"))
    # Refused: a password on the command line with a stray argument, a short one.
    assert lab.run("add", "-n", "gamma", "-p", "Cmdline-Passw0rd-1", "Stray-Secret-77").exit_code == 2
    assert lab.run("modify", "-n", "acme", "--password", "short7", "--force").exit_code == 2
    texts = [(lab.dir / "log" / "tenant-management.log").read_text(), node_copy(lab).read_text()]
    for secret in (
        "Given-Passw0rd-xyz",
        generated,
        "N3w-Passw0rd-abc",
        "Piped-Passw0rd-42",
        "Cmdline-Passw0rd-1",
        "Stray-Secret-77",
        "short7",
        lab.password,
        lab.token_secret,
    ):
        for text in texts:
            assert secret not in text, secret
    commands = [(e["command"], e["tenant"], e["outcome"]) for e in audit_events(lab)[-6:]]
    assert commands == [
        ("add", "acme", "success"),
        ("add", "beta", "success"),
        ("modify", "acme", "success"),
        ("modify", "beta", "success"),
        ("add", "gamma", "refused"),
        ("modify", "acme", "refused"),
    ]


# ------------------------------------------------------------------------------- concurrent appenders


def test_concurrent_commands_write_one_whole_line_each(cluster):
    lab = cluster
    before = len(audit_events(lab))
    copy_before = len(read_lines(node_copy(lab)))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tenctl_core", "list" if i % 2 else "show", *([] if i % 2 else ["-n", "nosuch"])],
            env=lab.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(12)
    ]
    for proc in procs:
        proc.wait(timeout=120)
    lines = audit_events(lab)[before:]  # every line parses
    assert sorted(e["command"] for e in lines) == ["list"] * 6 + ["show"] * 6
    assert len(read_lines(node_copy(lab))) - copy_before == 12


APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tenctl_core.audit import append, append_to_node_copy
    path, lock, limit, tag, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    for i in range(count):
        line = ('{"writer": "%s", "n": %d, "pad": "%s"}\\n' % (tag, i, tag * 3000)).encode()
        if limit:
            append_to_node_copy(path, line, lock, limit)
        else:
            append(path, line)
    """
)


def run_appenders(path: Path, lock: Path, limit: int, writers: int, count: int) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(lock), str(limit), tag, str(count)])
        for tag in "abcdefgh"[:writers]
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0


def test_lines_of_concurrent_appenders_never_mix(tmp_path):
    path = tmp_path / "trail.log"
    run_appenders(path, tmp_path / "lock", 0, writers=6, count=150)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 6 * 150
    for writer in "abcdef":
        assert [x["n"] for x in lines if x["writer"] == writer] == list(range(150))


def test_the_node_copy_is_rotated_once_past_its_limit_keeping_one_generation(tmp_path):
    path, lock = tmp_path / "audit" / "pve1.log", tmp_path / "lock"
    limit = 40_000  # about 13 lines of ~3 kB
    run_appenders(path, lock, limit, writers=6, count=60)
    older = audit.rotated(path)
    assert {p.name for p in path.parent.iterdir()} <= {"pve1.log", "pve1.log.1"} and older.exists()
    for generation in (path, older):
        if generation.exists():
            assert all(json.loads(line) for line in generation.read_text().splitlines())  # whole lines only
    # A generation is only ever rotated once it is past the limit: two processes that both saw the file
    # grow never rotate twice (which would throw a whole generation away).
    assert older.stat().st_size > limit
    assert not path.exists() or path.stat().st_size <= limit


def test_each_node_appends_to_its_own_copy(cluster):
    lab = cluster
    before = read_lines(node_copy(lab, "pve1"))
    ok(lab.run("list", node="pve2"))
    [line] = read_lines(node_copy(lab, "pve2"))
    assert (line["node"], line["command"]) == ("pve2", "list")
    assert read_lines(node_copy(lab, "pve1")) == before


def test_the_lab_node_copy_is_rotated_past_its_limit(cluster):
    lab = cluster
    copy = node_copy(lab)
    old = json.dumps(crafted("2025-03-01T09:00:00+00:00", "add", "acme", "success", changes=True)) + "\n"
    room = audit.NODE_COPY_LIMIT - copy.stat().st_size
    with copy.open("a") as fh:
        fh.write(old * (room // len(old)))
    ok(lab.run("list"))  # its line takes the copy past the limit: the copy becomes pve1.log.1
    assert not copy.exists()
    assert audit.rotated(copy).stat().st_size > audit.NODE_COPY_LIMIT
    assert read_lines(audit.rotated(copy))[-1]["command"] == "list"
    ok(lab.run("lock", "status"))
    assert [line["command"] for line in read_lines(copy)] == ["lock status"]


# ----------------------------------------------------------------------------------------- the parts


def test_refused_errors_are_the_documented_ones():
    from tenctl_core import errors

    refused = {
        name for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, errors.TenctlError) and cls.refusal
    }
    assert refused == {
        "UsageError",
        "ConfigError",
        "NotFoundError",
        "ConflictError",
        "AllocationLost",
        "AllocationError",
        "CapacityError",
    }
    assert audit.outcome_of(errors.StepFailed("x", ValueError("y"), [], [])) == "failure"
    assert audit.outcome_of(KeyboardInterrupt()) == "interrupted"
