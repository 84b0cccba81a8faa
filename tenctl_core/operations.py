"""The tenant lifecycle: what add, modify, suspend, resume and remove plan and do.

Each operation validates its input, reads what it needs (a constant number of
requests), builds a :class:`~tenctl_core.plan.Plan` from core's steps and every
enabled provider's, and applies it with the tenant record as the journal. The
command line wraps these functions; tests and other tools can call them too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tenctl_core.access import check_role
from tenctl_core.config import pool_capacity, vlan_capacity
from tenctl_core.context import Context
from tenctl_core.engine import (
    TenantDiff,
    diff_tenant,
    make_plan,
    reconcile_steps,
    refuse_conflicts,
    tenant_providers,
)
from tenctl_core.errors import (
    AllocationLost,
    CapacityError,
    ConflictError,
    StepFailed,
    TenctlError,
    UsageError,
)
from tenctl_core.guests import Guest, destroy_step, guests_by_pool, power_step
from tenctl_core.locking import HeldLock, LockInfo, cluster_lock, tenant_lock_name
from tenctl_core.model import ACTIVE, PROVISIONING, REMOVING, SUSPENDED, Tenant, now_text
from tenctl_core.naming import TenantNames, check_new_tenant_name, same_name_in_other_case
from tenctl_core.plan import Interrupted, Plan, Step, apply_plan
from tenctl_core.providers import AllocationRequest, Provider
from tenctl_core.validation import check_cidr, check_vlan

PASSWORD_BYTES = 18


def generate_password() -> str:
    """A random initial password (24 URL-safe characters)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def providers(ctx: Context) -> list[Provider]:
    """Every enabled provider, in the order they declare."""
    return tenant_providers(ctx)


def vlans_in_use(ctx: Context) -> set[int]:
    """The union of what the records and every plugin report as taken."""
    taken: set[int] = set()
    for answer in ctx.plugins.hook.tenctl_vlans_in_use(ctx=ctx):
        taken.update(int(v) for v in answer)
    return taken


def subnets_taken(ctx: Context) -> list[ipaddress.IPv4Network]:
    """The union of the subnets the records and every plugin report as taken."""
    taken: set[ipaddress.IPv4Network] = set()
    for answer in ctx.plugins.hook.tenctl_subnets_in_use(ctx=ctx):
        taken.update(ipaddress.IPv4Network(str(cidr), strict=False) for cidr in answer)
    return sorted(taken)


def journal_to(ctx: Context, tenant: Tenant) -> Callable[[Step, str], None]:
    """A journal callback that records each step's state in the tenant record, saved at once."""

    def note(step: Step, state: str) -> None:
        if not ctx.store.exists(tenant.name):
            return  # the record was deleted by the step (the end of a remove)
        entry = {
            "id": step.id or step.action,
            "op": step.op,
            "layer": step.layer,
            "provider": step.provider,
            "action": step.action,
            "state": state,
            "time": now_text(),
            "node": ctx.node,
        }
        for existing in tenant.journal:
            if existing.get("id") == entry["id"]:
                existing.update(entry)
                break
        else:
            tenant.journal.append(entry)
        ctx.store.save(tenant)

    return note


def check_no_unfinished(tenant: Tenant, command: str) -> None:
    """Refuse to act on a tenant whose last operation did not finish, and say how to fix it."""
    why = tenant.unfinished()
    if why and command not in ("remove", "repair"):
        raise TenctlError(
            f"tenant {tenant.name} has an unfinished operation ({why})",
            hint=f"run `tenctl repair {tenant.name}` to bring it to a consistent state",
        )


@contextmanager
def tenant_locked(ctx: Context, name: str, command: str) -> Iterator[HeldLock]:
    """Hold the cluster-wide lock of one tenant while a command changes it."""
    with cluster_lock(
        ctx.config.paths.cluster_dir,
        ctx.node,
        f"{command} {name}",
        ctx.operator,
        name=tenant_lock_name(name),
        on_break=lambda info: audit_lock_break(ctx, name, info),
    ) as held:
        yield held


