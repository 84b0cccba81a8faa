"""Registries of named providers, filled through the ``tenctl_register_*`` hooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenctl_core.errors import PluginError

T = TypeVar("T")


class Registry(Generic[T]):
    """Providers of one kind (allocators, provisioners...) by name, with the plugin that added each."""

    def __init__(self, kind: str, base: type) -> None:
        self.kind = kind
        self.base = base
        self._providers: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, provider: T, plugin: str) -> None:
        name = getattr(provider, "name", None)
        if not isinstance(provider, self.base):
            raise PluginError(
                f"plugin {plugin!r} registered {provider!r} as a {self.kind}, "
                f"but it does not implement {self.base.__module__}.{self.base.__qualname__}"
            )
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} without a name")
        if name in self._providers:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {self._owners[name]!r} "
                f"and by plugin {plugin!r}; disable one with TENCTL_DISABLED_PLUGINS"
            )
        self._providers[name] = provider
        self._owners[name] = plugin

    def get(self, name: str) -> T:
        try:
            return self._providers[name]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none"
            raise PluginError(f"no {self.kind} named {name!r} is installed (installed: {known})") from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return list(self._providers)

    def __iter__(self) -> Iterator[T]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)


class Registrar(Generic[T]):
    """The ``register`` object a registry hook receives: call it with a provider."""

    def __init__(self, registry: Registry[T], plugin: str) -> None:
        self._registry = registry
        self._plugin = plugin

    def __call__(self, provider: T) -> None:
        self._registry.add(provider, self._plugin)


@dataclass(frozen=True)
class CommandEntry:
    """A plugin's sub-command: its name, one-line help and where its typer app lives."""

    name: str
    help: str
    loader: str
    plugin: str


class CommandRegistry:
    """The ``register`` object of ``tenctl_register_commands``."""

    def __init__(self, reserved: set[str]) -> None:
        self._reserved = reserved
        self.entries: dict[str, CommandEntry] = {}
        self._plugin = "?"

    def for_plugin(self, plugin: str) -> CommandRegistry:
        self._plugin = plugin
        return self

    def add(self, name: str, *, help: str, loader: str) -> None:  # noqa: A002 - typer's word
        if name in self._reserved:
            raise PluginError(f"plugin {self._plugin!r} registers command {name!r}, which is a core command")
        if name in self.entries:
            raise PluginError(
                f"command {name!r} is registered twice: by plugin {self.entries[name].plugin!r} "
                f"and by plugin {self._plugin!r}"
            )
        if ":" not in loader:
            raise PluginError(
                f"plugin {self._plugin!r}: command loader {loader!r} must be 'module:attribute'"
            )
        self.entries[name] = CommandEntry(name, help, loader, self._plugin)
