"""Ctrl-C in the middle of a command: what was done is undone, and the exit code is 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from conftest import lab_snapshot

WAIT = 60.0


def test_interrupted_add_is_undone_and_exits_130(cluster):
    lab = cluster
    before = lab_snapshot(lab)
    # Slow every answer down so that the signal lands between two steps of the command.
    lab.pve.time_scale = 1
    lab.pve.slow_network(0.3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", "add", "-n", "acme"],
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while (
            "tenant_acme" not in lab.pve.pools
        ):  # wait for the first object; a bounded poll, not a timing check
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "add did not reach its first step"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=WAIT * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
        lab.pve.slow_network(0)
        lab.pve.time_scale = 0
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert lab_snapshot(lab) == before
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()
    events = [
        json.loads(line) for line in (lab.dir / "log" / "tenant-management.log").read_text().splitlines()
    ]
    assert events[-1]["command"] == "add" and events[-1]["outcome"] == "interrupted"
    # The line lists what the add had done before the interrupt, each step undone since.
    assert events[-1]["exit_code"] == 130 and events[-1]["steps"]
    assert {step["state"] for step in events[-1]["steps"]} == {"undone"}, events[-1]["steps"]
