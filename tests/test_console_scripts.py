"""Every command and dispatcher word has its ``tenctl-<name>`` console script, as the Bash tool had.

A plain ``pip install`` of tenctl (the README's quick start, a workstation) gets its commands from
``[project.scripts]``; ``tenctl install-local`` links the same names, derived from the registry. This test
keeps the two in step: a core command added without its script fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tenctl_core.cli import CORE_COMMANDS
from tenctl_core.cli.words import DISPATCH_WORDS

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def scripts() -> dict[str, str]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]


def test_every_core_command_and_word_has_a_console_script():
    expected = {"tenctl"} | {f"tenctl-{name}" for name in (*CORE_COMMANDS, *DISPATCH_WORDS)}
    assert set(scripts()) == expected
    assert set(scripts().values()) == {"tenctl_core.cli:main"}


@pytest.mark.parametrize(
    ("script", "expected"),
    [("tenctl-ls", "Usage: tenctl list"), ("tenctl-rm", "Usage: tenctl remove"), ("tenctl-backup", "Usage: tenctl backup")],
)
def test_an_installed_alias_runs_its_command(script, expected):
    """The scripts installed beside this interpreter (tox installs tenctl from this checkout)."""
    path = Path(sys.executable).parent / script
    if not path.exists():
        path_found = shutil.which(script)
        if path_found is None:
            pytest.skip(f"{script} is not installed beside {sys.executable}: reinstall tenctl from this checkout")
        path = Path(path_found)
    done = subprocess.run(
        [str(path), "--help"], capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected), done.stdout[:200]
