"""Core's provider of a tenant's Proxmox access: pool, group, admin user and the group's ACL entries.

Pool, group and user carry the ownership marker in their ``comment``; ACL entries are owned through the
tenant's group (or its admin user, for an entry granted to the user or one of its API tokens, which tenctl
never makes: ``sync --prune`` deletes such an entry). The group's ACL entries are every grant a provider asks
for (:meth:`Provider.grants`, see :func:`intended_grants`):
the tenant role on the pool, ``PVEDatastoreUser`` on the allowed storages, and whatever the network
layers need (``PVESDNUser`` on the tenant's VNet...), so that the least privilege a tenant holds is
decided in one place.

The tenant role (``TenctlTenant``, made by ``init``) holds exactly :data:`TENANT_PRIVILEGES`: what it
takes to run guests in the pool and nothing that changes ACLs, users, groups or the pool itself. Proxmox
lets whoever holds ``Pool.Allocate`` on ``/pool/<id>`` edit that pool's ACL (``check_perm_modify`` in
pve-access-control's RPCEnvironment.pm) and delete the pool, which is why the built-in
``PVEPoolAdmin`` is not given to tenants.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tenctl_core import hookimpl
from tenctl_core.config import TENANT_ROLE
from tenctl_core.errors import ConflictError, ProxmoxError, TenctlError, is_already_exists, is_missing
from tenctl_core.model import SUSPENDED
from tenctl_core.ownership import Marker, legacy_owner, parse_marker
from tenctl_core.plan import Step
from tenctl_core.providers import Key, Observed, Provider, Resource

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.registry import Registrar

PROVIDER = "proxmox-access"
STORAGE_ROLE = "PVEDatastoreUser"
STORAGE_PRIVILEGES = frozenset({"Datastore.AllocateSpace", "Datastore.Audit"})
"""What the storage role gives a tenant on a storage it may use: space for its guests' disks, and a look."""
LEGACY_POOL_ROLES = ("PVEPoolAdmin", "PVEVMAdmin")
"""What tenctl 0.2 granted the tenant's group on its pool, replaced by the tenant role."""
ROLE_RECORD = ".tenctl-role"
"""The file beside the tenant records that says tenctl made the tenant role (roles carry no comment)."""

TENANT_PRIVILEGES: dict[str, str] = {
    "Pool.Audit": "see its pool and what is in it",
    "VM.Allocate": "create and delete guests in its pool",
    "VM.Audit": "see its guests' configuration and status",
    "VM.Backup": "back up and restore its guests (to storages it may use)",
    "VM.Clone": "clone its guests and templates",
    "VM.Config.CDROM": "change a guest's CD-ROM media",
    "VM.Config.CPU": "change a guest's CPU settings",
    "VM.Config.Cloudinit": "change a guest's cloud-init settings",
    "VM.Config.Disk": "add, resize and remove a guest's disks",
    "VM.Config.HWType": "change a guest's emulated hardware type",
    "VM.Config.Memory": "change a guest's memory",
    "VM.Config.Network": "change a guest's NICs (only on bridges it holds SDN.Use on: its own VNet)",
    "VM.Config.Options": "change a guest's other options",
    "VM.Console": "open a guest's console",
    "VM.GuestAgent.Audit": "read a guest's agent information",
    "VM.GuestAgent.FileRead": "read files through a guest's agent",
    "VM.GuestAgent.FileSystemMgmt": "freeze and trim a guest's file systems through its agent",
    "VM.GuestAgent.FileWrite": "write files through a guest's agent",
    "VM.GuestAgent.Unrestricted": "run any agent command in its own guests",
    "VM.PowerMgmt": "start, stop, shut down and reboot its guests",
    "VM.Snapshot": "take and delete snapshots of its guests",
    "VM.Snapshot.Rollback": "roll its guests back to a snapshot",
}
"""The tenant role's privileges and why each is there (the security guide lists them from here). Left
out on purpose: Pool.Allocate and Permissions.Modify (ACL changes, deleting the pool), User.Modify,
Group.Allocate and Realm.* (users), Sys.* (nodes), Datastore.Allocate (storages), SDN.Allocate
(networks), VM.Migrate and VM.Replicate (placement is the operator's)."""

GRANTING_PRIVILEGES = (
    "Permissions.Modify",
    "Pool.Allocate",
    "User.Modify",
    "Group.Allocate",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "Sys.Modify",
    "Datastore.Allocate",
    "SDN.Allocate",
)
"""Privileges that let a holder change ACLs, users, the pool or cluster objects."""

BUILTIN_GRANTING = {
    "Administrator": GRANTING_PRIVILEGES,
    "PVEAdmin": tuple(p for p in GRANTING_PRIVILEGES if p not in ("Permissions.Modify", "Realm.Allocate", "Sys.Modify")),
    "PVEPoolAdmin": ("Pool.Allocate",),
    "PVEUserAdmin": ("User.Modify", "Group.Allocate", "Realm.AllocateUser"),
    "PVEDatastoreAdmin": ("Datastore.Allocate",),
    "PVESDNAdmin": ("SDN.Allocate",),
}
"""PVE 9's built-in roles that hold granting privileges (pve-access-control AccessControl.pm)."""


