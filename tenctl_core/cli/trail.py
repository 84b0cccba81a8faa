"""The audit trail at the command line's edge: every command run becomes one line, however it ends.

The application's group runs each command inside :func:`recorded`, and :func:`record_commands` marks the
moment a command's own code starts. So the rule holds for core and plugin commands alike, with no code
in the commands themselves:

* a command that ran is logged, read-only or not, at every verbosity: ``success``, ``failure``,
  ``refused`` or ``interrupted``, with its exit code;
* its own checks refuse bad input before it opens its context; the error they raise
  (``UsageError``) makes the line ``refused``, and so does a declined confirmation;
* the command line parser refusing a command's options (a wrong type, a missing option, an unknown
  one) is logged as ``refused`` too, with a message that names the option but never the value given;
* ``--help``, ``--version``, an unknown command or a bad global option write nothing: no command ran;
* the line goes where the configuration's paths say; when the configuration cannot be read (a broken
  file) nothing is written, and the command's own outcome is never changed by the trail.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from typer import _click

from tenctl_core import audit
from tenctl_core.errors import EXIT_INTERRUPTED, TenctlError

if TYPE_CHECKING:
    from tenctl_core.config import Config

RECORDED = "_tenctl_recorded"
CHANGE_OPTIONS = ("--dry-run", "--force")
"""A command that takes one of these is one that changes the cluster (every tenctl command that changes
anything offers one): its lines are ``"changes": true`` unless it ran as a dry run."""


def recorded(ctx: _click.Context, invoke: Callable[[], Any]) -> Any:
    """Run the command (``invoke``: the group's own invoke) and append its line to the audit trail."""
    run = audit.CommandRun()
    token = audit.RUN.set(run)
    try:
        result = invoke()
    except BaseException as exc:
        finish(ctx, run, exc)
        raise
    finally:
        audit.RUN.reset(token)
    finish(ctx, run, None)
    return result


def record_commands(command: _click.Command) -> _click.Command:
    """Mark the start of each command's own code (for a group: of each of its commands)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for sub in subcommands.values():
            record_commands(sub)
    elif command.callback is not None and not getattr(command.callback, RECORDED, False):
        command.callback = started(command.callback)
    return command


def started(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def command(*args: Any, **kwargs: Any) -> Any:
        run = audit.RUN.get()
        if run is not None and run.command is None:
            begin(run, _click.globals.get_current_context())
        return callback(*args, **kwargs)

    setattr(command, RECORDED, True)
    return command


def begin(run: audit.CommandRun, ctx: _click.Context) -> None:
    """What the command line says about the command: its name, the tenant named, whether it changes things."""
    from tenctl_core.naming import check_tenant_name

    names = []
    node: _click.Context | None = ctx
    while node is not None and node.parent is not None:
        names.append(node.info_name or "")
        node = node.parent
    run.command = " ".join(reversed(names))
    for key in ("name", "tenant"):
        value = ctx.params.get(key)
        if isinstance(value, str):
            try:
                run.tenant = check_tenant_name(value)
            except TenctlError:
                pass  # an invalid name is not repeated as the line's tenant: the message says what is wrong
            break
    for param in ctx.command.params:
        if any(flag in CHANGE_OPTIONS for flag in param.opts):
            run.can_change = True
        if "--dry-run" in param.opts and ctx.params.get(param.name or ""):
            run.dry_run = True


def finish(ctx: _click.Context, run: audit.CommandRun, exc: BaseException | None) -> None:
    """Write the run's line; a problem is a warning, never a change of the command's outcome."""
    try:
        if run.command is None:
            refused_options = isinstance(exc, _click.exceptions.UsageError) and is_command(exc.ctx)
            if not refused_options:
                return  # --help, an unknown command, a group without its command: no command ran
            assert isinstance(exc, _click.exceptions.UsageError) and exc.ctx is not None
            begin(run, exc.ctx)
        outcome, code, message = ending(run, exc)
        config = run.config or readable_config(ctx)
        if config is None:
            return
        from tenctl_core.context import node_name, operator_name

        line = run.line(outcome, code, message, node=node_name(), user=operator_name())
        for problem in audit.write_line(config, line):
            print(f"warning: audit trail: {problem}", file=sys.stderr)
    except Exception as problem:  # noqa: BLE001 - the trail must not turn a command's outcome into a crash
        print(f"warning: audit trail: {type(problem).__name__}: {problem}", file=sys.stderr)


def is_command(ctx: _click.Context | None) -> bool:
    return ctx is not None and ctx.parent is not None and getattr(ctx.command, "commands", None) is None


def ending(run: audit.CommandRun, exc: BaseException | None) -> tuple[str, int, str]:
    """The outcome, exit code and message of a command that ended with ``exc`` (None: returned)."""
    if exc is None:
        return "success", 0, ""
    if isinstance(exc, typer.Exit):
        if exc.exit_code == 0:
            return "success", 0, ""
        if run.outcome is not None:
            return run.outcome, exc.exit_code, run.message
        if exc.exit_code == EXIT_INTERRUPTED:
            return "interrupted", exc.exit_code, "interrupted"
        # A command that ends with an exit code of its own (health with a failed check...).
        return "failure", exc.exit_code, f"exit code {exc.exit_code}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, TenctlError):  # --debug lets it through
        return audit.outcome_of(exc), exc.exit_code, str(exc)
    if isinstance(exc, _click.exceptions.UsageError):
        return "refused", exc.exit_code, refused_options_message(exc)
    if isinstance(exc, typer.Abort):
        return "refused", 1, "aborted at a prompt"
    return "failure", 1, f"{type(exc).__name__}: {exc}"


OPTION_NAME = re.compile(r"-{1,2}[A-Za-z][A-Za-z0-9-]*")


def refused_options_message(exc: _click.exceptions.UsageError) -> str:
    """What the parser refused, naming the option but not the value given (it might be a password)."""
    param = getattr(exc, "param", None)
    flags = "/".join(param.opts) if param is not None and param.opts else None
    option = getattr(exc, "option_name", None)
    option = option if isinstance(option, str) and OPTION_NAME.fullmatch(option) else None
    if isinstance(exc, _click.exceptions.MissingParameter):
        what = f"missing {flags or 'a required value'}"
    elif isinstance(exc, _click.exceptions.BadParameter):
        what = f"invalid value for {flags or 'an argument'}"
    elif isinstance(exc, _click.exceptions.NoSuchOption):
        what = f"no such option {option}" if option else "an unknown option"
    elif isinstance(exc, _click.exceptions.BadOptionUsage):
        what = f"wrong use of {option}" if option else "a wrong use of an option"
    else:
        what = "unexpected arguments or a wrong use of the command"
    return f"command line refused: {what}"


def readable_config(ctx: _click.Context) -> Config | None:
    """The configuration, for a command that did not load it; None when it cannot be read."""
    from tenctl_core.cli.common import Options
    from tenctl_core.config import load_config

    opts = ctx.obj if isinstance(ctx.obj, Options) else Options()
    try:
        return load_config(opts.config, opts.profile)
    except Exception:  # noqa: BLE001 - a broken configuration: the command said so, the trail is skipped
        return None
