"""Which ``tenctl watch`` of the cluster announces crossings, and what the cluster announced last.

A watcher runs on every node, because the guard of each node reads that node's cache, but a crossing is
announced once for the cluster: by the watcher that holds the cluster-wide lock
:data:`~tenctl_core.locking.WATCHER_LOCK`. Every watcher tries to take it at each poll, without waiting;
the one that gets it keeps it for as long as it runs (its heartbeat keeps it fresh) and announces, the
others are *standbys*: they poll, write their cache and history, and announce nothing. A watcher that
ends cleanly gives the lock back, so another takes it at its next poll; one that dies leaves it to go
stale (:data:`~tenctl_core.locking.STALE_AFTER` seconds), and the next watcher to poll breaks it.

What was announced is kept on the cluster file system, so that the watcher taking over carries on from
where the last one stopped: it repeats nothing that was announced and misses no crossing that happened
while nobody announced. One small JSON file, ``<paths.cluster_dir>/tenctl/watch/announced.json``::

    {"version": 1, "node": "pve1", "time": 1767261600,
     "tenants": {"alpha": {"cpu": "OVER", "ram": "OK", "storage": "WARNING"}}}

``node`` and ``time`` say which watcher wrote it last, and when. Only the lock's holder writes it, after
the crossings are announced (an announcer killed in between announces them again rather than never),
atomically, and only when a status changed, so pmxcfs replicates a few hundred bytes now and then.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import TenctlError
from tenctl_core.limits import RESOURCES, SEVERITY
from tenctl_core.locking import WATCHER_LOCK, HeldLock, LockInfo, lock_path, read_lock, try_lock
from tenctl_core.statefile import DamagedFile, load_state, read_state

if TYPE_CHECKING:
    from tenctl_core.context import Context

ANNOUNCED_DIR = "tenctl/watch"
ANNOUNCED_NAME = "announced.json"
ANNOUNCED_VERSION = 1


class AnnouncedDamaged(DamagedFile):
    """The announced statuses file cannot be read as one."""


@dataclass
class Announced:
    """The statuses last announced, per tenant and resource."""

    tenants: dict[str, dict[str, str]] = field(default_factory=dict)
    node: str = ""
    """The node whose watcher wrote the file last."""
    time: float = 0.0

    def of(self, name: str) -> dict[str, str]:
        """The tenant's announced statuses (empty for a tenant never announced: every resource is OK)."""
        return self.tenants.get(name, {})

    def keep_only(self, names: set[str]) -> list[str]:
        """Forget the tenants not named (their records were removed); returns the forgotten names."""
        gone = sorted(set(self.tenants) - names)
        for name in gone:
            del self.tenants[name]
        return gone

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": ANNOUNCED_VERSION,
            "node": self.node,
            "time": round(self.time),
            "tenants": {name: dict(sorted(s.items())) for name, s in sorted(self.tenants.items())},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Announced:
        if not isinstance(data, dict) or data.get("version") != ANNOUNCED_VERSION:
            raise ValueError(f"not version {ANNOUNCED_VERSION} announced statuses")
        tenants = data.get("tenants")
        if not isinstance(tenants, dict):
            raise ValueError("'tenants' is not a table")
        for name, statuses in tenants.items():
            if not isinstance(statuses, dict) or not all(
                k in RESOURCES and v in SEVERITY for k, v in statuses.items()
            ):
                raise ValueError(f"tenant {name!r}: must map cpu, ram, storage to a status")
        written = data.get("time", 0)
        if not isinstance(written, int | float) or isinstance(written, bool):
            raise ValueError("'time' is not a number")
        return cls({str(k): dict(v) for k, v in tenants.items()}, str(data.get("node", "")), float(written))


def announced_path(cluster_dir: str) -> Path:
    return Path(cluster_dir) / ANNOUNCED_DIR / ANNOUNCED_NAME


def read_announced(path: Path) -> Announced:
    """The statuses in path (none if there is no file); AnnouncedDamaged if it cannot be read as such."""
    return read_state(path, "file of announced statuses", AnnouncedDamaged, Announced.from_dict, Announced)


