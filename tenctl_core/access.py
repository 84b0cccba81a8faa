"""Core's provider of a tenant's Proxmox access: pool, group, admin user and the group's ACL entries.

Pool, group and user carry the ownership marker in their ``comment``; ACL entries are owned through the
tenant's group. The group's ACL entries are every grant a provider asks for (:meth:`Provider.grants`):
the configured admin role and ``PVEVMAdmin`` on the pool, ``PVEDatastoreUser`` on the allowed storages,
and whatever the network layers need (``PVESDNUser`` on the tenant's VNet...), so that the least
privilege a tenant holds is decided in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tenctl_core import hookimpl
from tenctl_core.errors import ConflictError, ProxmoxError, is_already_exists, is_missing
from tenctl_core.model import SUSPENDED
from tenctl_core.ownership import Marker, legacy_owner, parse_marker
from tenctl_core.providers import Key, Observed, Provider, Resource

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.registry import Registrar

PROVIDER = "proxmox-access"
POOL_ROLES = ("PVEVMAdmin",)
STORAGE_ROLE = "PVEDatastoreUser"
POOL, GROUP, USER, ACL = "pool", "group", "user", "acl"


def q(value: str) -> str:
    """A path segment for an id (user ids hold '@')."""
    return quote(value, safe="")


def acl_id(group: str, path: str, role: str) -> str:
    return f"{group}:{path}:{role}"


def split_acl_id(ident: str) -> tuple[str, str, str]:
    group, _, rest = ident.partition(":")
    path, _, role = rest.rpartition(":")
    return group, path, role


def pool_label(tenant: str) -> str:
    return f"Tenant {tenant}"


def user_label(tenant: str) -> str:
    return f"Administrator of tenant {tenant}"


class AccessProvider(Provider):
    name = PROVIDER
    description = "Proxmox pool, group, admin user and the group's ACL entries"
    layer = "proxmox"

    def grants(self, ctx: Context, tenant: Tenant) -> list[tuple[str, str]]:
        roles = tuple(dict.fromkeys((ctx.config.permissions.admin_role, *POOL_ROLES)))
        grants = [(f"/pool/{tenant.pool}", role) for role in roles]
        grants += [(f"/storage/{storage}", STORAGE_ROLE) for storage in tenant.storages]
        return grants

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        from tenctl_core.engine import tenant_providers

        marker = ctx.marker(tenant)
        comment = marker.label(pool_label(tenant.name))
        password = ctx.initial_passwords.get(tenant.name)
        resources = [
            Resource(POOL, tenant.pool, {"comment": comment}),
            Resource(GROUP, tenant.group, {"comment": comment}),
            Resource(
                USER,
                tenant.admin_user,
                {
                    "comment": marker.label(user_label(tenant.name)),
                    "email": tenant.email,
                    "enable": 0 if tenant.status == SUSPENDED else 1,
                    "groups": [tenant.group],
                },
                create_only={"password": password} if password else {},
            ),
        ]
        grants: list[tuple[str, str]] = []
        for provider in tenant_providers(ctx):
            grants.extend(provider.grants(ctx, tenant))
        for path, role in dict.fromkeys(grants):
            resources.append(
                Resource(
                    ACL,
                    acl_id(tenant.group, path, role),
                    {"path": path, "roleid": role, "group": tenant.group},
                    parent=(GROUP, tenant.group),
                    label=acl_label(tenant.group, path, role),
                )
            )
        return resources

    # ------------------------------------------------------------------ reading

    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        found = [pool_observed(p) for p in ctx.cached_get("/pools")]
        found += [group_observed(g) for g in ctx.cached_get("/access/groups")]
        found += [user_observed(u) for u in ctx.cached_get("/access/users")]
        found += [acl_observed(e) for e in ctx.cached_get("/access/acl") if e.get("type") == "group"]
        return found

    def read(self, ctx: Context, key: Key) -> Observed | None:
        kind, ident = key
        px = ctx.proxmox
        try:
            if kind == POOL:
                answer = px.get("/pools", poolid=ident)
                items = [p for p in answer or [] if p.get("poolid") == ident]
                return pool_observed(items[0]) if items else None
            if kind == GROUP:
                group = px.get(f"/access/groups/{q(ident)}")
                return group_observed({"groupid": ident, **(group or {})})
            if kind == USER:
                user = px.get(f"/access/users/{q(ident)}")
                return user_observed({"userid": ident, **(user or {})})
        except ProxmoxError as exc:
            if is_missing(exc):
                return None
            raise
        group, path, role = split_acl_id(ident)
        for entry in px.get("/access/acl"):
            if (entry.get("type"), entry.get("ugid"), entry.get("path"), entry.get("roleid")) == (
                "group",
                group,
                path,
                role,
            ):
                return acl_observed(entry)
        return None

    # ----------------------------------------------------------------- changing

    def create(self, ctx: Context, resource: Resource, marker: Marker) -> None:
        px = ctx.proxmox
        attrs: dict[str, Any] = dict(resource.attrs)
        try:
            if resource.kind == POOL:
                px.post("/pools", poolid=resource.id, comment=attrs["comment"])
            elif resource.kind == GROUP:
                px.post("/access/groups", groupid=resource.id, comment=attrs["comment"])
            elif resource.kind == USER:
                px.post(
                    "/access/users",
                    userid=resource.id,
                    comment=attrs["comment"],
                    email=attrs["email"] or None,
                    enable=attrs["enable"],
                    groups=",".join(attrs["groups"]),
                    **resource.create_only,
                )
            else:
                set_acl(ctx, attrs["path"], attrs["roleid"], attrs["group"])
        except ProxmoxError as exc:
            if is_already_exists(exc):
                raise ConflictError(
                    f"{resource.describe()} already exists in Proxmox and was not created by this command; "
                    "tenctl will not adopt or delete it",
                    hint="remove it or choose another name",
                ) from None
            raise

    def update(self, ctx: Context, resource: Resource, observed: Observed, marker: Marker) -> None:
        px = ctx.proxmox
        attrs = dict(resource.attrs)
        if resource.kind == POOL:
            px.put("/pools", poolid=resource.id, comment=attrs["comment"])
        elif resource.kind == GROUP:
            px.put(f"/access/groups/{q(resource.id)}", comment=attrs["comment"])
        elif resource.kind == USER:
            groups = attrs.get("groups")
            px.put(
                f"/access/users/{q(resource.id)}",
                comment=attrs.get("comment"),
                email=attrs.get("email") if "email" in attrs else None,
                enable=attrs.get("enable"),
                groups=",".join(groups) if isinstance(groups, list | tuple) else groups,
            )
        else:
            set_acl(ctx, attrs["path"], attrs["roleid"], attrs["group"])

    def delete(self, ctx: Context, observed: Observed) -> None:
        px = ctx.proxmox
        try:
            if observed.kind == POOL:
                px.delete("/pools", poolid=observed.id)
            elif observed.kind == GROUP:
                px.delete(f"/access/groups/{q(observed.id)}")
            elif observed.kind == USER:
                px.delete(f"/access/users/{q(observed.id)}")
            else:
                attrs = observed.attrs
                set_acl(ctx, attrs["path"], attrs["roleid"], attrs["group"], delete=True)
        except ProxmoxError as exc:
            if not is_missing(exc):
                raise


def acl_label(group: str, path: str, role: str) -> str:
    return f"ACL {role} on {path} for group {group}"


def set_acl(ctx: Context, path: str, role: str, group: str, delete: bool = False) -> None:
    ctx.proxmox.put(
        "/access/acl", path=path, roles=role, groups=group, propagate=1, delete=1 if delete else None
    )


def commented(kind: str, ident: str, item: dict[str, Any]) -> Observed:
    """A pool or group: its comment is all tenctl sets, and holds the marker."""
    comment = item.get("comment") or ""
    return Observed(
        kind, ident, {"comment": comment}, parse_marker(comment), legacy_owner=legacy_owner(comment)
    )


def pool_observed(item: dict[str, Any]) -> Observed:
    return commented(POOL, str(item["poolid"]), item)


def group_observed(item: dict[str, Any]) -> Observed:
    return commented(GROUP, str(item["groupid"]), item)


def user_observed(item: dict[str, Any]) -> Observed:
    comment = item.get("comment") or ""
    groups = item.get("groups") or []
    if isinstance(groups, str):
        groups = [g for g in groups.split(",") if g]
    attrs = {
        "comment": comment,
        "email": item.get("email") or "",
        "enable": int(item.get("enable", 1)),
        "groups": sorted(groups),
    }
    return Observed(
        USER, str(item["userid"]), attrs, parse_marker(comment), legacy_owner=legacy_owner(comment)
    )


def acl_observed(entry: dict[str, Any]) -> Observed:
    group, path, role = str(entry["ugid"]), str(entry["path"]), str(entry["roleid"])
    return Observed(
        ACL,
        acl_id(group, path, role),
        {"path": path, "roleid": role, "group": group},
        parent=(GROUP, group),
        label=acl_label(group, path, role),
    )


@hookimpl
def tenctl_register_tenant_providers(register: Registrar[Provider]) -> None:
    register(AccessProvider())