def forbidden_builtin_privileges(role: str) -> tuple[str, ...]:
    """The granting privileges a built-in role holds (nothing for other roles: ``health`` reads those)."""
    return BUILTIN_GRANTING.get(role, ())
POOL, GROUP, USER, ACL = "pool", "group", "user", "acl"
TOKEN = "token"  # noqa: S105 - the kind of an ACL entry, not a secret
ACL_PARAMS = {GROUP: "groups", USER: "users", TOKEN: "tokens"}
"""The ``PUT /access/acl`` parameter for each kind of ACL entry (pve-access-control API2/ACL.pm)."""


def q(value: str) -> str:
    """A path segment for an id (user ids hold '@')."""
    return quote(value, safe="")


def acl_id(ugid: str, path: str, role: str) -> str:
    """An ACL entry's identity: ``<group, user or token id>:<path>:<role>`` (no id holds a colon)."""
    return f"{ugid}:{path}:{role}"


def split_acl_id(ident: str) -> tuple[str, str, str]:
    group, _, rest = ident.partition(":")
    path, _, role = rest.rpartition(":")
    return group, path, role


def pool_label(tenant: str) -> str:
    return f"Tenant {tenant}"


def user_label(tenant: str) -> str:
    return f"Administrator of tenant {tenant}"


def intended_grants(ctx: Context, tenant: Tenant) -> list[tuple[str, str]]:
    """Every ``(acl path, role)`` the tenant's group should hold and nothing else: what each enabled
    provider's :meth:`~tenctl_core.providers.Provider.grants` asks for, in provider order, once each."""
    from tenctl_core.engine import tenant_providers

    grants: list[tuple[str, str]] = []
    for provider in tenant_providers(ctx):
        grants.extend(provider.grants(ctx, tenant))
    return list(dict.fromkeys(grants))


def intended_role_privileges(ctx: Context) -> dict[str, frozenset[str]]:
    """role -> the privileges it is meant to give tenants, as the enabled providers declare them."""
    from tenctl_core.engine import tenant_providers

    declared: dict[str, frozenset[str]] = {}
    for provider in tenant_providers(ctx):
        for role, privileges in provider.grant_privileges(ctx).items():
            declared[role] = declared.get(role, frozenset()) | privileges
    return declared


