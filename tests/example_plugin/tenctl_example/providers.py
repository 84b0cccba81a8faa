"""The example plugin's providers: the ``highest-free`` allocator, the ``example-tenant-count`` check and the
``example-auditors`` tenant provider (enabled by ``[example] auditors = true``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import AllocationError, ProxmoxError, is_missing
from tenctl_core.ownership import Marker, parse_marker
from tenctl_core.providers import (
    Allocation,
    AllocationRequest,
    AuditCheck,
    CheckResult,
    Key,
    Observed,
    Provider,
    Resource,
    Settings,
    VlanAllocator,
)

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant


def vlans_from_the_top(request: AllocationRequest) -> Iterator[int]:
    """Free VLANs of the ranges, highest first."""
    taken = request.vlans_in_use | request.skip_vlans
    for low, high in sorted(request.vlan_ranges, reverse=True):
        for vlan in range(high, low - 1, -1):
            if vlan not in taken:
                yield vlan


def subnets_from_the_top(request: AllocationRequest) -> Iterator[ipaddress.IPv4Network]:
    """Free subnets of the pool, highest first, computed one by one (a /8 pool of /30s is 4 million)."""
    pool = request.subnet_pool
    size = 2 ** (32 - request.prefix_length)
    count = 2 ** (request.prefix_length - pool.prefixlen)
    base = int(pool.network_address)
    for index in range(count - 1, -1, -1):
        candidate = ipaddress.IPv4Network((base + index * size, request.prefix_length))
        if not any(candidate.overlaps(used) for used in request.subnets_in_use):
            yield candidate


class HighestFreeAllocator(VlanAllocator):
    """The highest free VLAN of the configured ranges and the highest free subnet of the pool."""

    name = "highest-free"
    description = "highest free VLAN in the ranges, highest free subnet in the pool"

    def allocate(self, request: AllocationRequest) -> Allocation:
        vlan = request.vlan if request.vlan is not None else next(vlans_from_the_top(request), None)
        if vlan is None:
            ranges = ", ".join(f"{low}-{high}" for low, high in request.vlan_ranges)
            raise AllocationError(f"no free VLAN in {ranges}", hint="widen allocation.vlan_ranges")
        subnet = request.subnet if request.subnet is not None else next(subnets_from_the_top(request), None)
        if subnet is None:
            raise AllocationError(
                f"no free /{request.prefix_length} subnet left in {request.subnet_pool}",
                hint="enlarge allocation.subnet_pool",
            )
        return Allocation(vlan=vlan, subnet=subnet)


class TenantCountCheck(AuditCheck):
    """Always passes; says how many tenant records there are."""

    name = "example-tenant-count"
    description = "counts the tenant records (an example of a third-party check)"

    def run(self, ctx: Context) -> list[CheckResult]:
        count = len(ctx.store.all())
        return [CheckResult(self.name, "pass", f"{count} tenant record(s)")]


AUDITORS = "group"


def auditors_group(tenant: str) -> str:
    return f"audit_{tenant}"


def auditors_observed(item: dict[str, Any]) -> Observed:
    comment = str(item.get("comment") or "")
    return Observed(AUDITORS, str(item["groupid"]), {"comment": comment}, parse_marker(comment))


@dataclass(frozen=True)
class ExampleSettings:
    """``[plugins.example]``: ``auditors = true`` turns the auditors provider on."""

    auditors: bool = False


class AuditorsProvider(Provider):
    """A Proxmox group ``audit_<tenant>`` for each tenant's auditors: a whole provider in a few lines.

    It shows the contract a third-party layer follows: the intended object carries the marker, observe
    reads one listing for every tenant (shared with core through ``ctx.cached_get``), and the engine does
    the rest (ownership, undo, settle, sync, drift).
    """

    name = "example-auditors"
    description = "a Proxmox group for each tenant's auditors"
    layer = "example"
    runs_after = ("proxmox-access",)
    settings = Settings("example", ExampleSettings)

    def enabled(self, ctx: Context) -> bool:
        return bool(ctx.config.settings(self.settings).auditors)

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        comment = ctx.marker(tenant).label(f"Auditors of tenant {tenant.name}")
        return [Resource(AUDITORS, auditors_group(tenant.name), {"comment": comment})]

    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        wanted = {auditors_group(t.name) for t in tenants}
        return [
            auditors_observed(g)
            for g in ctx.cached_get("/access/groups")
            if g.get("groupid") in wanted or parse_marker(g.get("comment"))
        ]

    def read(self, ctx: Context, key: Key) -> Observed | None:
        try:
            group = ctx.proxmox.get(f"/access/groups/{key[1]}")
        except ProxmoxError as exc:
            if is_missing(exc):
                return None
            raise
        return auditors_observed({"groupid": key[1], **(group or {})})

    def create(self, ctx: Context, resource: Resource, marker: Marker) -> None:
        ctx.proxmox.post("/access/groups", groupid=resource.id, comment=resource.attrs["comment"])

    def update(self, ctx: Context, resource: Resource, observed: Observed, marker: Marker) -> None:
        ctx.proxmox.put(f"/access/groups/{resource.id}", comment=resource.attrs["comment"])

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            ctx.proxmox.delete(f"/access/groups/{observed.id}")
        except ProxmoxError as exc:
            if not is_missing(exc):
                raise
