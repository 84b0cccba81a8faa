"""Reading the audit trail back: which files, which lines, newest first, with counts.

The files are read from their end, a block at a time: each is in time order (a line is written when its
command ends), so reading stops at the first line older than the window (less a margin for commands
that ended together). A default query over the last seven days of a big log reads only those days.
A line that is not a complete audit line (cut short, edited, not JSON) is counted and skipped.

Sources: this node's log (``tenant-management.log``) and its last rotated generation
(``tenant-management.log.1``, which logrotate leaves uncompressed); with ``all_nodes`` the copies every
node keeps in the cluster file system (``<cluster_dir>/tenctl/audit/<node>.log`` and ``.log.1``) instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tenctl_core.audit import LEVELS, OUTCOMES, level_of, node_copy_dir, rotated
from tenctl_core.errors import TenctlError, UsageError

if TYPE_CHECKING:
    from tenctl_core.config import Config

BLOCK = 64 * 1024
MARGIN = dt.timedelta(minutes=10)
"""How far past the window's start a file is still read: lines of commands that ended together, or
around a clock step, may be slightly out of order."""
LEVEL_NAMES = {"INFO": "INFO", "WARNING": "WARNING", "WARN": "WARNING", "ERROR": "ERROR"}
ERROR_OUTCOMES = ("failure", "interrupted")
DAYS_DEFAULT = 7
DAYS_MAX = 36500


def parse_time(text: str, option: str, end_of_day: bool = False) -> dt.datetime:
    """A ``-s``/``-u`` value: ``YYYY-MM-DD`` (the whole day: its start, or with ``end_of_day`` the start of
    the next one) or an ISO 8601 date and time; without an offset it is this machine's local time."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time())
            if end_of_day:
                moment += dt.timedelta(days=1)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not a date (YYYY-MM-DD) or an ISO 8601 date and time (2025-06-01T14:30)"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def parse_level(text: str) -> str:
    level = LEVEL_NAMES.get(text.upper())
    if level is None:
        raise UsageError(f"-l/--level {text!r}: use INFO, WARNING or ERROR (in any case)")
    return level


@dataclass(frozen=True)
class Query:
    """Which lines to show: a time window and filters, all of which a line must pass."""

    since: dt.datetime
    until: dt.datetime | None = None
    """Exclusive; None: up to now and beyond."""
    tenant: str | None = None
    level: str | None = None
    errors_only: bool = False
    operations_only: bool = False

    @classmethod
    def from_options(
        cls,
        *,
        days: int | None,
        since: str | None,
        until: str | None,
        now: dt.datetime | None = None,
        **filters: Any,
    ) -> Query:
        """The window from ``-d``, ``-s`` and ``-u``: from SINCE, or DAYS (7) before UNTIL or now, to UNTIL."""
        if days is not None and since is not None:
            raise UsageError("give -d/--days or -s/--since, not both")
        if days is not None and not 1 <= days <= DAYS_MAX:
            raise UsageError(f"-d/--days {days}: give a number of days from 1 to {DAYS_MAX}")
        end = parse_time(until, "-u/--until", end_of_day=True) if until is not None else None
        if since is not None:
            start = parse_time(since, "-s/--since")
        else:
            start = (end or now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days or DAYS_DEFAULT)
        if end is not None and start >= end:
            raise UsageError(f"the window is empty: {start.isoformat()} is not before {end.isoformat()}")
        return cls(since=start, until=end, **filters)

    def in_window(self, moment: dt.datetime) -> bool:
        return self.since <= moment and (self.until is None or moment < self.until)

    def matches(self, line: dict[str, Any]) -> bool:
        outcome = line["outcome"]
        if self.tenant is not None and self.tenant != line.get("tenant"):
            tenants = (line.get("details") or {}).get("tenants")
            if not (isinstance(tenants, list) and self.tenant in tenants):
                return False
        if self.level is not None and level_of(outcome) != self.level:
            return False
        if self.errors_only and outcome not in ERROR_OUTCOMES:
            return False
        # Lines of tenctl 0.2 have no "changes": it logged only commands that change things.
        return not (self.operations_only and not line.get("changes", True))