class AccessProvider(Provider):
    name = PROVIDER
    description = "Proxmox pool, group, admin user and the group's ACL entries"
    layer = "proxmox"
    takeover_kinds = (POOL, GROUP, USER)

    def grants(self, ctx: Context, tenant: Tenant) -> list[tuple[str, str]]:
        grants = [(f"/pool/{tenant.pool}", ctx.config.permissions.admin_role)]
        grants += [(f"/storage/{storage}", STORAGE_ROLE) for storage in tenant.storages]
        return grants

    def grant_privileges(self, ctx: Context) -> dict[str, frozenset[str]]:
        return {ctx.config.permissions.admin_role: frozenset(TENANT_PRIVILEGES), STORAGE_ROLE: STORAGE_PRIVILEGES}

    def init_steps(self, ctx: Context) -> list[Step]:
        return role_steps(ctx)

    def revoked(self, ctx: Context, tenant: Tenant) -> set[Key]:
        """The pool roles tenctl 0.2 gave (PVEPoolAdmin holds Pool.Allocate): ``sync`` takes them away."""
        current = ctx.config.permissions.admin_role
        return {
            (ACL, acl_id(tenant.group, f"/pool/{tenant.pool}", role)) for role in LEGACY_POOL_ROLES if role != current
        }

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
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
        for path, role in intended_grants(ctx, tenant):
            resources.append(
                Resource(
                    ACL,
                    acl_id(tenant.group, path, role),
                    {"path": path, "roleid": role, "group": tenant.group, "propagate": 1},
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
        found += [acl_observed(e) for e in ctx.cached_get("/access/acl") if e.get("type") in ACL_PARAMS]
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
        ugid, path, role = split_acl_id(ident)
        for entry in px.get("/access/acl"):
            if entry.get("type") in ACL_PARAMS and (entry.get("ugid"), entry.get("path"), entry.get("roleid")) == (
                ugid,
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
                kind = next(k for k in ACL_PARAMS if k in attrs)
                set_acl(ctx, attrs["path"], attrs["roleid"], attrs[kind], delete=True, kind=kind)
        except ProxmoxError as exc:
            if not is_missing(exc):
                raise


def acl_label(ugid: str, path: str, role: str, kind: str = GROUP) -> str:
    return f"ACL {role} on {path} for {kind} {ugid}"


def set_acl(ctx: Context, path: str, role: str, ugid: str, delete: bool = False, kind: str = GROUP) -> None:
    """Grant (propagating, as every entry tenctl makes) or delete an entry of a group, user or token."""
    ctx.proxmox.put(
        "/access/acl",
        path=path,
        roles=role,
        propagate=1,
        delete=1 if delete else None,
        **{ACL_PARAMS[kind]: ugid},
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
    """An ACL entry of a group, user or token, owned through its group or user (a token's: its user's)."""
    kind, ugid = str(entry["type"]), str(entry["ugid"])
    path, role = str(entry["path"]), str(entry["roleid"])
    parent = (GROUP, ugid) if kind == GROUP else (USER, ugid.partition("!")[0])
    return Observed(
        ACL,
        acl_id(ugid, path, role),
        {"path": path, "roleid": role, kind: ugid, "propagate": int(entry.get("propagate", 1))},
        parent=parent,
        label=acl_label(ugid, path, role, kind),
    )


# ----------------------------------------------------------------------------------- the tenant role


def role_privileges(ctx: Context, role: str) -> set[str] | None:
    """The privileges of a role as Proxmox has it, or None when it does not exist (one cached read)."""
    for item in ctx.cached_get("/access/roles"):
        if item.get("roleid") == role:
            privs = item.get("privs") or ""
            return {p for p in str(privs).replace(";", ",").replace(" ", ",").split(",") if p}
    return None


def made_by_tenctl(ctx: Context, role: str) -> bool:
    path = Path(ctx.config.paths.tenants_dir, ROLE_RECORD)
    try:
        return role in path.read_text(encoding="utf-8").split()
    except OSError:
        return False


def note_role(ctx: Context, role: str) -> None:
    directory = Path(ctx.config.paths.tenants_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    (directory / ROLE_RECORD).write_text(f"{role}\n", encoding="utf-8")


def role_steps(ctx: Context) -> list[Step]:
    """The steps that make the tenant role, or put its privileges back: only when tenctl made it."""
    role = ctx.config.permissions.admin_role
    wanted = sorted(TENANT_PRIVILEGES)
    if role != TENANT_ROLE:
        return []  # a role of the operator's: `health` checks it, tenctl does not change it
    privs = role_privileges(ctx, role)
    px = ctx.proxmox
    if privs is None:

        def create() -> None:
            note_role(ctx, role)
            try:
                px.post("/access/roles", roleid=role, privs=",".join(wanted))
            except ProxmoxError as exc:
                if not is_already_exists(exc):
                    raise
                if role_privileges_now(ctx, role) != set(wanted):
                    raise

        return [
            Step(
                "proxmox",
                f"create role {role} for the tenants' groups ({len(wanted)} privileges, none that "
                "changes ACLs, users or pools)",
                create,
                id=f"{PROVIDER}:create:role:{role}",
                op="create",
                provider=PROVIDER,
            )
        ]
    if privs == set(wanted):
        return []
    if not made_by_tenctl(ctx, role):
        raise ConflictError(
            f"role {role} exists in Proxmox but was not made by tenctl (its privileges differ: "
            f"{describe_privilege_difference(privs, set(wanted))}); tenctl will not change it",
            hint="delete or rename that role, or set permissions.admin_role to a role of yours",
        )
    return [
        Step(
            "proxmox",
            f"set the privileges of role {role} to tenctl's ({describe_privilege_difference(privs, set(wanted))})",
            lambda: px.put(f"/access/roles/{q(role)}", privs=",".join(wanted)),
            id=f"{PROVIDER}:update:role:{role}",
            op="update",
            provider=PROVIDER,
        )
    ]


def role_privileges_now(ctx: Context, role: str) -> set[str] | None:
    ctx.forget("/access/roles")
    return role_privileges(ctx, role)


def describe_privilege_difference(have: set[str], want: set[str]) -> str:
    parts = []
    if have - want:
        parts.append("extra " + ", ".join(sorted(have - want)))
    if want - have:
        parts.append("missing " + ", ".join(sorted(want - have)))
    return "; ".join(parts) or "same"


def check_role(ctx: Context) -> None:
    """Before a tenant gets ACL entries: the role exists (``init`` makes it)."""
    role = ctx.config.permissions.admin_role
    if role_privileges(ctx, role) is None:
        hint = (
            "run `tenctl init` (or `tenctl sync --all`, which also moves existing tenants to it)"
            if role == TENANT_ROLE
            else f"create role {role} in Proxmox (permissions.admin_role names it), or unset that key"
        )
        raise TenctlError(f"role {role}, which tenants get on their pools, does not exist in Proxmox", hint=hint)


def role_problems(ctx: Context) -> list[str]:
    """What is wrong with the tenant role, for ``health``: missing, or privileges other than intended."""
    role = ctx.config.permissions.admin_role
    privs = role_privileges(ctx, role)
    if privs is None:
        return [f"role {role} does not exist"]
    wanted = set(TENANT_PRIVILEGES)
    if role == TENANT_ROLE and privs != wanted:
        return [f"role {role} differs from tenctl's: {describe_privilege_difference(privs, wanted)}"]
    extra = privs - wanted
    if extra:
        return [f"role {role} holds privileges a tenant must not have: {', '.join(sorted(extra))}"]
    return []


@hookimpl
def tenctl_register_tenant_providers(register: Registrar[Provider]) -> None:
    register(AccessProvider())
