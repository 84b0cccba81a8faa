"""``tenctl health``: run every registered check, sum the results up, and (``--fix``) repair what is safe.

The report is the same object for the text and the JSON output. ``--fix`` takes the structured remedies
the checks attach to their findings (:class:`tenctl_core.providers.Remedy`) and runs the repairs core knows,
through the machinery of ``repair`` and ``sync``, each under the tenant's lock and in the audit trail:

1. locks whose holder ran on this node and is gone are released (what ``repair --all`` releases; a lock
   that is only old, or was taken on another node, is never broken here: its holder may be alive);
2. tenants with an unfinished operation are repaired;
3. the tenant role tenctl made gets its privileges back (as ``init`` does);
4. tenants whose objects differ from their records are synced (no ``--prune``);
5. ACL entries of a tenant's own group, user or tokens that its record does not ask for are deleted (a
   ``sync --prune`` of the access layer: only what hangs on a principal carrying the tenant's marker).

Everything else is reported with the command to run. With ``-n NAME`` only that tenant's repairs run; the
cluster-wide ones (the role, other tenants' locks) are listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ProxmoxUnreachable, TenctlError
from tenctl_core.providers import (
    RELEASE_DEAD_LOCKS,
    REPAIR,
    RESTORE_ROLE,
    REVOKE_GRANTS,
    SYNC,
    CheckResult,
    Remedy,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from tenctl_core.context import Context

    Audit = Callable[
        [Context, str, "str | None", "dict[str, Any] | None"], AbstractContextManager[dict[str, Any]]
    ]
    """How a change is audited: the command line's ``audited`` (the trail and every event listener)."""

MARKS = {"pass": "✓", "warn": "⚠", "fail": "✗"}
FIX_ORDER = (RELEASE_DEAD_LOCKS, REPAIR, RESTORE_ROLE, SYNC, REVOKE_GRANTS)


@dataclass
class HealthReport:
    """The results of one run of every check."""

    results: list[CheckResult]
    unreachable: bool = False
    """The Proxmox API could not be reached (exit code 2)."""
    timestamp: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def failed(self) -> int:
        return sum(r.status == "fail" for r in self.results)

    @property
    def warnings(self) -> int:
        return sum(r.status == "warn" for r in self.results)

    def summary(self) -> dict[str, Any]:
        failed, warned = self.failed, self.warnings
        return {
            "total_checks": len(self.results),
            "passed": len(self.results) - failed - warned,
            "failed": failed,
            "warnings": warned,
            "status": "fail" if failed else "warn" if warned else "pass",
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "checks": [r.as_dict() for r in self.results],
            "timestamp": self.timestamp,
        }

    def exit_code(self) -> int:
        if self.unreachable:
            return EXIT_USAGE
        return EXIT_FAILURE if self.failed else EXIT_OK

    def lines(self, verbose: bool) -> list[str]:
        out = []
        for result in self.results:
            out.append(f"{MARKS[result.status]} {result.check}: {result.message}")
            if result.status != "pass" or verbose:
                out.extend(f"    {detail}" for detail in result.details)
        summary = self.summary()
        out.append(
            f"{summary['passed']} passed, {summary['warnings']} warning(s), {summary['failed']} failed"
        )
        return out


class Unreachable:
    """Stands in for the Proxmox session once the API is known unreachable: every request fails at once, so
    the checks that need no request still run and the others do not each wait for a timeout."""

    def __init__(self, why: str) -> None:
        self.why = why

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        raise ProxmoxUnreachable(f"not checked: {self.why}")

    def get(self, path: str, /, **params: Any) -> Any:
        return self.request("GET", path, params)

    post = put = delete = get

    def close(self) -> None:
        return None


