"""What every command shares: global options, error reporting, the context, the audit trail, and one helper
that takes a plan through dry run or confirmation to apply and audit (:func:`execute`), for core and plugin
commands alike.

Nothing here imports an HTTP client or a device library: those come with the first request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from tenctl_core.audit import note_config, note_done, note_error, note_outcome, outcome_of
from tenctl_core.errors import EXIT_INTERRUPTED, TenctlError, UsageError
from tenctl_core.plugins import PluginSet, get_plugin_manager
from tenctl_core.validation import check_cpu, check_email, check_password, check_ram, check_storage

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.plan import Plan


@dataclass
class Options:
    """The global options, kept on the typer context."""

    config: str | None = None
    profile: str | None = None
    debug: bool = False
    quiet: bool = False


def fail(message: str, code: int = 1) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


@contextmanager
def reported_errors(debug: bool) -> Iterator[None]:
    """Turn TenctlError into one line on stderr and its exit code; Ctrl-C into 130. The audit trail's line
    of the command says why it ended (refused, failure or interrupted) and with which message."""
    try:
        yield
    except TenctlError as exc:
        note_error(exc)
        if debug:
            raise
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt as exc:
        note_error(exc)
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None


NameOption = Annotated[str, typer.Option("--name", "-n", help="Tenant name.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the plan and change nothing.")]
JsonFlag = Annotated[bool, typer.Option("--json", "-j", help="Print JSON for scripts.")]
ForceOption = Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation.")]


def options(tctx: typer.Context) -> Options:
    obj = tctx.find_root().obj
    return obj if isinstance(obj, Options) else Options()


def plugin_set(tctx: typer.Context) -> PluginSet:
    plugins = getattr(tctx.find_root().command, "plugins", None)
    return plugins if plugins is not None else get_plugin_manager()


def open_context(tctx: typer.Context, command: str, dry_run: bool = False) -> Context:
    """The command's context: configuration, plugins, and (on first use) its one API session."""
    from tenctl_core.config import check_tables, load_config
    from tenctl_core.context import Context

    opts = options(tctx)
    config = load_config(opts.config, opts.profile)
    note_config(config)
    plugins = plugin_set(tctx)
    plugins.require_loaded()
    check_tables(config, plugins.settings_specs())
    from tenctl_core.cli.lazy import PLUGIN_OPTIONS
    from tenctl_core.versions import note_node_versions

    plugin_options = dict(PLUGIN_OPTIONS.get() or {})
    ctx = Context(
        config=config,
        plugins=plugins,
        command=command,
        dry_run=dry_run,
        quiet=opts.quiet,
        options=plugin_options,
    )
    note_node_versions(config, plugins, ctx.node)  # for `health`: which tenctl each node runs
    return ctx


def emit(
    ctx: Context,
    command: str,
    tenant: str | None,
    outcome: str,
    message: str = "",
    details: dict[str, Any] | None = None,
    *,
    ends_command: bool = False,
) -> None:
    """Hand an event to every ``tenctl_tenant_event`` listener. ``ends_command``: it says how the command
    under way ended (:func:`audited`), so the command's line in the audit trail carries it; any other event
    (a crossing ``tenctl watch`` announces) gets a line of its own."""
    from tenctl_core.events import TenantEvent

    event = TenantEvent(
        command, tenant, outcome, ctx.node, ctx.operator, message, details or {}, ctx=ctx, ends_command=ends_command
    )
    for plugin_name, call in ctx.plugins.each_impl("tenctl_tenant_event"):
        try:
            call(event=event)
        except Exception as exc:  # noqa: BLE001 - a listener never changes the command's outcome
            ctx.warn(f"event listener {plugin_name} failed: {type(exc).__name__}: {exc}")