def audit_lock_break(ctx: Context, tenant: str | None, info: LockInfo) -> None:
    """Write the breaking of a dead or stale lock to the audit trail, as a line of its own."""
    from tenctl_core.audit import line_of_event, write_line
    from tenctl_core.events import TenantEvent

    event = TenantEvent(
        "lock break",
        tenant,
        "success",
        ctx.node,
        ctx.operator,
        f"broke lock {info.name}: {info.describe()}",
        {"holder": info.as_dict()},
    )
    for problem in write_line(ctx.config, line_of_event(event, changes=True)):
        ctx.warn(f"audit trail: {problem}")


def run_plan(ctx: Context, tenant: Tenant, plan: Plan, forward: bool = False) -> None:
    """Apply a plan with the tenant record as journal; the journal is cleared once the tenant is consistent.

    After a failure whose steps were all undone the tenant is as before, so the journal goes too; when
    something could not be undone (or the plan runs forward only) it stays, and `tenctl repair` reads it.
    """
    try:
        apply_plan(plan, journal_to(ctx, tenant), forward=forward)
    except StepFailed as exc:
        if not exc.not_undone and not forward:
            clear_journal(ctx, tenant)
        raise
    except Interrupted as exc:
        if not exc.not_undone and not forward:
            clear_journal(ctx, tenant)
        raise
    from tenctl_core.batch import awaiting_commit

    # Inside a batch the same write journals the wait for the batch's commit (see awaiting_commit).
    clear_journal(ctx, tenant, awaiting_commit(ctx))


def clear_journal(ctx: Context, tenant: Tenant, keep: dict[str, str] | None = None) -> None:
    if ctx.store.exists(tenant.name):
        tenant.journal[:] = [keep] if keep is not None else []
        ctx.store.save(tenant)


def apply_change(ctx: Context, planned: Tenant, plan: Plan) -> None:
    """Apply a modify, suspend or resume plan under the tenant's lock.

    The plan was made (and perhaps confirmed) without the lock; if another command changed the
    record meanwhile the plan is stale and nothing is done.
    """
    snapshot = planned.to_toml_dict()
    with tenant_locked(ctx, planned.name, plan.command):
        current = ctx.store.load(planned.name)
        if current.to_toml_dict() != snapshot:
            raise ConflictError(
                f"tenant {planned.name} was changed by another command while this one was being prepared",
                hint="run the command again",
            )
        run_plan(ctx, planned, plan)


# ----------------------------------------------------------------------------- add


@dataclass
class AddRequest:
    name: str
    cpu: int
    ram: int
    storage: int
    email: str = ""
    vlan: int | None = None
    subnet: str | None = None
    admin_user: str | None = None
    password: str | None = None
    command: str = "add"
    """``add``, or ``restore``: the plan, the lock and the event are named after it."""
    restored: Tenant | None = None
    """For ``restore``: the record the backup holds, checked (:mod:`tenctl_core.archive`). The new tenant
    takes its status, dates and contact from it, and each provider its part (:meth:`Provider.restore`)."""
    taken_hints: dict[str, str] = field(default_factory=dict)
    """What to do when the ``name``, ``vlan`` or ``subnet`` asked for is taken or not allowed (restore's
    remapping options); add has none."""


@dataclass
class AddResult:
    tenant: Tenant
    plan: Plan
    password: str | None = None


def check_requested_network(
    ctx: Context, request: AddRequest
) -> tuple[int | None, ipaddress.IPv4Network | None]:
    """``--vlan`` within the configured ranges and ``--subnet`` outside special and reserved networks:
    checked against the configuration alone, before any request."""
    alloc = ctx.config.allocation
    vlan = subnet = None
    if request.vlan is not None:
        vlan = check_vlan(request.vlan)
        if not any(low <= vlan <= high for low, high in alloc.vlan_ranges):
            ranges = ", ".join(f"{lo}-{hi}" for lo, hi in alloc.vlan_ranges)
            raise UsageError(
                f"VLAN {vlan} is outside the configured ranges ({ranges})",
                hint=request.taken_hints.get("vlan", "choose one inside them or widen allocation.vlan_ranges"),
            )
    if request.subnet is not None:
        subnet = check_cidr(request.subnet)
        for reserved in alloc.reserved_networks:
            if subnet.overlaps(reserved):
                raise UsageError(
                    f"subnet {subnet} overlaps the reserved network {reserved} (allocation.reserved)",
                    hint=request.taken_hints.get("subnet"),
                )
    return vlan, subnet


