"""``tenctl repair``: bring a tenant whose last command did not finish back to a consistent state.

A command can stop anywhere: killed, power lost, a network gone, an undo that
failed. The record tells what was under way (its status and the journal of
steps, each with the object it creates) and the live state tells what exists.
Repair then rolls:

* back an ``add`` (status ``provisioning``): every object the journal shows as
  created or being created is deleted, then the record: the tenant is gone and
  can be added again;
* forward a ``remove`` (status ``removing``): the removal is finished;
* a ``modify``, ``suspend`` or ``resume`` (status active or suspended with a
  journal) to the record: the record is only written by a command's last step,
  so it holds the last consistent intent; users are enabled or disabled to
  match the status and the admin's email is set to the record's.

Every repair step is idempotent, so repair can itself be interrupted and run
again.
"""

from __future__ import annotations

from tenctl_core import access
from tenctl_core.context import Context
from tenctl_core.errors import TenctlError
from tenctl_core.model import ACTIVE, PROVISIONING, REMOVING, Tenant
from tenctl_core.operations import (
    enable_step,
    plan_remove,
    providers,
    run_remove,
    teardown_steps,
    tenant_guests,
    tenant_locked,
    tenant_users,
)
from tenctl_core.plan import Plan, Step

MAYBE_CREATED = ("applying", "done", "undo-failed")


def plan_repair(ctx: Context, tenant: Tenant) -> Plan:
    """The idempotent steps that make the tenant consistent again (none when it already is)."""
    why = tenant.unfinished()
    if why is None:
        plan = Plan("repair", tenant.name)
        plan.notes.append(f"tenant {tenant.name} is consistent: nothing to repair")
        return plan
    if tenant.status == REMOVING:
        guests = tenant_guests(ctx, tenant)
        if guests:
            listing = ", ".join(f"{g.type} {g.vmid}" for g in guests)
            raise TenctlError(
                f"tenant {tenant.name} is being removed but still has guest(s): {listing}",
                hint=f"finish with `tenctl remove -n {tenant.name} --purge-guests`, or move the guests out "
                "of its pool and run `tenctl repair` again",
            )
        plan = plan_remove(ctx, tenant, guests, purge_guests=False)
        plan.command = "repair"
        plan.notes.append(f"finishing the removal of tenant {tenant.name} ({why})")
        return plan
    if tenant.status == PROVISIONING:
        return plan_rollback_add(ctx, tenant, why)
    return plan_converge(ctx, tenant, why)


def plan_rollback_add(ctx: Context, tenant: Tenant, why: str) -> Plan:
    """Undo an add: what the journal shows as created, or maybe created when the command died, is deleted."""
    for entry in tenant.journal:
        ref = entry.get("ref")
        if ref and entry.get("state") in MAYBE_CREATED:
            # A step that was applying when the command died may or may not have created its object; it was
            # being created under a name the reservation made ours, so deleting it if present is right.
            tenant.note_object(ref)
    plan = Plan("repair", tenant.name)
    plan.notes.append(f"rolling back the unfinished add of tenant {tenant.name} ({why})")
    plan.add(*teardown_steps(ctx, tenant))
    return plan


def plan_converge(ctx: Context, tenant: Tenant, why: str) -> Plan:
    """Make Proxmox match the record of an active or suspended tenant, then clear the journal."""
    plan = Plan("repair", tenant.name)
    plan.notes.append(
        f"bringing tenant {tenant.name} in line with its record, status {tenant.status} ({why})"
    )
    enable = tenant.status == ACTIVE
    plan.add(*(enable_step(ctx, user, enable) for user in tenant_users(ctx, tenant)))
    for provider in providers(ctx):
        plan.add(*(provider.plan_resume(ctx, tenant) if enable else provider.plan_suspend(ctx, tenant)))
    px = ctx.proxmox
    email = tenant.email or None
    plan.add(
        Step(
            "proxmox",
            f"set email of {tenant.admin_user} to the record's ({tenant.email or 'none'})",
            lambda: px.put(f"/access/users/{access.q(tenant.admin_user)}", email=email),
        )
    )
    plan.add(Step("record", f"clear the journal of tenant {tenant.name}", lambda: clear(ctx, tenant)))
    return plan


def clear(ctx: Context, tenant: Tenant) -> None:
    tenant.journal.clear()
    ctx.store.save(tenant)


def repair_tenant(ctx: Context, name: str) -> Plan:
    """Repair one tenant under its lock; returns the plan that was applied."""
    with tenant_locked(ctx, name, "repair"):
        if ctx.store.is_abandoned(name):
            return delete_abandoned(ctx, name)
        tenant = ctx.store.load(name)
        plan = plan_repair(ctx, tenant)
        if plan.steps:
            run_remove(ctx, tenant, plan, command="repair")
            if ctx.store.exists(name):
                clear(ctx, ctx.store.load(name))
        return plan


def plan_abandoned(ctx: Context, name: str) -> Plan:
    """An empty record: its `add` died before writing it, so nothing was created; only the file goes."""
    plan = Plan("repair", name)
    plan.notes.append(f"the record of {name} is empty: its add died before reserving anything")
    plan.add(Step("record", f"delete the empty record of {name}", lambda: ctx.store.delete(name)))
    return plan


def delete_abandoned(ctx: Context, name: str) -> Plan:
    plan = plan_abandoned(ctx, name)
    for step in plan.steps:
        step.apply()
    return plan


def tenants_to_repair(ctx: Context) -> list[str]:
    store = ctx.store
    abandoned = []
    if store.directory.is_dir():
        abandoned = [p.stem for p in sorted(store.directory.glob("*.toml")) if p.stat().st_size == 0]
    return abandoned + [t.name for t in ctx.tenants(refresh=True) if t.unfinished()]
