"""Tenant names and the Proxmox object ids derived from them.

The rules come from the PVE 9 schema: pool ids and group ids take letters,
digits, ``.``, ``-`` and ``_``; user ids are at most 64 characters with no
white space, ``:`` or ``/`` before the realm. A tenant name is lower-case letters, digits,
``-`` and ``_``, starting with a letter, at most 32 characters: every such
name yields valid ids for every object, and a name outside the rule is refused
before any request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tenctl_core.errors import UsageError

TENANT_NAME_MAX = 32
TENANT_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*")
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
            f"tenant name {name!r} is invalid: use lower-case letters, digits, '-' and '_', "
            "starting with a letter"
        )
    return name


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
