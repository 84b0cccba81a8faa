"""The cluster-wide lock around allocation and record changes.

It follows Proxmox's own locks on pmxcfs (``/etc/pve/priv/lock/<name>``):
``mkdir`` is atomic across the cluster, so the process whose ``mkdir``
succeeds holds the lock. A lock is waited for up to :data:`ACQUIRE_TIMEOUT`
seconds; one older than :data:`STALE_AFTER` seconds is stale (its holder died)
and is broken. Critical sections are kept to a few seconds. Inside the lock
directory a small JSON file says who holds it, so that a waiting command can name the holder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenctl_core.errors import LockError

LOCK_NAME = "tenctl"
ACQUIRE_TIMEOUT = 10.0
STALE_AFTER = 120.0
POLL = 0.05
HOLDER_FILE = "holder.json"


@dataclass(frozen=True)
class LockInfo:
    path: Path
    node: str
    pid: int
    command: str
    operator: str
    age: float

    @property
    def stale(self) -> bool:
        return self.age > STALE_AFTER

    def describe(self) -> str:
        state = "stale" if self.stale else "held"
        return (
            f"{state} by {self.operator} on node {self.node} (pid {self.pid}, command {self.command!r}) "
            f"for {self.age:.0f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "node": self.node,
            "pid": self.pid,
            "command": self.command,
            "operator": self.operator,
            "age_seconds": round(self.age, 1),
            "stale": self.stale,
        }


def lock_path(cluster_dir: str) -> Path:
    return Path(cluster_dir) / "priv" / "lock" / LOCK_NAME


def read_lock(path: Path) -> LockInfo | None:
    """Who holds the lock, or None when it is free."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads((path / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        holder = {}
    return LockInfo(
        path,
        str(holder.get("node", "?")),
        int(holder.get("pid", 0)),
        str(holder.get("command", "?")),
        str(holder.get("operator", "?")),
        max(0.0, time.time() - mtime),
    )


def break_lock(path: Path) -> None:
    (path / HOLDER_FILE).unlink(missing_ok=True)
    try:
        path.rmdir()
    except FileNotFoundError:
        pass


@contextmanager
def cluster_lock(
    cluster_dir: str, node: str, command: str, operator: str, timeout: float = ACQUIRE_TIMEOUT
) -> Iterator[Path]:
    path = lock_path(cluster_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.mkdir(mode=0o700)
            break
        except FileExistsError:
            info = read_lock(path)
            if info is not None and info.stale:
                print(f"warning: breaking the stale tenctl lock {path}: {info.describe()}", file=sys.stderr)
                break_lock(path)
                continue
            if time.monotonic() >= deadline:
                held = info.describe() if info else "held"
                raise LockError(
                    f"the tenctl cluster lock {path} is {held}; gave up after {timeout:.0f} s",
                    hint=f"wait and retry; a lock older than {STALE_AFTER:.0f} s is treated as stale and broken",
                ) from None
            time.sleep(POLL)
    holder = {"node": node, "pid": os.getpid(), "command": command, "operator": operator, "time": time.time()}
    (path / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
    try:
        yield path
    finally:
        break_lock(path)
