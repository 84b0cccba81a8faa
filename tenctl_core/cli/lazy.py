"""The top-level command group: core commands plus plugin sub-apps imported only when they run.

``tenctl --help`` lists plugin commands from their registration (name and one
line of help) without importing them; the module holding a plugin's typer app
is imported when the command is invoked or its own help is asked for. Every
command, core's or a plugin's, runs inside the audit trail (:mod:`tenctl_core.cli.trail`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any

import typer
from typer import _click  # typer vendors Click since 0.26; its group API is what a lazy group extends
from typer.core import TyperCommand, TyperGroup

from tenctl_core.errors import EXIT_USAGE, PluginError, TenctlError
from tenctl_core.plugins import PluginSet
from tenctl_core.providers import CommandOption
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
        from tenctl_core.cli.trail import record_commands

        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.plugin_entries:
            return record_commands(command) if command is not None else None
        entry = self.plugin_entries[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=entry.help, short_help=entry.help)
        return record_commands(load_plugin_command(entry))

    def invoke(self, ctx: _click.Context) -> Any:
        """Run the command and append its line to the audit trail (see :mod:`tenctl_core.cli.trail`)."""
        from tenctl_core.cli.trail import recorded

        return recorded(ctx, lambda: super(TenctlGroup, self).invoke(ctx))

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


PLUGIN_OPTIONS: ContextVar[dict[str, Any] | None] = ContextVar("tenctl_plugin_options", default=None)
"""The values of the plugin options of the running command, until ``open_context`` takes them."""


def with_plugin_options(func: Callable[..., Any], extra: list[CommandOption]) -> Callable[..., Any]:
    """The command function with the options plugins registered for it added to its signature.

    Typer builds the command from the signature, so the options show in ``--help`` like core's own.
    Their values are checked before the command runs (a wrong one is a usage error, exit 2) and passed
    on through :data:`PLUGIN_OPTIONS`.
    """
    if not extra:
        return func
    signature = inspect.signature(func, eval_str=True)
    taken = {
        flag
        for param in signature.parameters.values()
        for info in getattr(param.annotation, "__metadata__", ())
        for flag in [getattr(info, "default", None), *(getattr(info, "param_decls", None) or ())]
        if isinstance(flag, str) and flag.startswith("-")
    }
    added = []
    for option in extra:
        clash = taken.intersection(option.flags)
        if clash:
            raise PluginError(f"plugin option {option.name} clashes with {', '.join(sorted(clash))}")
        taken.update(option.flags)
        kind = bool if option.flag else str | None
        added.append(
            inspect.Parameter(
                param_name(option),
                inspect.Parameter.KEYWORD_ONLY,
                default=False if option.flag else None,
                annotation=Annotated[kind, typer.Option(*option.flags, help=option.help)],
            )
        )

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        values: dict[str, Any] = {}
        for option in extra:
            raw = kwargs.pop(param_name(option), None)
            if raw is not None and not option.flag and option.check is not None:
                try:
                    raw = option.check(raw)
                except TenctlError as exc:
                    from tenctl_core.audit import note_outcome

                    note_outcome("refused", f"{option.flags[0]}: {exc}")
                    print(f"error: {option.flags[0]}: {exc}", file=sys.stderr)
                    raise typer.Exit(EXIT_USAGE) from None
            values[option.key] = raw
        PLUGIN_OPTIONS.set(values)
        return func(*args, **kwargs)

    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *added]
    )
    return command


def param_name(option: CommandOption) -> str:
    return "plugin_" + "".join(c if c.isalnum() else "_" for c in option.key)
