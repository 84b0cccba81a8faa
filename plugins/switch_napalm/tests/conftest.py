"""Helpers for the switch_napalm plugin's tests; the ``lab`` fixture comes from tenctl-lab's pytest plugin."""

from __future__ import annotations

import os
from typing import Any


def pytest_configure(config: Any) -> None:
    # The tests run tenctl in subprocesses: let them reuse compiled bytecode.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
