"""The small JSON files tenctl keeps from one run to the next (the watcher's usage history, the statuses it
announced): read as untrusted text, and set aside, not deleted, when damaged."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from tenctl_core.errors import TenctlError


class DamagedFile(TenctlError):
    """A state file that cannot be read as what it should hold."""


def read_json(path: Path, what: str, damaged: type[DamagedFile] = DamagedFile) -> Any:
    """The JSON value in path, or None when there is no file; ``damaged`` when it is not JSON text."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise damaged(f"{what} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise TenctlError(f"cannot read the {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise damaged(f"{what} {path} is damaged: {exc}") from None


def set_aside(path: Path) -> Path:
    """Move a damaged file to ``<name>.damaged-<date>`` beside it, for a person to look at; its new path."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    os.replace(path, aside)
    return aside
