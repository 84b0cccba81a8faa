"""``tenctl guard``: admission control. ``hook`` answers as the hookscript does (which runs
``python -m tenctl_core.guard``); ``install`` writes the hookscript on a snippets storage, ``attach`` sets it
on the tenants' guests, ``status`` shows where it is; ``sync`` and ``init`` use the last three.

Nothing heavy is imported here: each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import (
    DryRun,
    JsonFlag,
    audited,
    open_context,
    options,
    reported_errors,
    show_plan,
)
from tenctl_core.errors import UsageError

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.plan import Plan


def guard_main() -> None:
    """Admission control: a Proxmox hookscript that refuses to start a tenant's guest that would take the
    tenant over its CPU, RAM or storage limit."""


# ------------------------------------------------------------------------------------------- hook


def hook(
    tctx: typer.Context,
    vmid: Annotated[str, typer.Argument(help="The guest's id, as Proxmox passes it.", show_default=False)],
    phase: Annotated[
        str, typer.Argument(help="pre-start, post-start, pre-stop or post-stop.", show_default=False)
    ],
    as_json: JsonFlag = False,
) -> None:
    """What the hookscript runs (Proxmox calls it with VMID PHASE): at pre-start, exit 1 with the limits the
    start would break, else 0. Run it by hand to see what the guard would say; it changes nothing."""
    from tenctl_core import guard

    opts = options(tctx)
    with reported_errors(opts.debug):
        verdict = guard.answer(vmid, phase, dict(os.environ), opts.config, opts.profile, opts.debug)
    raise typer.Exit(guard.print_verdict(verdict, as_json))


# ---------------------------------------------------------------------------------------- install


def install(
    tctx: typer.Context,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", help="Storage to put it on (default: monitoring.guard_storage).", show_default=False
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace a file of that name that tenctl did not write.")
    ] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Write the hookscript into the snippets directory of a storage, on this node (the API cannot upload
    snippets); print the volume to attach. Run it on every node for a storage that is not shared."""
    from tenctl_core import hookscript

    opts = options(tctx)
    with reported_errors(opts.debug):
        if storage is not None:
            check_storage_id(storage)
        ctx = open_context(tctx, "guard install", dry_run)
        plan = hookscript.install_plan(ctx, storage, force, *chosen_config(tctx))
        run(ctx, plan, dry_run, as_json, forward=False)


def chosen_config(tctx: typer.Context) -> tuple[str | None, str | None]:
    """The configuration file (absolute) and profile this command was told to use, for the hookscript to
    use the same; None for the default search."""
    from tenctl_core.config import CONFIG_ENV, PROFILE_ENV

    opts = options(tctx)
    config_file = opts.config or os.environ.get(CONFIG_ENV)
    return (os.path.abspath(config_file) if config_file else None), (
        opts.profile or os.environ.get(PROFILE_ENV)
    )


def check_storage_id(storage: str) -> None:
    from tenctl_core import rules

    try:
        rules.storage_id(storage)
    except ValueError as exc:
        raise UsageError(f"--storage {storage!r}: {exc}") from None


# ----------------------------------------------------------------------------------------- attach


