"""``tenctl watch``: follow every tenant's usage and announce each crossing of a threshold or a limit once.

Each poll reads the tenant records and one ``/cluster/resources`` answer (one API request, whatever the
number of tenants), measures every tenant with :mod:`tenctl_core.limits`, refreshes the guard's cache and
adds a sample to this node's usage history (:mod:`tenctl_core.history`). Every node does that.

One watcher of the cluster, the holder of the announcer lock (:mod:`tenctl_core.announcer`), then
compares each resource's status with the one the cluster last announced. A change of status is a
:class:`Crossing`, announced once: a tenant that stays OVER for a hundred polls is announced when it
goes over, and again only when it comes back down (a *recovery*) or goes over after that. The announced
statuses live on the cluster file system, so a restarted watcher, or the watcher of another node taking
over, goes on where the last announcer stopped; a tenant never announced starts from ``OK``, so a tenant
already over its limit is announced by the first poll. The other watchers are standbys and announce
nothing.

The watcher reads and never writes to Proxmox: it sends GET requests only. It never stops, deletes or
edits a guest. A poll that fails (Proxmox unreachable, an error answer) changes no status and announces
nothing; the next poll tries again, and an announcer whose poll failed gives the role up meanwhile.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenctl_core.announcer import (
    AnnouncerLock,
    Role,
    announced_path,
    check_announced_writable,
    load_announced,
    write_announced,
)
from tenctl_core.errors import TenctlError
from tenctl_core.history import Sample, history_lock, history_path, load_history, write_history
from tenctl_core.limits import OK, OVER, SEVERITY, UNITS, cache_path, fmt, usage_of, write_cache

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.limits import TenantUsage

LIMIT = "limit"
"""A resource went over its limit."""
THRESHOLD = "threshold"
"""A resource rose to WARNING or CRITICAL."""
RECOVERY = "recovery"
"""A resource came down to a lower status (``back to OK`` when it is OK again)."""


@dataclass(frozen=True)
class Crossing:
    """A change of one resource's status between two polls."""

    tenant: str
    resource: str
    before: str
    after: str
    counted: float
    limit: int
    percent: float
    time: float

    @property
    def unit(self) -> str:
        return UNITS[self.resource]

    @property
    def kind(self) -> str:
        if SEVERITY[self.after] < SEVERITY[self.before]:
            return RECOVERY
        return LIMIT if self.after == OVER else THRESHOLD

    @property
    def message(self) -> str:
        """``tenant alpha: cpu OVER (12 of 8 cores, 4 over)``, ``tenant alpha: ram CRITICAL (15000 of 16384
        MB, 91.6 %)``, ``tenant alpha: cpu back to OK (4 of 8 cores, 50.0 %; was OVER)``."""
        amount = f"{fmt(self.counted)} of {self.limit} {self.unit}"
        if self.after == OVER:
            return f"tenant {self.tenant}: {self.resource} OVER ({amount}, {fmt(self.counted - self.limit)} over)"
        if self.kind == THRESHOLD:
            return f"tenant {self.tenant}: {self.resource} {self.after} ({amount}, {self.percent} %)"
        where = "back to OK" if self.after == OK else f"down to {self.after}"
        return (
            f"tenant {self.tenant}: {self.resource} {where} ({amount}, {self.percent} %; was {self.before})"
        )

    def details(self) -> dict[str, Any]:
        """The event's details (the audit trail's ``details``)."""
        return {
            "kind": self.kind,
            "resource": self.resource,
            "from": self.before,
            "to": self.after,
            "counted": self.counted,
            "limit": self.limit,
            "unit": self.unit,
            "percent": self.percent,
        }

    def as_dict(self) -> dict[str, Any]:
        """One line of ``tenctl watch --json``."""
        import datetime as dt

        moment = dt.datetime.fromtimestamp(self.time, dt.UTC).isoformat(timespec="seconds")
        return {"time": moment, "tenant": self.tenant, **self.details(), "message": self.message}


def crossings_of(usage: TenantUsage, last: dict[str, str], at: float) -> list[Crossing]:
    """The resources whose status differs from the last one announced (``OK`` for one never announced)."""
    return [
        Crossing(
            usage.tenant.name,
            m.resource,
            last.get(m.resource, OK),
            m.status,
            m.counted,
            m.limit,
            m.percent,
            at,
        )
        for m in usage.measures
        if m.status != last.get(m.resource, OK)
    ]


@dataclass(frozen=True)
class Poll:
    """What one poll saw and did."""

    time: float
    tenants: int
    crossings: list[Crossing]
    forgotten: list[str]
    """Tenants dropped from the history because their record is gone."""
    role: Role
    """Whether this watcher announced, and if not, who does."""


Announce = Callable[[Crossing], None]


