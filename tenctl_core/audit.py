"""The audit trail: one JSON line per command, on the node that ran it and in the cluster file system.

Every command run, read-only or not, refused or not, becomes one :class:`AuditLine` when it ends: who
ran what on which node, the outcome, how long it took, and the steps it ran (the objects it changed).
While the command runs, a :class:`CommandRun` collects that: the command line's edge
(:mod:`tenctl_core.cli.trail`) starts it and writes it, :func:`tenctl_core.plan.apply_plan` reports
each step's state to it, and core's ``tenctl_tenant_event`` implementation adds each lifecycle event
(tenant, message, details).

Each line goes to two files. ``<paths.log_dir>/tenant-management.log`` is the node's own trail,
``/var/log/tenctl`` on a node, rotated by ``/etc/logrotate.d/tenctl`` (``tenctl audit --logrotate``
prints the file). ``<paths.cluster_dir>/tenctl/audit/<node>.log`` is the node's copy in the cluster
file system, which pmxcfs replicates to every node, so ``tenctl audit --all-nodes`` shows the whole
cluster's history from any node. pmxcfs refuses files over 1 MiB, so that copy is rotated at
:data:`NODE_COPY_LIMIT` into ``<node>.log.1``, keeping one old generation.

Both files are opened for each line and written with a single ``write`` in append mode, so the lines of
concurrent commands never mix and logrotate needs no ``copytruncate``. Lines hold no secret: events,
step descriptions and error messages never carry one, and a value refused on the command line is not
repeated.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core import hookimpl
from tenctl_core.events import TenantEvent

if TYPE_CHECKING:
    from tenctl_core.config import Config
    from tenctl_core.plan import Step

FILE_MODE = 0o640
NODE_COPY_LIMIT = 512 * 1024
"""Size beyond which a node's copy in the cluster file system is rotated (pmxcfs refuses files over 1 MiB)."""
ROTATION_LOCK = ".audit-rotation.lock"
"""In ``paths.log_dir``: the lock that makes one process at a time rotate this node's copy."""
MAX_STEPS = 200
"""Steps listed on one line at most (a ``sync --all`` of a big cluster runs thousands)."""
MAX_MESSAGE = 4000

OUTCOMES = ("success", "refused", "failure", "interrupted")
LEVELS = {"success": "INFO", "refused": "WARNING", "failure": "ERROR", "interrupted": "ERROR"}
"""The level of each outcome, as ``tenctl audit -l`` and its counts name them."""


def level_of(outcome: str) -> str:
    return LEVELS.get(outcome, "ERROR")


def outcome_of(exc: BaseException) -> str:
    """How a command that ended with this exception is recorded: ``interrupted`` for Ctrl-C, ``refused``
    for an error that declines the request (``TenctlError.refusal``), else ``failure``."""
    from tenctl_core.errors import TenctlError

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TenctlError) and exc.refusal:
        return "refused"
    return "failure"


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class AuditLine:
    """One line of the audit trail, with its keys in the order they are written (``time`` first)."""

    time: str
    """When the command ended: UTC, ISO 8601, to the millisecond."""
    node: str
    user: str
    command: str
    tenant: str | None
    outcome: str
    exit_code: int
    duration: float
    """Seconds, to the millisecond."""
    changes: bool
    """The command is one that changes the cluster (it takes --dry-run or --force, or ran steps) and this
    was no dry run: what ``tenctl audit --operations-only`` shows."""
    steps: list[dict[str, str]] = field(default_factory=list)
    """The steps that ran: ``id``, ``action`` and last ``state`` (done, failed, unknown, undone, undo-failed)."""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "node": self.node,
            "user": self.user,
            "command": self.command,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "duration": self.duration,
            "changes": self.changes,
            "steps": self.steps,
            "message": self.message,
            "details": self.details,
        }

    def encoded(self) -> bytes:
        return (json.dumps(self.as_dict(), ensure_ascii=True, default=str) + "\n").encode("ascii")


@dataclass
class CommandRun:
    """What the trail learns about one command while it runs; it becomes one :class:`AuditLine` at the end."""

    started: float = field(default_factory=time.monotonic)
    command: str | None = None
    """``add``, ``lock release``...: set when the command's own code starts (or its options are refused)."""
    tenant: str | None = None
    """The tenant named on the command line, when the name is valid."""
    can_change: bool = False
    dry_run: bool = False
    outcome: str | None = None
    """Set when the command says why it ended: a refusal, a declined confirmation, an error."""
    message: str = ""
    config: Config | None = None
    events: list[TenantEvent] = field(default_factory=list)
    _steps: dict[int, tuple[Step, str]] = field(default_factory=dict)

    def note_step(self, step: Step, state: str) -> None:
        # A step keeps the place of its first state and shows its last one.
        self._steps[id(step)] = (step, state)

    def note_done(self, steps: list[Step]) -> None:
        """Steps that ran without apply_plan reporting them (a plugin's own runner) and ended well."""
        for step in steps:
            self._steps.setdefault(id(step), (step, "done"))

    def note_error(self, exc: BaseException) -> None:
        self.outcome = outcome_of(exc)
        self.message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)

    def line(self, outcome: str, exit_code: int, message: str, node: str, user: str) -> AuditLine:
        steps = [
            {"id": step.id or step.action, "action": step.action, "state": state}
            for step, state in self._steps.values()
        ]
        details = self.details()
        if len(steps) > MAX_STEPS:
            details["steps_omitted"] = len(steps) - MAX_STEPS
            steps = steps[:MAX_STEPS]
        if not message:
            message = "; ".join(dict.fromkeys(e.message for e in self.events if e.message))
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        return AuditLine(
            time=now_text(),
            node=node,
            user=user,
            command=self.command or "",
            tenant=self.line_tenant(),
            outcome=outcome,
            exit_code=exit_code,
            duration=round(time.monotonic() - self.started, 3),
            changes=not self.dry_run and (self.can_change or bool(steps)),
            steps=steps,
            message=message,
            details=details,
        )

    def line_tenant(self) -> str | None:
        named = list(dict.fromkeys(e.tenant for e in self.events if e.tenant))
        if len(named) == 1:
            return named[0]
        return None if named else self.tenant

    def details(self) -> dict[str, Any]:
        """The events' details; for a command that worked on several tenants (``repair --all``), those of
        each tenant under ``per_tenant`` and their names under ``tenants``."""
        named = list(dict.fromkeys(e.tenant for e in self.events if e.tenant))
        merged: dict[str, Any] = {}
        per_tenant: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if len(named) > 1 and event.tenant:
                per_tenant.setdefault(event.tenant, {}).update(event.details)
            else:
                merged.update(event.details)
        if per_tenant:
            merged.update(tenants=named, per_tenant=per_tenant)
        return merged


