"""``tenctl health`` checks of the SDN side: the SDN lock, pending changes, VNets and records agreeing."""

from __future__ import annotations

from tenctl_core.context import Context
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult
from tenctl_linux_bridge.sdn import (
    LOCK_FREE_PENDING,
    LOCK_HELD,
    VNETS,
    foreign_pending,
    probe_sdn_lock,
    tenant_of_vnet,
)
from tenctl_linux_bridge.sdnlock import read_sdn_lock
from tenctl_linux_bridge.settings import vnet_of


class SdnCheck(AuditCheck):
    name = "sdn"
    description = "the SDN lock is free, nothing is pending, every tenant VNet has a record and the reverse"

    def run(self, ctx: Context) -> list[CheckResult]:
        results = []
        state = probe_sdn_lock(ctx)
        lock = read_sdn_lock(ctx.config.paths.cluster_dir) if state == LOCK_HELD else None
        if state != LOCK_HELD:
            results.append(CheckResult("sdn-lock", "pass", "the SDN lock is free"))
        elif lock is not None and lock.stale:
            results.append(
                CheckResult(
                    "sdn-lock",
                    "fail",
                    f"the SDN lock has been held for {lock.age:.0f} s: its holder probably crashed",
                    ["release it with `tenctl lock release --sdn --force` once nobody is changing SDN"],
                )
            )
        else:
            age = f" (for {lock.age:.0f} s)" if lock is not None else ""
            results.append(CheckResult("sdn-lock", "warn", f"the SDN lock is held{age}"))
        # Every pending change; subnets (one read per VNet) only when the lock probe says something is.
        pending = foreign_pending(ctx, None, subnets=state == LOCK_FREE_PENDING)
        if pending or state == LOCK_FREE_PENDING:
            notes = ["review them in the web UI (Datacenter > SDN), then apply or roll them back"]
            if state == LOCK_HELD:
                notes.insert(0, "(subnets are not listed while a command holds the SDN lock)")
            results.append(
                CheckResult(
                    "sdn-pending",
                    "warn",
                    f"{len(pending) or 'some'} SDN change(s) not applied",
                    pending + notes,
                )
            )
        else:
            results.append(CheckResult("sdn-pending", "pass", "no SDN change is pending"))
        vnets = ctx.cached_get(VNETS, pending=1)
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