@dataclass(frozen=True)
class Entry:
    """One audit line read back, with its time parsed."""

    time: dt.datetime
    line: dict[str, Any]

    @property
    def outcome(self) -> str:
        return str(self.line["outcome"])

    def as_dict(self) -> dict[str, Any]:
        return {**self.line, "level": level_of(self.outcome)}


@dataclass
class Report:
    """The lines a query found, newest first, and what was skipped."""

    entries: list[Entry] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    damaged: dict[str, int] = field(default_factory=dict)
    """File -> how many of its lines were not audit lines."""

    def counts(self) -> dict[str, dict[str, int]]:
        outcomes = Counter(entry.outcome for entry in self.entries)
        levels = Counter(level_of(entry.outcome) for entry in self.entries)
        return {
            "levels": {level: levels[level] for level in dict.fromkeys(LEVELS.values())},
            "outcomes": {outcome: outcomes[outcome] for outcome in OUTCOMES},
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": [entry.as_dict() for entry in self.entries],
            "total": len(self.entries),
            "counts": self.counts(),
            "damaged": sum(self.damaged.values()),
            "sources": self.sources,
        }


def sources(config: Config, all_nodes: bool) -> list[Path]:
    """The files a query reads: this node's log, or every node's copy in the cluster file system."""
    if all_nodes:
        directory = node_copy_dir(config.paths.cluster_dir)
        current = sorted(directory.glob("*.log")) if directory.is_dir() else []
    else:
        current = [config.paths.audit_log]
    found: list[Path] = []
    for path in current:
        found.extend(p for p in (path, rotated(path)) if p.is_file())
    return found


def run_query(config: Config, query: Query, all_nodes: bool = False) -> Report:
    """Every line of the sources that passes the query, newest first."""
    report = Report()
    for path in sources(config, all_nodes):
        report.sources.append(str(path))
        report.entries.extend(read_file(path, query, report))
    report.entries.sort(key=lambda entry: entry.time, reverse=True)
    return report


def read_file(path: Path, query: Query, report: Report) -> Iterator[Entry]:
    """The lines of one file that pass the query, newest first; stops once past the window's start."""
    stop = query.since - MARGIN
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return  # rotated away since it was listed
    except OSError as exc:
        raise TenctlError(f"cannot read the audit trail {path}: {exc.strerror}") from None
    with fh:
        for raw in lines_backwards(fh):
            entry = parse_line(raw)
            if entry is None:
                report.damaged[str(path)] = report.damaged.get(str(path), 0) + 1
                continue
            if entry.time < stop:
                return
            if query.in_window(entry.time) and query.matches(entry.line):
                yield entry


def lines_backwards(fh: IO[bytes], block: int = BLOCK) -> Iterator[bytes]:
    """The non-empty lines of a file, last first, reading it from the end a block at a time."""
    position = fh.seek(0, os.SEEK_END)
    partial = b""
    while position > 0:
        size = min(block, position)
        position -= size
        fh.seek(position)
        pieces = (fh.read(size) + partial).split(b"\n")
        partial = pieces.pop(0)  # its beginning may lie in the block before
        for piece in reversed(pieces):
            if piece.strip():
                yield piece
    if partial.strip():
        yield partial


def parse_line(raw: bytes) -> Entry | None:
    """The line read back, or None when it is no audit line (cut short, edited, not JSON)."""
    try:
        line = json.loads(raw)
    except ValueError:  # UnicodeDecodeError is one too
        return None
    if not isinstance(line, dict):
        return None
    if not isinstance(line.get("command"), str) or line.get("outcome") not in OUTCOMES:
        return None
    try:
        moment = dt.datetime.fromisoformat(line["time"])
    except (KeyError, TypeError, ValueError):
        return None
    return Entry(moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC), line)
