"""The example plugin's entry module (entry point ``example`` in the ``tenctl`` group).

It imports only tenctl_core, the standard library and its own package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.errors import ConfigError
from tenctl_example.providers import AuditorsProvider, HighestFreeAllocator, TenantCountCheck

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.events import TenantEvent
    from tenctl_core.providers import AuditCheck, Provider, VlanAllocator
    from tenctl_core.registry import Registrar

EVENTS_ENV = "TENCTL_EXAMPLE_EVENTS"
RESERVED_ENV = "TENCTL_EXAMPLE_RESERVED"


@hookimpl
def tenctl_register_vlan_allocators(register: Registrar[VlanAllocator]) -> None:
    register(HighestFreeAllocator())


@hookimpl
def tenctl_register_tenant_providers(register: Registrar[Provider]) -> None:
    register(AuditorsProvider())


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    register(TenantCountCheck())


@hookimpl
def tenctl_tenant_event(event: TenantEvent) -> None:
    """Append the event as one JSON line to $TENCTL_EXAMPLE_EVENTS, if it is set."""
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    line = json.dumps(event.as_dict(), sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    """The VLANs listed in $TENCTL_EXAMPLE_RESERVED (comma-separated), as if a device held them."""
    reserved = []
    for item in os.environ.get(RESERVED_ENV, "").split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise ConfigError(f"{RESERVED_ENV}: {item!r} is not a VLAN id")
        reserved.append(int(item))
    return reserved
