"""``tenctl repair`` and ``tenctl sync``: bring tenants in line with their records, reading the world.

A command can stop anywhere: killed, power lost, an answer lost after Proxmox applied the request, an
undo that failed. Repair does not trust the journal's word for what happened; it reads every layer and
reconciles, forward only (every step is idempotent, so repair can itself be interrupted and run again):

* first each provider ends what the killed command left in flight (the SDN lock it took);
* a tenant being added (``provisioning``) or removed (``removing``) goes away: every object carrying
  this installation's marker for it is deleted, then the record;
* an active or suspended tenant gets what its record says: missing objects are made again, changed ones
  set back (a user enabled or disabled to match the status, an email, a VNet);
* objects without our marker are never touched: they are named in the plan's notes.

``sync`` is the same reconcile for tenants with no unfinished command, plus taking over the objects of
a tenctl 0.2 installation (adding the marker) and, with ``--prune``, deleting objects of ours the record
does not ask for. ``sync --all --prune`` also deletes orphans: objects carrying this installation's
marker for a tenant name that has no record at all (its record deleted by hand, say), in every layer.
"""

from __future__ import annotations

from tenctl_core.context import Context
from tenctl_core.engine import diff_tenant, is_owned, make_plan, observe, reconcile_steps, tenant_providers
from tenctl_core.errors import TenctlError
from tenctl_core.locking import LockInfo
from tenctl_core.model import ACTIVE, REMOVING, SUSPENDED, Tenant
from tenctl_core.operations import record_step, run_forward, run_recovery, tenant_guests, tenant_locked
from tenctl_core.plan import Plan, apply_plan
from tenctl_core.providers import DELETE, Change, Observed


def plan_repair(
    ctx: Context,
    tenant: Tenant,
    command: str = "repair",
    adopt: bool = False,
    prune: bool = False,
    layer: str | None = None,
    recovering: bool = True,
) -> Plan:
    """The idempotent steps that make the tenant consistent again (none when it already is).

    With ``recovering`` the plan starts with the providers' recovery steps; planned before they ran, the
    rest is then a preview (``repair --dry-run``): :func:`repair_tenant` runs them first and plans again.
    """
    present = tenant.status in (ACTIVE, SUSPENDED)
    if not present:
        guests = tenant_guests(ctx, tenant)
        if guests:
            listing = ", ".join(f"{g.type} {g.vmid}" for g in guests)
            raise TenctlError(
                f"tenant {tenant.name} is being {'added' if tenant.status == 'provisioning' else 'removed'} "
                f"but has guest(s) in its pool: {listing}",
                hint=f"finish with `tenctl remove -n {tenant.name} --purge-guests`, or move the guests out "
                "of its pool and run `tenctl repair` again",
            )
    recover = [step for p in tenant_providers(ctx) for step in p.recover(ctx, tenant)] if recovering else []
    diff = diff_tenant(ctx, tenant, present=present, adopt=adopt, prune=prune)
    if layer is not None:
        diff.providers = [d for d in diff.providers if layer in (d.provider.name, d.provider.layer)]
    plan = make_plan(command, tenant, recover + reconcile_steps(ctx, diff, present=present), diff)
    why = tenant.unfinished()
    if present:
        if why or plan.steps:
            plan.notes.insert(
                0,
                f"bringing tenant {tenant.name} in line with its record, status {tenant.status}"
                + (f" ({why})" if why else ""),
            )
        if tenant.journal:
            plan.add(record_step(f"clear the journal of tenant {tenant.name}", lambda: clear(ctx, tenant)))
    else:
        what = "add" if tenant.status == "provisioning" else "removal"
        plan.notes.insert(
            0,
            f"{'rolling back the unfinished add' if what == 'add' else 'finishing the removal'} of tenant {tenant.name} ({why})",
        )
        plan.add(
            record_step(f"delete the record of tenant {tenant.name}", lambda: ctx.store.delete(tenant.name))
        )
    if not plan.steps:
        plan.notes.append(f"tenant {tenant.name} is consistent: nothing to {command}")
    return plan


def clear(ctx: Context, tenant: Tenant) -> None:
    tenant.journal.clear()
    ctx.store.save(tenant)


def repair_tenant(ctx: Context, name: str) -> Plan:
    """Repair one tenant under its lock; returns the plan that was applied."""
    with tenant_locked(ctx, name, "repair"):
        if ctx.store.is_abandoned(name):
            return repair_empty_record(ctx, name, apply=True)
        tenant, recover = run_recovery(ctx, ctx.store.load(name), "repair")
        plan = plan_repair(ctx, tenant, recovering=False)
        if plan.steps:
            run_forward(ctx, tenant, plan, "repair")
        if recover and not plan.steps:
            plan.notes = [
                f"ended what a killed command of tenant {name} left in flight; nothing else to repair"
            ]
        plan.steps[:0] = recover
        return plan


def stand_in(name: str) -> Tenant:
    """A tenant with only a name, for objects whose record is gone: enough to find and delete them."""
    return Tenant(name, "", "", "", 0, "0.0.0.0/32", "", 0, 0, 0, status=REMOVING)


