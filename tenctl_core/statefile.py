"""The small JSON files tenctl keeps from one run to the next (the watcher's usage history, the statuses it
announced): read as untrusted text, and set aside, not deleted, when damaged."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tenctl_core.errors import TenctlError


class DamagedFile(TenctlError):
    """A state file that cannot be read as what it should hold."""


T = TypeVar("T")


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


def read_state(
    path: Path, what: str, damaged: type[DamagedFile], parse: Callable[[Any], T], empty: Callable[[], T]
) -> T:
    """The document in path as ``parse`` makes it (``empty()`` when there is no file); ``damaged`` when the
    file is not JSON text or ``parse`` refuses it (ValueError)."""
    data = read_json(path, what, damaged)
    if data is None:
        return empty()
    try:
        return parse(data)
    except ValueError as exc:
        raise damaged(f"{what} {path} is damaged: {exc}") from None


def load_state(
    read: Callable[[Path], T], path: Path, empty: Callable[[], T], warn: Callable[[str], None], began: str
) -> T:
    """``read(path)`` for a long-running reader: a damaged file is set aside with a warning (``began`` says
    what the reader does instead) and ``empty()`` assumed."""
    try:
        return read(path)
    except DamagedFile as exc:
        aside = set_aside(path)
        warn(f"{exc}; moved it to {aside} and {began}")
        return empty()
