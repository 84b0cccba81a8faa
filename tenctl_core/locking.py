"""Cluster-wide locks: one around allocation, one per tenant around a change to it.

They follow Proxmox's own locks on pmxcfs (``/etc/pve/priv/lock/<name>``):
``mkdir`` is atomic across the cluster, so the process whose ``mkdir``
succeeds holds the lock. A lock is waited for up to :data:`ACQUIRE_TIMEOUT`
seconds; one whose directory was not touched for :data:`STALE_AFTER` seconds is
stale (its holder died) and is broken, with a warning. A thread of the holder
touches its lock every :data:`HEARTBEAT` seconds, so a long command is never
taken for a dead one. Inside each lock directory a small JSON file names the holder.

The allocation lock (``tenctl``) is held only while VLAN and subnet are chosen
and the record reserved: a few seconds. A tenant lock (``tenctl-tenant-<name>``)
is held while a command changes that tenant, so two administrators cannot change
one tenant at once.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenctl_core.errors import LockError

ALLOCATION_LOCK = "tenctl"
TENANT_LOCK_PREFIX = "tenctl-tenant-"
ACQUIRE_TIMEOUT = 10.0
STALE_AFTER = 120.0
POLL = 0.05
HOLDER_FILE = "holder.json"


def boot_id() -> str:
    """This boot's id (Linux): a lock taken before a reboot of its node is dead whatever its pid."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LockInfo:
    name: str
    path: Path
    node: str
    pid: int
    command: str
    operator: str
    age: float
    boot: str = ""
    here: str = ""
    """The node reading the lock: only there can its holder's pid be checked."""

    @property
    def dead(self) -> bool:
        """Its holder ran on this node and is gone (no such process, or a process of an earlier boot)."""
        if not self.here or self.node != self.here:
            return False
        if self.boot and self.boot != boot_id():
            return True
        return not process_alive(self.pid)

    @property
    def stale(self) -> bool:
        return self.dead or self.age > STALE_AFTER

    def describe(self) -> str:
        state = (
            "dead (its holder is gone)"
            if self.dead
            else "stale (its holder seems gone)"
            if self.stale
            else "held"
        )
        return (
            f"{state}: taken by {self.operator} on node {self.node} (pid {self.pid}, command {self.command!r}), "
            f"last touched {self.age:.0f} s ago"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "node": self.node,
            "pid": self.pid,
            "command": self.command,
            "operator": self.operator,
            "age_seconds": round(self.age, 1),
            "stale": self.stale,
            "dead": self.dead,
        }


def lock_dir(cluster_dir: str) -> Path:
    return Path(cluster_dir) / "priv" / "lock"


def lock_path(cluster_dir: str, name: str = ALLOCATION_LOCK) -> Path:
    return lock_dir(cluster_dir) / name


def tenant_lock_name(tenant: str) -> str:
    return TENANT_LOCK_PREFIX + tenant


def read_lock(path: Path, here: str = "") -> LockInfo | None:
    """Who holds the lock at path, or None when it is free; ``here`` is the reading node's name."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads((path / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        holder = {}
    return LockInfo(
        path.name,
        path,
        str(holder.get("node", "?")),
        int(holder.get("pid", 0)),
        str(holder.get("command", "?")),
        str(holder.get("operator", "?")),
        max(0.0, time.time() - mtime),
        str(holder.get("boot", "")),
        here,
    )


def held_locks(cluster_dir: str, here: str = "") -> list[LockInfo]:
    """Every tenctl lock currently held in the cluster (one directory listing)."""
    directory = lock_dir(cluster_dir)
    if not directory.is_dir():
        return []
    names = sorted(p for p in directory.iterdir() if p.name.startswith(ALLOCATION_LOCK))
    return [info for info in (read_lock(p, here) for p in names) if info is not None]


def break_lock(path: Path) -> None:
    (path / HOLDER_FILE).unlink(missing_ok=True)
    try:
        path.rmdir()
    except FileNotFoundError:
        pass


def break_stale(path: Path, seen: LockInfo) -> bool:
    """Break a stale lock so that two waiters can never both break it, nor break a fresh one.

    The stale directory is first renamed to a name of our own: rename is atomic on pmxcfs, so exactly
    one waiter succeeds. The holder it names is then read again from the renamed directory; if a fresh
    holder took the lock between our reading and our rename, it is put back.
    """
    grave = path.with_name(f".{path.name}.broken.{os.getpid()}.{time.monotonic_ns()}")
    try:
        path.rename(grave)
    except (FileNotFoundError, OSError):
        return False
    now = read_lock(grave, seen.here)
    if now is not None and (now.pid, now.node, now.command) != (seen.pid, seen.node, seen.command):
        try:
            grave.rename(path)  # a fresh holder: give it back
        except OSError:
            pass
        return False
    break_lock(grave)
    return True


HEARTBEAT = STALE_AFTER / 4


class HeldLock:
    """A lock this process holds, touched every HEARTBEAT seconds while it is held.

    A thread does the touching, so that one long step (a guest deleted, a slow task) never lets the
    lock look stale; a dead process stops touching it, and after STALE_AFTER seconds it is broken.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{path.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._released.wait(HEARTBEAT):
            self.refresh()

    def refresh(self) -> None:
        """Show the lock's holder is alive: a lock touched within STALE_AFTER seconds is never broken."""
        try:
            os.utime(self.path)
        except FileNotFoundError:
            pass

    def release(self) -> None:
        self._released.set()
        break_lock(self.path)


@contextmanager
def cluster_lock(
    cluster_dir: str,
    node: str,
    command: str,
    operator: str,
    name: str = ALLOCATION_LOCK,
    timeout: float = ACQUIRE_TIMEOUT,
    on_break: Callable[[LockInfo], None] | None = None,
) -> Iterator[HeldLock]:
    path = lock_path(cluster_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.mkdir(mode=0o700)
            break
        except FileExistsError:
            info = read_lock(path, node)
            if info is not None and info.stale and break_stale(path, info):
                print(f"warning: broke the tenctl lock {path} ({info.describe()})", file=sys.stderr)
                if on_break is not None:
                    on_break(info)
                continue
            if time.monotonic() >= deadline:
                holder_text = info.describe() if info else "held"
                raise LockError(
                    f"the tenctl lock {path} is {holder_text}; waited {timeout:.0f} s",
                    hint=f"retry when it is released; `tenctl lock status` shows every lock, and a lock not "
                    f"touched for {STALE_AFTER:.0f} s is stale and broken by the next command",
                ) from None
            time.sleep(POLL)
    holder = {
        "node": node,
        "pid": os.getpid(),
        "boot": boot_id(),
        "command": command,
        "operator": operator,
        "time": time.time(),
    }
    (path / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
    held = HeldLock(path)
    try:
        yield held
    finally:
        held.release()