def attach(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only this tenant's guests.")] = None,
    all_tenants: Annotated[bool, typer.Option("--all", help="Every tenant's guests.")] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Set the guard as the hookscript of the tenants' guests that have none. A guest with a hookscript of
    its own keeps it and is named. Needs root@pam's password: Proxmox refuses this to API tokens."""
    from tenctl_core import hookscript
    from tenctl_core.naming import check_tenant_name

    with reported_errors(options(tctx).debug):
        if (name is None) == (not all_tenants):
            raise UsageError("give --name NAME or --all")
        if name is not None:
            check_tenant_name(name)
        ctx = open_context(tctx, "guard attach", dry_run)
        tenants = [ctx.store.load(name)] if name is not None else ctx.tenants()
        plan = hookscript.attach_plan(ctx, hookscript.survey(ctx, tenants))
        if plan.steps and not dry_run:
            hookscript.guard_session(ctx)  # no password for root@pam: stop before any change
        run(ctx, plan, dry_run, as_json, forward=True, tenant=name)


def run(
    ctx: Context, plan: Plan, dry_run: bool, as_json: bool, forward: bool, tenant: str | None = None
) -> None:
    """Show the plan (dry run), or apply and audit it; then what was done and every note."""
    from tenctl_core.plan import apply_plan

    if dry_run:
        show_plan(plan, as_json)
        return
    if plan.steps:
        with audited(ctx, plan.command, tenant, {"steps": [s.id for s in plan.steps]}):
            apply_plan(plan, forward=forward)
    if as_json:
        from tenctl_core.output import print_json

        print_json({**plan.as_dict(), "outcome": "success" if plan.steps else "unchanged"})
        return
    for step in plan.steps:
        print(f"done: {step.action}")
    for note in plan.notes:
        print(f"note: {note}")


def sync_guard(ctx: Context, names: list[str], dry_run: bool, as_json: bool) -> None:
    """``sync``'s last part: the guard on the synced tenants' guests that lack it, where it is installed.

    Silent when the guard is not in use (its storage holds no snippets, or no node has the script)."""
    from tenctl_core import hookscript
    from tenctl_core.errors import ConfigError, ProxmoxError
    from tenctl_core.plan import apply_plan

    tenants = [t for t in ctx.tenants() if t.name in names]
    if not tenants:
        return
    try:
        found = hookscript.survey(ctx, tenants, only_if_installed=True)
    except (UsageError, ProxmoxError):
        return
    if not any(found.nodes.values()):
        return
    plan = hookscript.attach_plan(ctx, found)
    plan.command = "sync"
    if plan.steps and not dry_run:
        try:
            hookscript.guard_session(ctx)
        except ConfigError as exc:
            ctx.warn(f"the guard was not attached to {len(plan.steps)} guest(s): {exc}")
            return
    if dry_run:
        if not as_json and plan.steps:
            show_plan(plan, False)
        return
    if plan.steps:
        with audited(ctx, "sync", None, {"guard": [s.id for s in plan.steps]}):
            apply_plan(plan, forward=True)
    if not as_json:
        for step in plan.steps:
            print(f"done: {step.action}", file=sys.stderr)
        for note in plan.notes:
            print(f"note: {note}", file=sys.stderr)


# ----------------------------------------------------------------------------------------- status


def status(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Where the guard is: its storage and the nodes that have it, this node's file, the watcher's cache,
    and each tenant guest's hookscript. Exit 1 when a tenant guest is not guarded."""
    import time
    from pathlib import Path

    from tenctl_core import hookscript
    from tenctl_core.limits import cache_path, read_cache

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "guard status")
        found = hookscript.survey(ctx, ctx.tenants())
        local = hookscript.local_script(found.storage)
        cache_file = cache_path(Path(ctx.config.paths.state_dir))
        cached = read_cache(cache_file)
        cache_age = round(time.time() - cached[0]) if cached else None
        unguarded = found.unguarded
        if as_json:
            from tenctl_core.output import print_json

            print_json(
                {
                    "storage": found.storage.id,
                    "volume": found.storage.volid,
                    "shared": found.storage.shared,
                    "nodes": found.nodes,
                    "local_file": {"path": str(found.storage.file), "state": local.state},
                    "cache": {"path": str(cache_file), "age_seconds": cache_age},
                    "guests": [g.as_dict() for g in found.guests],
                    "unguarded": len(unguarded),
                }
            )
        else:
            storage = found.storage
            print(
                f"storage: {storage.id} ({storage.type}, {'shared' if storage.shared else 'not shared'}), "
                f"hookscript {storage.volid}"
            )
            for node, present in sorted(found.nodes.items()):
                print(
                    f"node {node}: "
                    + {True: "installed", False: "not installed", None: "cannot tell"}[present]
                )
            print(f"this node's file {storage.file}: " + LOCAL_WORDS[local.state])
            print(
                f"watcher cache {cache_file}: "
                + (
                    f"{cache_age} s old"
                    if cache_age is not None
                    else "none (the guard has no answer when the API is slow)"
                )
            )
            for guest in found.guests:
                print(f"{guest.tenant}: {guest.label} on {guest.node}: {describe_guest(guest)}")
            print(f"{len(found.guests) - len(unguarded)} of {len(found.guests)} tenant guest(s) guarded")
        if unguarded:
            raise typer.Exit(1)


LOCAL_WORDS = {
    "missing": "missing",
    "ours": "written by tenctl",
    "foreign": "a file tenctl did not write",
    "elsewhere": "the storage's directory is not on this machine",
}


def describe_guest(guest: Any) -> str:
    if guest.state == "guarded":
        return "guarded"
    if guest.state == "other":
        return f"another hookscript ({guest.hookscript}): not guarded"
    if guest.state == "not-installed":
        return f"not guarded: the guard is not installed on {guest.node}"
    if guest.state == "unreadable":
        return f"configuration not read: {guest.detail}"
    return "not guarded: run `tenctl guard attach --all` (or `tenctl sync --all`)"


# ------------------------------------------------------------------------------------------ init


def offer_guard(
    tctx: typer.Context, ctx: Context, plan: Plan, choice: bool | None, interactive: bool
) -> None:
    """``init``'s part: ``--guard`` adds the install step, ``--no-guard`` nothing; without either, a terminal
    is asked when the guard's storage can take it and it is not there yet."""
    from tenctl_core import hookscript

    if choice is False or (choice is None and not interactive):
        return
    if choice is None:
        try:
            storage = hookscript.snippet_storage(ctx, ctx.config.monitoring.guard_storage)
        except UsageError as exc:
            plan.notes.append(f"the guard cannot be installed: {exc}")
            return
        if hookscript.local_script(storage).state != "missing":
            return
        if not typer.confirm(
            f"Install the guard (admission control) hookscript as {storage.file}?", default=True
        ):
            return
    found = hookscript.install_plan(ctx, None, False, *chosen_config(tctx))
    plan.add(*found.steps)
    plan.notes.extend(found.notes)


def make_guard_app() -> typer.Typer:
    app = typer.Typer(
        help="Admission control: the hookscript that refuses to start a guest over its tenant's limits.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.callback()(guard_main)
    app.command("hook")(hook)
    app.command("install")(install)
    app.command("attach")(attach)
    app.command("status")(status)
    return app