@contextmanager
def audited(
    ctx: Context, command: str, tenant: str | None, details: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Tell every event listener the outcome, success or not; core's listener puts it on the command's
    line in the audit trail."""
    info: dict[str, Any] = dict(details or {})
    try:
        yield info
    except KeyboardInterrupt:
        emit(ctx, command, tenant, "interrupted", "interrupted by the user", info, ends_command=True)
        raise
    except TenctlError as exc:
        emit(ctx, command, tenant, outcome_of(exc), str(exc), info, ends_command=True)
        raise
    except Exception as exc:
        emit(ctx, command, tenant, "failure", f"{type(exc).__name__}: {exc}", info, ends_command=True)
        raise
    emit(ctx, command, tenant, "success", info.pop("message", ""), info, ends_command=True)


def show_plan(plan: Plan, as_json: bool) -> None:
    if as_json:
        from tenctl_core.output import print_json

        print_json({"dry_run": True, **plan.as_dict()})
    else:
        print(plan.describe())
        print("Dry run: nothing was changed.")


def check_limits(cpu: int | None, ram: int | None, storage: int | None, email: str | None) -> None:
    """Check the limits and email a command was given (None: not given)."""
    for value, check in ((cpu, check_cpu), (ram, check_ram), (storage, check_storage)):
        if value is not None:
            check(value)
    if email is not None:
        check_email(email)


DECLINED = "declined at the confirmation prompt"


def confirm(question: str, force: bool) -> None:
    """Ask, unless --force; no terminal to ask at is a usage error. A "no" ends the command with exit
    code 1, recorded in the audit trail as refused."""
    if force:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation: run it from a terminal or pass --force")
    if not typer.confirm(question, default=False):
        declined()


def confirm_if_interactive(question: str, force: bool) -> None:
    """Ask at a terminal unless --force; scripts (no terminal) are not asked, as with the Bash tool."""
    if force or not sys.stdin.isatty():
        return
    if not typer.confirm(question, default=False):
        declined()


def declined() -> NoReturn:
    note_outcome("refused", DECLINED)
    raise typer.Exit(1)


def check_new_secret_file(path: Path, password_given: bool) -> None:
    """--password-out must name a new file in an existing directory, and only a generated password goes there."""
    if password_given:
        raise UsageError(
            "--password-out is for a generated password; you supplied one with --password(-file)"
        )
    if path.exists() or path.is_symlink():
        raise UsageError(f"--password-out {path}: the file exists; tenctl will not overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"--password-out {path}: directory {path.parent} does not exist")


class SecretFile:
    """A file for a secret made before anything changes: created exclusively (an existing file or a
    symbolic link, even a dangling one, is refused), mode 0600 whatever the umask. Written once the
    secret exists; removed again if the command fails before that."""

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd: int | None = os.open(path, flags, 0o600)
        except FileExistsError:
            raise UsageError(f"--password-out {path}: the file exists; tenctl will not overwrite it") from None
        except OSError as exc:
            raise UsageError(f"--password-out {path}: cannot create it: {exc.strerror}") from None
        os.fchmod(self.fd, 0o600)

    def write(self, secret: str) -> None:
        """Write the secret; if that fails, the secret is shown on the terminal so it is not lost."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secret + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            print(f"the password, shown once because {self.path} could not be written: {secret}", file=sys.stderr)
            self.path.unlink(missing_ok=True)
            raise TenctlError(
                f"--password-out {self.path}: could not write the password ({exc.strerror}); the tenant was "
                "created and its password was shown on standard error"
            ) from None

    def discard(self) -> None:
        """The command failed before the secret existed: remove the empty file."""
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
        self.path.unlink(missing_ok=True)


def read_password_file(path: Path) -> str:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--password-file {path}: cannot read it: {exc.strerror}") from None
    return check_password(text.rstrip("\n"))


def choose_password(password: str | None, password_file: Path | None) -> str | None:
    if password is not None and password_file is not None:
        raise UsageError("give either --password or --password-file, not both")
    if password is not None:
        print(
            "warning: a password given with -p/--password is visible in the process list and shell history; "
            "use --password-file",
            file=sys.stderr,
        )
        return check_password(password)
    if password_file is not None:
        return read_password_file(password_file)
    return None


Ask = str
"""How :func:`execute` confirms: ``always`` (a terminal or --force), ``terminal`` (only at a terminal, as the
Bash tool did for suspend and resume) or ``never``."""


def execute(
    ctx: Context,
    plan: Plan,
    apply: Callable[[], object],
    *,
    tenant: str | None,
    dry_run: bool,
    as_json: bool,
    force: bool = False,
    ask: Ask = "always",
    question: str | None = None,
    details: dict[str, Any] | None = None,
    done: str | None = None,
) -> None:
    """Take a plan to the end: show it (dry run), or confirm, apply and audit it, then print the outcome.

    ``apply`` runs the plan (``operations.apply_change``, ``apply_remove``, a plugin's own runner). With
    ``--json`` the outcome is one JSON object: tenant, command, steps done (ids and actions), outcome.
    Plugin commands use this too, so every mutating command behaves the same.
    """
    if dry_run:
        show_plan(plan, as_json)
        return
    if not plan.steps:
        message = plan.notes[0] if plan.notes else "nothing to do"
        if as_json:
            from tenctl_core.output import print_json

            print_json(
                {
                    "command": plan.command,
                    "tenant": tenant,
                    "steps": [],
                    "outcome": "unchanged",
                    "notes": plan.notes,
                }
            )
        else:
            print(message)
        return
    wording = question or f"{plan.command} {tenant}: {'; '.join(s.action for s in plan.steps)}?"
    if ask == "always":
        confirm(wording, force)
    elif ask == "terminal":
        confirm_if_interactive(wording, force)
    with audited(ctx, plan.command, tenant, details):
        apply()
    note_done(plan.steps)  # for runners that do not report their steps (apply_plan does)
    if as_json:
        from tenctl_core.output import print_json

        print_json({**plan.as_dict(), "outcome": "success"})
        return
    for step in plan.steps:
        print(f"done: {step.action}")
    for note in plan.notes:
        print(f"note: {note}")
    if done:
        print(done)
