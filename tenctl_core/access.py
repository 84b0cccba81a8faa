"""Plan steps for a tenant's Proxmox access objects: pool, group, admin user and ACLs.

Create steps refuse to adopt an object that exists already (the error names
it), so an undo only ever deletes what this run created. Each created object
is noted in the record's ``created_objects``; remove steps delete only what is
noted there and treat an object that is already gone as removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tenctl_core.context import Context
from tenctl_core.errors import ConflictError, ProxmoxError
from tenctl_core.model import Tenant
from tenctl_core.plan import Step
from tenctl_core.proxmox import is_already_exists, is_missing

PROXMOX = "proxmox"
POOL_ROLES = ("PVEVMAdmin",)
STORAGE_ROLE = "PVEDatastoreUser"


def q(value: str) -> str:
    """A path segment for an id (user ids hold '@')."""
    return quote(value, safe="")


def create_step(
    ctx: Context,
    tenant: Tenant,
    ref: str,
    action: str,
    create: Callable[[], Any],
    delete: Callable[[], Any],
    layer: str = PROXMOX,
    provider: str = "core",
) -> Step:
    """A step that creates one object, notes it in the record, and deletes it on undo."""
    kind, _, ident = ref.partition(":")

    def apply() -> None:
        try:
            create()
        except ProxmoxError as exc:
            if is_already_exists(exc):
                raise ConflictError(
                    f"{kind} {ident} already exists in Proxmox and was not created by this command; "
                    "tenctl will not adopt or delete it",
                    hint="remove it or choose another tenant name",
                ) from None
            raise
        tenant.note_object(ref)

    def undo() -> None:
        delete_if_present(delete)
        tenant.forget_object(ref)

    return Step(layer, action, apply, undo, f"delete {kind} {ident}", provider=provider, ref=ref)


def remove_step(
    tenant: Tenant,
    ref: str,
    action: str,
    delete: Callable[[], Any],
    layer: str = PROXMOX,
    provider: str = "core",
) -> Step:
    """A step that deletes one object tenctl created; an object already gone counts as deleted."""

    def apply() -> None:
        delete_if_present(delete)
        tenant.forget_object(ref)

    return Step(layer, action, apply, provider=provider)


def delete_if_present(delete: Callable[[], Any]) -> None:
    try:
        delete()
    except ProxmoxError as exc:
        if not is_missing(exc):
            raise


def acl_roles(ctx: Context) -> tuple[str, ...]:
    """The tenant group's roles on its pool: the configured admin role and PVEVMAdmin."""
    return tuple(dict.fromkeys((ctx.config.permissions.admin_role, *POOL_ROLES)))


def set_acl(ctx: Context, path: str, roles: tuple[str, ...], group: str, delete: bool = False) -> None:
    ctx.proxmox.put(
        "/access/acl",
        path=path,
        roles=",".join(roles),
        groups=group,
        propagate=1,
        delete=1 if delete else None,
    )


def acl_ref(path: str, roles: tuple[str, ...]) -> str:
    return f"acl:{path}={','.join(roles)}"


def acl_step(ctx: Context, tenant: Tenant, path: str, roles: tuple[str, ...], provider: str = "core") -> Step:
    group = tenant.group
    return create_step(
        ctx,
        tenant,
        acl_ref(path, roles),
        f"grant {', '.join(roles)} on {path} to group {group}",
        lambda: set_acl(ctx, path, roles, group),
        lambda: set_acl(ctx, path, roles, group, delete=True),
        provider=provider,
    )


def acl_remove_step(ctx: Context, tenant: Tenant, ref: str, provider: str = "core") -> Step:
    path, _, roles = ref.removeprefix("acl:").partition("=")
    role_tuple = tuple(roles.split(","))
    return remove_step(
        tenant,
        ref,
        f"revoke {roles} on {path} from group {tenant.group}",
        lambda: set_acl(ctx, path, role_tuple, tenant.group, delete=True),
        provider=provider,
    )


def add_steps(ctx: Context, tenant: Tenant, password: str) -> list[Step]:
    """Pool, group, admin user (member of the group) and the group's ACLs on the pool and storages."""
    px = ctx.proxmox
    comment = f"tenctl tenant {tenant.name}"
    steps = [
        create_step(
            ctx,
            tenant,
            f"pool:{tenant.pool}",
            f"create pool {tenant.pool}",
            lambda: px.post("/pools", poolid=tenant.pool, comment=comment),
            lambda: px.delete("/pools", poolid=tenant.pool),
        ),
        create_step(
            ctx,
            tenant,
            f"group:{tenant.group}",
            f"create group {tenant.group}",
            lambda: px.post("/access/groups", groupid=tenant.group, comment=comment),
            lambda: px.delete(f"/access/groups/{q(tenant.group)}"),
        ),
        create_step(
            ctx,
            tenant,
            f"user:{tenant.admin_user}",
            f"create user {tenant.admin_user} in group {tenant.group}",
            lambda: px.post(
                "/access/users",
                userid=tenant.admin_user,
                password=password,
                groups=tenant.group,
                email=tenant.email or None,
                comment=f"Administrator of tenant {tenant.name}",
                enable=1,
            ),
            lambda: px.delete(f"/access/users/{q(tenant.admin_user)}"),
        ),
        acl_step(ctx, tenant, f"/pool/{tenant.pool}", acl_roles(ctx)),
    ]
    steps += [acl_step(ctx, tenant, f"/storage/{storage}", (STORAGE_ROLE,)) for storage in tenant.storages]
    return steps


def remove_steps(ctx: Context, tenant: Tenant) -> list[Step]:
    """Revoke the ACLs and delete user, group and pool: only those this tool created."""
    px = ctx.proxmox
    steps = [
        acl_remove_step(ctx, tenant, ref)
        for ref in list(tenant.created_objects)
        if ref.startswith("acl:") and not ref.startswith("acl:/sdn/")
    ]
    if tenant.has_object(f"user:{tenant.admin_user}"):
        steps.append(
            remove_step(
                tenant,
                f"user:{tenant.admin_user}",
                f"delete user {tenant.admin_user}",
                lambda: px.delete(f"/access/users/{q(tenant.admin_user)}"),
            )
        )
    if tenant.has_object(f"group:{tenant.group}"):
        steps.append(
            remove_step(
                tenant,
                f"group:{tenant.group}",
                f"delete group {tenant.group}",
                lambda: px.delete(f"/access/groups/{q(tenant.group)}"),
            )
        )
    if tenant.has_object(f"pool:{tenant.pool}"):
        steps.append(
            remove_step(
                tenant,
                f"pool:{tenant.pool}",
                f"delete pool {tenant.pool}",
                lambda: px.delete("/pools", poolid=tenant.pool),
            )
        )
    return steps
