"""What tenants are granted in Proxmox, against what they should be: the ``acls`` health check.

A tenant's group should hold exactly the entries :func:`tenctl_core.access.intended_grants` lists (its role
on its pool, the storage role on its storages, what each network layer asks for), each propagating, as
``add`` and ``sync`` make them. Anything else granted to a tenant principal widens what a tenant admin can
do: an entry of its group on another path or with another role, any entry of a tenant user or of one of its
API tokens (tenctl grants users nothing), a membership of a tenant user in another group. One read of
``/access/acl``, ``/access/users`` and ``/access/groups`` (shared with the other checks), whatever the
number of tenants.

``health --fix`` puts missing entries back with ``sync`` and deletes the extra ones with ``sync --prune`` of
the access layer, which deletes only entries hanging on a group or user that carries this installation's
marker for the tenant. Entries of principals tenctl did not make are reported with the ``pveum`` command
that deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenctl_core.access import ACL_PARAMS, GROUP, PROVIDER, TOKEN, USER, intended_grants
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.ownership import parse_marker
from tenctl_core.providers import REVOKE_GRANTS, SYNC, AuditCheck, CheckResult, Remedy

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant


def user_groups(user: dict[str, Any]) -> list[str]:
    groups = user.get("groups") or []
    if isinstance(groups, str):
        groups = [g for g in groups.split(",") if g]
    return [str(g) for g in groups]


def describe_entry(entry: dict[str, Any]) -> str:
    spread = "" if int(entry.get("propagate", 1)) else " (not propagating)"
    return f"{entry.get('roleid')} on {entry.get('path')}{spread}"


def pveum_delete(entry: dict[str, Any]) -> str:
    """The command that deletes one ACL entry by hand."""
    kind = str(entry.get("type"))
    return f"pveum acl delete {entry.get('path')} --roles {entry.get('roleid')} --{ACL_PARAMS[kind]} {entry.get('ugid')}"


@dataclass
class TenantGrants:
    """One tenant's ACL findings."""

    tenant: Tenant
    missing: list[str] = field(default_factory=list)
    not_propagating: list[str] = field(default_factory=list)
    broader: list[str] = field(default_factory=list)
    """Extra entries tenctl may take away (their principal carries the tenant's marker)."""
    foreign: list[tuple[str, str]] = field(default_factory=list)
    """Extra entries and memberships of principals tenctl did not make: (finding, the command that ends it)."""
    memberships: list[str] = field(default_factory=list)
    """Other groups the tenant's admin user (tenctl's) is in; ``sync`` takes it out of them."""

    @property
    def problems(self) -> int:
        lists: tuple[list[Any], ...] = (
            self.missing,
            self.not_propagating,
            self.broader,
            self.foreign,
            self.memberships,
        )
        return sum(len(items) for items in lists)


@dataclass
class AccessIndex:
    """The ACL, users and groups as read once, indexed for the per-tenant comparison."""

    users: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    members: dict[str, list[str]]
    """group -> the users in it."""
    group_entries: dict[str, list[dict[str, Any]]]
    """group -> its ACL entries."""
    user_entries: dict[str, list[dict[str, Any]]]
    """user -> the ACL entries of the user and of its API tokens."""

    @classmethod
    def read(cls, ctx: Context) -> AccessIndex:
        acl = ctx.cached_get("/access/acl")
        users = {str(u["userid"]): u for u in ctx.cached_get("/access/users")}
        groups = {str(g["groupid"]): g for g in ctx.cached_get("/access/groups")}
        members: dict[str, list[str]] = {}
        for uid, user in users.items():
            for group in user_groups(user):
                members.setdefault(group, []).append(uid)
        group_entries: dict[str, list[dict[str, Any]]] = {}
        user_entries: dict[str, list[dict[str, Any]]] = {}
        for entry in acl:
            ugid = str(entry.get("ugid"))
            if entry.get("type") == GROUP:
                group_entries.setdefault(ugid, []).append(entry)
            elif entry.get("type") in (USER, TOKEN):
                user_entries.setdefault(ugid.partition("!")[0], []).append(entry)
        return cls(users, groups, members, group_entries, user_entries)


