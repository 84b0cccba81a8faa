"""The ``tenctl`` command line (and its ``tenctl-<command>`` aliases).

Commands validate every value before the first request, print what happened,
append one line per command to the audit trail, and end with exit
code 0 (success), 1 (failure), 2 (invalid usage or input) or 130 (interrupted).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tenctl_core import __version__
from tenctl_core.cli.common import Options, fail, reported_errors
from tenctl_core.cli.lazy import TenctlGroup
from tenctl_core.cli.words import DISPATCH_WORDS, expand_words
from tenctl_core.errors import EXIT_INTERRUPTED, TenctlError
from tenctl_core.plugins import PluginSet, get_plugin_manager

CORE_COMMANDS = (
    "init",
    "add",
    "list",
    "show",
    "modify",
    "suspend",
    "resume",
    "remove",
    "backup",
    "restore",
    "plugins",
    "config",
    "health",
    "usage",
    "repair",
    "sync",
    "lock",
    "migrate",
    "watch",
    "guard",
    "audit",
    "notify",
    "rotate",
    "install-local",
    "cluster",
    "update-cli",
    "uninstall",
    "completion",
)


def make_app(plugins: PluginSet | None = None) -> typer.Typer:
    """The typer application with core commands and every plugin's registered sub-commands."""
    from tenctl_core.cli import commands

    entries = {}
    if plugins is not None:
        with reported_errors(False):
            entries = plugins.commands(set(CORE_COMMANDS) | set(DISPATCH_WORDS)).entries
    group = type("TenctlAppGroup", (TenctlGroup,), {"plugin_entries": entries, "plugins": plugins})
    app = typer.Typer(
        cls=group,
        help="Turn a Proxmox VE cluster into a multi-tenant platform.",
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help: rendering it with rich costs more than the rest of start-up
    )

    app.callback()(main_options)
    with reported_errors(False):
        commands.register(app, plugins)
    return app


def show_version(ctx: typer.Context, value: bool) -> None:
    if value:
        group = ctx.find_root().command
        print_version(getattr(group, "plugins", None), len(getattr(group, "plugin_entries", {})))
        raise typer.Exit(0)


def main_options(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Configuration file (default: $TENCTL_CONFIG, /etc/tenctl/tenctl.toml, ~/.config/tenctl/tenctl.toml).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Configuration profile (default: $TENCTL_PROFILE or the file's 'profile')."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version, dependencies and commands, and exit.",
            is_eager=True,
            callback=show_version,
        ),
    ] = False,
) -> None:
    """Turn a Proxmox VE cluster into a multi-tenant platform."""
    ctx.obj = Options(config=config, profile=profile, debug=debug, quiet=quiet)


def print_version(plugins: PluginSet | None, extra: int) -> None:
    import platform
    from importlib import metadata

    deps = []
    for dist in ("pluggy", "typer", "proxmoxer", "requests", "tomli-w"):
        try:
            deps.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            deps.append(f"{dist} missing")
    print(f"tenctl {__version__} (Python {platform.python_version()})")
    print("dependencies: " + ", ".join(deps))
    print(f"commands: {len(CORE_COMMANDS) + extra} ({len(CORE_COMMANDS)} core, {extra} from plugins)")
    if plugins is not None:
        print(
            "plugins: "
            + (", ".join(f"{p.distribution} {p.version}" for p in plugins.loaded if not p.builtin) or "none")
        )


def alias_argv(argv: list[str]) -> list[str]:
    """``tenctl-add -n x`` is ``tenctl add -n x``."""
    prog = Path(argv[0]).name if argv else "tenctl"
    if prog.startswith("tenctl-"):
        return [prog.removeprefix("tenctl-"), *argv[1:]]
    return argv[1:]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    args = expand_words(alias_argv(argv))
    debug = "--debug" in args
    try:
        plugins = get_plugin_manager()
        app = make_app(plugins)
    except TenctlError as exc:
        raise SystemExit(fail(str(exc), exc.exit_code).exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    try:
        app(args=args, prog_name="tenctl")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except TenctlError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