def allocate(
    ctx: Context,
    request: AddRequest,
    tenants: list[Tenant],
    skip_vlans: frozenset[int] = frozenset(),
    skip_subnets: frozenset[ipaddress.IPv4Network] = frozenset(),
) -> tuple[int, ipaddress.IPv4Network]:
    alloc = ctx.config.allocation
    vlan, subnet = check_requested_network(ctx, request)
    taken_vlans = vlans_in_use(ctx) | skip_vlans
    taken_subnets = tuple(sorted({*subnets_taken(ctx), *alloc.reserved_networks, *skip_subnets}))
    hints = request.taken_hints
    if vlan is not None and vlan in taken_vlans:
        raise ConflictError(f"VLAN {vlan} is already in use", hint=hints.get("vlan"))
    if subnet is not None:
        for other in tenants:
            if ipaddress.IPv4Network(other.subnet).overlaps(subnet):
                raise ConflictError(
                    f"subnet {subnet} overlaps tenant {other.name}'s subnet {other.subnet}", hint=hints.get("subnet")
                )
        for used in taken_subnets:
            if used.overlaps(subnet):
                raise ConflictError(
                    f"subnet {subnet} overlaps {used}, which is in use on the cluster", hint=hints.get("subnet")
                )
    allocator = ctx.plugins.allocators().get(alloc.allocator)
    result = allocator.allocate(
        AllocationRequest(
            vlan_ranges=alloc.vlan_ranges,
            subnet_pool=alloc.pool,
            prefix_length=alloc.prefix_length,
            vlans_in_use=frozenset(taken_vlans),
            subnets_in_use=taken_subnets,
            vlan=vlan,
            subnet=subnet,
        )
    )
    if result.vlan in taken_vlans and request.vlan is None:
        raise TenctlError(f"allocator {alloc.allocator!r} returned VLAN {result.vlan}, which is in use")
    in_ranges = sum(
        1 for v in taken_vlans | {result.vlan} if any(lo <= v <= hi for lo, hi in alloc.vlan_ranges)
    )
    in_pool = sum(1 for n in (*taken_subnets, result.subnet) if n.subnet_of(alloc.pool))
    warn_when_pools_fill(ctx, in_ranges, in_pool)
    return result.vlan, result.subnet


def warn_when_pools_fill(ctx: Context, vlans_used: int, subnets_used: int) -> None:
    """Warn when the VLAN ranges or the subnet pool are fuller than capacity.warn_share."""
    share = ctx.config.capacity.warn_share
    for what, used, size, key in (
        ("the VLAN ranges are", vlans_used, vlan_capacity(ctx.config), "allocation.vlan_ranges"),
        ("the subnet pool is", subnets_used, pool_capacity(ctx.config), "allocation.subnet_pool"),
    ):
        if used > share * size:
            ctx.warn(f"{what} {100 * used / size:.0f} % used ({used} of {size}); widen {key} soon")


# -------------------------------------------------------------------------- capacity


def cluster_totals(ctx: Context) -> tuple[int, int, int]:
    """CPU cores, RAM (MB) and the size (GB) of the tenants' storages on the online nodes, from the same
    /cluster/resources answer as the guests. A shared storage counts once, a local one on every node."""
    cores = mem = 0
    online: set[str] = set()
    for item in ctx.cached_get("/cluster/resources"):
        if item.get("type") == "node" and item.get("status") == "online":
            cores += int(item.get("maxcpu", 0))
            mem += int(item.get("maxmem", 0)) // (1024 * 1024)
            online.add(str(item.get("node")))
    wanted = set(ctx.config.permissions.storages)
    sizes: dict[str, int] = {}
    for item in ctx.cached_get("/cluster/resources"):
        if item.get("type") != "storage" or item.get("storage") not in wanted or item.get("node") not in online:
            continue
        key = str(item["storage"]) if int(item.get("shared", 0) or 0) else f"{item['storage']}@{item['node']}"
        sizes[key] = int(item.get("maxdisk", 0) or 0) // 1024**3
    return cores, mem, sum(sizes.values())


