"""Registration of the switch_napalm plugin (imports only tenctl_core and the standard library).

The provider and napalm are imported when a command needs a switch, never for ``--help``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenctl_core import hookimpl
from tenctl_core.errors import UsageError
from tenctl_core.providers import CommandOption

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.providers import NetworkProvisioner
    from tenctl_core.registry import Registrar


@hookimpl
def tenctl_register_network_provisioners(register: Registrar[NetworkProvisioner]) -> None:
    from tenctl_switch_napalm.provider import SwitchVlans

    register(SwitchVlans())


def check_sites(text: str) -> tuple[str, ...]:
    from tenctl_switch_napalm.settings import NAME_RE

    sites = tuple(s.strip() for s in text.split(",") if s.strip())
    if not sites or not all(NAME_RE.fullmatch(s) for s in sites):
        raise UsageError(f"--site {text!r}: give site names of the [switches] inventory, separated by commas")
    return sites


@hookimpl
def tenctl_register_command_options(register: Registrar[CommandOption]) -> None:
    register(
        CommandOption(
            "add",
            ("--site",),
            "switches.site",
            "Sites whose switches carry the tenant's VLAN (comma-separated; default: every site with a node).",
            check_sites,
        )
    )
    register(
        CommandOption(
            "restore",
            ("--site",),
            "switches.site",
            "Sites whose switches carry the restored tenant's VLAN (comma-separated; default: the backup's).",
            check_sites,
        )
    )


@hookimpl
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:
    """Every VLAN on every switch, tenctl's or not: a new tenant's VLAN must be free on all of them."""
    from tenctl_switch_napalm.settings import switch_settings

    if not switch_settings(ctx).configured:
        return []
    from tenctl_switch_napalm.provider import state

    found: set[int] = set()
    for _name, read in state(ctx).items():
        if isinstance(read, BaseException):
            raise read
        found |= set(read["vlans"])
    return sorted(found)


@hookimpl
def tenctl_register_audit_checks(register) -> None:  # type: ignore[no-untyped-def]
    from tenctl_switch_napalm.checks import SwitchCheck

    register(SwitchCheck())


@hookimpl
def tenctl_register_commands(register) -> None:  # type: ignore[no-untyped-def]
    register.add("switch", help="The site's physical switches: status, a tenant's diff.", loader="tenctl_switch_napalm.cli:app")
