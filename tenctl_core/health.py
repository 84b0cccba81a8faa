"""Core's health checks, registered through ``tenctl_register_audit_checks``.

Each check makes a constant number of API calls whatever the number of
tenants: listings are read once and compared with the records.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.errors import TenctlError
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.registry import Registrar

PASS, WARN, FAIL = "pass", "warn", "fail"


class ApiCheck(AuditCheck):
    name = "proxmox-api"
    description = "the Proxmox API answers and tenctl can log in"

    def run(self, ctx: Context) -> list[CheckResult]:
        version = ctx.proxmox.get("/version")
        return [CheckResult(self.name, PASS, f"Proxmox VE {version.get('version', '?')} answers")]


class RecordsCheck(AuditCheck):
    name = "records"
    description = "tenant records parse, are not readable by others, and have no unfinished operation"

    def run(self, ctx: Context) -> list[CheckResult]:
        store = ctx.store
        problems: list[str] = []
        unfinished: list[str] = []
        count = 0
        if store.directory.is_dir():
            for path in sorted(store.directory.glob("*.toml")):
                count += 1
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue  # removed by a command running meanwhile
                mode = info.st_mode
                if mode & stat.S_IROTH or mode & stat.S_IWOTH or mode & stat.S_IWGRP:
                    problems.append(f"{path} has mode {stat.filemode(mode)}: chmod 640 {path}")
                if info.st_size == 0:
                    unfinished.append(
                        f"{path.stem}: empty record left by an add that died (run `tenctl repair {path.stem}`)"
                    )
                    continue
                try:
                    tenant = store.load(path.stem)
                except TenctlError as exc:
                    problems.append(str(exc))
                    continue
                why = tenant.unfinished()
                if why:
                    unfinished.append(f"{tenant.name}: {why} (run `tenctl repair {tenant.name}`)")
        results = []
        if problems:
            results.append(CheckResult(self.name, FAIL, f"{len(problems)} record problem(s)", problems))
        else:
            results.append(CheckResult(self.name, PASS, f"{count} record(s) readable"))
        if unfinished:
            results.append(
                CheckResult(
                    "unfinished-operations", WARN, f"{len(unfinished)} tenant(s) mid-operation", unfinished
                )
            )
        return results


class OrphansCheck(AuditCheck):
    name = "orphans"
    description = (
        "Proxmox pools, groups and users named like a tenant's have a record, and records have their pool"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        tenants = {t.name: t for t in ctx.store.all()}
        pools = {p["poolid"] for p in ctx.cached_get("/pools")}
        groups = {g["groupid"] for g in ctx.cached_get("/access/groups")}
        users = {u["userid"] for u in ctx.cached_get("/access/users")}
        expected_pools = {t.pool for t in tenants.values()}
        expected_groups = {t.group for t in tenants.values()}
        expected_users = {t.admin_user for t in tenants.values()}
        details = [
            f"pool {p} has no tenant record"
            for p in sorted(pools - expected_pools)
            if p.startswith("tenant_")
        ]
        details += [
            f"group {g} has no tenant record"
            for g in sorted(groups - expected_groups)
            if g.startswith("group_")
        ]
        details += [
            f"user {u} has no tenant record" for u in sorted(users - expected_users) if u.startswith("admin_")
        ]
        for tenant in tenants.values():
            if tenant.status not in (ACTIVE, SUSPENDED):
                continue
            if tenant.pool not in pools:
                details.append(f"tenant {tenant.name}: pool {tenant.pool} is missing")
            if tenant.group not in groups:
                details.append(f"tenant {tenant.name}: group {tenant.group} is missing")
            if tenant.admin_user not in users:
                details.append(f"tenant {tenant.name}: user {tenant.admin_user} is missing")
        if details:
            return [CheckResult(self.name, FAIL, f"{len(details)} orphan(s) or missing object(s)", details)]
        return [CheckResult(self.name, PASS, "no orphans: every tenant object has a record and the reverse")]


class DriftCheck(AuditCheck):
    name = "drift"
    description = (
        "every layer of every tenant shows what its record asks for: objects deleted, changed or made by "
        "hand are named (one batched read per provider, whatever the number of tenants)"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.engine import diff_tenant, observe

        tenants = [t for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED) and not t.unfinished()]
        # Read even without tenants: the requests health makes do not depend on how many there are.
        seen = observe(ctx, tenants)
        if not tenants:
            return [CheckResult(self.name, PASS, "no tenant to compare")]
        details: list[str] = []
        kept: list[str] = []
        for tenant in tenants:
            diff = diff_tenant(ctx, tenant, present=True, observed=seen)
            details += [f"tenant {tenant.name}: {c.op} {c.key[0]} {c.key[1]} needed" for c in diff.changes]
            details += [f"tenant {tenant.name}: {conflict}" for conflict in diff.conflicts]
            kept += [f"tenant {tenant.name}: not asked for by the record: {extra}" for extra in diff.extras]
        if details:
            return [
                CheckResult(
                    self.name,
                    FAIL,
                    f"{len(details)} difference(s) between the records and the cluster",
                    [*details, *kept, "run `tenctl sync --all` (or `tenctl repair NAME`) to restore them"],
                )
            ]
        if kept:
            return [
                CheckResult(
                    self.name,
                    WARN,
                    f"{len(kept)} object(s) of ours the records do not ask for",
                    [*kept, "delete them with `tenctl sync --all --prune`"],
                )
            ]
        return [CheckResult(self.name, PASS, f"{len(tenants)} tenant(s) match their records in every layer")]


class TenantRoleCheck(AuditCheck):
    name = "tenant-role"
    description = (
        "the role tenants get on their pools exists and holds exactly tenctl's tenant privileges (nothing "
        "that changes ACLs, users or pools)"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.access import TENANT_PRIVILEGES, role_problems
        from tenctl_core.config import TENANT_ROLE

        role = ctx.config.permissions.admin_role
        problems = role_problems(ctx)
        if problems:
            if role == TENANT_ROLE:
                fix = "run `tenctl init` to make it or put its privileges back"
            else:
                fix = f"make role {role} (it is yours, tenctl does not change it) with only tenant privileges"
            return [CheckResult(self.name, FAIL, problems[0], [*problems, fix])]
        if role == TENANT_ROLE:
            return [
                CheckResult(self.name, PASS, f"role {role} holds exactly the {len(TENANT_PRIVILEGES)} tenant privileges")
            ]
        return [CheckResult(self.name, PASS, f"role {role} holds only tenant privileges")]


class LocksCheck(AuditCheck):
    name = "locks"
    description = "no tenctl lock is held for long or stale"

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.locking import WATCHER_LOCK, held_locks

        every = held_locks(ctx.config.paths.cluster_dir, ctx.node)
        # The watcher holds its lock for as long as it runs: held is how it should be, stale is a problem.
        announcer = next((lock for lock in every if lock.name == WATCHER_LOCK and not lock.stale), None)
        locks = [lock for lock in every if lock is not announcer]
        if not locks:
            if announcer is None:
                return [CheckResult(self.name, PASS, "no tenctl lock is held")]
            message = f"no command holds a tenctl lock; the watcher on node {announcer.node} announces"
            return [CheckResult(self.name, PASS, message, [f"{announcer.name}: {announcer.describe()}"])]
        stale = [f"{lock.name}: {lock.describe()}" for lock in locks if lock.stale]
        held = [f"{lock.name}: {lock.describe()}" for lock in locks if not lock.stale]
        if stale:
            fixes = []
            if any(lock.stale and lock.name == WATCHER_LOCK for lock in locks):
                fixes.append(
                    f"{WATCHER_LOCK}: the next `tenctl watch` to poll breaks it and announces; if none runs, "
                    "`systemctl start tenctl-watcher` on a node (or `tenctl lock release --force --watcher`)"
                )
            if any(lock.stale and lock.name != WATCHER_LOCK for lock in locks):
                fixes.append("release with `tenctl lock release --force --tenant NAME` (or --allocation)")
            message = f"{len(stale)} stale lock(s): their holders died"
            return [CheckResult(self.name, FAIL, message, stale + held + fixes)]
        return [CheckResult(self.name, WARN, f"{len(held)} lock(s) held by running commands", held)]


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    register(ApiCheck())
    register(RecordsCheck())
    register(OrphansCheck())
    register(DriftCheck())
    register(TenantRoleCheck())
    register(LocksCheck())
