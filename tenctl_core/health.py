"""Core's health checks, registered through ``tenctl_register_audit_checks``.

Each check makes a constant number of API calls whatever the number of
tenants: listings are read once and compared with the records. Checks that
look at tenants one by one take them from ``ctx.scoped()``, so ``health -n``
limits them to one tenant; what concerns the cluster as a whole is checked
whatever the scope.
"""

from __future__ import annotations

import ipaddress
import stat
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.errors import TenctlError
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import (
    RELEASE_DEAD_LOCKS,
    REPAIR,
    RESTORE_ROLE,
    SYNC,
    AuditCheck,
    CheckResult,
    Remedy,
)

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.registry import Registrar

PASS, WARN, FAIL = "pass", "warn", "fail"
PVE_MAJOR = 9
"""The Proxmox VE release whose API tenctl speaks (DESIGN: the PVE 9 schema is the contract); SDN lock
tokens, for one, came with libpve-network-perl 1.1.3 in PVE 9.0."""


class ApiCheck(AuditCheck):
    name = "proxmox-api"
    description = "the Proxmox API answers, tenctl can log in, and the release is one tenctl speaks"

    def run(self, ctx: Context) -> list[CheckResult]:
        version = ctx.cached_get("/version")
        text = str(version.get("version", "?"))
        results = [CheckResult(self.name, PASS, f"Proxmox VE {text} answers")]
        try:
            major = int(text.split(".")[0])
        except ValueError:
            major = 0
        if major < PVE_MAJOR:
            results.append(
                CheckResult(
                    "pve-version",
                    FAIL,
                    f"Proxmox VE {text} is older than {PVE_MAJOR}.0, whose API tenctl uses",
                    [f"upgrade the cluster to Proxmox VE {PVE_MAJOR} (the SDN lock tenctl takes came with it)"],
                    [Remedy(f"upgrade every node to Proxmox VE {PVE_MAJOR}")],
                )
            )
        else:
            results.append(CheckResult("pve-version", PASS, f"Proxmox VE {text} (release {version.get('release', '?')})"))
        return results


class ClusterCheck(AuditCheck):
    name = "cluster"
    description = "the cluster has quorum and every node is online"

    def run(self, ctx: Context) -> list[CheckResult]:
        status = ctx.cached_get("/cluster/status")
        cluster = next((item for item in status if item.get("type") == "cluster"), None)
        nodes = sorted(
            (item for item in status if item.get("type") == "node"), key=lambda item: str(item.get("name"))
        )
        offline = [str(n.get("name")) for n in nodes if not int(n.get("online", 0) or 0)]
        if cluster is not None and not int(cluster.get("quorate", 0) or 0):
            return [
                CheckResult(
                    self.name,
                    FAIL,
                    "the cluster has no quorum: /etc/pve is read-only and nothing can be changed",
                    [f"node {name} is offline" for name in offline]
                    + ["bring nodes back (`pvecm status` shows the votes) before any tenctl change"],
                    [Remedy("pvecm status")],
                )
            ]
        if offline:
            return [
                CheckResult(
                    self.name,
                    WARN,
                    f"{len(offline)} of {len(nodes)} node(s) offline: {', '.join(offline)}",
                    ["guests on an offline node are down; tenctl's changes reach it when it is back"],
                    [Remedy(f"bring {', '.join(offline)} back online")],
                )
            ]
        name = f" {cluster.get('name')}" if cluster is not None and cluster.get("name") else ""
        return [CheckResult(self.name, PASS, f"cluster{name}: {len(nodes)} node(s) online, quorate")]


