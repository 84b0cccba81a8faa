"""The audit trail: one JSON line per command, however it ends, on the node and in the cluster file system;
and ``tenctl audit``, which reads it back."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import audit_events, created_password, ok

from tenctl_core import audit, audit_query

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
    found = json.loads(ok(lab.run("audit", "-n", "beta", "--json", "--operations-only")).stdout)
    assert picked(found) == [("sync", "beta", "success"), ("sync", None, "success"), ("add", "beta", "success")]


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


def test_the_lab_node_copy_rotates_and_audit_still_reads_the_old_generation(cluster):
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
    found = json.loads(ok(lab.run("audit", "--all-nodes", "-s", "2025-03-01", "-u", "2025-03-01", "--json")).stdout)
    assert found["total"] > 100 and {e["tenant"] for e in found["entries"]} == {"acme"}


# --------------------------------------------------------------------------------------- tenctl audit


MARCH = [
    crafted("2025-03-01T09:00:00+00:00", "add", "acme", "success", True, steps=[{"id": "a", "action": "b", "state": "done"}]),
    crafted("2025-03-02T10:00:00+00:00", "list", None, "success", False),
    crafted("2025-03-03T11:00:00+00:00", "add", None, "refused", True, message="tenant name 'a b' is invalid"),
    crafted("2025-03-04T12:00:00+00:00", "modify", "acme", "failure", True, message="step failed: x\nundone: y"),
    crafted("2025-03-05T13:00:00+00:00", "repair", None, "interrupted", True, details={"tenants": ["acme", "beta"]}),
    crafted("2025-03-06T14:00:00+00:00", "show", "beta", "success", False),
]



def write_lines(path: Path, lines: list[dict], extra: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write("".join(json.dumps(line) + "\n" for line in lines) + extra)


def query(config: Path, *args: str) -> dict:
    result = tenctl(config, "audit", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def picked(found: dict) -> list[tuple[str, str | None, str]]:
    return [(e["command"], e["tenant"], e["outcome"]) for e in found["entries"]]


def test_audit_filters_crafted_lines(tmp_path):
    config = write_config(tmp_path)
    write_lines(tmp_path / "log" / "tenant-management.log", MARCH)
    march = ("-s", "2025-03-01", "-u", "2025-03-06")

    everything = query(config, *march)
    assert picked(everything) == [
        ("show", "beta", "success"),
        ("repair", None, "interrupted"),
        ("modify", "acme", "failure"),
        ("add", None, "refused"),
        ("list", None, "success"),
        ("add", "acme", "success"),
    ]
    assert everything["total"] == 6 and everything["damaged"] == 0
    assert everything["counts"] == {
        "levels": {"INFO": 3, "WARNING": 1, "ERROR": 2},
        "outcomes": {"success": 3, "refused": 1, "failure": 1, "interrupted": 1},
    }
    assert [e["level"] for e in everything["entries"]] == ["INFO", "ERROR", "ERROR", "WARNING", "INFO", "INFO"]
    assert everything["entries"][-1] == {**MARCH[0], "level": "INFO"}

    assert picked(query(config, "-s", "2025-03-02", "-u", "2025-03-04")) == [
        ("modify", "acme", "failure"),
        ("add", None, "refused"),
        ("list", None, "success"),
    ]
    assert picked(query(config, "-s", "2025-03-02T10:00:00", "-u", "2025-03-02T10:00:01")) == [
        ("list", None, "success")
    ]
    assert picked(query(config, "-s", "2025-03-02T12:00:00+02:00", "-u", "2025-03-02T12:00:01+02:00")) == [
        ("list", None, "success")
    ]
    assert picked(query(config, *march, "-n", "acme")) == [
        ("repair", None, "interrupted"),  # one of the tenants it worked on
        ("modify", "acme", "failure"),
        ("add", "acme", "success"),
    ]
    assert picked(query(config, *march, "-l", "warning")) == [("add", None, "refused")]
    assert picked(query(config, *march, "-l", "Error")) == [
        ("repair", None, "interrupted"),
        ("modify", "acme", "failure"),
    ]
    assert len(query(config, *march, "-l", "INFO")["entries"]) == 3
    assert picked(query(config, *march, "--errors-only")) == picked(query(config, *march, "-l", "ERROR"))
    assert picked(query(config, *march, "--operations-only")) == [
        ("repair", None, "interrupted"),
        ("modify", "acme", "failure"),
        ("add", None, "refused"),
        ("add", "acme", "success"),
    ]
    assert picked(query(config, *march, "--operations-only", "-n", "acme", "--errors-only")) == [
        ("repair", None, "interrupted"),
        ("modify", "acme", "failure"),
    ]
    # Outside March: nothing of these (each `tenctl audit` run adds its own line, dated now).
    assert query(config, "-s", "2025-02-01", "-u", "2025-02-28")["total"] == 0


def test_audit_text_output_is_newest_first_with_counts(tmp_path):
    config = write_config(tmp_path)
    write_lines(tmp_path / "log" / "tenant-management.log", MARCH)
    result = tenctl(config, "audit", "-s", "2025-03-03", "-u", "2025-03-04")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2025-03-04 12:00:00  ERROR    root@pve1  modify acme: failure (0.500 s): step failed: x / undone: y",
        "2025-03-03 11:00:00  WARNING  root@pve1  add: refused (0.500 s): tenant name 'a b' is invalid",
        "2 entries from 2025-03-03 00:00 to 2025-03-05 00:00: INFO 0, WARNING 1, ERROR 1 "
        "(success 0, refused 1, failure 1, interrupted 0)",
    ]


def test_audit_days_window_and_real_lines(tmp_path):
    config = write_config(tmp_path)
    now = dt.datetime.now(dt.UTC)
    write_lines(
        tmp_path / "log" / "tenant-management.log",
        [
            crafted((now - dt.timedelta(days=10)).isoformat(), "add", "old", "success", True),
            crafted((now - dt.timedelta(days=3)).isoformat(), "add", "mid", "success", True),
            crafted((now - dt.timedelta(hours=1)).isoformat(), "add", "new", "success", True),
        ],
    )
    assert [e["tenant"] for e in query(config, "--operations-only")["entries"]] == ["new", "mid"]
    assert [e["tenant"] for e in query(config, "-d", "30", "--operations-only")["entries"]] == ["new", "mid", "old"]
    assert [e["tenant"] for e in query(config, "-d", "2", "--operations-only")["entries"]] == ["new"]
    # The queries themselves are in the trail: read-only, successful.
    found = query(config, "-d", "1")
    assert [(e["command"], e["changes"]) for e in found["entries"][:4]] == [("audit", False)] * 3 + [("add", True)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("-s", "2025-13-01"), "-s/--since '2025-13-01': not a date"),
        (("-u", "yesterday"), "-u/--until 'yesterday': not a date"),
        (("-l", "DEBUG"), "-l/--level 'DEBUG': use INFO, WARNING or ERROR"),
        (("-d", "0"), "-d/--days 0"),
        (("-d", "3", "-s", "2025-01-01"), "not both"),
        (("-s", "2025-03-05", "-u", "2025-03-01"), "the window is empty"),
        (("-n", "a b"), "tenant name 'a b' is invalid"),
        (("-d", "many"), "Invalid value for '--days'"),
    ],
)
def test_audit_refuses_bad_values(tmp_path, args, words):
    config = write_config(tmp_path)
    result = tenctl(config, "audit", *args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    [line] = read_lines(tmp_path / "log" / "tenant-management.log")
    assert (line["command"], line["outcome"], line["exit_code"]) == ("audit", "refused", 2)


def test_damaged_lines_are_skipped_and_counted(tmp_path):
    config = write_config(tmp_path)
    log = tmp_path / "log" / "tenant-management.log"
    garbage = "\n".join(
        [
            "not json at all",
            "[1, 2, 3]",
            json.dumps({"time": "2025-03-01T10:00:00+00:00", "command": "add"}),  # no outcome
            json.dumps({**MARCH[1], "time": "yesterday"}),
            '{"time": "2025-03-02T11:00:00+00:00", "node": "pve1", "user": "ro',  # cut short
        ]
    )
    write_lines(log, MARCH[:2], extra=garbage + "\n")
    write_lines(log, MARCH[2:3], extra="\x00\xff\n")
    log.write_bytes(log.read_bytes() + b"\xff\xfe\n")
    result = tenctl(config, "audit", "--json", "-s", "2025-03-01", "-u", "2025-03-03")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert picked(found) == [("add", None, "refused"), ("list", None, "success"), ("add", "acme", "success")]
    assert found["damaged"] == 7
    assert f"warning: {log}: 7 damaged line(s) skipped" in result.stderr


def test_all_nodes_merges_every_node_copy_newest_first(cluster, tmp_path):
    lab = cluster
    # pve2 has its own /var/log, as a real node would; the cluster file system is shared.
    document = tomllib.loads(lab.config.read_text())
    document["paths"]["log_dir"] = str(tmp_path / "pve2-log")
    pve2_config = tmp_path / "pve2.toml"
    pve2_config.write_text(tomli_w.dumps(document))
    pve2 = {"TENCTL_CONFIG": str(pve2_config)}
    start = dt.datetime.now(dt.UTC).isoformat()
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "beta", env=pve2, node="pve2"))
    ok(lab.run("suspend", "-n", "acme", env=pve2, node="pve2"))
    ok(lab.run("list"))
    assert [e["command"] for e in read_lines(tmp_path / "pve2-log" / "tenant-management.log")] == ["add", "suspend"]

    local = json.loads(ok(lab.run("audit", "--json", "-s", start)).stdout)
    assert [(e["node"], e["command"]) for e in local["entries"]] == [("pve1", "list"), ("pve1", "add")]
    merged = json.loads(ok(lab.run("audit", "--all-nodes", "--json", "-s", start)).stdout)
    assert [(e["node"], e["command"], e["tenant"]) for e in merged["entries"]] == [
        ("pve1", "audit", None),
        ("pve1", "list", None),
        ("pve2", "suspend", "acme"),
        ("pve2", "add", "beta"),
        ("pve1", "add", "acme"),
    ]
    assert sorted(Path(s).name for s in merged["sources"]) == ["pve1.log", "pve2.log"]
    # pve2 sees the same history.
    from_pve2 = json.loads(ok(lab.run("audit", "--all-nodes", "--json", "-s", start, env=pve2, node="pve2")).stdout)
    assert [e["command"] for e in from_pve2["entries"]][1:] == [e["command"] for e in merged["entries"]]


def test_audit_queries_real_commands(cluster):
    lab = cluster
    start = dt.datetime.now(dt.UTC).isoformat()
    ok(lab.run("add", "-n", "acme"))
    assert lab.run("add", "-n", "acme corp").exit_code == 2
    ok(lab.run("list"))
    ok(lab.run("modify", "-n", "acme", "-c", "6", "--force"))
    found = json.loads(ok(lab.run("audit", "-s", start, "--operations-only", "--json")).stdout)
    assert picked(found) == [("modify", "acme", "success"), ("add", None, "refused"), ("add", "acme", "success")]
    found = json.loads(ok(lab.run("audit", "-s", start, "-n", "acme", "--json")).stdout)
    assert picked(found) == [("modify", "acme", "success"), ("add", "acme", "success")]
    warned = json.loads(ok(lab.run("audit", "-s", start, "-l", "WARNING", "--json")).stdout)
    assert picked(warned) == [("add", None, "refused")]
    text = ok(lab.run("audit", "-s", start)).stdout.splitlines()
    assert [re.match(r"\S+ \S+ +\S+ +\S+@\S+  (.*?): ", line).group(1) for line in text[:-1]] == [
        "audit",
        "audit acme",  # the query of tenant acme
        "audit",
        "modify acme",
        "list",
        "add",
        "add acme",
    ]
    assert text[-1].startswith("7 entries from ") and "INFO 6, WARNING 1, ERROR 0" in text[-1]


def test_logrotate_file_is_printed_for_the_configured_log(tmp_path):
    config = write_config(tmp_path)
    result = tenctl(config, "audit", "--logrotate")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"{tmp_path}/log/tenant-management.log {{" in text
    assert "copytruncate" not in text.split("{", 1)[1]
    for directive in ("monthly", "rotate 24", "compress", "delaycompress", "missingok", "create 0640 root adm"):
        assert f"    {directive}\n" in text
    packaged = (Path(audit.__file__).parent / "data" / "logrotate").read_text()
    assert "/var/log/tenctl/tenant-management.log {" in packaged
    # It is package data, so wheels carry it (and the installed tenctl_core above has it).
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["tenctl_core"]
    assert any(fnmatch.fnmatch("data/logrotate", pattern) for pattern in patterns), patterns


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 4096])
def test_lines_backwards_reads_every_line_from_the_end(tmp_path, block):
    path = tmp_path / "f"
    lines = [b"first", b"", b"a somewhat longer line in the middle", b"x", b"last, with no newline"]
    path.write_bytes(b"\n".join(lines))
    with path.open("rb") as fh:
        assert list(audit_query.lines_backwards(fh, block)) == [line for line in reversed(lines) if line]
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    with path.open("rb") as fh:
        assert list(audit_query.lines_backwards(fh, block)) == [line for line in reversed(lines[:-1]) if line]


def test_reading_stops_at_the_window_start(tmp_path, monkeypatch):
    """A big old log is not read to its beginning: the first line before the window (less a margin) ends it."""
    path = tmp_path / "trail.log"
    old = [crafted(f"2024-01-01T00:{m:02d}:00+00:00", "list", None, "success", False) for m in range(60)]
    write_lines(path, [*old, *MARCH])
    window = audit_query.Query.from_options(days=None, since="2025-03-03T00:00:00+00:00", until=None)
    parsed = []
    parse_line = audit_query.parse_line
    monkeypatch.setattr(audit_query, "parse_line", lambda raw: parsed.append(raw) or parse_line(raw))
    found = list(audit_query.read_file(path, window, audit_query.Report()))
    assert [e.line["command"] for e in found] == ["show", "repair", "modify", "add"]
    assert len(parsed) == 5  # the four, then the line of 2 March that ends the reading


# ----------------------------------------------------------------------------------------- the parts


def test_refused_errors_are_the_documented_ones():
    from tenctl_core import errors

    refused = {
        name for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, errors.TenctlError) and cls.refusal
    }
    assert refused == {
        "UsageError",
        "ConfigError",
        "ArchiveError",
        "NotFoundError",
        "ConflictError",
        "AllocationLost",
        "AllocationError",
        "CapacityError",
    }
    assert audit.outcome_of(errors.StepFailed("x", ValueError("y"), [], [])) == "failure"
    assert audit.outcome_of(KeyboardInterrupt()) == "interrupted"
