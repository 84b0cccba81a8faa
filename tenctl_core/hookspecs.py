"""The hooks a tenctl plugin can implement.

Every hook is named ``tenctl_<verb>_<object>``. Plugins implement them with
:data:`tenctl_core.hookimpl` and register through the ``tenctl`` entry point
group. Registry hooks receive a ``register`` object and add provider objects to
it; providers are chosen by name in the configuration. A provider name that two
plugins register is an error naming both plugins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pluggy

from tenctl_core import PROJECT_NAME

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.events import TenantEvent
    from tenctl_core.migration import MigratedSettings
    from tenctl_core.registry import CommandRegistry, Registrar

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def tenctl_register_vlan_allocators(register: Registrar) -> None:
    """Add VLAN and subnet allocation strategies.

    Call ``register(allocator)`` with objects implementing
    :class:`tenctl_core.providers.VlanAllocator`. The configuration key
    ``allocation.allocator`` picks one by its ``name``; core registers
    ``first-free``.

    Returns nothing; every implementation is called. Since 0.1.
    """


@hookspec
def tenctl_vlans_in_use(ctx: Context) -> Iterable[int]:  # type: ignore[empty-body]
    """Report the VLAN ids this backend sees taken.

    Every implementation is called and the allocator excludes the union of the
    answers and of the tenant records (SDN tags of every zone, VLANs on switches,
    VLAN sub-interfaces on routers...). ``ctx`` gives the configuration and the
    Proxmox session; a backend that is not configured returns an empty list.
    Raise :class:`tenctl_core.errors.TenctlError` when the backend cannot be
    read: allocating blind could hand out a VLAN that is taken.

    Returns an iterable of integers. Since 0.1.
    """


@hookspec
def tenctl_subnets_in_use(ctx: Context) -> Iterable[str]:  # type: ignore[empty-body]
    """Report the IPv4 networks (CIDR strings) this backend sees taken.

    Every implementation is called; the allocator gives no tenant a subnet that
    overlaps one of them or a tenant record's. This is how two tenctl
    installations with different tenants directories on one cluster keep their
    subnets apart. Raise :class:`tenctl_core.errors.TenctlError` when the
    backend cannot be read.

    Returns an iterable of CIDR strings. Since 0.2.
    """


@hookspec
def tenctl_register_tenant_providers(register: Registrar) -> None:
    """Add providers of a layer of every tenant that is neither its network nor its edge.

    Call ``register(provider)`` with objects implementing
    :class:`tenctl_core.providers.Provider`; core registers ``proxmox-access`` (pool,
    group, admin user, ACL entries). Every enabled provider takes part in every
    command, in the order the providers declare.

    Returns nothing; every implementation is called. Since 0.3.
    """


@hookspec
def tenctl_register_command_options(register: Registrar) -> None:
    """Add options to core commands.

    Call ``register(option)`` with :class:`tenctl_core.providers.CommandOption` objects; each
    appears in the command's ``--help``, its value is checked before the first request and reaches
    providers as ``ctx.options[option.key]``. An option a core command already has, or that another
    plugin registered for the same command, is refused naming both.

    Returns nothing; every implementation is called. Since 0.3.
    """


@hookspec
def tenctl_register_network_provisioners(register: Registrar) -> None:
    """Add providers that build and tear down tenant networks.

    Call ``register(provisioner)`` with objects implementing
    :class:`tenctl_core.providers.NetworkProvisioner` (for example the Proxmox
    SDN VNet and subnet, or the VLAN on physical switches). Every registered
    provisioner that reports itself enabled takes part in every command.

    Returns nothing; every implementation is called. Since 0.1 (the provider
    contract changed in 0.3).
    """


@hookspec
def tenctl_register_edge_backends(register: Registrar) -> None:
    """Add edge routers that give tenants a gateway, source NAT and isolation.

    Call ``register(backend)`` with objects implementing
    :class:`tenctl_core.providers.EdgeBackend`. Edge backends run after the
    network layer unless they declare otherwise.

    Returns nothing; every implementation is called. Since 0.1 (the provider
    contract changed in 0.3).
    """


@hookspec
def tenctl_register_audit_checks(register: Registrar) -> None:
    """Add checks that ``tenctl health`` runs.

    Call ``register(check)`` with objects implementing
    :class:`tenctl_core.providers.AuditCheck`. A check takes the tenants it
    looks at one by one from ``ctx.scoped(...)`` (``health -n``), and attaches
    :class:`tenctl_core.providers.Remedy` objects to its findings: the command
    to run, and the repair ``health --fix`` may make itself (since 0.3).

    Returns nothing; every implementation is called. Since 0.1.
    """


@hookspec
def tenctl_register_backup_formats(register: Registrar) -> None:
    """Add archive formats for tenant backups.

    Call ``register(fmt)`` with objects implementing
    :class:`tenctl_core.providers.BackupFormat`; core registers ``tar.gz`` and
    ``json``. ``tenctl backup --format NAME`` picks a format by its ``name``,
    ``tenctl restore`` by the ``extension`` that ends the file's name. A format
    only stores members (name -> bytes) and gives them back; core writes and
    checks the manifest, the checksums and every value. ``read`` gets an
    untrusted file: it must refuse unsafe names, links, repeated and oversized
    members with :class:`tenctl_core.errors.ArchiveError` and never extract to
    disk (:class:`tenctl_core.backup.MemberLimits` does the counting).

    Returns nothing; every implementation is called. Since 0.1 (``json``
    and ``restore`` since 0.3).
    """


@hookspec
def tenctl_register_commands(register: CommandRegistry) -> None:
    """Add sub-commands to the ``tenctl`` command line.

    Call ``register.add(name, help=..., loader="package.module:app")`` where the
    loader names a :class:`typer.Typer`. The module is imported only when the
    command runs, so ``tenctl --help`` stays fast: keep heavy imports out of the
    module that implements this hook. A name taken by core or by another plugin
    is an error naming both.

    Returns nothing; every implementation is called. Since 0.1.
    """


@hookspec
def tenctl_tenant_event(event: TenantEvent) -> None:
    """Be told about a lifecycle event: a tenant added, changed, suspended...

    ``event`` is a :class:`tenctl_core.events.TenantEvent` that holds no secret.
    Called after the operation ended, with its outcome, whether it succeeded,
    failed or was refused (``TenctlError.refusal``), once per tenant a command
    changes. Core's implementation puts the event's tenant, message and
    details on its command's line in the audit trail (which has one line for
    every command, read-only ones included, whether or not an event was
    raised). Core's notifier (:mod:`tenctl_core.notify`, since 0.3) runs first
    and sends the event by email and webhook as ``[notifications]`` asks,
    adding what became of each channel to ``event.details["notifications"]``.
    An exception raised here is reported as a warning and does not change the
    outcome of the command.

    Returns nothing; every implementation is called. Since 0.1.
    """


@hookspec
def tenctl_migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    """Map the Bash tool's global settings (``tenant.conf``) that belong to this plugin to its table.

    ``values`` holds the file's plain assignments, key to literal value (quotes removed), read as data by
    ``tenctl migrate``; lines that were not plain assignments are not in it, and nothing was run. Return a
    :class:`tenctl_core.migration.MigratedSettings` with the table(s) to write and, for each key you
    recognise, what it became (``take``/``put``/``use``), why it is left out (``ignore``), or the rule its
    value breaks (``refuse``: the migration then stops with exit code 2, naming the file, line and key);
    ``actions`` say what the administrator must do by hand. Check every value with the rules your settings
    use (``take`` applies the field's rule), never write a secret, and report only keys found in
    ``values``. Return None when no key is yours. Two plugins writing the same table is an error naming
    both; a key no plugin uses is reported as not imported.

    Every implementation is called. Since 0.3.
    """
