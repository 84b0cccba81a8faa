"""VLAN and subnet allocation, and core's ``first-free`` allocator."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.errors import AllocationError
from tenctl_core.providers import Allocation, AllocationRequest, VlanAllocator

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.registry import Registrar


def free_vlans(request: AllocationRequest) -> Iterator[int]:
    taken = request.vlans_in_use | request.skip_vlans
    for low, high in request.vlan_ranges:
        for vlan in range(low, high + 1):
            if vlan not in taken:
                yield vlan


def free_subnets(request: AllocationRequest) -> Iterator[ipaddress.IPv4Network]:
    """The pool's tenant-sized subnets that overlap no subnet in use, lowest first.

    Subnets are numbered within the pool; each subnet in use blocks a range of numbers. Walking the
    merged ranges costs O(U log U) for U subnets in use, whatever the size of the pool.
    """
    pool = request.subnet_pool
    size = 2 ** (32 - request.prefix_length)
    first, last = int(pool.network_address), int(pool.broadcast_address)
    blocked = sorted(
        (
            (max(int(u.network_address), first) - first) // size,
            (min(int(u.broadcast_address), last) - first) // size,
        )
        for u in request.subnets_in_use
        if int(u.broadcast_address) >= first and int(u.network_address) <= last
    )
    count = (last - first + 1) // size
    number = 0
    for low, high in blocked + [(count, count)]:
        while number < min(low, count):
            yield ipaddress.IPv4Network((first + number * size, request.prefix_length))
            number += 1
        number = max(number, high + 1)


def describe_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{low}-{high}" for low, high in ranges)


class FirstFreeAllocator(VlanAllocator):
    """The lowest free VLAN of the configured ranges and the lowest free subnet of the pool."""

    name = "first-free"
    description = "lowest free VLAN in the ranges, lowest free subnet in the pool"

    def allocate(self, request: AllocationRequest) -> Allocation:
        vlan = request.vlan if request.vlan is not None else next(free_vlans(request), None)
        if vlan is None:
            raise AllocationError(
                f"no free VLAN in {describe_ranges(request.vlan_ranges)}",
                hint="widen allocation.vlan_ranges in the configuration",
            )
        subnet = request.subnet if request.subnet is not None else next(free_subnets(request), None)
        if subnet is None:
            raise AllocationError(
                f"no free /{request.prefix_length} subnet left in {request.subnet_pool}",
                hint="enlarge allocation.subnet_pool or raise allocation.prefix_length",
            )
        return Allocation(vlan=vlan, subnet=subnet)


@hookimpl
def tenctl_register_vlan_allocators(register: Registrar[VlanAllocator]) -> None:
    register(FirstFreeAllocator())


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    """Core's answer: the VLANs of every tenant record, reservations included."""
    return [tenant.vlan for tenant in ctx.tenants()]


@hookimpl
def tenctl_subnets_in_use(ctx: Context) -> Iterable[str]:
    """Core's answer: the subnets of every tenant record, reservations included."""
    return [tenant.subnet for tenant in ctx.tenants()]