def check_capacity(
    ctx: Context, tenants: Iterable[Tenant], name: str, cpu: int, ram: int, storage: int | None = None
) -> None:
    """The sum of all tenants' limits, with these for `name`, fits the cluster's capacity times the
    resource's allocation ratio times max_share (CPU, RAM; storage when a storage limit is asked)."""
    capacity = ctx.config.capacity
    cores, mem, disk = cluster_totals(ctx)
    tenants = list(tenants)
    current = next((t for t in tenants if t.name == name), None)
    others = [t for t in tenants if t.name != name]
    checks = [
        ("CPU", "cpu_ratio", cores, sum(t.cpu_limit for t in others), cpu, current.cpu_limit if current else 0, "cores"),
        ("RAM", "ram_ratio", mem, sum(t.ram_limit for t in others), ram, current.ram_limit if current else 0, "MB"),
    ]
    if storage is not None and disk:
        checks.append(
            (
                "storage",
                "storage_ratio",
                disk,
                sum(t.storage_limit for t in others),
                storage,
                current.storage_limit if current else 0,
                "GB",
            )
        )
    for what, ratio_key, total, used, wanted, before, unit in checks:
        ratio = getattr(capacity, ratio_key)
        allowed = int(total * ratio * capacity.max_share)
        if used + wanted > allowed:
            raise CapacityError(
                f"not enough cluster {what} for tenant {name}: the tenants' limits would total {used + wanted} "
                f"{unit} ({wanted - before} more than now) but only {allowed} {unit} are allowed: the online "
                f"nodes' {total} {unit} x capacity.{ratio_key} {ratio:g} x capacity.max_share "
                f"{capacity.max_share:.0%}",
                hint=f"lower the limits, add nodes, or raise capacity.{ratio_key} (over-commit) or "
                "capacity.max_share",
            )


def new_tenant(ctx: Context, request: AddRequest, vlan: int, subnet: ipaddress.IPv4Network) -> Tenant:
    names = TenantNames.for_tenant(request.name, request.admin_user)
    tenant = Tenant(
        name=names.tenant,
        pool=names.pool,
        group=names.group,
        admin_user=names.admin_user,
        vlan=vlan,
        subnet=str(subnet),
        gateway=str(subnet.network_address + 1),
        installation=ctx.installation,
        cpu_limit=request.cpu,
        ram_limit=request.ram,
        storage_limit=request.storage,
        email=request.email,
        storages=list(ctx.config.permissions.storages),
        created_by=ctx.operator,
        created_on=ctx.node,
    )
    saved = request.restored
    if saved is not None:
        # What the tenant was, kept; what it is made of (names, VLAN, subnet, installation) is new.
        for key in RESTORED_FIELDS:
            setattr(tenant, key, getattr(saved, key))
        tenant.storages = list(saved.storages)
    for provider in tenant_providers(ctx):
        if saved is None:
            provider.prepare(ctx, tenant)
        else:
            provider.restore(ctx, tenant, dict(saved.plugins.get(provider.name, {})))
    return tenant


RESTORED_FIELDS = (
    "created_date",
    "created_by",
    "created_on",
    "suspend_reason",
    "suspend_date",
    "resume_date",
)
"""What ``restore`` takes from the backup's record besides limits, email, status and storages."""


def planned_with_status(ctx: Context, tenant: Tenant, status: str) -> TenantDiff:
    """The difference that makes a new tenant's objects as they are in ``status`` (a restored suspended
    tenant's user disabled, its edge cut from the start), while its record stays ``provisioning`` until the
    plan's last step, so that a command killed midway is rolled back as any unfinished ``add``. Providers
    read the status only here, when they state what the tenant should have."""
    reserved = tenant.status
    tenant.status = status
    try:
        return diff_tenant(ctx, tenant, present=True)
    finally:
        tenant.status = reserved


