"""Plans: the ordered steps of a change, shown by ``--dry-run`` and run by apply.

A step knows how to describe itself, apply itself, verify itself, settle
itself (read the world back when its outcome is unknown) and undo itself.
Applying a plan runs the steps in order and reports each one to a journal
callback; when a step fails it is settled, and the steps that took effect are
undone in reverse order (or, for forward-only commands, left for a re-run); the
error says exactly what could not be undone.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tenctl_core.errors import StepFailed, TenctlError

Action = Callable[[], Any]


@dataclass
class Step:
    """One change to one system."""

    layer: str
    """Where the change happens: ``proxmox``, ``sdn``, ``switch``, ``edge``, ``record``..."""
    action: str
    """What the step does, in words: ``create pool tenant_acme``. Never read by control flow."""
    apply: Action
    undo: Action | None = None
    undo_action: str | None = None
    """What the undo does, in words; ``None`` when the step cannot be undone."""
    provider: str = "core"
    diff: str | None = None
    """The backend's own preview of the change, when it can give one."""
    id: str = ""
    """A stable identity (``<provider>:<op>:<kind>:<id>``): the journal keeps it, output shows it."""
    op: str = "action"
    """What kind of change: ``create``, ``update``, ``delete``, ``adopt``, ``power``, ``record``..."""
    settle: Callable[[], bool | None] | None = None
    """After a failure: read the world back. True: the change took effect anyway (an answer was lost);
    False: it did not; None: it cannot be told. A step whose outcome is True or None is undone with the
    steps before it, and its undo checks ownership before it deletes anything."""
    verify: Callable[[], None] | None = None
    """After apply: read the object back and raise if it does not show the change."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "layer": self.layer,
            "provider": self.provider,
            "action": self.action,
            "undo": self.undo_action if self.undo else None,
            "diff": self.diff,
        }


@dataclass
class Plan:
    """The steps of one command, in the order they run."""

    command: str
    tenant: str | None
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things found while planning that the user should know (already in place, warnings)."""

    def add(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "tenant": self.tenant,
            "steps": [step.as_dict() for step in self.steps],
            "notes": list(self.notes),
        }

    def describe(self) -> str:
        lines = [f"Plan for {self.command}" + (f" {self.tenant}" if self.tenant else "") + ":"]
        if not self.steps:
            lines.append("  nothing to do")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number:2}. [{step.layer}] {step.action}")
            if step.diff:
                lines.extend("        " + line for line in step.diff.splitlines())
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


JournalCallback = Callable[[Step, str], None]
"""Called with a step and its new state: ``applying``, ``done``, ``failed``, ``unknown``, ``undone``,
``undo-failed``."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C arrived during a plan: the step under way was finished, then the done steps undone."""

    def __init__(self, not_undone: list[str]) -> None:
        super().__init__()
        self.not_undone = not_undone


@contextmanager
def interrupt_between_steps() -> Iterator[list[int]]:
    """Defer the first SIGINT to the end of the step under way, so no request is cut off mid-flight.

    A second SIGINT interrupts at once. Outside the main thread signals cannot be caught; there the
    default behaviour stays.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def defer(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print(
            "interrupt: finishing the current step, then undoing (Ctrl-C again to stop at once)",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, defer)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def settled(step: Step) -> bool | None:
    """Whether a failed step took effect, read back from the world; None when that cannot be told."""
    if step.settle is None:
        return False
    try:
        return step.settle()
    except Exception:  # noqa: BLE001 - the peer may still be unreachable: the outcome stays unknown
        return None


def apply_plan(plan: Plan, journal: JournalCallback | None = None, forward: bool = False) -> list[Step]:
    """Run the plan's steps in order and return them.

    A failed step is settled by reading the world back (:func:`settled`). Then, by default, the steps
    that took effect are undone in reverse and :class:`StepFailed` is raised. With ``forward`` (remove,
    repair, sync: every step is idempotent and a re-run finishes the job) nothing is undone.

    Ctrl-C is taken between steps: the completed steps are undone (not with ``forward``) and
    :class:`Interrupted` raised.

    Every state goes to the journal and to the audit trail's line of the command under way (its
    ``steps``: what the command changed, and what it undid).
    """
    from tenctl_core.audit import note_step

    def note(step: Step, state: str) -> None:
        note_step(step, state)
        if journal is not None:
            journal(step, state)

    done: list[Step] = []

    def stop() -> Interrupted:
        return Interrupted([] if forward else undo_steps(done, note)[1])

    with interrupt_between_steps() as interrupted:
        for step in plan.steps:
            if interrupted:
                raise stop()
            note(step, "applying")
            try:
                step.apply()
                if step.verify is not None:
                    step.verify()
            except (Exception, KeyboardInterrupt) as exc:
                outcome = settled(step)
                note(step, {True: "done", False: "failed", None: "unknown"}[outcome])
                if outcome is not False:
                    done.append(step)
                if forward:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    raise StepFailed(step.action, exc, [], [], forward=True) from exc
                undone, not_undone = undo_steps(done, note)
                if isinstance(exc, KeyboardInterrupt):
                    raise Interrupted(not_undone) from None
                raise StepFailed(step.action, exc, undone, not_undone) from exc
            done.append(step)
            note(step, "done")
        if interrupted:
            raise stop()
    return done


def undo_steps(done: list[Step], journal: JournalCallback) -> tuple[list[str], list[str]]:
    """Undo steps in reverse order; returns (what was undone, what could not be and why)."""
    undone: list[str] = []
    not_undone: list[str] = []
    for step in reversed(done):
        if step.undo is None:
            not_undone.append(f"{step.action} (no undo)")
            continue
        try:
            step.undo()
        except Exception as exc:  # noqa: BLE001 - every undo is tried, each failure is reported
            reason = str(exc) if isinstance(exc, TenctlError) else f"{type(exc).__name__}: {exc}"
            not_undone.append(f"{step.undo_action or 'undo ' + step.action} failed: {reason}")
            journal(step, "undo-failed")
            continue
        undone.append(step.undo_action or f"undo {step.action}")
        journal(step, "undone")
    return undone, not_undone