def run_checks(ctx: Context) -> HealthReport:
    """Every registered check, in registration order; a check that cannot look is a failed result.

    The API is asked for its version first (the answer ``proxmox-api`` reports): when it cannot be reached,
    or refuses tenctl's login, the report says so once and the checks that need it are not run."""
    results: list[CheckResult] = []
    unreachable = False
    try:
        ctx.cached_get("/version")
    except ProxmoxUnreachable as exc:
        unreachable = True
        results.append(CheckResult("proxmox-api", "fail", str(exc)))
        ctx._proxmox = Unreachable(str(exc))  # type: ignore[assignment]
    except TenctlError:
        pass  # an error answer: the proxmox-api check reports it
    for check in ctx.plugins.audit_checks():
        if unreachable and check.name == "proxmox-api":
            continue
        try:
            results.extend(check.run(ctx))
        except ProxmoxUnreachable as exc:
            unreachable = True
            results.append(CheckResult(check.name, "fail", str(exc)))
        except TenctlError as exc:
            results.append(CheckResult(check.name, "fail", str(exc)))
    return HealthReport(results, unreachable)


@dataclass
class FixAction:
    """One repair ``--fix`` ran (or tried)."""

    action: str
    tenant: str | None
    done: list[str] = field(default_factory=list)
    """What changed, one line each (the steps' actions)."""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "tenant": self.tenant, "done": self.done, "error": self.error}


@dataclass
class Manual:
    """A finding ``--fix`` leaves to a person, with the command to run."""

    check: str
    status: str
    message: str
    commands: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "message": self.message,
            "commands": self.commands,
        }


@dataclass
class FixOutcome:
    """What ``--fix`` did: the first run's summary, each repair, and what is left to a person."""

    before: dict[str, Any]
    actions: list[FixAction] = field(default_factory=list)
    manual: list[Manual] = field(default_factory=list)

    @property
    def failed(self) -> list[FixAction]:
        return [a for a in self.actions if a.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "applied": [a.as_dict() for a in self.actions],
            "manual": [m.as_dict() for m in self.manual],
        }

    def audit_details(self) -> dict[str, Any]:
        return {
            "fixed": [f"{a.action} {a.tenant or ''}".strip() for a in self.actions if not a.error],
            "failed": [f"{a.action} {a.tenant or ''}: {a.error}".strip() for a in self.failed],
        }


def planned_fixes(ctx: Context, report: HealthReport) -> dict[str, list[str]]:
    """action -> the tenants it concerns (in order of first mention), from the findings' remedies; only
    the actions ``--fix`` knows, and with ``-n`` only that tenant's."""
    wanted: dict[str, dict[str, None]] = {}
    for result in report.results:
        if result.status == "pass":
            continue
        for remedy in result.remedies:
            if remedy.action not in FIX_ORDER or not applicable(ctx, remedy):
                continue
            wanted.setdefault(remedy.action, {}).update(dict.fromkeys(remedy.tenants))
    return {action: list(wanted[action]) for action in FIX_ORDER if action in wanted}


def applicable(ctx: Context, remedy: Remedy) -> bool:
    """With ``-n NAME``, a repair that reaches beyond that tenant is left to the operator."""
    if ctx.tenant_scope is None:
        return True
    return bool(remedy.tenants) and set(remedy.tenants) <= {ctx.tenant_scope}


class RepairsFailed(TenctlError):
    """Some repairs of ``--fix`` failed (the audit trail records the command as a failure)."""


def fix_and_check_again(
    ctx: Context, report: HealthReport, progress: Callable[[str], None], audited: Audit
) -> tuple[FixOutcome, HealthReport]:
    """``health --fix``: the repairs, audited as one mutating command (and each tenant's repair or sync as its
    own), then every check again; returns what was done and the final report."""
    outcome = None
    try:
        with audited(ctx, "health --fix", ctx.tenant_scope, {}) as info:
            outcome = fix(ctx, report, progress, audited)
            info.update(outcome.audit_details())
            if outcome.failed:
                raise RepairsFailed(f"{len(outcome.failed)} repair(s) failed: " + "; ".join(info["failed"]))
    except RepairsFailed:
        pass  # recorded as a failure; the outcome names each one
    assert outcome is not None
    ctx.forget("")
    final = run_checks(ctx)
    outcome.manual = manual_findings(final)
    return outcome, final