def plan_add(
    ctx: Context,
    request: AddRequest,
    skip_vlans: frozenset[int] = frozenset(),
    skip_subnets: frozenset[ipaddress.IPv4Network] = frozenset(),
) -> AddResult:
    """Allocate under the cluster lock and reserve the record (not in dry-run), then plan every step."""
    check_new_tenant_name(request.name)
    TenantNames.for_tenant(request.name, request.admin_user)
    check_requested_network(ctx, request)
    ctx.installation  # noqa: B018 - `tenctl init` has run: it says so first, before the role it makes
    check_role(ctx)
    store = ctx.store
    if store.exists(request.name) and not store.is_abandoned(request.name):
        existing = store.load(request.name)
        check_no_unfinished(existing, request.command)
        raise ConflictError(
            f"tenant {request.name!r} already exists (VLAN {existing.vlan}, subnet {existing.subnet})",
            hint=request.taken_hints.get("name"),
        )
    if ctx.dry_run:
        check_case_unique(ctx, request.name)
        tenants = ctx.tenants(refresh=True)
        check_capacity(ctx, tenants, request.name, request.cpu, request.ram, request.storage)
        vlan, subnet = allocate(ctx, request, tenants, skip_vlans, skip_subnets)
        tenant = new_tenant(ctx, request, vlan, subnet)
    else:
        with cluster_lock(
            ctx.config.paths.cluster_dir,
            ctx.node,
            f"{request.command} {request.name}",
            ctx.operator,
            on_break=lambda info: audit_lock_break(ctx, None, info),
        ):
            if store.is_abandoned(request.name):
                # Records are only created under this lock, so an empty one is not being written now.
                store.delete(request.name)
            check_case_unique(ctx, request.name)
            tenants = ctx.tenants(refresh=True)
            check_capacity(ctx, tenants, request.name, request.cpu, request.ram, request.storage)
            vlan, subnet = allocate(ctx, request, tenants, skip_vlans, skip_subnets)
            tenant = new_tenant(ctx, request, vlan, subnet)
            # The reservation: from here every other allocator, on any node, sees this VLAN and subnet.
            store.create(tenant)
    password = request.password or generate_password()
    ctx.initial_passwords[tenant.name] = password
    status = request.restored.status if request.restored is not None else ACTIVE
    try:
        diff = planned_with_status(ctx, tenant, status)
        refuse_conflicts(diff)
        plan = make_plan(request.command, tenant, reconcile_steps(ctx, diff, present=True), diff)
    except BaseException:
        if not ctx.dry_run:
            store.delete(tenant.name)
        raise
    plan.add(record_step(f"mark tenant {tenant.name} {status}", lambda: mark(ctx, tenant, status)))
    return AddResult(tenant, plan, password=None if request.password else password)


def check_case_unique(ctx: Context, name: str) -> None:
    """Refuse a name that differs from an existing tenant's only in case (``Contoso`` beside ``contoso``)."""
    other = same_name_in_other_case(name, ctx.store.names())
    if other is not None:
        raise ConflictError(
            f"tenant {name!r} differs from the existing tenant {other!r} only in case",
            hint="choose a name that differs in more than case",
        )


def record_step(
    action: str,
    apply: Callable[[], Any],
    undo: Callable[[], Any] | None = None,
    undo_action: str | None = None,
) -> Step:
    """A step that writes the tenant record."""
    return Step("record", action, apply, undo, undo_action, id=f"core:record:{action}", op="record")


def mark(ctx: Context, tenant: Tenant, status: str) -> None:
    tenant.status = status
    tenant.updated_date = now_text()
    ctx.store.save(tenant)


def apply_add(ctx: Context, result: AddResult) -> None:
    """Apply an add plan; on failure everything is undone and the reservation released.

    When something could not be undone the record stays in ``provisioning`` with its journal, and
    `tenctl repair` removes what exists with this tenant's marker.
    """
    tenant = result.tenant
    try:
        run_plan(ctx, tenant, result.plan)
    except BaseException:
        if not tenant.journal:
            ctx.store.delete(tenant.name)
        else:
            tenant.status = PROVISIONING
            ctx.store.save(tenant)
        raise


