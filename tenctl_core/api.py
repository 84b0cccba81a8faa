"""The public API for plugin authors: everything a plugin needs, from one module.

Names are resolved when first used, so importing this module costs nothing at start-up and never
pulls in an HTTP client::

    from tenctl_core.api import Provider, Resource, Observed, Settings, hookimpl

Anything not listed here is internal and may change between minor versions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

EXPORTS: dict[str, str] = {
    # hooks
    "hookimpl": "tenctl_core",
    # the provider contract
    "Provider": "tenctl_core.providers",
    "NetworkProvisioner": "tenctl_core.providers",
    "EdgeBackend": "tenctl_core.providers",
    "Unimplemented": "tenctl_core.providers",
    "Resource": "tenctl_core.providers",
    "Observed": "tenctl_core.providers",
    "Change": "tenctl_core.providers",
    "Key": "tenctl_core.providers",
    "Settings": "tenctl_core.providers",
    "CREATE": "tenctl_core.providers",
    "UPDATE": "tenctl_core.providers",
    "DELETE": "tenctl_core.providers",
    "ADOPT": "tenctl_core.providers",
    # other registries
    "VlanAllocator": "tenctl_core.providers",
    "AllocationRequest": "tenctl_core.providers",
    "Allocation": "tenctl_core.providers",
    "AuditCheck": "tenctl_core.providers",
    "CheckResult": "tenctl_core.providers",
    "BackupFormat": "tenctl_core.providers",
    "MemberLimits": "tenctl_core.backup",
    "check_member_name": "tenctl_core.backup",
    "Registrar": "tenctl_core.registry",
    # ownership
    "Marker": "tenctl_core.ownership",
    "parse_marker": "tenctl_core.ownership",
    # steps and the engine's step builder (for providers that batch)
    "Step": "tenctl_core.plan",
    "Plan": "tenctl_core.plan",
    "change_step": "tenctl_core.engine",
    "read_owned": "tenctl_core.engine",
    # what a provider receives
    "Context": "tenctl_core.context",
    "Tenant": "tenctl_core.model",
    "TenantEvent": "tenctl_core.events",
    # tenctl migrate (the hook tenctl_migrate_bash_config)
    "MigratedSettings": "tenctl_core.migration",
    # errors
    "TenctlError": "tenctl_core.errors",
    "UsageError": "tenctl_core.errors",
    "ArchiveError": "tenctl_core.errors",
    "ConfigError": "tenctl_core.errors",
    "ConflictError": "tenctl_core.errors",
    "AllocationError": "tenctl_core.errors",
    "AllocationLost": "tenctl_core.errors",
    "ProxmoxError": "tenctl_core.errors",
    "ProxmoxUnreachable": "tenctl_core.errors",
    "is_missing": "tenctl_core.errors",
    "is_already_exists": "tenctl_core.errors",
    # plugin commands
    "open_context": "tenctl_core.cli.common",
    "reported_errors": "tenctl_core.cli.common",
    "execute": "tenctl_core.cli.common",
    "audited": "tenctl_core.cli.common",
    "DryRun": "tenctl_core.cli.common",
    "JsonFlag": "tenctl_core.cli.common",
    "ForceOption": "tenctl_core.cli.common",
    "NameOption": "tenctl_core.cli.common",
}

__all__ = [
    "ADOPT",
    "Allocation",
    "AllocationError",
    "AllocationLost",
    "AllocationRequest",
    "ArchiveError",
    "AuditCheck",
    "BackupFormat",
    "CREATE",
    "Change",
    "CheckResult",
    "ConfigError",
    "ConflictError",
    "Context",
    "DELETE",
    "DryRun",
    "EdgeBackend",
    "ForceOption",
    "JsonFlag",
    "Key",
    "Marker",
    "MemberLimits",
    "MigratedSettings",
    "NameOption",
    "NetworkProvisioner",
    "Observed",
    "Plan",
    "Provider",
    "ProxmoxError",
    "ProxmoxUnreachable",
    "Registrar",
    "Resource",
    "Settings",
    "Step",
    "Tenant",
    "TenantEvent",
    "TenctlError",
    "UPDATE",
    "Unimplemented",
    "UsageError",
    "VlanAllocator",
    "audited",
    "change_step",
    "check_member_name",
    "execute",
    "hookimpl",
    "is_already_exists",
    "is_missing",
    "open_context",
    "parse_marker",
    "read_owned",
    "reported_errors",
]


def __getattr__(name: str) -> Any:
    module = EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"tenctl_core.api has no {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tenctl_core import hookimpl
    from tenctl_core.backup import MemberLimits, check_member_name
    from tenctl_core.cli.common import (
        DryRun,
        ForceOption,
        JsonFlag,
        NameOption,
        audited,
        execute,
        open_context,
        reported_errors,
    )
    from tenctl_core.context import Context
    from tenctl_core.engine import change_step, read_owned
    from tenctl_core.errors import (
        AllocationError,
        AllocationLost,
        ArchiveError,
        ConfigError,
        ConflictError,
        ProxmoxError,
        ProxmoxUnreachable,
        TenctlError,
        UsageError,
        is_already_exists,
        is_missing,
    )
    from tenctl_core.events import TenantEvent
    from tenctl_core.migration import MigratedSettings
    from tenctl_core.model import Tenant
    from tenctl_core.ownership import Marker, parse_marker
    from tenctl_core.plan import Plan, Step
    from tenctl_core.providers import (
        ADOPT,
        CREATE,
        DELETE,
        UPDATE,
        Allocation,
        AllocationRequest,
        AuditCheck,
        BackupFormat,
        Change,
        CheckResult,
        EdgeBackend,
        Key,
        NetworkProvisioner,
        Observed,
        Provider,
        Resource,
        Settings,
        Unimplemented,
        VlanAllocator,
    )
    from tenctl_core.registry import Registrar
