"""The top-level command group: core commands plus plugin sub-apps imported only when they run.

``tenctl --help`` lists plugin commands from their registration (name and one
line of help) without importing them; the module holding a plugin's typer app
is imported when the command is invoked or its own help is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer import _click  # typer vendors Click since 0.26; its group API is what a lazy group extends
from typer.core import TyperCommand, TyperGroup

from tenctl_core.errors import PluginError
from tenctl_core.plugins import PluginSet
from tenctl_core.registry import CommandEntry


class TenctlGroup(TyperGroup):
    """A TyperGroup that knows plugin commands by registration and loads them on demand."""

    plugin_entries: dict[str, CommandEntry] = {}
    plugins: PluginSet | None = None
    """The plugin set the application was built with (set on a subclass by ``make_app``)."""
    _listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.plugin_entries))

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.plugin_entries:
            return command
        entry = self.plugin_entries[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=entry.help, short_help=entry.help)
        return load_plugin_command(entry)

    def format_help(self, ctx: _click.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_plugin_command(entry: CommandEntry) -> _click.Command:
    module_name, _, attribute = entry.loader.partition(":")
    try:
        app = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        raise PluginError(
            f"command {entry.name!r} of plugin {entry.plugin!r} cannot be loaded from {entry.loader}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(app, typer.Typer):
        raise PluginError(f"plugin {entry.plugin!r}: {entry.loader} is not a typer.Typer")
    command = typer.main.get_command(app)
    command.name = entry.name
    return command
