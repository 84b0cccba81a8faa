"""Shared fixtures of the end-to-end suite; the ``lab`` fixture comes from tenctl-lab's pytest plugin."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest


def pytest_configure(config: Any) -> None:
    # The suite runs tenctl in hundreds of subprocesses: let them cache bytecode even where the
    # environment turns that off, or each start-up recompiles every module it imports.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def lab_snapshot(lab: Any) -> dict[str, Any]:
    """The simulated cluster's state that tenctl can change, to compare before and after a command."""
    pve = lab.pve
    state = pve.state()
    return {
        "pools": state.get("pools"),
        "access": pve.access_state(),
        "sdn_config": json.loads(json.dumps(pve.sdn_config)),
        "sdn_running": json.loads(json.dumps(pve.sdn_running)),
        "sdn_lock": pve.sdn_lock,
        "guests": state.get("guests"),
    }


def ok(result: Any) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def created_password(stdout: str) -> str:
    match = re.search(r"\(shown once, store it safely\): (\S+)", stdout)
    assert match, stdout
    return match.group(1)


@pytest.fixture
def cluster(lab: Any) -> Any:
    """A lab on which `tenctl init` has run: the tenants SDN zone exists."""
    ok(lab.run("init"))
    return lab
