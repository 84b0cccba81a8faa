"""The base classes of the providers plugins register.

A provider is an object with a ``name`` (unique within its kind) and the
methods of its base class. Providers that change the world never act directly:
they return :class:`tenctl_core.plan.Step` objects that core puts in a plan.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.plan import Step


@dataclass(frozen=True)
class AllocationRequest:
    """What an allocator is asked for: the configured ranges and what is taken."""

    vlan_ranges: tuple[tuple[int, int], ...]
    subnet_pool: ipaddress.IPv4Network
    prefix_length: int
    vlans_in_use: frozenset[int]
    subnets_in_use: tuple[ipaddress.IPv4Network, ...]
    vlan: int | None = None
    """A VLAN the user asked for (already checked to be in range and free)."""
    subnet: ipaddress.IPv4Network | None = None
    """A subnet the user asked for (already checked to be free)."""
    skip_vlans: frozenset[int] = frozenset()
    """VLANs lost to another allocator in a race: not to be offered again."""


@dataclass(frozen=True)
class Allocation:
    vlan: int
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The tenant's gateway: the first address of its subnet."""
        return self.subnet.network_address + 1


class VlanAllocator(ABC):
    """Chooses a tenant's VLAN and subnet."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def allocate(self, request: AllocationRequest) -> Allocation:
        """A free VLAN and subnet; raise :class:`tenctl_core.errors.AllocationError` when none is left."""


class NetworkProvisioner:
    """Builds and tears down part of a tenant's network, as plan steps.

    Every ``plan_*`` method returns the steps for that command (an empty list
    when there is nothing to do). ``enabled`` says whether the configuration
    asks for this provider at all.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    layer: ClassVar[str] = "network"

    def enabled(self, ctx: Context) -> bool:
        return True

    def plan_init(self, ctx: Context) -> list[Step]:
        return []

    def plan_add(self, ctx: Context, tenant: Tenant) -> list[Step]:
        return []

    def plan_suspend(self, ctx: Context, tenant: Tenant) -> list[Step]:
        return []

    def plan_resume(self, ctx: Context, tenant: Tenant) -> list[Step]:
        return []

    def plan_remove(self, ctx: Context, tenant: Tenant) -> list[Step]:
        return []


class EdgeBackend(NetworkProvisioner):
    """An edge router: the tenant's gateway, source NAT and inter-tenant isolation."""

    layer: ClassVar[str] = "edge"


@dataclass
class CheckResult:
    """The outcome of one health check."""

    check: str
    status: str
    """``pass``, ``warn`` or ``fail``."""
    message: str
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message, "details": self.details}


class AuditCheck(ABC):
    """A check ``tenctl health`` runs."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: Context) -> list[CheckResult]:
        """Results of the check; never raises for a finding, only for a failure to look."""


class BackupFormat(ABC):
    """A named archive format for tenant backups: files in, files out."""

    name: ClassVar[str]
    extension: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def write(self, path: Path, members: dict[str, bytes]) -> None:
        """Write the members (archive name -> content) to path."""

    @abstractmethod
    def read(self, path: Path) -> dict[str, bytes]:
        """The members of the archive at path; raise TenctlError for an unsafe or corrupt archive."""
