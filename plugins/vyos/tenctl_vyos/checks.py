"""``tenctl health`` checks of the edge router: reachable, isolation rules present, no orphans."""

from __future__ import annotations

from tenctl_core.context import Context
from tenctl_core.errors import TenctlError
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult
from tenctl_vyos.model import NAT_STEP, TENANTS_GROUP, isolation_problems, nat_rule
from tenctl_vyos.settings import vyos_settings


class VyosCheck(AuditCheck):
    name = "vyos"
    description = (
        "the VyOS router answers, holds the isolation rules, and every tenctl vif and NAT rule has a tenant"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.ownership import parse_marker
        from tenctl_vyos.provider import running_config

        settings = vyos_settings(ctx)
        if not settings.configured:
            return []
        try:
            config = running_config(ctx)
        except TenctlError as exc:
            return [CheckResult("vyos-reachable", "fail", str(exc))]
        results = [CheckResult("vyos-reachable", "pass", f"the router {settings.host} answers over {settings.transport}")]
        problems = isolation_problems(config, settings.wan_interface)
        results.append(
            CheckResult("vyos-isolation", "fail", f"{len(problems)} isolation problem(s)", [*problems, "run `tenctl vyos configure`"])
            if problems
            else CheckResult("vyos-isolation", "pass", "tenant subnets cannot reach each other through the router")
        )
        tenants = {t.name: t for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED)}
        ours = ctx.installation
        orphans = []
        for vlan, attrs in config.vifs(settings.lan_interface).items():
            marker = parse_marker(attrs["description"])
            if marker and marker.installation == ours and marker.tenant not in tenants:
                orphans.append(f"vif {vlan} belongs to tenant {marker.tenant}, which has no record")
        for number, attrs in config.nat_rules().items():
            marker = parse_marker(attrs["description"])
            if marker and marker.installation == ours and marker.tenant not in tenants:
                orphans.append(f"NAT rule {number} belongs to tenant {marker.tenant}, which has no record")
            elif number % NAT_STEP == 0 and not marker and number // NAT_STEP in {t.vlan for t in tenants.values()}:
                orphans.append(f"NAT rule {number} (made by hand) takes the number of a tenant's rule")
        grouped = set(config.group(TENANTS_GROUP))
        for tenant in ctx.scoped(tenants.values()):
            if tenant.subnet not in grouped:
                orphans.append(f"tenant {tenant.name}: subnet {tenant.subnet} is not in {TENANTS_GROUP}")
            if nat_rule(tenant.vlan) not in config.nat_rules():
                orphans.append(f"tenant {tenant.name}: NAT rule {nat_rule(tenant.vlan)} is missing")
        results.append(
            CheckResult("vyos-tenants", "fail", f"{len(orphans)} router object(s) out of line", [*orphans, "run `tenctl sync --all`"])
            if orphans
            else CheckResult("vyos-tenants", "pass", f"the router matches the {len(tenants)} tenant record(s)")
        )
        return results
