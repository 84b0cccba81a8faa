"""Finding, loading and asking plugins.

Plugins are distributions that declare an entry point in the ``tenctl`` group;
core's own behaviour is registered through the same hooks from the modules in
:data:`BUILTIN_PLUGINS`. A plugin that fails to import is remembered with the
reason and reported by ``tenctl plugins`` and by the commands that need it.

Environment variables:

``TENCTL_DISABLE_PLUGIN_AUTOLOAD``
    When set to a non-empty value, no entry point is loaded (built-ins only).
``TENCTL_DISABLED_PLUGINS``
    Comma-separated entry point names that are not loaded.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from tenctl_core import PROJECT_NAME, hookspecs
from tenctl_core.errors import PluginError
from tenctl_core.providers import (
    AuditCheck,
    BackupFormat,
    CommandOption,
    EdgeBackend,
    NetworkProvisioner,
    Provider,
    Settings,
    VlanAllocator,
)
from tenctl_core.registry import CommandRegistry, Registrar, Registry

ENTRY_POINT_GROUP = PROJECT_NAME
AUTOLOAD_ENV = "TENCTL_DISABLE_PLUGIN_AUTOLOAD"
DISABLED_ENV = "TENCTL_DISABLED_PLUGINS"

BUILTIN_PLUGINS = (
    "tenctl_core.access",
    "tenctl_core.allocation",
    "tenctl_core.audit",
    "tenctl_core.health",
    "tenctl_core.limits",
    "tenctl_core.backup",
    "tenctl_core.migration",
    "tenctl_core.notify",
    "tenctl_core.rotation",
)
"""Core modules registered as plugins, so every hook has an in-tree implementation."""


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin registered with the plugin manager."""

    name: str
    distribution: str
    version: str
    builtin: bool


@dataclass(frozen=True)
class FailedPlugin:
    """An entry point that could not be loaded, and why."""

    name: str
    distribution: str
    version: str
    error: str


@dataclass
class PluginSet:
    """The plugin manager with what was loaded, what failed, and the registries built from it."""

    pm: pluggy.PluginManager
    loaded: list[LoadedPlugin] = field(default_factory=list)
    failed: list[FailedPlugin] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    _registries: dict[str, Registry[Any]] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def _registry(self, hook_name: str, kind: str, base: type) -> Registry[Any]:
        if hook_name not in self._registries:
            registry: Registry[Any] = Registry(kind, base)
            for plugin_name, call in self.each_impl(hook_name):
                try:
                    call(register=Registrar(registry, plugin_name))
                except TypeError as exc:
                    # A provider class with an abstract method left cannot be made: name it.
                    raise PluginError(
                        f"plugin {plugin_name!r} could not register its {kind}: {exc}"
                    ) from None
            self._registries[hook_name] = registry
        return self._registries[hook_name]

    def each_impl(self, hook_name: str) -> list[tuple[str, Any]]:
        """(plugin name, caller) for every implementation of a hook, in pluggy's call order.

        The caller passes only the arguments the implementation declares, as pluggy does, so a hook may
        grow an argument without breaking plugins written before it.
        """
        out = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):

            def call(_impl: Any = impl, **kwargs: Any) -> Any:
                return _impl.function(**{k: v for k, v in kwargs.items() if k in _impl.argnames})

            out.append((impl.plugin_name, call))
        return out

    def tenant_providers(self) -> Registry[Provider]:
        return self._registry("tenctl_register_tenant_providers", "tenant provider", Provider)

    def allocators(self) -> Registry[VlanAllocator]:
        return self._registry("tenctl_register_vlan_allocators", "VLAN allocator", VlanAllocator)

    def network_provisioners(self) -> Registry[NetworkProvisioner]:
        return self._registry(
            "tenctl_register_network_provisioners", "network provisioner", NetworkProvisioner
        )

    def edge_backends(self) -> Registry[EdgeBackend]:
        return self._registry("tenctl_register_edge_backends", "edge backend", EdgeBackend)

    def audit_checks(self) -> Registry[AuditCheck]:
        return self._registry("tenctl_register_audit_checks", "audit check", AuditCheck)

    def backup_formats(self) -> Registry[BackupFormat]:
        return self._registry("tenctl_register_backup_formats", "backup format", BackupFormat)

    def commands(self, reserved: set[str]) -> CommandRegistry:
        registry = CommandRegistry(reserved)
        for plugin_name, call in self.each_impl("tenctl_register_commands"):
            call(register=registry.for_plugin(plugin_name))
        return registry

    def command_options(self) -> Registry[CommandOption]:
        return self._registry("tenctl_register_command_options", "command option", CommandOption)

    def all_providers(self) -> list[Provider]:
        """Every registered tenant provider, network provisioner and edge backend (enabled or not)."""
        return [*self.tenant_providers(), *self.network_provisioners(), *self.edge_backends()]

    def settings_specs(self) -> list[Settings]:
        """The configuration tables the registered providers own."""
        return [p.settings for p in self.all_providers() if p.settings is not None]

    def require_loaded(self) -> None:
        """Raise if a plugin failed to load: a command must not act with part of its backends missing."""
        if self.failed:
            names = "; ".join(f"{f.name} ({f.distribution}): {f.error}" for f in self.failed)
            raise PluginError(
                f"plugin failed to load: {names}",
                hint=f"fix or uninstall it, or set {DISABLED_ENV}=<name> to run without it",
            )


def _disabled_names() -> list[str]:
    raw = os.environ.get(DISABLED_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def get_plugin_manager(autoload: bool | None = None) -> PluginSet:
    """A plugin manager with the hookspecs, the built-ins and (unless disabled) the entry point plugins."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    plugins = PluginSet(pm)
    core_version = metadata.version("tenctl") if _installed("tenctl") else "0+unknown"
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        plugins.loaded.append(LoadedPlugin(module_name, "tenctl", core_version, builtin=True))
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    if autoload:
        disabled = _disabled_names()
        plugins.disabled = disabled
        for name in disabled:
            pm.set_blocked(name)
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or pm.is_blocked(ep.name):
                continue
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
                plugins.failed.append(FailedPlugin(ep.name, dist, version, f"{type(exc).__name__}: {exc}"))
                continue
            plugins.loaded.append(LoadedPlugin(ep.name, dist, version, builtin=False))
    pm.check_pending()
    return plugins


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True
