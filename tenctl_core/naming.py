"""Tenant names and the Proxmox object ids derived from them.

The rules come from the PVE 9 schema: pool ids and group ids take letters,
digits, ``.``, ``-`` and ``_``; user ids are at most 64 characters with no
white space, ``:`` or ``/`` before the realm. A tenant name is letters (either case), digits,
``_`` and ``-``, starting with a letter, at most 32 characters: every name the Bash tool accepted
(``^[a-zA-Z][a-zA-Z0-9_]*$``, up to 25 characters) is one, ``-`` is an extension. Every such name
yields valid ids for every object; a name outside the rule is refused before any request, and so is
one of the Bash tool's reserved names, in any case, for a new tenant. Two tenants may not have names that differ only in case
(:func:`same_name_in_other_case`): the ids would be told apart by Proxmox but not by people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tenctl_core.errors import UsageError

TENANT_NAME_MAX = 32
TENANT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
RESERVED_NAMES = frozenset({"root", "admin", "system", "test", "tmp", "default", "pool", "user", "group"})
"""Names the Bash tool refused in any case; tenctl refuses them too, so no record can be named so."""
USERID_MAX = 64
USER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
REALM_RE = re.compile(r"[A-Za-z][A-Za-z0-9.\-_]+")


def check_tenant_name(name: str) -> str:
    """The name if it is a valid tenant name; UsageError naming the problem otherwise."""
    if not name:
        raise UsageError("tenant name is empty")
    if len(name) > TENANT_NAME_MAX:
        raise UsageError(f"tenant name {name!r} is too long ({len(name)} > {TENANT_NAME_MAX} characters)")
    if not TENANT_NAME_RE.fullmatch(name):
        raise UsageError(
            f"tenant name {name!r} is invalid: use letters, digits, '_' and '-', starting with a letter"
        )
    return name


def check_new_tenant_name(name: str) -> str:
    """A name for a tenant to be created: valid, and none of the reserved names in any case. Existing
    tenants keep working under any valid name (tenctl 0.2 did not reserve these)."""
    check_tenant_name(name)
    if name.lower() in RESERVED_NAMES:
        raise UsageError(
            f"tenant name {name!r} is reserved (reserved in any case: {', '.join(sorted(RESERVED_NAMES))})"
        )
    return name


def same_name_in_other_case(name: str, existing: Iterable[str]) -> str | None:
    """The existing tenant whose name differs from `name` only in case, if there is one."""
    folded = name.casefold()
    return next((other for other in existing if other != name and other.casefold() == folded), None)


def check_userid(userid: str) -> str:
    """A Proxmox user id ``name@realm`` that is safe to send; UsageError otherwise."""
    user, at, realm = userid.rpartition("@")
    if not at or not USER_NAME_RE.fullmatch(user) or not REALM_RE.fullmatch(realm):
        raise UsageError(
            f"user id {userid!r} is invalid: use name@realm with letters, digits, '.', '-' and '_'"
        )
    if len(userid) > USERID_MAX:
        raise UsageError(f"user id {userid!r} is too long ({len(userid)} > {USERID_MAX} characters)")
    return userid


@dataclass(frozen=True)
class TenantNames:
    """The ids of a tenant's Proxmox objects."""

    tenant: str
    pool: str
    group: str
    admin_user: str

    @classmethod
    def for_tenant(cls, name: str, admin_user: str | None = None) -> TenantNames:
        check_tenant_name(name)
        user = check_userid(admin_user) if admin_user else f"admin_{name}@pve"
        return cls(tenant=name, pool=f"tenant_{name}", group=f"group_{name}", admin_user=user)