class Watcher:
    """Polls the cluster for one command's context (one API session for the whole run).

    Call :meth:`close` when done: it gives the announcer lock back.
    """

    def __init__(self, ctx: Context, debug: bool = False) -> None:
        self.ctx = ctx
        self.debug = debug
        self.history_file = history_path(ctx)
        self.announced_file = announced_path(ctx.config.paths.cluster_dir)
        self.keep = ctx.config.monitoring.history
        self.announcer_lock = AnnouncerLock(ctx)
        self._reported: tuple[object, ...] | None = None

    def poll(self, announce: Announce, clock: Callable[[], float] = time.time) -> Poll:
        """One poll: measure, refresh the guard's cache, record a sample, and, if this watcher is the
        announcer, announce every crossing."""
        ctx = self.ctx
        store = ctx.store
        if not store.directory.is_dir():
            raise TenctlError(
                f"the tenants directory {store.directory} does not exist",
                hint="run `tenctl init`; on a node, check that the cluster file system (/etc/pve) is mounted",
            )
        tenants = ctx.tenants(refresh=True)
        # Damaged records are not measured but keep their history: only a removed record forgets it.
        on_disk = set(store.names())
        # Straight from the session, not ctx.cached_get: every poll needs a fresh answer.
        resources = ctx.proxmox.get("/cluster/resources")
        if not isinstance(resources, list):
            raise TenctlError("Proxmox answered GET /cluster/resources with something that is not a list")
        at = clock()
        try:
            write_cache(cache_path(ctx), resources)
        except OSError as exc:
            ctx.warn(f"cannot write the guard's cache {cache_path(ctx)}: {exc.strerror}")
        usages = usage_of(ctx, tenants, resources)
        role = self.announcer_lock.claim()
        self._report(role)
        found = self._announce_crossings(usages, on_disk, at, announce) if role.announcing else []
        with history_lock(self.history_file):
            history = load_history(self.history_file, ctx.warn)
            for usage in usages:
                history.of(usage.tenant.name).add(Sample.of(usage, at), self.keep)
            forgotten = history.keep_only(on_disk)
            write_history(self.history_file, history)
        for name in forgotten:
            ctx.info(f"tenant {name}: its record is gone; dropped from the usage history")
        return Poll(at, len(tenants), found, forgotten, role)

    def _announce_crossings(
        self, usages: list[TenantUsage], on_disk: set[str], at: float, announce: Announce
    ) -> list[Crossing]:
        """Announce what changed since the cluster's last announcement, then remember it cluster-wide.

        Each crossing is announced before the file that remembers it is written: an announcer killed in
        between announces it again (itself after a restart, or the watcher taking over) rather than never.
        """
        check_announced_writable(self.announced_file)
        announced = load_announced(self.announced_file, self.ctx.warn)
        before = {name: dict(statuses) for name, statuses in announced.tenants.items()}
        found: list[Crossing] = []
        for usage in usages:
            name = usage.tenant.name
            for crossing in crossings_of(usage, announced.of(name), at):
                announce(crossing)
                found.append(crossing)
            announced.tenants[name] = {m.resource: m.status for m in usage.measures}
        announced.keep_only(on_disk)
        if announced.tenants != before:
            write_announced(self.announced_file, announced, self.ctx.node)
        return found

    def _report(self, role: Role) -> None:
        """Say when this watcher starts or stops announcing, or another one takes over (not every poll)."""
        if role.key != self._reported:
            self._reported = role.key
            self.ctx.info(role.describe())

    def close(self) -> None:
        """Give the announcer lock back, so that another node's watcher takes it at its next poll."""
        self.announcer_lock.release()

    def run(self, interval: float, stop: threading.Event, announce: Announce) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set. A failed poll is reported and the next one
        tried; the watcher itself never ends on an error. An announcer whose poll failed gives the role up,
        so that a watcher whose polls work announces meanwhile."""
        failures = 0
        due = time.monotonic()
        while not stop.is_set():
            try:
                self.poll(announce)
            except Exception as exc:  # noqa: BLE001 - a monitor outlives any one failed poll
                failures += 1
                self.ctx.warn(f"poll failed: {describe(exc)}; next poll in {interval:g} s")
                if self.debug and not isinstance(exc, TenctlError):
                    traceback.print_exc()
                if self.announcer_lock.held is not None:
                    self.close()
                    self._reported = None
                    self.ctx.info("gave the announcer lock back until a poll works again")
            else:
                if failures:
                    self.ctx.info(f"polls work again after {failures} failed poll(s)")
                failures = 0
            due += interval
            now = time.monotonic()
            if due < now:
                # The poll took longer than the interval: poll again now, and do not try to catch up.
                due = now
            stop.wait(due - now)


def describe(exc: BaseException) -> str:
    """An error for the log: tenctl's own message, or the exception's type and text."""
    if isinstance(exc, TenctlError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"
