"""``tenctl health`` checks of the SDN side: the zone and its bridge on every node, the SDN lock, pending
changes, VNets and records agreeing."""

from __future__ import annotations

from typing import Any

from tenctl_core.context import Context
from tenctl_core.errors import ProxmoxError
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.providers import AuditCheck, CheckResult, Remedy
from tenctl_linux_bridge.sdn import (
    LOCK_FREE_PENDING,
    LOCK_HELD,
    VNETS,
    ZONES,
    foreign_pending,
    pending_view,
    probe_sdn_lock,
    tenant_of_vnet,
)
from tenctl_linux_bridge.sdnlock import read_sdn_lock
from tenctl_linux_bridge.settings import sdn_settings, vnet_of, zone_of

BRIDGED_ZONE_TYPES = ("vlan", "qinq")
"""Zone types whose VNets hang on a bridge that must exist on every node of the zone (pve-network
Zones/VlanPlugin.pm, QinQPlugin.pm)."""
BRIDGE_TYPES = ("bridge", "OVSBridge")


def online_nodes(ctx: Context) -> list[str]:
    """The cluster's online nodes (the same /cluster/status read core's cluster check makes)."""
    return sorted(
        str(item["name"])
        for item in ctx.cached_get("/cluster/status")
        if item.get("type") == "node" and int(item.get("online", 0) or 0)
    )


def zone_problems(ctx: Context, zone: str, item: dict[str, Any] | None, nodes: list[str]) -> list[str]:
    """What keeps a tenant VNet of this zone from working on some node: the zone missing or not applied,
    restricted to other nodes, or its bridge absent (one read of each node's interfaces)."""
    if item is None or item.get("state") == "deleted":
        return [f"zone {zone} does not exist (run `tenctl init`)"]
    view = pending_view(item)
    problems = []
    if item.get("state") == "new":
        problems.append(f"zone {zone} is created but not applied")
    allowed = [n for n in str(view.get("nodes") or "").replace(";", ",").split(",") if n]
    if allowed:
        left_out = [n for n in nodes if n not in allowed]
        if left_out:
            problems.append(f"zone {zone} is limited to {', '.join(allowed)}: not on {', '.join(left_out)}")
        nodes = [n for n in nodes if n in allowed]
    bridge = str(view.get("bridge") or "")
    if view.get("type") not in BRIDGED_ZONE_TYPES or not bridge:
        return problems
    for node in nodes:
        try:
            interfaces = ctx.proxmox.get(f"/nodes/{node}/network")
        except ProxmoxError as exc:
            problems.append(f"node {node}: its interfaces could not be read ({exc.status} {exc.detail})")
            continue
        if not any(i.get("iface") == bridge and i.get("type") in BRIDGE_TYPES for i in interfaces or []):
            problems.append(f"node {node} has no bridge {bridge}, which zone {zone} puts its VNets on")
    return problems


class SdnCheck(AuditCheck):
    name = "sdn"
    description = "the SDN lock is free, nothing is pending, every tenant VNet has a record and the reverse"

    def run(self, ctx: Context) -> list[CheckResult]:
        results = [self.zone_result(ctx)]
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
        for tenant in ctx.scoped(tenants.values()):
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

    @staticmethod
    def zone_result(ctx: Context) -> CheckResult:
        zones = {str(z.get("zone")): z for z in ctx.cached_get(ZONES, pending=1)}
        wanted = {sdn_settings(ctx).zone} | {
            zone_of(t) for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED) and zone_of(t)
        }
        nodes = online_nodes(ctx)
        problems = [p for zone in sorted(wanted) for p in zone_problems(ctx, zone, zones.get(zone), nodes)]
        if problems:
            return CheckResult(
                "sdn-zone",
                "fail",
                f"{len(problems)} problem(s) with the tenants' SDN zone on the nodes",
                [*problems, "guests on those nodes cannot reach their tenant's VNet"],
                [Remedy("tenctl init (a missing zone); create the bridge on the nodes named (their network settings)")],
            )
        return CheckResult(
            "sdn-zone",
            "pass",
            f"zone {', '.join(sorted(wanted))} is applied and usable on {len(nodes)} online node(s)",
        )