ADD_ATTEMPTS = 5


def add_tenant(ctx: Context, request: AddRequest) -> AddResult:
    """Plan and apply `add`; a VLAN or subnet lost to another client is replaced and the add tried again."""
    lost: set[int] = set()
    lost_subnets: set[ipaddress.IPv4Network] = set()
    for attempt in range(1, ADD_ATTEMPTS + 1):
        try:
            # The tenant's lock first, then (inside plan_add) the allocation lock: from the reservation to
            # the last step no other command, `repair` included, can act on this tenant.
            with tenant_locked(ctx, request.name, request.command):
                result = plan_add(ctx, request, frozenset(lost), frozenset(lost_subnets))
                apply_add(ctx, result)
        except StepFailed as exc:
            retry = isinstance(exc.cause, AllocationLost) and not exc.not_undone and request.vlan is None
            if not retry or attempt == ADD_ATTEMPTS:
                raise
            # Both values: a clash on either is a sign the other is stale too, and one retry must do.
            lost.add(result.tenant.vlan)
            if request.subnet is None:
                lost_subnets.add(ipaddress.IPv4Network(result.tenant.subnet))
            ctx.info(
                f"VLAN {result.tenant.vlan} or subnet {result.tenant.subnet} was taken by another client "
                "meanwhile; allocating again"
            )
            ctx.forget("/")
            ctx.forget("/pools")
            ctx.forget("/access")
            continue
        return result
    raise AssertionError("unreachable")


# -------------------------------------------------------------------------- modify


@dataclass
class ModifyRequest:
    name: str
    cpu: int | None = None
    ram: int | None = None
    storage: int | None = None
    email: str | None = None
    password: str | None = None

    def empty(self) -> bool:
        return all(v is None for v in (self.cpu, self.ram, self.storage, self.email, self.password))


def tenant_usage(ctx: Context, tenant: Tenant) -> dict[str, int]:
    """What the tenant's guests have allocated: cores, RAM in MB, disk in GB."""
    guests = guests_by_pool(ctx).get(tenant.pool, [])
    return {
        "cpu_limit": sum(g.cpu for g in guests),
        "ram_limit": sum(g.mem for g in guests) // (1024 * 1024),
        "storage_limit": sum(g.disk for g in guests) // (1024**3),
    }


LIMIT_WORDS = {"cpu_limit": ("CPU", "cores"), "ram_limit": ("RAM", "MB"), "storage_limit": ("storage", "GB")}


def plan_change(ctx: Context, command: str, tenant: Tenant, changes: dict[str, Any], action: str) -> Plan:
    """The steps that bring every layer to the tenant with these record changes, then write the record.

    The record is written last: a command killed before that leaves the old record, and `tenctl repair`
    brings the layers back to it.
    """
    check_no_unfinished(tenant, command)
    wanted = dataclasses.replace(tenant, **changes) if changes else tenant
    diff = diff_tenant(ctx, wanted, present=True)
    refuse_conflicts(diff)
    plan = make_plan(command, tenant, reconcile_steps(ctx, diff, present=True), diff)
    if changes:
        before = {key: getattr(tenant, key) for key in changes}

        def write(values: dict[str, Any]) -> None:
            for key, value in values.items():
                setattr(tenant, key, value)
            tenant.updated_date = now_text()
            ctx.store.save(tenant)

        plan.add(
            record_step(
                action, lambda: write(changes), lambda: write(before), "restore the record's previous values"
            )
        )
    return plan


