"""What ``tenctl switch status`` and ``tenctl health`` say about the switches, from one read of each.

For every switch: reachable; each tenant VLAN that should be there present, with the tenant's name and on
every trunk port; VLANs of ours without a tenant; a VLAN of a tenant's number with another name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult
from tenctl_switch_napalm.settings import switch_settings

if TYPE_CHECKING:
    from tenctl_core.context import Context


@dataclass
class SwitchReport:
    name: str
    site: str
    driver: str
    reachable: bool
    error: str = ""
    problems: list[str] = field(default_factory=list)
    tenants_present: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "switch": self.name,
            "site": self.site,
            "driver": self.driver,
            "reachable": self.reachable,
            "facts": self.facts,
            "error": self.error,
            "tenants_present": self.tenants_present,
            "problems": self.problems,
        }


def switch_reports(ctx: Context, site: str | None = None) -> list[SwitchReport]:
    from tenctl_switch_napalm.provider import observed_on, state, switches, tenant_sites, vlan_name

    tenants = [t for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED)]
    names = set(ctx.store.names())
    reports = []
    reads = state(ctx)
    for name, switch in switches(ctx).items():
        if site is not None and switch.site.name != site:
            continue
        report = SwitchReport(name, switch.site.name, switch.spec.driver, True)
        read = reads.get(name)
        if isinstance(read, BaseException) or read is None:
            report.reachable, report.error = False, str(read)
            reports.append(report)
            continue
        index = {o.id: o for o in observed_on(ctx, name, read, tenants)}
        trunks = ",".join(sorted(switch.spec.trunk_ports))
        for tenant in ctx.scoped(tenants):
            if switch.site.name not in tenant_sites(ctx, tenant):
                continue
            found = index.get(f"{name}/{tenant.vlan}")
            if found is None:
                report.problems.append(f"tenant {tenant.name}: VLAN {tenant.vlan} is missing")
            elif found.attrs.get("name") != vlan_name(tenant):
                report.problems.append(
                    f"tenant {tenant.name}: VLAN {tenant.vlan} is named {found.attrs.get('name')!r}, not "
                    f"{vlan_name(tenant)!r}"
                )
            elif found.attrs.get("trunks") != trunks:
                report.problems.append(
                    f"tenant {tenant.name}: VLAN {tenant.vlan} is on trunk ports {found.attrs.get('trunks') or 'none'}, "
                    f"not {trunks}"
                )
            else:
                report.tenants_present.append(tenant.name)
        for found in index.values():
            marker = found.marker
            if marker and marker.installation == ctx.installation and marker.tenant not in names:
                report.problems.append(
                    f"{found.describe()} belongs to tenant {marker.tenant}, which has no record"
                )
        reports.append(report)
    return reports


class SwitchCheck(AuditCheck):
    name = "switches"
    description = (
        "every switch answers, carries each tenant VLAN of its site with the tenant's name on every trunk port, "
        "and holds no VLAN of ours without a tenant"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        if not switch_settings(ctx).configured:
            return []
        reports = switch_reports(ctx)
        down = [f"{r.name} ({r.site}): {r.error}" for r in reports if not r.reachable]
        problems = [f"{r.name}: {p}" for r in reports for p in r.problems]
        results = [
            CheckResult("switches-reachable", "fail", f"{len(down)} switch(es) do not answer", down)
            if down
            else CheckResult("switches-reachable", "pass", f"{len(reports)} switch(es) answer")
        ]
        results.append(
            CheckResult(
                "switch-vlans",
                "fail",
                f"{len(problems)} switch VLAN problem(s)",
                [*problems, "run `tenctl sync --all` (`--prune` for VLANs without a tenant)"],
            )
            if problems
            else CheckResult("switch-vlans", "pass", "every tenant VLAN is on its switches, named, on every trunk")
        )
        return results
