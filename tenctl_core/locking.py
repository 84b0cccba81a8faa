"""Cluster-wide locks: one around allocation, one per tenant around a change to it, one for the watcher
that announces.

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
one tenant at once. The watcher lock (``tenctl-watcher``) is held by the one
``tenctl watch`` of the cluster that announces crossings, for as long as it runs;
the watchers of the other nodes try it, without waiting, at each poll.
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
WATCHER_LOCK = "tenctl-watcher"
ACQUIRE_TIMEOUT = 10.0
STALE_AFTER = 120.0
POLL = 0.05
HOLDER_FILE = "holder.json"
HOLDER_KEYS = ("node", "pid", "boot", "time")
"""What tells one holder from another: a process on a node since a boot, and the moment it took the lock."""


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

    @property
    def purpose(self) -> str:
        """What the lock guards, in a few words."""
        if self.name == WATCHER_LOCK:
            return "announcing crossings (held by one tenctl watch for as long as it runs)"
        if self.name.startswith(TENANT_LOCK_PREFIX):
            return f"changes to tenant {self.name.removeprefix(TENANT_LOCK_PREFIX)}"
        if self.name == ALLOCATION_LOCK:
            return "allocation of VLANs and subnets"
        return ""

    def describe(self) -> str:
        state = (
            "dead (its holder is gone)"
            if self.dead
            else "stale (its holder seems gone)"
            if self.stale
            else "held by the watcher that announces crossings"
            if self.name == WATCHER_LOCK
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
            "purpose": self.purpose,
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
    ``holder`` is what this process wrote into the lock: a lock held for hours (the watcher's) checks it
    with :meth:`confirm`, because a process paused for longer than STALE_AFTER seconds may find its lock
    broken and taken by another.
    """

    def __init__(self, path: Path, holder: dict[str, Any] | None = None) -> None:
        self.path = path
        self.holder = holder or {}
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
        except OSError:
            # Gone (broken or released by hand) or not writable (pmxcfs without quorum): the holder
            # finds out with confirm(); a heartbeat thread that died would keep nothing alive.
            pass

    def taken_by_another(self) -> bool:
        """The lock's holder file names a holder other than this one (the lock was broken and retaken)."""
        if not self.holder:
            return False
        try:
            now = json.loads((self.path / HOLDER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return not isinstance(now, dict) or any(now.get(k) != self.holder.get(k) for k in HOLDER_KEYS)

    def confirm(self) -> bool:
        """Touch the lock now and check that it is still this process's: False when it is gone, names
        another holder, or cannot be touched (the cluster file system is read-only)."""
        try:
            os.utime(self.path)
        except OSError:
            return False
        return bool(self.holder) and not self.taken_by_another()

    def abandon(self) -> None:
        """Stop the heartbeat and leave the lock directory alone: it is no longer this process's."""
        self._released.set()

    def release(self) -> None:
        self._released.set()
        if not self.taken_by_another():
            break_lock(self.path)


def try_lock(
    cluster_dir: str,
    node: str,
    command: str,
    operator: str,
    name: str = ALLOCATION_LOCK,
    on_break: Callable[[LockInfo], None] | None = None,
) -> HeldLock | None:
    """Take the lock without waiting: a free lock is taken, a stale one broken (with a warning) and taken;
    None while a live holder has it. An OSError means the lock cannot be made (the cluster file system is
    read-only or missing)."""
    path = lock_path(cluster_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
            if info is None:
                continue  # released between our mkdir and our look: try again
            return None
    holder = {
        "node": node,
        "pid": os.getpid(),
        "boot": boot_id(),
        "command": command,
        "operator": operator,
        "time": time.time(),
    }
    try:
        (path / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
    except BaseException:
        break_lock(path)
        raise
    return HeldLock(path, holder)


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
    """Hold the lock for the block, waiting up to ``timeout`` seconds for it (then LockError)."""
    path = lock_path(cluster_dir, name)
    deadline = time.monotonic() + timeout
    while (held := try_lock(cluster_dir, node, command, operator, name, on_break)) is None:
        if time.monotonic() >= deadline:
            info = read_lock(path, node)
            holder_text = info.describe() if info else "held"
            raise LockError(
                f"the tenctl lock {path} is {holder_text}; waited {timeout:.0f} s",
                hint=f"retry when it is released; `tenctl lock status` shows every lock, and a lock not "
                f"touched for {STALE_AFTER:.0f} s is stale and broken by the next command",
            ) from None
        time.sleep(POLL)
    try:
        yield held
    finally:
        held.release()
