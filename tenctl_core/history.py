"""The usage history ``tenctl watch`` keeps on each node.

One JSON file, ``<paths.state_dir>/usage-history.json`` (node-local, like the guard's cache)::

    {"version": 1,
     "tenants": {"alpha": {"samples": [[1767261600, 12, 8, 4096, 16384, 420.5, 500], ...]}}}

A sample is ``[time, cpu counted, cpu limit, ram counted, ram limit, storage counted, storage limit]`` in
the limits' units (cores, MB, GB), oldest first, at most ``monitoring.history`` per tenant. The limits are
kept with each sample so that a picture drawn later shows the share of the limit the tenant had then.
What was announced is not kept here but once for the whole cluster (:mod:`tenctl_core.announcer`);
a ``statuses`` table that a development version of 0.3 wrote is ignored.

The file is replaced atomically (temporary file, ``fsync``, rename) and read whole; a watcher holds
:func:`history_lock` from reading it to writing it back, so that two watchers on one node (the service
and a ``watch --once`` by hand) never lose each other's samples.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core.limits import RESOURCES
from tenctl_core.statefile import DamagedFile, load_state, read_state

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.limits import TenantUsage

HISTORY_NAME = "usage-history.json"
LOCK_NAME = ".usage-history.lock"
HISTORY_VERSION = 1
FILE_MODE = 0o640
ROW_LENGTH = 1 + 2 * len(RESOURCES)


class HistoryDamaged(DamagedFile):
    """The history file cannot be read as a usage history."""


@dataclass(frozen=True)
class Sample:
    """A tenant's usage at one poll, in the limits' units."""

    time: float
    counted: tuple[float, float, float]
    """cpu (cores), ram (MB), storage (GB), as :mod:`tenctl_core.limits` counts them."""
    limits: tuple[int, int, int]

    @classmethod
    def of(cls, usage: TenantUsage, at: float) -> Sample:
        measures = usage.measures
        return cls(
            float(at),
            (measures[0].counted, measures[1].counted, measures[2].counted),
            (measures[0].limit, measures[1].limit, measures[2].limit),
        )

    def percent(self, resource: str) -> float:
        """The share of the limit, as ``limits.Measure.percent`` gives it (0 for a limit of 0)."""
        index = RESOURCES.index(resource)
        limit = self.limits[index]
        return round(100 * self.counted[index] / limit, 1) if limit else 0.0

    def value(self, resource: str) -> float:
        return self.counted[RESOURCES.index(resource)]

    def limit(self, resource: str) -> int:
        return self.limits[RESOURCES.index(resource)]

    def to_row(self) -> list[float]:
        row: list[float] = [round(self.time)]
        for counted, limit in zip(self.counted, self.limits, strict=True):
            row += [_compact(counted), limit]
        return row

    @classmethod
    def from_row(cls, row: Any) -> Sample:
        if (
            not isinstance(row, list)
            or len(row) != ROW_LENGTH
            or not all(_is_number(x) and x >= 0 for x in row)
        ):
            raise ValueError(f"a sample must be {ROW_LENGTH} numbers of 0 or more, not {str(row)[:60]}")
        counted = (float(row[1]), float(row[3]), float(row[5]))
        limits = (int(row[2]), int(row[4]), int(row[6]))
        return cls(float(row[0]), counted, limits)

    @property
    def moment(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time, dt.UTC)


@dataclass
class TenantHistory:
    samples: list[Sample] = field(default_factory=list)
    """Oldest first."""

    def add(self, sample: Sample, keep: int) -> None:
        self.samples.append(sample)
        del self.samples[: max(0, len(self.samples) - keep)]

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None


@dataclass
class History:
    tenants: dict[str, TenantHistory] = field(default_factory=dict)

    def of(self, name: str) -> TenantHistory:
        """The tenant's history, made empty on first use."""
        return self.tenants.setdefault(name, TenantHistory())

    def keep_only(self, names: set[str]) -> list[str]:
        """Forget the tenants not named (their records were removed); returns the forgotten names."""
        gone = sorted(set(self.tenants) - names)
        for name in gone:
            del self.tenants[name]
        return gone

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": HISTORY_VERSION,
            "tenants": {
                name: {"samples": [s.to_row() for s in entry.samples]}
                for name, entry in sorted(self.tenants.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> History:
        if not isinstance(data, dict) or data.get("version") != HISTORY_VERSION:
            raise ValueError(f"not a version {HISTORY_VERSION} usage history")
        tenants = data.get("tenants")
        if not isinstance(tenants, dict):
            raise ValueError("'tenants' is not a table")
        history = cls()
        for name, entry in tenants.items():
            if not isinstance(entry, dict):
                raise ValueError(f"tenant {name!r}: not a table")
            samples = entry.get("samples", [])
            if not isinstance(samples, list):
                raise ValueError(f"tenant {name!r}: samples is not a list")
            history.tenants[str(name)] = TenantHistory([Sample.from_row(row) for row in samples])
        return history


def history_path(ctx_or_dir: Context | Path) -> Path:
    if isinstance(ctx_or_dir, Path):
        return ctx_or_dir / HISTORY_NAME
    return Path(ctx_or_dir.config.paths.state_dir) / HISTORY_NAME


def read_history(path: Path) -> History:
    """The history in path (empty if there is none); HistoryDamaged if it cannot be read as one."""
    return read_state(path, "usage history", HistoryDamaged, History.from_dict, History)


def load_history(path: Path, warn: Callable[[str], None]) -> History:
    """The history for the watcher: a damaged file is moved aside (with a warning) and a new one begun."""
    return load_state(read_history, path, History, warn, "began a new one")


def write_history(path: Path, history: History) -> None:
    """Replace the file atomically, mode 0640; synced, so that a power cut leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(history.as_dict(), out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def history_lock(path: Path) -> Iterator[None]:
    """Hold the node-local lock of the history in path's directory (``flock``: released if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd = os.open(path.with_name(LOCK_NAME), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _compact(value: float) -> float:
    return int(value) if float(value).is_integer() else round(value, 2)