class RecordsCheck(AuditCheck):
    name = "records"
    description = "tenant records parse, are not readable by others, and have no unfinished operation"

    def run(self, ctx: Context) -> list[CheckResult]:
        store = ctx.store
        problems: list[str] = []
        unfinished: list[str] = []
        to_repair: list[str] = []
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
                in_scope = ctx.tenant_scope in (None, path.stem)
                if info.st_size == 0:
                    if in_scope:
                        unfinished.append(
                            f"{path.stem}: empty record left by an add that died (run `tenctl repair {path.stem}`)"
                        )
                        to_repair.append(path.stem)
                    continue
                try:
                    tenant = store.load(path.stem)
                except TenctlError as exc:
                    problems.append(str(exc))
                    continue
                why = tenant.unfinished()
                if why and in_scope:
                    unfinished.append(f"{tenant.name}: {why} (run `tenctl repair {tenant.name}`)")
                    to_repair.append(tenant.name)
        results = []
        if problems:
            results.append(
                CheckResult(
                    self.name,
                    FAIL,
                    f"{len(problems)} record problem(s)",
                    problems,
                    [Remedy(f"chmod 640 {store.directory}/*.toml, and restore damaged records from a backup")],
                )
            )
        else:
            results.append(CheckResult(self.name, PASS, f"{count} record(s) readable"))
        if unfinished:
            results.append(
                CheckResult(
                    "unfinished-operations",
                    WARN,
                    f"{len(unfinished)} tenant(s) mid-operation",
                    unfinished,
                    [Remedy(f"tenctl repair {name}", REPAIR, (name,)) for name in to_repair],
                )
            )
        return results


