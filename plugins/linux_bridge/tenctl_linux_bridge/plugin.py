"""Registration of the linux_bridge plugin (imports only tenctl_core and the standard library)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tenctl_core import hookimpl

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.migration import MigratedSettings
    from tenctl_core.providers import AuditCheck, CommandOption
    from tenctl_core.registry import Registrar
    from tenctl_linux_bridge.sdn import SdnProvisioner

# The provider module (and the HTTP stack it uses) is imported when a command needs it, not for --help.


@hookimpl
def tenctl_register_network_provisioners(register: Registrar[SdnProvisioner]) -> None:
    from tenctl_linux_bridge.sdn import SdnProvisioner

    register(SdnProvisioner())


@hookimpl
def tenctl_register_command_options(register: Registrar[CommandOption]) -> None:
    from tenctl_linux_bridge.settings import OPTIONS

    for option in OPTIONS:
        register(option)


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    from tenctl_linux_bridge.sdn import sdn_vlans_in_use

    return sdn_vlans_in_use(ctx)


@hookimpl
def tenctl_subnets_in_use(ctx: Context) -> Iterable[str]:
    from tenctl_linux_bridge.sdn import sdn_subnets_in_use

    return sdn_subnets_in_use(ctx)


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    from tenctl_linux_bridge.checks import SdnCheck

    register(SdnCheck())


@hookimpl
def tenctl_migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    """The Bash tool's zone name and type, bridge and VXLAN port as the ``[sdn]`` table."""
    from tenctl_linux_bridge.migration import migrate_bash_config

    return migrate_bash_config(values)
