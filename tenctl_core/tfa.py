"""Second factors of tenant users: which of them can log in with a password alone.

A tenant admin's password opens its tenant's guests and network to whoever has it. Proxmox VE (7 and
later) keeps each user's second factors (TOTP apps, security keys, recovery keys) and lists them with
``GET /access/tfa`` (pve-access-control src/PVE/API2/TFA.pm); a realm whose ``tfa`` option is set
(``pveum realm modify pve --tfa type=oath``, src/PVE/Auth/Plugin.pm) lets no user of it log in without one
(src/PVE/AccessControl.pm: "missing required 2nd keys"). Two reads, whatever the number of tenants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenctl_core.errors import ProxmoxError
from tenctl_core.model import ACTIVE
from tenctl_core.providers import AuditCheck, CheckResult, Remedy

if TYPE_CHECKING:
    from tenctl_core.context import Context

RECOVERY = "recovery"
HOW_TO_ENROL = (
    "each user adds a TOTP app or a security key: web UI, user menu (top right) > TFA, or "
    "Datacenter > Permissions > Two Factor as root"
)


def users_with_a_factor(listing: list[dict[str, Any]]) -> set[str]:
    """Users with at least one enabled second factor other than recovery keys (which only stand in for a
    lost factor: one use each)."""
    return {
        str(item.get("userid"))
        for item in listing
        if any(e.get("type") != RECOVERY and int(e.get("enable", 1)) for e in item.get("entries") or [])
    }


def realms_requiring_tfa(realms: list[dict[str, Any]]) -> dict[str, str]:
    """realm -> the second factor its ``tfa`` option requires (``oath``, ``yubico``)."""
    return {str(r["realm"]): str(r["tfa"]) for r in realms if r.get("tfa")}


def tenant_users(ctx: Context) -> dict[str, str]:
    """userid -> tenant, for the active tenants in scope: each admin user and every member of the tenant's
    group (a suspended tenant's users are disabled and cannot log in)."""
    tenants = [t for t in ctx.scoped(ctx.tenants()) if t.status == ACTIVE and not t.unfinished()]
    found = {t.admin_user: t.name for t in tenants}
    by_group = {t.group: t.name for t in tenants}
    for user in ctx.cached_get("/access/users"):
        groups = user.get("groups") or []
        if isinstance(groups, str):
            groups = [g for g in groups.split(",") if g]
        for group in groups:
            if group in by_group:
                found.setdefault(str(user["userid"]), by_group[group])
    return found


class TfaCheck(AuditCheck):
    name = "tfa"
    description = "every user of an active tenant has a second factor, or its realm requires one"

    def run(self, ctx: Context) -> list[CheckResult]:
        # Read whatever the number of tenants, none included: the request count stays the same.
        users = tenant_users(ctx)
        try:
            listing = ctx.cached_get("/access/tfa")
        except ProxmoxError as exc:
            if exc.status not in (404, 501):
                raise
            return [
                CheckResult(
                    self.name,
                    "warn",
                    "this Proxmox VE cannot list second factors (GET /access/tfa needs PVE 7 or later)",
                )
            ]
        required = realms_requiring_tfa(ctx.cached_get("/access/domains"))
        if not users:
            return [CheckResult(self.name, "pass", "no tenant user to check")]
        protected = users_with_a_factor(listing)
        missing = sorted(u for u in users if u not in protected)
        if not missing:
            return [CheckResult(self.name, "pass", f"all {len(users)} tenant user(s) have a second factor")]
        locked_out = [u for u in missing if u.rpartition("@")[2] in required]
        exposed = [u for u in missing if u not in locked_out]
        details = [f"{u} (tenant {users[u]}) has no second factor" for u in exposed]
        details += [
            f"{u} (tenant {users[u]}) cannot log in: realm {u.rpartition('@')[2]} requires a second factor "
            f"({required[u.rpartition('@')[2]]}) it does not have"
            for u in locked_out
        ]
        realms = sorted({u.rpartition("@")[2] for u in exposed})
        require = "; ".join(f"pveum realm modify {realm} --tfa type=oath" for realm in realms)
        if exposed:
            details.append(HOW_TO_ENROL)
            details.append(
                f"to require a second factor of every user of the realm: `{require}` (API: PUT "
                "/access/domains/<realm> tfa=type=oath); a user without one can then no longer log in, so "
                "enrol them first"
            )
            message = f"{len(exposed)} tenant user(s) can log in with a password alone"
        else:
            details.append("root adds a TOTP entry for them (Datacenter > Permissions > Two Factor)")
            message = f"{len(locked_out)} tenant user(s) cannot log in until they have a second factor"
        remedies = [Remedy(f"`{require}` once every tenant user has a second factor")] if exposed else []
        return [CheckResult(self.name, "warn", message, details, remedies)]