class OrphansCheck(AuditCheck):
    name = "orphans"
    description = (
        "Proxmox pools, groups and users named like a tenant's have a record, and records have their pool"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        tenants = {t.name: t for t in ctx.tenants()}
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
        remedies = [Remedy("tenctl sync --all --prune --dry-run (deletes what carries our marker)")] if details else []
        for tenant in ctx.scoped(tenants.values()):
            if tenant.status not in (ACTIVE, SUSPENDED):
                continue
            missing = [
                f"tenant {tenant.name}: {kind} {ident} is missing"
                for kind, ident, present in (
                    ("pool", tenant.pool, pools),
                    ("group", tenant.group, groups),
                    ("user", tenant.admin_user, users),
                )
                if ident not in present
            ]
            details += missing
            if missing and not tenant.unfinished():
                remedies.append(Remedy(f"tenctl sync -n {tenant.name}", SYNC, (tenant.name,)))
        if details:
            return [
                CheckResult(self.name, FAIL, f"{len(details)} orphan(s) or missing object(s)", details, remedies)
            ]
        return [CheckResult(self.name, PASS, "no orphans: every tenant object has a record and the reverse")]


class DriftCheck(AuditCheck):
    name = "drift"
    description = (
        "every layer of every tenant shows what its record asks for: objects deleted, changed or made by "
        "hand are named (one batched read per provider, whatever the number of tenants)"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.engine import diff_tenant, observe

        tenants = [
            t for t in ctx.scoped(ctx.tenants()) if t.status in (ACTIVE, SUSPENDED) and not t.unfinished()
        ]
        # One batched read for every tenant, even for none: the requests of health do not depend on how
        # many tenants there are. With -n, the tenant's own read, which also sees its subnets.
        seen = observe(ctx, tenants) if ctx.tenant_scope is None else None
        if not tenants:
            return [CheckResult(self.name, PASS, "no tenant to compare")]
        details: list[str] = []
        kept: list[str] = []
        remedies: list[Remedy] = []
        for tenant in tenants:
            diff = diff_tenant(ctx, tenant, present=True, observed=seen)
            details += [f"tenant {tenant.name}: {c.op} {c.key[0]} {c.key[1]} needed" for c in diff.changes]
            details += [f"tenant {tenant.name}: {conflict}" for conflict in diff.conflicts]
            kept += [f"tenant {tenant.name}: not asked for by the record: {extra}" for extra in diff.extras]
            if diff.changes:
                remedies.append(Remedy(f"tenctl sync -n {tenant.name}", SYNC, (tenant.name,)))
            if diff.conflicts:
                remedies.append(Remedy(f"remove or rename what is not tenctl's for tenant {tenant.name}"))
            if diff.extras:
                remedies.append(Remedy(f"tenctl sync -n {tenant.name} --prune"))
        every = "--all" if ctx.tenant_scope is None else f"-n {ctx.tenant_scope}"
        if details:
            return [
                CheckResult(
                    self.name,
                    FAIL,
                    f"{len(details)} difference(s) between the records and the cluster",
                    [*details, *kept, f"run `tenctl sync {every}` (or `tenctl repair NAME`) to restore them"],
                    remedies,
                )
            ]
        if kept:
            return [
                CheckResult(
                    self.name,
                    WARN,
                    f"{len(kept)} object(s) of ours the records do not ask for",
                    [*kept, f"delete them with `tenctl sync {every} --prune`"],
                    remedies,
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
        from tenctl_core.access import TENANT_PRIVILEGES, made_by_tenctl, role_privileges, role_problems
        from tenctl_core.config import TENANT_ROLE

        role = ctx.config.permissions.admin_role
        problems = role_problems(ctx)
        results = []
        if problems:
            if role == TENANT_ROLE and (role_privileges(ctx, role) is None or made_by_tenctl(ctx, role)):
                fix = "run `tenctl init` to make it or put its privileges back"
                remedy = Remedy("tenctl init", RESTORE_ROLE)
            elif role == TENANT_ROLE:
                fix = f"role {role} was not made by tenctl: delete or rename it, then run `tenctl init`"
                remedy = Remedy(f"pveum role delete {role} && tenctl init")
            else:
                fix = f"make role {role} (it is yours, tenctl does not change it) with only tenant privileges"
                remedy = Remedy(f"pveum role modify {role} --privs <tenant privileges>")
            results.append(CheckResult(self.name, FAIL, problems[0], [*problems, fix], [remedy]))
        elif role == TENANT_ROLE:
            results.append(
                CheckResult(self.name, PASS, f"role {role} holds exactly the {len(TENANT_PRIVILEGES)} tenant privileges")
            )
        else:
            results.append(CheckResult(self.name, PASS, f"role {role} holds only tenant privileges"))
        results.append(self.grant_roles(ctx, role))
        return results

    @staticmethod
    def grant_roles(ctx: Context, admin_role: str) -> CheckResult:
        """The other roles tenant groups get (on storages, on their VNet) hold no more than their providers
        declare; a role no provider declares, nothing that changes ACLs, users, pools or the cluster."""
        from tenctl_core.access import (
            GRANTING_PRIVILEGES,
            intended_grants,
            intended_role_privileges,
            role_privileges,
        )

        declared = intended_role_privileges(ctx)
        roles = set(declared)
        for tenant in ctx.scoped(ctx.tenants()):
            if tenant.status in (ACTIVE, SUSPENDED):
                roles.update(role for _, role in intended_grants(ctx, tenant))
        roles.discard(admin_role)
        problems = []
        for role in sorted(roles):
            privs = role_privileges(ctx, role)
            if privs is None:
                problems.append(f"role {role}, which tenant groups get, does not exist")
                continue
            allowed = declared.get(role)
            extra = privs - allowed if allowed is not None else privs & set(GRANTING_PRIVILEGES)
            if extra:
                problems.append(f"role {role} holds more than tenants need: {', '.join(sorted(extra))}")
        if problems:
            return CheckResult(
                "grant-roles",
                FAIL,
                f"{len(problems)} role(s) of tenant grants are broader than intended",
                [*problems, "built-in roles cannot change; a custom one: give it back its privileges"],
                [Remedy("pveum role modify <role> --privs <its privileges>")],
            )
        return CheckResult(
            "grant-roles", PASS, f"the roles of tenant grants ({', '.join(sorted(roles)) or 'none'}) hold no more than intended"
        )


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
        from tenctl_core.locking import ALLOCATION_LOCK, TENANT_LOCK_PREFIX

        stale = [f"{lock.name}: {lock.describe()}" for lock in locks if lock.stale]
        held = [f"{lock.name}: {lock.describe()}" for lock in locks if not lock.stale]
        if stale:
            fixes = []
            remedies = []
            for lock in locks:
                if lock.name == WATCHER_LOCK:
                    continue  # the next watcher to poll breaks it
                if lock.dead:
                    remedies.append(Remedy("tenctl repair --all", RELEASE_DEAD_LOCKS, lock_tenants(lock.name)))
                elif lock.stale:
                    which = (
                        "--allocation"
                        if lock.name == ALLOCATION_LOCK
                        else f"--tenant {lock.name.removeprefix(TENANT_LOCK_PREFIX)}"
                    )
                    remedies.append(Remedy(f"tenctl lock release --force {which} (once its holder is known gone)"))
            if any(lock.stale and lock.name == WATCHER_LOCK for lock in locks):
                fixes.append(
                    f"{WATCHER_LOCK}: the next `tenctl watch` to poll breaks it and announces; if none runs, "
                    "`systemctl start tenctl-watcher` on a node (or `tenctl lock release --force --watcher`)"
                )
            if any(lock.stale and lock.name != WATCHER_LOCK for lock in locks):
                fixes.append("release with `tenctl lock release --force --tenant NAME` (or --allocation)")
            message = f"{len(stale)} stale lock(s): their holders died"
            return [CheckResult(self.name, FAIL, message, stale + held + fixes, remedies)]
        return [CheckResult(self.name, WARN, f"{len(held)} lock(s) held by running commands", held)]


def lock_tenants(name: str) -> tuple[str, ...]:
    """The tenant a tenctl lock belongs to (none for the allocation lock)."""
    from tenctl_core.locking import TENANT_LOCK_PREFIX

    return (name.removeprefix(TENANT_LOCK_PREFIX),) if name.startswith(TENANT_LOCK_PREFIX) else ()


class AllocationCheck(AuditCheck):
    name = "allocation"
    description = (
        "no two records share a VLAN or overlapping subnets; each VLAN and subnet is valid, inside the "
        "configured ranges and pool, with the subnet's first address as gateway"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        alloc = ctx.config.allocation
        tenants = ctx.tenants()
        failures: list[str] = []
        warnings: list[str] = []
        by_vlan: dict[int, list[str]] = {}
        networks: list[tuple[ipaddress.IPv4Network, str]] = []
        for tenant in tenants:
            by_vlan.setdefault(tenant.vlan, []).append(tenant.name)
            if not 1 <= tenant.vlan <= 4094:
                failures.append(f"tenant {tenant.name}: VLAN {tenant.vlan} is not between 1 and 4094")
            elif not any(low <= tenant.vlan <= high for low, high in alloc.vlan_ranges):
                warnings.append(f"tenant {tenant.name}: VLAN {tenant.vlan} is outside allocation.vlan_ranges")
            try:
                network = ipaddress.IPv4Network(tenant.subnet)
            except ValueError:
                failures.append(f"tenant {tenant.name}: subnet {tenant.subnet!r} is not a network address")
                continue
            networks.append((network, tenant.name))
            if not network.subnet_of(alloc.pool):
                warnings.append(f"tenant {tenant.name}: subnet {network} is outside allocation.subnet_pool")
            if any(network.overlaps(reserved) for reserved in alloc.reserved_networks):
                failures.append(f"tenant {tenant.name}: subnet {network} overlaps allocation.reserved")
            if tenant.gateway != str(network.network_address + 1):
                warnings.append(
                    f"tenant {tenant.name}: gateway {tenant.gateway} is not the first address of {network}"
                )
        for vlan, names in sorted(by_vlan.items()):
            if len(names) > 1:
                failures.append(f"VLAN {vlan} is in the records of {', '.join(sorted(names))}")
        networks.sort(key=lambda item: (int(item[0].network_address), item[0].prefixlen))
        for (first, a), (second, b) in zip(networks, networks[1:], strict=False):
            if first.overlaps(second):
                failures.append(f"subnets {first} ({a}) and {second} ({b}) overlap")
        fix = "a record's VLAN or subnet is changed only by removing and adding the tenant again"
        if failures:
            return [
                CheckResult(
                    self.name,
                    FAIL,
                    f"{len(failures)} VLAN or subnet clash(es) in the records",
                    [*failures, *warnings, fix],
                    [Remedy("fix or restore the records named (see the details)")],
                )
            ]
        if warnings:
            return [
                CheckResult(
                    self.name,
                    WARN,
                    f"{len(warnings)} VLAN or subnet(s) outside the configured allocation",
                    [*warnings, "given with --vlan/--subnet, or the configuration changed since; " + fix],
                )
            ]
        return [
            CheckResult(self.name, PASS, f"{len(tenants)} record(s): VLANs and subnets distinct and in range")
        ]


def blocked_subnets(pool: ipaddress.IPv4Network, prefix: int, taken: list[ipaddress.IPv4Network]) -> int:
    """How many of the pool's subnets of the tenant prefix length overlap something taken: a smaller network
    blocks the one it lies in, a larger one each it covers."""
    size = 2 ** (32 - prefix)
    base, end = int(pool.network_address), int(pool.broadcast_address)
    blocked: set[int] = set()
    for network in taken:
        first, last = max(int(network.network_address), base), min(int(network.broadcast_address), end)
        if first <= last:
            blocked.update(range((first - base) // size, (last - base) // size + 1))
    return len(blocked)


class CapacityCheck(AuditCheck):
    name = "capacity"
    description = "the VLAN ranges and the subnet pool are used below capacity.warn_share"

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.config import pool_capacity, vlan_capacity
        from tenctl_core.operations import subnets_taken, vlans_in_use

        alloc = ctx.config.allocation
        share = ctx.config.capacity.warn_share
        details: list[str] = []
        try:
            vlans = vlans_in_use(ctx)
            subnets = subnets_taken(ctx)
        except TenctlError as exc:
            details.append(f"counted the records only: a backend could not be read ({exc})")
            vlans = {t.vlan for t in ctx.tenants()}
            subnets = sorted({ipaddress.IPv4Network(t.subnet, strict=False) for t in ctx.tenants()})
        used_vlans = sum(1 for v in vlans if any(low <= v <= high for low, high in alloc.vlan_ranges))
        used_subnets = blocked_subnets(alloc.pool, alloc.prefix_length, subnets)
        status = PASS
        lines = []
        for what, used, size, key in (
            ("VLAN ranges", used_vlans, vlan_capacity(ctx.config), "allocation.vlan_ranges"),
            ("subnet pool", used_subnets, pool_capacity(ctx.config), "allocation.subnet_pool"),
        ):
            lines.append(f"{what}: {used} of {size} used ({100 * used / size:.0f} %)")
            if used >= size:
                status = FAIL
                details.append(f"the {what} are full: `add` fails until {key} is widened")
            elif used > share * size:
                status = WARN if status == PASS else status
                details.append(f"the {what} are over {share:.0%} used: widen {key} soon")
        if status == PASS:
            return [CheckResult(self.name, PASS, "; ".join(lines), details)]
        return [
            CheckResult(
                self.name,
                status,
                "; ".join(lines),
                details,
                [Remedy("widen allocation.vlan_ranges or allocation.subnet_pool in the configuration")],
            )
        ]


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    from tenctl_core.grants import AclCheck
    from tenctl_core.tfa import TfaCheck
    from tenctl_core.versions import VersionsCheck

    register(ApiCheck())
    register(ClusterCheck())
    register(VersionsCheck())
    register(RecordsCheck())
    register(AllocationCheck())
    register(CapacityCheck())
    register(OrphansCheck())
    register(DriftCheck())
    register(TenantRoleCheck())
    register(AclCheck())
    register(TfaCheck())
    register(LocksCheck())