def fix(ctx: Context, report: HealthReport, progress: Callable[[str], None], audited: Audit) -> FixOutcome:
    """Run the safe repairs the report asks for, in :data:`FIX_ORDER`; a repair that fails is recorded and
    the others still run. ``progress`` receives one line per change as it happens."""
    from tenctl_core import repair as repairs
    from tenctl_core.access import PROVIDER, role_steps
    from tenctl_core.plan import Plan, apply_plan

    outcome = FixOutcome(report.summary())
    given_up: set[str] = set()

    def attempt(action: str, tenant: str | None, run: Callable[[], list[str]]) -> None:
        record = FixAction(action, tenant)
        outcome.actions.append(record)
        try:
            record.done = run()
        except TenctlError as exc:
            record.error = str(exc)
            if tenant is not None:
                given_up.add(tenant)
            progress(f"could not {action}{' ' + tenant if tenant else ''}: {exc}")
            return
        for line in record.done:
            progress(f"{action} {tenant + ': ' if tenant else ''}{line}")

    def plan_lines(plan: Plan) -> list[str]:
        return [step.action for step in plan.steps]

    def audited_plan(command: str, tenant: str, run: Callable[[], Plan]) -> list[str]:
        with audited(ctx, command, tenant, {"by": "health --fix"}) as info:
            plan = run()
            info["steps"] = [s.id for s in plan.steps]
        return plan_lines(plan)

    def release_locks(tenants: list[str]) -> list[str]:
        from tenctl_core.health import lock_tenants
        from tenctl_core.locking import break_stale, held_locks, tenant_lock_name
        from tenctl_core.operations import audit_lock_break

        names = None if ctx.tenant_scope is None else {tenant_lock_name(t) for t in tenants}
        released = []
        for info in held_locks(ctx.config.paths.cluster_dir, ctx.node):
            if info.dead and (names is None or info.name in names) and break_stale(info.path, info):
                audit_lock_break(ctx, next(iter(lock_tenants(info.name)), None), info)
                released.append(f"released lock {info.name} ({info.describe()})")
        return released

    def restore_role() -> list[str]:
        plan = Plan("sync", None)
        plan.add(*role_steps(ctx))
        if plan.steps:
            with audited(ctx, "sync", None, {"cluster": True, "by": "health --fix"}) as info:
                apply_plan(plan)
                info["steps"] = [s.id for s in plan.steps]
            ctx.forget("/access/roles")
        return plan_lines(plan)

    def tenant_fix(action: str, name: str) -> list[str]:
        if action == REPAIR:
            return audited_plan("repair", name, lambda: repairs.repair_tenant(ctx, name))
        prune = action == REVOKE_GRANTS
        layer = PROVIDER if prune else None
        return audited_plan(
            "sync", name, lambda: repairs.sync_tenant(ctx, name, prune=prune, layer=layer, dry_run=False)
        )

    for action, tenants in planned_fixes(ctx, report).items():
        if action == RELEASE_DEAD_LOCKS:
            attempt(action, None, partial(release_locks, tenants))
        elif action == RESTORE_ROLE:
            attempt(action, None, restore_role)
        else:
            for name in tenants:
                if name not in given_up:
                    attempt(action, name, partial(tenant_fix, action, name))
        ctx.forget("")  # what the next repair reads must be what exists now
    return outcome


def manual_findings(report: HealthReport) -> list[Manual]:
    """The findings still there, with the command each remedy names (for those ``--fix`` could not settle)."""
    found = []
    for result in report.results:
        if result.status == "pass":
            continue
        commands = list(dict.fromkeys(r.command for r in result.remedies))
        found.append(
            Manual(result.check, result.status, result.message, commands or ["see `tenctl health -v`"])
        )
    return found
