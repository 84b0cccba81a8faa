"""Registration of the linux_bridge plugin (imports only tenctl_core and the standard library)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenctl_core import hookimpl

from tenctl_linux_bridge.sdn import SdnProvisioner, sdn_vlans_in_use

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.registry import Registrar


@hookimpl
def tenctl_register_network_provisioners(register: Registrar[SdnProvisioner]) -> None:
    register(SdnProvisioner())


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    return sdn_vlans_in_use(ctx)
