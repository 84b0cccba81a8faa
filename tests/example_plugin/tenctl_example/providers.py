"""The example plugin's providers: the ``highest-free`` allocator and the ``example-tenant-count`` check."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tenctl_core.errors import AllocationError
from tenctl_core.providers import Allocation, AllocationRequest, AuditCheck, CheckResult, VlanAllocator

if TYPE_CHECKING:
    from tenctl_core.context import Context


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