def load_announced(path: Path, warn: Callable[[str], None]) -> Announced:
    """The statuses for the announcer: a damaged file is moved aside (with a warning) and none assumed."""
    return load_state(
        read_announced, path, Announced, warn, "began anew (crossings already announced may be announced again)"
    )


def check_announced_writable(path: Path) -> None:
    """Refuse to announce what could not be remembered: an announcer that cannot write the file would
    announce the same crossings again at every poll."""
    hint = (
        "the announcer needs to write there: check the cluster file system; under the tenctl-watcher "
        "service, the directory must be one of the unit's ReadWritePaths"
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        raise TenctlError(f"cannot make the directory {path.parent}: {exc.strerror}", hint=hint) from None
    if not os.access(path.parent, os.W_OK):
        raise TenctlError(f"cannot write the announced statuses in {path.parent}", hint=hint)


def write_announced(path: Path, announced: Announced, node: str) -> None:
    """Replace the file atomically, naming the writing node. The temporary name holds the node's name too:
    process ids repeat from node to node, and the directory is the whole cluster's."""
    announced.node, announced.time = node, time.time()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    tmp = path.with_name(f".{path.name}.{node}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(announced.as_dict(), out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------- the announcer role


@dataclass(frozen=True)
class Role:
    """Whether a poll announced; when it did not, who does, or why this watcher could not."""

    announcing: bool
    announcer: LockInfo | None = None
    """The lock's holder, for a standby."""
    problem: str = ""
    """Why the lock could not be taken (the cluster file system is read-only or missing)."""

    def describe(self) -> str:
        if self.announcing:
            return "announcing: this watcher holds the announcer lock"
        if self.problem:
            return f"standby: {self.problem}"
        holder = self.announcer
        if holder is None or not holder.pid:
            # Read in the moment between another watcher's mkdir and its holder file, or after its release.
            return "standby: another watcher is taking the announcer lock"
        return f"standby: the watcher on node {holder.node} (pid {holder.pid}) announces"

    @property
    def key(self) -> tuple[object, ...]:
        """What a change of role is judged by: the same standby under the same announcer says nothing new."""
        holder = (self.announcer.node, self.announcer.pid) if self.announcer else None
        return (self.announcing, self.problem, holder)


class AnnouncerLock:
    """One watcher's claim on the announcer role, for the whole run."""

    def __init__(self, ctx: Context, command: str = "watch") -> None:
        self.ctx = ctx
        self.command = command
        self.path = lock_path(ctx.config.paths.cluster_dir, WATCHER_LOCK)
        self.held: HeldLock | None = None

    def claim(self) -> Role:
        """Keep the lock if this watcher still holds it, or take it if it is free or stale (never waits)."""
        ctx = self.ctx
        if self.held is not None:
            if self.held.confirm():
                return Role(True)
            # Broken while this process was paused, released by hand, or no longer writable: not ours.
            self.held.abandon()
            self.held = None
            ctx.warn(f"lost the announcer lock {self.path}; taking it again if it is free")
        try:
            self.held = try_lock(
                ctx.config.paths.cluster_dir,
                ctx.node,
                self.command,
                ctx.operator,
                name=WATCHER_LOCK,
                on_break=self._audit_break,
            )
        except OSError as exc:
            return Role(False, problem=f"cannot take the announcer lock {self.path}: {exc.strerror or exc}")
        if self.held is not None:
            return Role(True)
        return Role(False, announcer=read_lock(self.path, ctx.node))

    def release(self) -> None:
        """Give the role back (a clean exit, a failed poll): another watcher takes it at its next poll."""
        held, self.held = self.held, None
        if held is None:
            return
        try:
            held.release()
        except OSError as exc:
            self.ctx.warn(f"cannot release the announcer lock {self.path}: {exc.strerror or exc}")

    def _audit_break(self, info: LockInfo) -> None:
        from tenctl_core.operations import audit_lock_break

        audit_lock_break(self.ctx, None, info)
