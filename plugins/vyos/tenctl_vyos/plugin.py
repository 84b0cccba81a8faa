"""Registration of the vyos plugin (imports only tenctl_core and the standard library).

The provider, netmiko and requests are imported when a command needs the router, never for ``--help``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tenctl_core import hookimpl

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.migration import MigratedSettings
    from tenctl_core.providers import EdgeBackend
    from tenctl_core.registry import Registrar


@hookimpl
def tenctl_register_edge_backends(register: Registrar[EdgeBackend]) -> None:
    from tenctl_vyos.provider import VyosEdge

    register(VyosEdge())


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    """The VLANs of the router's vifs on the tenant interface, tenctl's or not: a new tenant's vif would
    clash with them."""
    from tenctl_vyos.settings import vyos_settings

    settings = vyos_settings(ctx)
    if not settings.configured:
        return []
    from tenctl_vyos.provider import running_config

    return sorted(running_config(ctx).vifs(settings.lan_interface))


@hookimpl
def tenctl_register_audit_checks(register) -> None:  # type: ignore[no-untyped-def]
    from tenctl_vyos.checks import VyosCheck

    register(VyosCheck())


@hookimpl
def tenctl_register_commands(register) -> None:  # type: ignore[no-untyped-def]
    register.add("vyos", help="The VyOS edge router: status, test, base configuration, a tenant's part.", loader="tenctl_vyos.cli:app")


@hookimpl
def tenctl_migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    """The Bash tool's ``VYOS_*`` keys as the ``[vyos]`` table (only when ``VYOS_ENABLED`` is true)."""
    from tenctl_vyos.migration import migrate_bash_config

    return migrate_bash_config(values)