def plan_modify(ctx: Context, tenant: Tenant, request: ModifyRequest) -> Plan:
    changes: dict[str, Any] = {}
    for attr, value in (
        ("cpu_limit", request.cpu),
        ("ram_limit", request.ram),
        ("storage_limit", request.storage),
        ("email", request.email),
    ):
        if value is not None and getattr(tenant, attr) != value:
            changes[attr] = value
    notes: list[str] = []
    grows = any(changes.get(key, 0) > getattr(tenant, key) for key in ("cpu_limit", "ram_limit", "storage_limit"))
    if grows:
        check_capacity(
            ctx,
            ctx.tenants(),
            tenant.name,
            changes.get("cpu_limit", tenant.cpu_limit),
            changes.get("ram_limit", tenant.ram_limit),
            changes.get("storage_limit", tenant.storage_limit),
        )
    limits = {k: v for k, v in changes.items() if k in LIMIT_WORDS}
    if limits:
        usage = tenant_usage(ctx, tenant)
        for key, value in limits.items():
            if value < usage[key]:
                what, unit = LIMIT_WORDS[key]
                note = (
                    f"the new {what} limit {value} {unit} is below what the tenant's guests already use "
                    f"({usage[key]} {unit}): {usage[key] - value} {unit} over; nothing is stopped or deleted"
                )
                notes.append("warning: " + note)
                ctx.warn(note)
    described = ", ".join(f"{k} {getattr(tenant, k)!r} -> {v!r}" for k, v in changes.items())
    plan = plan_change(ctx, "modify", tenant, changes, f"update record: {described}")
    plan.notes.extend(notes)
    if request.password is not None:
        new_password = request.password
        session = ctx.ticket_session()
        plan.add(
            Step(
                "proxmox",
                f"set a new password for {tenant.admin_user}",
                lambda: session.change_password(tenant.admin_user, new_password),
                id=f"core:password:user:{tenant.admin_user}",
                op="password",
            )
        )
    if not plan.steps:
        plan.notes.append("nothing to change: the tenant already has these values")
    return plan


# ---------------------------------------------------------------- suspend / resume


def plan_suspend(ctx: Context, tenant: Tenant, reason: str, stop_vms: bool) -> Plan:
    if tenant.status == SUSPENDED and not stop_vms:
        check_no_unfinished(tenant, "suspend")
        plan = Plan("suspend", tenant.name)
        plan.notes.append(f"tenant {tenant.name} is already suspended (since {tenant.suspend_date})")
        return plan
    changes: dict[str, Any] = {}
    if tenant.status != SUSPENDED:
        changes = {"status": SUSPENDED, "suspend_reason": reason, "suspend_date": now_text()}
    plan = plan_change(ctx, "suspend", tenant, changes, f"mark tenant {tenant.name} suspended ({reason})")
    if stop_vms:
        running = [g for g in guests_by_pool(ctx).get(tenant.pool, []) if g.status == "running"]
        position = len(plan.steps) - (1 if changes else 0)
        plan.steps[position:position] = [power_step(ctx, g, "stop", "start") for g in running]
    return plan


def plan_resume(ctx: Context, tenant: Tenant, start_vms: bool) -> Plan:
    if tenant.status == ACTIVE and not start_vms:
        check_no_unfinished(tenant, "resume")
        plan = Plan("resume", tenant.name)
        plan.notes.append(f"tenant {tenant.name} is already active")
        return plan
    changes: dict[str, Any] = {}
    if tenant.status == SUSPENDED:
        changes = {"status": ACTIVE, "resume_date": now_text()}
    plan = plan_change(ctx, "resume", tenant, changes, f"mark tenant {tenant.name} active")
    if start_vms:
        # After the record says active: the guard (tenctl guard) refuses to start a suspended tenant's guests.
        stopped = [g for g in guests_by_pool(ctx).get(tenant.pool, []) if g.status == "stopped"]
        plan.add(*(power_step(ctx, g, "start", "stop") for g in stopped))
    return plan


# -------------------------------------------------------------------------- remove


def tenant_guests(ctx: Context, tenant: Tenant) -> list[Guest]:
    return guests_by_pool(ctx).get(tenant.pool, [])