def tenant_grants(ctx: Context, tenant: Tenant, index: AccessIndex) -> TenantGrants:
    """Compare what the tenant's principals hold with what its record asks for."""
    found = TenantGrants(tenant)
    marker = ctx.marker(tenant)
    intended = intended_grants(ctx, tenant)
    intended_paths = {path for path, _ in intended}
    group_ours = parse_marker(str(index.groups.get(tenant.group, {}).get("comment") or "")) == marker
    principals = set(index.members.get(tenant.group, []))
    if tenant.admin_user in index.users:
        principals.add(tenant.admin_user)
    ours = {uid for uid in principals if parse_marker(str(index.users[uid].get("comment") or "")) == marker}

    held = {(e["path"], e["roleid"]): e for e in index.group_entries.get(tenant.group, [])}
    for path, role in intended:
        entry = held.get((path, role))
        if entry is None:
            found.missing.append(f"group {tenant.group} lacks {role} on {path}")
        elif not int(entry.get("propagate", 1)):
            found.not_propagating.append(f"group {tenant.group}: {role} on {path} does not propagate")
    for (path, role), entry in sorted(held.items()):
        if (path, role) in intended:
            continue
        where = (
            ", a role tenctl does not grant there"
            if path in intended_paths
            else ", beyond its tenant's objects"
        )
        why = f"group {tenant.group} holds {describe_entry(entry)}{where}"
        if group_ours:
            found.broader.append(why)
        else:
            found.foreign.append((why, pveum_delete(entry)))
    for uid in sorted(principals):
        for entry in index.user_entries.get(uid, []):
            why = f"{entry['type']} {entry['ugid']} holds {describe_entry(entry)}: tenctl grants users and tokens nothing"
            if uid in ours:
                found.broader.append(why)
            else:
                found.foreign.append((why, pveum_delete(entry)))
        for other in user_groups(index.users[uid]):
            if other == tenant.group:
                continue
            text = f"user {uid} is also a member of group {other}, whose entries apply to it"
            if uid in ours:
                found.memberships.append(text)
            else:
                found.foreign.append((text, f"pveum user modify {uid} --groups {tenant.group}"))
    return found


class AclCheck(AuditCheck):
    name = "acls"
    description = (
        "each tenant's group holds exactly the ACL entries tenctl grants, propagating, and no tenant group, "
        "user or token holds anything more"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        # Read whatever the number of tenants, none included: the request count stays the same.
        index = AccessIndex.read(ctx)
        tenants = [
            t for t in ctx.scoped(ctx.tenants()) if t.status in (ACTIVE, SUSPENDED) and not t.unfinished()
        ]
        if not tenants:
            return [CheckResult(self.name, "pass", "no tenant to compare")]
        details: list[str] = []
        remedies: list[Remedy] = []
        failing = False
        for tenant in tenants:
            found = tenant_grants(ctx, tenant, index)
            if not found.problems:
                continue
            name = tenant.name
            details += [f"tenant {name}: {text}" for text in found.missing + found.not_propagating]
            details += [f"tenant {name}: {text}" for text in found.broader + found.memberships]
            details += [
                f"tenant {name}: {text} (not tenctl's: `{command}`)" for text, command in found.foreign
            ]
            failing = failing or bool(found.missing or found.broader or found.foreign or found.memberships)
            if found.missing or found.not_propagating or found.memberships:
                remedies.append(Remedy(f"tenctl sync -n {name}", SYNC, (name,)))
            if found.broader:
                remedies.append(
                    Remedy(f"tenctl sync -n {name} --layer {PROVIDER} --prune", REVOKE_GRANTS, (name,))
                )
            remedies += [Remedy(command) for _, command in found.foreign]
        if not details:
            return [
                CheckResult(
                    self.name, "pass", f"{len(tenants)} tenant(s) hold exactly the ACL entries tenctl grants"
                )
            ]
        details.append(
            "`tenctl health --fix` puts back what is missing and deletes what tenctl's own principals hold beyond it"
        )
        return [
            CheckResult(
                self.name,
                "fail" if failing else "warn",
                f"{len(details) - 1} ACL finding(s) for tenant groups, users and tokens",
                details,
                remedies,
            )
        ]