RUN: ContextVar[CommandRun | None] = ContextVar("tenctl_command_run", default=None)
"""The command run under way in this process, if any (the command line's edge sets it)."""


def note_step(step: Step, state: str) -> None:
    """A step's new state, for the line of the command under way (``apply_plan`` calls this)."""
    run = RUN.get()
    if run is not None:
        run.note_step(step, state)


def note_done(steps: list[Step]) -> None:
    run = RUN.get()
    if run is not None:
        run.note_done(steps)


def note_outcome(outcome: str, message: str) -> None:
    """Why the command under way ends, when its exit code alone does not say (a declined confirmation)."""
    run = RUN.get()
    if run is not None:
        run.outcome, run.message = outcome, message


def note_error(exc: BaseException) -> None:
    """The error the command under way ends with (``reported_errors`` calls this before printing it)."""
    run = RUN.get()
    if run is not None:
        run.note_error(exc)


def note_config(config: Config) -> None:
    """The configuration the command under way loaded: its paths say where the line goes."""
    run = RUN.get()
    if run is not None:
        run.config = config


# ------------------------------------------------------------------------------------------ writing


def node_copy_dir(cluster_dir: str | Path) -> Path:
    return Path(cluster_dir) / "tenctl" / "audit"


def node_copy_path(cluster_dir: str | Path, node: str) -> Path:
    """``<cluster_dir>/tenctl/audit/<node>.log``; a character a file name cannot hold becomes ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", node).lstrip(".") or "_"
    return node_copy_dir(cluster_dir) / f"{safe}.log"


def rotated(path: Path) -> Path:
    """The older generation of a log file: ``<name>.1``."""
    return path.with_name(path.name + ".1")


def append(path: Path, data: bytes) -> int:
    """Append data with one ``write`` to a file opened for appending; returns the file's size after it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"only {written} of {len(data)} bytes written (disk full?)")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def append_to_node_copy(path: Path, data: bytes, lock: Path, limit: int = NODE_COPY_LIMIT) -> None:
    """Append to a node's copy; past ``limit`` bytes it becomes ``<node>.log.1`` (replacing the older one).

    Only this node writes its copy, so a local lock is enough: the rename happens under ``lock`` and only
    if the file is still over the limit, so two processes that both saw it grow never rotate twice (which
    would throw away a whole generation). A process that appends while another renames writes into the
    older generation: the line is kept either way.
    """
    if append(path, data) <= limit:
        return
    import fcntl

    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size > limit:
            os.replace(path, rotated(path))
    finally:
        os.close(fd)  # releases the lock


def write_line(config: Config, line: AuditLine) -> list[str]:
    """Append the line to this node's trail and to its copy in the cluster file system.

    Returns what could not be written, in words (the caller warns); a failure to write never changes
    the command's outcome.
    """
    data = line.encoded()
    problems = []
    local = config.paths.audit_log
    try:
        append(local, data)
    except OSError as exc:
        problems.append(f"cannot append to {local}: {exc.strerror or exc}")
    copy = node_copy_path(config.paths.cluster_dir, line.node)
    try:
        append_to_node_copy(copy, data, Path(config.paths.log_dir) / ROTATION_LOCK)
    except OSError as exc:
        problems.append(f"cannot append to {copy}: {exc.strerror or exc}")
    return problems


def line_of_event(event: TenantEvent, changes: bool = False) -> AuditLine:
    """An event as a line of its own: one raised along a command (a crossing ``tenctl watch`` announces, a
    lock broken) or outside any command run (a script using tenctl's API). ``changes``: the event reports
    a change (a lock broken); what a command changed is on the command's own line."""
    return AuditLine(
        time=now_text(),
        node=event.node,
        user=event.operator,
        command=event.command,
        tenant=event.tenant,
        outcome=event.outcome,
        exit_code=0 if event.outcome == "success" else 1,
        duration=0.0,
        changes=changes,
        message=event.message,
        details=event.details,
    )


@hookimpl
def tenctl_tenant_event(event: TenantEvent) -> None:
    """Core's listener: an event that says how its command ended puts its tenant, message and details on
    the command's line in the trail; any other event is written at once as a line of its own."""
    run = RUN.get()
    if run is not None and event.ends_command:
        run.events.append(event)
    elif event.ctx is not None:
        # Outside a command run (a script using tenctl's API), an event that ends a command reports a change.
        for problem in write_line(event.ctx.config, line_of_event(event, changes=event.ends_command)):
            event.ctx.warn(f"audit trail: {problem}")