def plan_remove(ctx: Context, tenant: Tenant, guests: list[Guest], purge_guests: bool) -> Plan:
    """Steps that remove everything of the tenant's that carries our marker; guests only when purging."""
    if guests and not purge_guests:
        listing = ", ".join(f"{g.type} {g.vmid} ({g.name}, {g.status})" for g in guests)
        raise TenctlError(
            f"tenant {tenant.name} still has {len(guests)} guest(s): {listing}",
            hint="delete them first or pass --purge-guests to stop and delete them with the tenant",
        )
    plan = Plan("remove", tenant.name)
    plan.add(*(step for p in tenant_providers(ctx) for step in p.recover(ctx, tenant)))  # dry run: shown
    plan.add(record_step(f"mark tenant {tenant.name} as being removed", lambda: mark(ctx, tenant, REMOVING)))
    plan.add(*(destroy_step(ctx, g) for g in guests))
    teardown = plan_teardown(ctx, tenant, refuse_legacy=True)
    plan.add(*teardown.steps)
    plan.notes.extend(teardown.notes)
    return plan


def recover_first(ctx: Context, tenant: Tenant, command: str) -> Tenant:
    """End what a killed command of the tenant left in flight, under the tenant's lock, before anything is
    planned; the tenant as its record now says."""
    if not any(p.recover(ctx, tenant) for p in tenant_providers(ctx)):
        return tenant
    with tenant_locked(ctx, tenant.name, command):
        return run_recovery(ctx, ctx.store.load(tenant.name), command)[0]


def run_recovery(ctx: Context, tenant: Tenant, command: str) -> tuple[Tenant, list[Step]]:
    """Run the providers' recovery steps (a killed command's SDN lock and the changes pending under it);
    the caller holds the tenant's lock. Returns the tenant reloaded and the steps that ran."""
    steps = [step for p in tenant_providers(ctx) for step in p.recover(ctx, tenant)]
    if not steps:
        return tenant, []
    run_forward(ctx, tenant, Plan(command, tenant.name, steps), command)
    ctx.forget("/")  # what was read before is no longer what exists
    return ctx.store.load(tenant.name), steps


def plan_teardown(ctx: Context, tenant: Tenant, command: str = "remove", refuse_legacy: bool = False) -> Plan:
    """Delete every object carrying this installation's marker for the tenant (providers in reverse), then
    the record. Objects without the marker are never touched: they are named in the plan's notes.

    With ``refuse_legacy`` (``remove``), objects tenctl 0.2 made for the tenant stop the command before
    any change: deleting the record would leave them with nothing to take them over from.
    """
    diff = diff_tenant(ctx, tenant, present=False)
    if refuse_legacy and diff.legacy:
        raise ConflictError(
            f"tenant {tenant.name} has objects made by tenctl 0.2, without this installation's marker: "
            + ", ".join(diff.legacy),
            hint=f"run `tenctl sync -n {tenant.name}` first to take them over, then remove the tenant",
        )
    plan = make_plan(command, tenant, reconcile_steps(ctx, diff, present=False), diff)
    plan.add(record_step(f"delete the record of tenant {tenant.name}", lambda: ctx.store.delete(tenant.name)))
    return plan


def apply_remove(
    ctx: Context, tenant: Tenant, plan: Plan, backup: Callable[[Tenant], Any] | None = None
) -> None:
    """Run a remove plan forward under the tenant's lock; with ``backup`` (``remove --backup``), back the
    tenant up first, under the same lock: if that fails, nothing is removed.

    On failure the record stays in ``removing`` and a re-run (or `tenctl repair`) finishes the job.
    """
    snapshot = tenant.to_toml_dict()
    with tenant_locked(ctx, tenant.name, "remove"):
        if ctx.store.load(tenant.name).to_toml_dict() != snapshot:
            raise ConflictError(
                f"tenant {tenant.name} was changed by another command while this one was being prepared",
                hint="run the command again",
            )
        if backup is not None:
            backup(tenant)
        run_forward(ctx, tenant, plan, "remove")


def run_forward(ctx: Context, tenant: Tenant, plan: Plan, command: str) -> None:
    """Run steps forward (each one idempotent), journaling them; stop at the first failure."""
    try:
        run_plan(ctx, tenant, plan, forward=True)
    except StepFailed as exc:
        again = (
            f"tenctl remove -n {tenant.name}" if command == "remove" else f"tenctl {command} {tenant.name}"
        )
        raise TenctlError(
            f"{command} of tenant {tenant.name} stopped at: {exc.step}: {exc.cause}",
            hint=f"nothing is half-done; run `{again}` again to finish",
        ) from exc