def orphan_names(ctx: Context) -> list[str]:
    """Tenant names that this installation's markers carry in some layer and that have no record."""
    records = set(ctx.store.names())
    seen = observe(ctx, ctx.tenants())
    named = {
        o.marker.tenant
        for objects in seen.values()
        for o in objects
        if o.marker is not None and o.marker.installation == ctx.installation
    }
    return sorted(named - records)


def plan_orphan(ctx: Context, name: str) -> Plan:
    """Delete, layer by layer in reverse, every object of ours for a tenant name without a record."""
    tenant = stand_in(name)
    marker = ctx.marker(tenant)
    seen = observe(ctx, [tenant])
    plan = Plan("sync", name)
    for provider in reversed(tenant_providers(ctx)):
        objects = seen.get(provider.name, [])
        index = {o.key: o for o in objects}
        changes = [Change(DELETE, None, o) for o in reversed(objects) if is_owned(o, marker, index)]
        if changes:
            plan.add(*provider.steps(ctx, tenant, changes))
    plan.notes.append(f"tenant {name} has no record: what carries our marker for it is deleted (--prune)")
    return plan


def prune_orphan(ctx: Context, name: str, dry_run: bool) -> Plan:
    """The orphan's plan, run under the tenant name's lock (an ``add`` of that name waits or is refused)."""
    if dry_run:
        return plan_orphan(ctx, name)
    with tenant_locked(ctx, name, "sync"):
        if ctx.store.exists(name):
            raise TenctlError(f"tenant {name} has a record again: not an orphan, left alone")
        plan = plan_orphan(ctx, name)
        apply_plan(plan, forward=True)
        return plan


def owned_objects(ctx: Context, name: str) -> list[str]:
    """What carries this installation's marker for a tenant name, in every layer (for a lost record)."""
    stub = stand_in(name)
    found: list[str] = []
    seen: dict[str, list[Observed]] = observe(ctx, [stub])
    for provider, objects in seen.items():
        found += [
            f"{o.describe()} ({provider})"
            for o in objects
            if o.marker is not None and o.marker.installation == ctx.installation and o.marker.tenant == name
        ]
    return found


def repair_empty_record(ctx: Context, name: str, apply: bool) -> Plan:
    """An empty record: its add died between creating and writing it, so nothing should exist.

    If objects with our marker for that name exist all the same, the record is not deleted: they are
    named, and the record must be restored (from a backup or another node) before repair can decide.
    """
    plan = Plan("repair", name)
    objects = owned_objects(ctx, name)
    if objects:
        raise TenctlError(
            f"the record of {name} is empty but objects of this tenant exist: {', '.join(objects)}",
            hint="restore the record from a backup (or another node's copy), then run `tenctl repair` again; "
            "tenctl will not guess the tenant's limits",
        )
    plan.notes.append(f"the record of {name} is empty: its add died before reserving anything")
    plan.add(record_step(f"delete the empty record of {name}", lambda: ctx.store.delete(name)))
    if apply:
        for step in plan.steps:
            step.apply()
    return plan


def release_dead_locks(ctx: Context) -> list[LockInfo]:
    """Break the locks whose holder ran on this node and is gone (``repair --all``): a command killed
    before it wrote a record (while allocating) leaves its locks and nothing else to repair. Each break
    is audited; a lock whose holder lives, or ran on another node, is left alone."""
    from tenctl_core.locking import break_stale, held_locks
    from tenctl_core.operations import audit_lock_break

    released = []
    for info in held_locks(ctx.config.paths.cluster_dir, ctx.node):
        if info.dead and break_stale(info.path, info):
            audit_lock_break(ctx, None, info)
            released.append(info)
    return released


def tenants_to_repair(ctx: Context) -> list[str]:
    store = ctx.store
    abandoned = []
    if store.directory.is_dir():
        abandoned = [p.stem for p in sorted(store.directory.glob("*.toml")) if p.stat().st_size == 0]
    return abandoned + [t.name for t in ctx.tenants(refresh=True) if t.unfinished()]


def sync_tenant(ctx: Context, name: str, prune: bool, layer: str | None, dry_run: bool) -> Plan:
    """Reconcile one tenant with its record, taking over tenctl 0.2 objects; under its lock unless dry-run."""
    if dry_run:
        return plan_sync(ctx, ctx.store.load(name), prune, layer)
    with tenant_locked(ctx, name, "sync"):
        tenant = ctx.store.load(name)
        plan = plan_sync(ctx, tenant, prune, layer)
        if plan.steps:
            run_forward(ctx, tenant, plan, "sync")
        return plan


def plan_sync(ctx: Context, tenant: Tenant, prune: bool, layer: str | None) -> Plan:
    if tenant.unfinished():
        raise TenctlError(
            f"tenant {tenant.name} has an unfinished operation ({tenant.unfinished()})",
            hint=f"run `tenctl repair {tenant.name}` first",
        )
    return plan_repair(ctx, tenant, command="sync", adopt=True, prune=prune, layer=layer)
