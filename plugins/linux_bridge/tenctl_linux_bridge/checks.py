"""``tenctl health`` checks of the SDN side: the SDN lock, pending changes, VNets and records agreeing."""

from __future__ import annotations

from tenctl_core.context import Context
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult
from tenctl_linux_bridge.sdn import VNETS, tenant_of_vnet
from tenctl_linux_bridge.sdnlock import read_sdn_lock
from tenctl_linux_bridge.settings import vnet_of


class SdnCheck(AuditCheck):
    name = "sdn"
    description = "the SDN lock is free, nothing is pending, every tenant VNet has a record and the reverse"

    def run(self, ctx: Context) -> list[CheckResult]:
        results = []
        lock = read_sdn_lock(ctx.config.paths.cluster_dir)
        if lock is None:
            results.append(CheckResult("sdn-lock", "pass", "the SDN lock is free (or not visible from here)"))
        elif lock.stale:
            results.append(
                CheckResult(
                    "sdn-lock",
                    "fail",
                    f"the SDN lock has been held for {lock.age:.0f} s: its holder probably crashed",
                    ["release it with `tenctl lock release --sdn --force` once nobody is changing SDN"],
                )
            )
        else:
            results.append(CheckResult("sdn-lock", "warn", f"the SDN lock is held (for {lock.age:.0f} s)"))
        vnets = ctx.cached_get(VNETS, pending=1)
        pending = [f"VNet {v.get('vnet')} ({v['state']})" for v in vnets if v.get("state")]
        if pending:
            results.append(
                CheckResult("sdn-pending", "warn", f"{len(pending)} SDN change(s) not applied", pending)
            )
        tenants = {t.name: t for t in ctx.tenants()}
        details = []
        running = set()
        for vnet in vnets:
            owner = tenant_of_vnet(vnet)
            if vnet.get("state") != "new":
                running.add(vnet.get("vnet"))
            if owner and owner not in tenants:
                details.append(f"VNet {vnet.get('vnet')} belongs to tenant {owner}, which has no record")
        for tenant in tenants.values():
            if tenant.status in (ACTIVE, SUSPENDED) and vnet_of(tenant) not in running:
                details.append(f"tenant {tenant.name}: VNet {vnet_of(tenant)} is missing")
        if details:
            results.append(
                CheckResult(
                    "sdn-orphans", "fail", f"{len(details)} SDN orphan(s) or missing VNet(s)", details
                )
            )
        else:
            results.append(
                CheckResult("sdn-orphans", "pass", "every tenant VNet has a record and the reverse")
            )
        return results
