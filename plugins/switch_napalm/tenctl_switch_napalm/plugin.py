"""Registration of the switch_napalm plugin (imports only tenctl_core and the standard library).

The provider is a placeholder in this release: it registers under its final
name, reports itself disabled and contributes no steps. Its device code arrives
with its own issue; the device library is imported only inside the functions
that talk to a device, never here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.providers import NetworkProvisioner, Unimplemented

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.registry import Registrar

PROVIDER = "switch-vlans"


class Placeholder(Unimplemented, NetworkProvisioner):
    name = PROVIDER
    description = (
        "Tenant VLANs pushed to the site's physical switches with napalm (not implemented yet: disabled)"
    )


@hookimpl
def tenctl_register_network_provisioners(register: Registrar[NetworkProvisioner]) -> None:
    register(Placeholder())


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    """Nothing yet: the placeholder reads no device."""
    return []
