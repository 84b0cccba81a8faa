"""The core commands: each parses and checks its options, calls :mod:`tenctl_core.operations` (imported when
the command runs), and prints the outcome."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.audit import note_outcome
from tenctl_core.cli.audit_cmd import audit_command
from tenctl_core.cli.common import (
    DryRun,
    ForceOption,
    JsonFlag,
    NameOption,
    SecretFile,
    audited,
    check_limits,
    check_new_secret_file,
    choose_password,
    confirm_if_interactive,
    execute,
    open_context,
    options,
    plugin_set,
    reported_errors,
    show_plan,
)
from tenctl_core.cli.usage_cmd import usage
from tenctl_core.errors import EXIT_USAGE, UsageError
from tenctl_core.migration import BASH_CONFIG, DEFAULT_OUTPUT
from tenctl_core.naming import check_new_tenant_name, check_tenant_name, check_userid
from tenctl_core.validation import check_cidr, check_text, check_vlan

if TYPE_CHECKING:
    from collections.abc import Callable

    from tenctl_core.context import Context
    from tenctl_core.migration import Migration
    from tenctl_core.operations import AddRequest, AddResult
    from tenctl_core.plan import Plan
    from tenctl_core.plugins import PluginSet
    from tenctl_core.registry import Registry


# ---------------------------------------------------------------------------- init


def init(
    tctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Do not ask for confirmation at a terminal.")
    ] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
    guard: Annotated[
        bool | None,
        typer.Option(
            "--guard/--no-guard",
            help="Install the guard hookscript (admission control) too, or not; a terminal is asked.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Prepare the cluster: the tenants and log directories, the installation id, and what each plugin
    needs (the tenants' SDN zone); with --guard, the guard hookscript. Idempotent."""
    from tenctl_core import setup
    from tenctl_core.cli.guard_cmd import offer_guard

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "init", dry_run)
        plan = setup.plan_init(ctx)
        offer_guard(tctx, ctx, plan, guard, sys.stdin.isatty() and not force and not dry_run)
        if dry_run:
            show_plan(plan, as_json)
            return
        if plan.steps:
            confirm_if_interactive(f"Prepare the cluster: {'; '.join(s.action for s in plan.steps)}?", force)
        with audited(ctx, "init", None, {"steps": [step.id or step.action for step in plan.steps]}):
            setup.apply_init(ctx, plan)
        if as_json:
            from tenctl_core.output import print_json

            print_json({"applied": [s.action for s in plan.steps], "notes": plan.notes})
        else:
            for step in plan.steps:
                print(f"done: {step.action}")
            for note in plan.notes:
                print(note)


# ----------------------------------------------------------------------------- add


def add(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Tenant name.")] = None,
    cpu: Annotated[int | None, typer.Option("--cpu", "-c", help="CPU cores limit.")] = None,
    ram: Annotated[int | None, typer.Option("--ram", "-r", help="RAM limit in MB.")] = None,
    storage: Annotated[int | None, typer.Option("--storage", "-s", help="Storage limit in GB.")] = None,
    email: Annotated[
        str | None, typer.Option("--email", "-e", help="Contact email of the tenant admin.")
    ] = None,
    vlan: Annotated[int | None, typer.Option("--vlan", "-v", help="VLAN id (default: allocated).")] = None,
    subnet: Annotated[
        str | None, typer.Option("--subnet", "-i", help="Subnet in CIDR form (default: allocated).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Admin user id (default admin_<name>@pve).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password", "-p", help="Initial password (visible in the process list: prefer --password-file)."
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="Read the initial password from this file ('-' for standard input)."
        ),
    ] = None,
    password_out: Annotated[
        Path | None,
        typer.Option(
            "--password-out",
            help="Write the generated password to this new file (mode 0600) instead of showing it.",
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="Add every tenant of this .csv or .json file (see `tenctl add` docs)."),
    ] = None,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a tenant: pool, group, admin user, ACLs, VLAN and subnet, and every plugin's part."""
    from tenctl_core import operations

    if from_file is not None or name is None:
        from tenctl_core.cli.batch_cmd import add_from_file_command, only_from_file

        only_from_file(tctx, from_file, name, cpu, ram, storage, email, vlan, subnet, user, password, password_file)
        assert from_file is not None
        return add_from_file_command(tctx, from_file, password_out, dry_run, as_json)
    with reported_errors(options(tctx).debug):
        check_new_tenant_name(name)
        check_limits(cpu, ram, storage, email)
        if vlan is not None:
            check_vlan(vlan)
        if subnet is not None:
            check_cidr(subnet)
        if user is not None:
            check_userid(user)
        chosen_password = choose_password(password, password_file)
        if password_out is not None:
            check_new_secret_file(password_out, chosen_password is not None)
        ctx = open_context(tctx, "add", dry_run)
        defaults = ctx.config.defaults
        request = operations.AddRequest(
            name=name,
            cpu=cpu or defaults.cpu,
            ram=ram or defaults.ram_mb,
            storage=storage or defaults.storage_gb,
            email=email or "",
            vlan=vlan,
            subnet=subnet,
            admin_user=user,
            password=chosen_password,
        )
        if dry_run:
            result = operations.plan_add(ctx, request)
            show_plan(result.plan, as_json)
            return
        details = {"cpu": request.cpu, "ram": request.ram, "storage": request.storage}
        result, secret_file = create_tenant(ctx, request, password_out, details)
        print_new_tenant(ctx, result, password_out, secret_file, as_json)


def create_tenant(
    ctx: Context, request: AddRequest, password_out: Path | None, details: dict[str, Any]
) -> tuple[AddResult, SecretFile | None]:
    """Run ``add`` (or ``restore``, by ``request.command``) inside the audit trail, its event carrying the
    tenant's VLAN, subnet and admin user; the ``--password-out`` file is made before the first change."""
    from tenctl_core import operations

    # Made before the first change: if it cannot be, nothing is created.
    secret_file = SecretFile(password_out) if password_out is not None else None
    try:
        with audited(ctx, request.command, request.name, details) as info:
            result = operations.add_tenant(ctx, request)
            tenant = result.tenant
            info.update(vlan=tenant.vlan, subnet=tenant.subnet, admin_user=tenant.admin_user)
    except BaseException:
        if secret_file is not None:
            secret_file.discard()
        raise
    return result, secret_file


def print_new_tenant(
    ctx: Context,
    result: AddResult,
    password_out: Path | None,
    secret_file: SecretFile | None,
    as_json: bool,
    done: str = "created",
    extra: dict[str, Any] | None = None,
) -> None:
    """What ``add`` (and ``restore``) print once the tenant exists: its objects, limits and initial password
    (shown once, or written to the ``--password-out`` file)."""
    from tenctl_core.output import print_json

    tenant = result.tenant
    layers = layer_summary(ctx, tenant)
    summary = {
        "tenant_name": tenant.name,
        "pool_id": tenant.pool,
        "group_name": tenant.group,
        "admin_user": tenant.admin_user,
        "vlan_id": tenant.vlan,
        "subnet": tenant.subnet,
        "gateway": tenant.gateway,
        **layers,
        "cpu_limit": tenant.cpu_limit,
        "ram_limit": tenant.ram_limit,
        "storage_limit": tenant.storage_limit,
        "status": tenant.status,
        **(extra or {}),
    }
    if result.password and secret_file is not None:
        secret_file.write(result.password)
        summary["password_file"] = str(password_out)
    if as_json:
        if result.password and password_out is None:
            summary["password"] = result.password
        print_json(summary)
        return
    print(
        f"Tenant {tenant.name} {done}: pool {tenant.pool}, group {tenant.group}, user {tenant.admin_user}, "
        f"VLAN {tenant.vlan}"
        + (f" ({', '.join(f'{k} {v}' for k, v in layers.items())})" if layers else "")
        + f", subnet {tenant.subnet}, gateway {tenant.gateway}."
    )
    print(f"Limits: {tenant.cpu_limit} cores, {tenant.ram_limit} MB RAM, {tenant.storage_limit} GB storage.")
    if result.password and password_out is not None:
        print(f"Initial password of {tenant.admin_user} written to {password_out} (mode 0600).")
    elif result.password:
        print(f"Initial password of {tenant.admin_user} (shown once, store it safely): {result.password}")


# ------------------------------------------------------------------------ list/show


def tenant_rows(ctx: Context, name: str | None) -> list[dict[str, Any]]:
    from tenctl_core.cli.usage_cmd import usage_summary
    from tenctl_core.guests import guests_by_pool
    from tenctl_core.limits import measure
    from tenctl_core.output import tenant_row

    store = ctx.store
    tenants = [store.load(name)] if name else store.all()
    for problem in store.damaged:
        ctx.warn(f"{problem} (skipped)")
    guests = guests_by_pool(ctx) if tenants else {}
    rows = []
    for tenant in tenants:
        own = guests.get(tenant.pool, [])
        limits = usage_summary(measure(tenant, own, ctx.config.monitoring))
        rows.append(tenant_row(tenant, own, {**layer_summary(ctx, tenant), **limits}))
    return rows


def layer_labels(ctx: Context) -> dict[str, str]:
    from tenctl_core.engine import tenant_providers

    return {key: label for p in tenant_providers(ctx) for key, label in p.summary_labels.items()}


def layer_summary(ctx: Context, tenant: Any) -> dict[str, Any]:
    """What every enabled provider adds to the tenant's description (read from the record only)."""
    from tenctl_core.engine import tenant_providers

    found: dict[str, Any] = {}
    for provider in tenant_providers(ctx):
        found.update(provider.summary(ctx, tenant))
    return found


def list_tenants(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only this tenant.")] = None,
    detailed: Annotated[
        bool, typer.Option("--detailed", "-d", help="One block per tenant with its guests.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List tenants with their VLAN, subnet, limits and guest count (one API request)."""
    from tenctl_core import output

    with reported_errors(options(tctx).debug):
        if name is not None:
            check_tenant_name(name)
        ctx = open_context(tctx, "list")
        rows = tenant_rows(ctx, name)
        if as_json:
            output.print_json(rows)
        elif detailed:
            for row in rows:
                output.print_tenant_detail(row, layer_labels(ctx))
            if not rows:
                print("No tenants.")
        else:
            output.print_tenant_table(rows)


def show(tctx: typer.Context, name: NameOption, as_json: JsonFlag = False) -> None:
    """Show one tenant in detail (the same as `list -d -n NAME`)."""
    from tenctl_core import output

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        ctx = open_context(tctx, "show")
        rows = tenant_rows(ctx, name)
        why = ctx.store.load(name).unfinished()
        if why:
            ctx.warn(f"tenant {name} has an unfinished operation ({why}): run `tenctl repair {name}`")
        if as_json:
            output.print_json(rows[0])
        else:
            output.print_tenant_detail(rows[0], layer_labels(ctx))


# -------------------------------------------------------------------------- modify


def modify(
    tctx: typer.Context,
    name: NameOption,
    cpu: Annotated[int | None, typer.Option("--cpu", "-c", help="New CPU cores limit.")] = None,
    ram: Annotated[int | None, typer.Option("--ram", "-r", help="New RAM limit in MB.")] = None,
    storage: Annotated[int | None, typer.Option("--storage", "-s", help="New storage limit in GB.")] = None,
    email: Annotated[str | None, typer.Option("--email", "-e", help="New contact email.")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="New password of the admin user (visible in the process list: prefer --password-file).",
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="Read the new password from this file ('-' for standard input)."
        ),
    ] = None,
    show_current: Annotated[
        bool, typer.Option("--show-current", help="Show the current values and exit.")
    ] = False,
    force: ForceOption = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Change a tenant's limits, email or admin password; every other field of the record is kept."""
    from tenctl_core import operations

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        check_limits(cpu, ram, storage, email)
        new_password = choose_password(password, password_file)
        ctx = open_context(tctx, "modify", dry_run)
        tenant = ctx.store.load(name)
        if show_current:
            print(
                f"{tenant.name}: {tenant.cpu_limit} cores, {tenant.ram_limit} MB RAM, "
                f"{tenant.storage_limit} GB storage, email {tenant.email or '-'}"
            )
            return
        request = operations.ModifyRequest(name, cpu, ram, storage, email, new_password)
        if request.empty():
            raise UsageError("nothing to modify: give --cpu, --ram, --storage, --email or --password-file")
        plan = operations.plan_modify(ctx, tenant, request)
        execute(
            ctx,
            plan,
            lambda: operations.apply_change(ctx, tenant, plan),
            tenant=name,
            dry_run=dry_run,
            as_json=as_json,
            force=force,
            question=f"Apply to tenant {name}: {'; '.join(s.action for s in plan.steps)}?",
            details={"changes": [s.action for s in plan.steps]},
        )


# ------------------------------------------------------------------ suspend/resume


def suspend(
    tctx: typer.Context,
    name: NameOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the tenant is suspended (recorded).")
    ] = "Manual suspension",
    stop_vms: Annotated[
        bool, typer.Option("--stop-vms", help="Also stop the tenant's running guests.")
    ] = False,
    force: ForceOption = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Suspend a tenant: disable its users (and stop its guests with --stop-vms)."""
    from tenctl_core import operations

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        check_text("suspension reason", reason)
        ctx = open_context(tctx, "suspend", dry_run)
        tenant = ctx.store.load(name)
        plan = operations.plan_suspend(ctx, tenant, reason, stop_vms)
        execute(
            ctx,
            plan,
            lambda: operations.apply_change(ctx, tenant, plan),
            tenant=name,
            dry_run=dry_run,
            as_json=as_json,
            force=force,
            ask="terminal",
            question=f"Suspend tenant {name}: {'; '.join(s.action for s in plan.steps)}?",
            details={"reason": reason, "stop_vms": stop_vms},
        )


def resume(
    tctx: typer.Context,
    name: NameOption,
    start_vms: Annotated[
        bool, typer.Option("--start-vms", help="Also start the tenant's stopped guests.")
    ] = False,
    force: ForceOption = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Resume a suspended tenant: enable its users (and start its guests with --start-vms)."""
    from tenctl_core import operations

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        ctx = open_context(tctx, "resume", dry_run)
        tenant = ctx.store.load(name)
        plan = operations.plan_resume(ctx, tenant, start_vms)
        execute(
            ctx,
            plan,
            lambda: operations.apply_change(ctx, tenant, plan),
            tenant=name,
            dry_run=dry_run,
            as_json=as_json,
            force=force,
            ask="terminal",
            question=f"Resume tenant {name}: {'; '.join(s.action for s in plan.steps)}?",
            details={"start_vms": start_vms},
        )


# -------------------------------------------------------------------------- remove


def remove(
    tctx: typer.Context,
    name: NameOption,
    force: ForceOption = False,
    purge_guests: Annotated[
        bool, typer.Option("--purge-guests", help="Stop and delete the tenant's guests too.")
    ] = False,
    backup: Annotated[
        bool,
        typer.Option("--backup", "-b", help="Back the tenant up first (see `tenctl backup`); if that fails, nothing is removed."),
    ] = False,
    backup_dir: Annotated[
        Path | None,
        typer.Option("--backup-dir", help="Directory of that backup (implies --backup; default: paths.backup_dir)."),
    ] = None,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove a tenant and everything tenctl created for it. Guests are deleted only when asked."""
    from tenctl_core import operations

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        ctx = open_context(tctx, "remove", dry_run)
        backup_first = None
        if backup or backup_dir is not None:
            from tenctl_core.cli.backup_cmd import backup_before_removal

            backup_first = backup_before_removal(ctx, backup_dir)
        tenant = ctx.store.load(name)
        if not dry_run:
            tenant = operations.recover_first(ctx, tenant, "remove")
        guests = operations.tenant_guests(ctx, tenant)
        if guests and not purge_guests and not force and not dry_run and sys.stdin.isatty():
            listing = ", ".join(f"{g.vmid} ({g.name})" for g in guests)
            purge_guests = typer.confirm(
                f"Tenant {name} has {len(guests)} guest(s): {listing}. Stop and DELETE them?", default=False
            )
        plan = operations.plan_remove(ctx, tenant, guests, purge_guests)
        if backup_first is not None:
            backup_first.announce(plan, tenant)
        execute(
            ctx,
            plan,
            lambda: operations.apply_remove(ctx, tenant, plan, backup_first),
            tenant=name,
            dry_run=dry_run,
            as_json=as_json,
            force=force,
            question=f"Remove tenant {name} ({len(plan.steps)} steps)?",
            details={
                "guests_deleted": [g.vmid for g in guests] if purge_guests else [],
                **({"email": tenant.email} if tenant.email else {}),  # the record is gone when notify reads it
                **({"backup_dir": str(backup_first.directory)} if backup_first is not None else {}),
            },
            done=f"Tenant {name} removed ({len(plan.steps)} steps).",
        )


# ------------------------------------------------------------------------- plugins


def plugins_command(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List plugin distributions, their versions and providers, and plugins that failed to load."""
    from tenctl_core import output

    with reported_errors(options(tctx).debug):
        plugins = plugin_set(tctx)
        providers: dict[str, list[str]] = {}
        registries: list[Registry[Any]] = [
            plugins.allocators(),
            plugins.network_provisioners(),
            plugins.edge_backends(),
            plugins.audit_checks(),
            plugins.backup_formats(),
        ]
        for registry in registries:
            for provider_name in registry.names():
                providers.setdefault(registry.owner(provider_name), []).append(
                    f"{registry.kind} {provider_name}"
                )
        commands = plugins.commands(set())
        for entry in commands.entries.values():
            providers.setdefault(entry.plugin, []).append(f"command {entry.name}")
        data: dict[str, Any] = {
            "plugins": [
                {
                    "name": p.name,
                    "distribution": p.distribution,
                    "version": p.version,
                    "builtin": p.builtin,
                    "provides": providers.get(p.name, []),
                }
                for p in plugins.loaded
            ],
            "failed": [
                {"name": f.name, "distribution": f.distribution, "version": f.version, "error": f.error}
                for f in plugins.failed
            ],
            "disabled": plugins.disabled,
        }
        if as_json:
            output.print_json(data)
            return
        for plugin in data["plugins"]:
            kind = "built-in" if plugin["builtin"] else "plugin"
            print(f"{plugin['name']} ({plugin['distribution']} {plugin['version']}, {kind})")
            for item in plugin["provides"]:
                print(f"    {item}")
        for failed in data["failed"]:
            print(
                f"FAILED {failed['name']} ({failed['distribution']} {failed['version']}): {failed['error']}"
            )
        for disabled in data["disabled"]:
            print(f"disabled: {disabled}")
        if data["failed"]:
            raise typer.Exit(1)


# -------------------------------------------------------------------------- config


config_app = typer.Typer(
    help="Check and show the configuration.", no_args_is_help=True, rich_markup_mode=None
)


@config_app.callback()
def config_main() -> None:
    """Check and show the configuration."""


@config_app.command("check")
def config_check(tctx: typer.Context) -> None:
    """Validate the configuration file and name any bad key; warn about risky settings."""
    from tenctl_core.config import check_tables, load_config, pool_capacity, vlan_capacity

    with reported_errors(options(tctx).debug):
        opts = options(tctx)
        config = load_config(opts.config, opts.profile)
        for kind in ("token", "password"):
            config.read_secret(kind)
        if config.proxmox.uses_token:
            config.api_token()  # a rotated token's file names its token: it must be one of token_name's
        from tenctl_core.notify import read_secrets

        read_secrets(config.notifications)
        plugins = plugin_set(tctx)
        plugins.require_loaded()
        plugins.allocators().get(config.allocation.allocator)
        warnings = []
        check_tables(config, plugins.settings_specs())  # each plugin table by its schema, none unowned
        if vlan_capacity(config) > pool_capacity(config):
            warnings.append(
                f"allocation.vlan_ranges hold {vlan_capacity(config)} VLANs but allocation.subnet_pool "
                f"{config.allocation.subnet_pool} holds only {pool_capacity(config)} /{config.allocation.prefix_length} "
                "subnets: tenants will run out of subnets first"
            )
        if not config.proxmox.verify_tls:
            warnings.append("proxmox.verify_tls is false: the Proxmox certificate is not checked")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        sources = ", ".join(config.source) or "built-in defaults"
        print(f"configuration OK ({sources}{', profile ' + config.profile if config.profile else ''})")


@config_app.command("show")
def config_show(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Print the effective configuration (secrets are never in it; their sources are shown)."""
    import tomli_w

    from tenctl_core.config import load_config

    with reported_errors(options(tctx).debug):
        opts = options(tctx)
        config = load_config(opts.config, opts.profile)
        data = config.as_dict()
        if as_json:
            from tenctl_core.output import print_json

            print_json(data)
        else:
            print(f"# from: {', '.join(config.source) or 'built-in defaults'}")
            print(tomli_w.dumps(data), end="")


# -------------------------------------------------------------------------- health


def health(
    tctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Look at this tenant only (checks of the whole cluster still run)."),
    ] = None,
    as_json: JsonFlag = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the details of passing checks too.")
    ] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Repair what is safe to repair (sync, repair, dead locks), then check again."
        ),
    ] = False,
) -> None:
    """Run every registered health check: ✓ pass, ⚠ warn, ✗ fail. Exit 1 on a failure, 2 if Proxmox is unreachable."""
    from tenctl_core import checkup

    with reported_errors(options(tctx).debug):
        if name is not None:
            check_tenant_name(name)
        ctx = open_context(tctx, "health --fix" if fix else "health")
        if name is not None:
            ctx.store.load(name)  # an unknown tenant is an error, not a clean bill of health
            ctx.tenant_scope = name
        report = checkup.run_checks(ctx)
        if not fix or report.unreachable:
            print_health(report, as_json, verbose)
            raise typer.Exit(report.exit_code())
        if not as_json:
            print("\n".join(report.lines(verbose)))
            print("\nFixing what is safe to fix:")

        def progress(line: str) -> None:
            if not as_json:
                print(f"  {line}")

        outcome, final = checkup.fix_and_check_again(ctx, report, progress, audited)
        if as_json:
            from tenctl_core.output import print_json

            print_json({**final.as_dict(), "fix": outcome.as_dict()})
        else:
            if not outcome.actions:
                print("  nothing here is safe to fix automatically")
            print("\nAfter fixing:")
            print("\n".join(final.lines(verbose)))
            if outcome.manual:
                print("\nLeft to do by hand:")
                for item in outcome.manual:
                    print(f"  {checkup.MARKS[item.status]} {item.check}: {'; '.join(item.commands)}")
        for failed in outcome.failed:
            print(f"error: {failed.action}{' ' + failed.tenant if failed.tenant else ''}: {failed.error}", file=sys.stderr)
        raise typer.Exit(max(final.exit_code(), 1) if outcome.failed else final.exit_code())


def print_health(report: Any, as_json: bool, verbose: bool) -> None:
    if as_json:
        from tenctl_core.output import print_json

        print_json(report.as_dict())
    else:
        print("\n".join(report.lines(verbose)))


# -------------------------------------------------------------------------- repair


def repair(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Tenant to repair.", show_default=False)] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all", help="Repair every tenant with an unfinished operation.")
    ] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Finish or roll back a tenant's interrupted command, using its journal and the live state."""
    from tenctl_core import repair as repairs

    with reported_errors(options(tctx).debug):
        if (name is None) == (not all_tenants):
            raise UsageError("give a tenant name or --all")
        if name is not None:
            check_tenant_name(name)
        ctx = open_context(tctx, "repair", dry_run)
        if name is None and not dry_run:
            for info in repairs.release_dead_locks(ctx):
                if not as_json:
                    print(f"released lock {info.name}: {info.describe()}", file=sys.stderr)
        names = [name] if name is not None else repairs.tenants_to_repair(ctx)
        if not names:
            if as_json:
                from tenctl_core.output import print_json

                print_json([])
            else:
                print("nothing to repair: every tenant is consistent")
            return

        def preview(tenant_name: str) -> Plan:
            if ctx.store.is_abandoned(tenant_name):
                return repairs.repair_empty_record(ctx, tenant_name, apply=False)
            return repairs.plan_repair(ctx, ctx.store.load(tenant_name))

        each_tenant(ctx, "repair", names, preview, lambda n: repairs.repair_tenant(ctx, n), dry_run, as_json)


# ---------------------------------------------------------------------------- sync


def sync(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only this tenant.")] = None,
    all_tenants: Annotated[bool, typer.Option("--all", help="Every tenant.")] = False,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Only this provider or layer (see `tenctl plugins`).")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete objects of ours that the record does not ask for; with --all, also those of "
            "tenant names that have no record (orphans).",
        ),
    ] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Bring every layer of tenants in line with their records; takes over tenctl 0.2 objects."""
    from tenctl_core import repair as repairs
    from tenctl_core.engine import tenant_providers

    with reported_errors(options(tctx).debug):
        if (name is None) == (not all_tenants):
            raise UsageError("give --name NAME or --all")
        if name is not None:
            check_tenant_name(name)
        if layer is not None:
            check_text("layer", layer)
        ctx = open_context(tctx, "sync", dry_run)
        if layer is not None:
            known = {p.name for p in tenant_providers(ctx)} | {p.layer for p in tenant_providers(ctx)}
            if layer not in known:
                raise UsageError(
                    f"--layer {layer!r} is no provider or layer (known: {', '.join(sorted(known))})"
                )
        names = [name] if name is not None else [t.name for t in ctx.tenants(refresh=True)]
        sync_cluster(ctx, dry_run, as_json)
        orphans = repairs.orphan_names(ctx) if all_tenants and prune and layer is None else []
        each_tenant(
            ctx,
            "sync",
            names + orphans,
            lambda n: (
                repairs.prune_orphan(ctx, n, dry_run=True)
                if n in orphans
                else repairs.sync_tenant(ctx, n, prune, layer, dry_run=True)
            ),
            lambda n: (
                repairs.prune_orphan(ctx, n, dry_run=False)
                if n in orphans
                else repairs.sync_tenant(ctx, n, prune, layer, dry_run=False)
            ),
            dry_run,
            as_json,
            {"prune": prune, "layer": layer},
        )
        if layer is None:
            from tenctl_core.cli.guard_cmd import sync_guard

            sync_guard(ctx, names, dry_run, as_json)


def sync_cluster(ctx: Context, dry_run: bool, as_json: bool) -> None:
    """What the tenants share and ``init`` makes: the tenant role is made, or its privileges put back,
    before any tenant's ACL entries name it (this is how ``sync`` moves tenants to it after an upgrade)."""
    from tenctl_core.access import role_steps
    from tenctl_core.plan import Plan, apply_plan

    plan = Plan("sync", None)
    plan.add(*role_steps(ctx))
    if not plan.steps:
        return
    if dry_run:
        if not as_json:
            show_plan(plan, False)
        return
    with audited(ctx, "sync", None, {"cluster": True}) as info:
        apply_plan(plan)
        info["steps"] = [s.id for s in plan.steps]
    ctx.forget("/access/roles")
    if not as_json:
        for step in plan.steps:
            print(f"done: {step.action}", file=sys.stderr)


def each_tenant(
    ctx: Context,
    command: str,
    names: list[str],
    preview: Callable[[str], Plan],
    run: Callable[[str], Plan],
    dry_run: bool,
    as_json: bool,
    details: dict[str, Any] | None = None,
) -> None:
    """A forward-only command over several tenants (repair, sync): each one planned and shown, or run
    under its own lock and audited; then one JSON list of the plans."""
    results = []
    for tenant_name in names:
        if dry_run:
            plan = preview(tenant_name)
            results.append({"dry_run": True, **plan.as_dict()})
            if not as_json:
                show_plan(plan, False)
            continue
        with audited(ctx, command, tenant_name, details) as info:
            plan = run(tenant_name)
            info["steps"] = [s.id for s in plan.steps]
        results.append(plan.as_dict())
        if not as_json:
            for note in plan.notes:
                print(note)
            for step in plan.steps:
                print(f"done: {step.action}")
    if as_json:
        from tenctl_core.output import print_json

        print_json(results)


# ---------------------------------------------------------------------------- lock


def lock_main() -> None:
    """Show and release tenctl's cluster-wide locks and those of the backends (the SDN lock)."""


def lock_status(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show every held lock: holder, node, command and age; stale and dead ones are marked."""
    from tenctl_core.engine import tenant_providers
    from tenctl_core.locking import held_locks

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "lock status")
        locks = held_locks(ctx.config.paths.cluster_dir, ctx.node)
        others: dict[str, Any] = {}
        for provider in tenant_providers(ctx):
            others.update(provider.lock_status(ctx))
        if as_json:
            from tenctl_core.output import print_json

            print_json({"locks": [lock.as_dict() for lock in locks], **others})
            return
        for lock in locks:
            print(f"{lock.name}: {lock.describe()}")
        for info in others.values():
            if info is not None:
                print(info["describe"])
        if not locks and not any(others.values()):
            print("no lock is held")


def lock_release(
    tctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Required: release a lock another process holds.")
    ] = False,
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-n", help="Release the lock of this tenant.")
    ] = None,
    allocation: Annotated[bool, typer.Option("--allocation", help="Release the allocation lock.")] = False,
    watcher: Annotated[
        bool, typer.Option("--watcher", help="Release the lock of the watcher that announces crossings.")
    ] = False,
) -> None:
    """Break a lock whose holder is gone. Logged in the audit trail."""
    from tenctl_core.cli.lazy import PLUGIN_OPTIONS
    from tenctl_core.engine import tenant_providers
    from tenctl_core.locking import (
        ALLOCATION_LOCK,
        WATCHER_LOCK,
        break_lock,
        lock_path,
        read_lock,
        tenant_lock_name,
    )

    with reported_errors(options(tctx).debug):
        if tenant is not None:
            check_tenant_name(tenant)
        plugin_locks = [key for key, value in (PLUGIN_OPTIONS.get() or {}).items() if value]
        if sum((tenant is not None, allocation, watcher, len(plugin_locks))) != 1:
            raise UsageError(
                "choose one lock: --tenant NAME, --allocation, --watcher, or one a plugin adds (see --help)"
            )
        if not force:
            raise UsageError(
                "releasing a lock someone else holds needs --force; check `tenctl lock status` first"
            )
        ctx = open_context(tctx, "lock release")
        if plugin_locks:
            with audited(ctx, "lock release", None, {"lock": plugin_locks[0]}) as info:
                released = [entry for p in tenant_providers(ctx) for entry in p.release_locks(ctx)]
                for entry in released:
                    info.update(entry)
                info["lock"] = ", ".join(str(e["lock"]) for e in released) or plugin_locks[0]
            print(f"released {info['lock']}" if released else "that lock is not held")
            return
        if tenant is not None:
            name = tenant_lock_name(tenant)
        else:
            name = WATCHER_LOCK if watcher else ALLOCATION_LOCK
        path = lock_path(ctx.config.paths.cluster_dir, name)
        held = read_lock(path)
        if held is None:
            print(f"lock {name} is not held")
            return
        with audited(ctx, "lock release", tenant, {"lock": name, "holder": held.as_dict()}):
            break_lock(path)
        print(f"released lock {name} ({held.describe()})")


# ------------------------------------------------------------------------- migrate


def migrate(
    tctx: typer.Context,
    bash_config: Annotated[
        Path,
        typer.Option("--bash-config", help="The Bash tool's tenant.conf, read as data: no line of it is run."),
    ] = BASH_CONFIG,
    output: Annotated[Path, typer.Option("--output", "-o", help="The tenctl configuration file to write.")] = DEFAULT_OUTPUT,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace the output file if it exists.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the configuration and the report; write nothing.")
    ] = False,
    as_json: JsonFlag = False,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="Migrate the Bash tool's tenant records of this directory (/etc/pve/tenants) instead of its "
            "tenant.conf, with the tenctl configuration in use.",
        ),
    ] = None,
) -> None:
    """Write a tenctl configuration from the Bash tool's tenant.conf and report what was not carried over."""
    from tenctl_core import migration

    if records is not None:
        from tenctl_core.cli.batch_cmd import migrate_records_command

        return migrate_records_command(tctx, records, dry_run, as_json)
    with reported_errors(options(tctx).debug):
        plugins = plugin_set(tctx)
        plugins.require_loaded()
        try:
            result = migration.migrate_bash_config(bash_config, plugins, output)
        except migration.BadBashValues as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            note_outcome("refused", f"{len(exc.problems)} value(s) in {bash_config} break tenctl's rules")
            raise typer.Exit(EXIT_USAGE) from None
        text = result.toml()
        if not dry_run:
            migration.write_config_file(output, text, replace=force, source=bash_config)
        if as_json:
            from tenctl_core.output import print_json

            print_json({**result.as_dict(), "output": str(output), "written": not dry_run})
            return
        if dry_run:
            print(f"# would be written to {output}")
            print(text, end="")
            print()
        print_migration_report(result)
        if dry_run:
            if output.exists() or output.is_symlink():
                print(f"note: {output} exists: the run without --dry-run needs --force to replace it")
            print("Dry run: nothing was written.")
        else:
            print(f"Wrote {output} (mode 0644). Check it: tenctl --config {output} config check")


def print_migration_report(result: Migration) -> None:
    print(f"Read {result.source}: {len(result.imported)} setting(s) imported, {len(result.not_imported)} not.")
    for item in result.imported:
        print(f"imported: line {item.line}: {item.key} -> {'; '.join(item.became)}")
    for missed in result.not_imported:
        print(f"not imported: {missed.describe()}")
    for action in result.actions:
        print(f"to do: {action}")


def register(app: typer.Typer, plugins: PluginSet | None = None) -> None:
    """The core commands, each with the options plugins registered for it."""
    from tenctl_core.cli.backup_cmd import backup, restore
    from tenctl_core.cli.lazy import with_plugin_options

    extra = list(plugins.command_options()) if plugins is not None else []
    for name, func in (
        ("init", init),
        ("add", add),
        ("list", list_tenants),
        ("show", show),
        ("modify", modify),
        ("suspend", suspend),
        ("resume", resume),
        ("remove", remove),
        ("backup", backup),
        ("restore", restore),
        ("health", health),
        ("usage", usage),
        ("repair", repair),
        ("sync", sync),
    ):
        app.command(name)(with_plugin_options(func, [o for o in extra if o.command == name]))
    lock_app = typer.Typer(
        help="Show and release tenctl's cluster-wide locks and those of the backends (the SDN lock).",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    lock_app.callback()(lock_main)
    lock_app.command("status")(
        with_plugin_options(lock_status, [o for o in extra if o.command == "lock status"])
    )
    lock_app.command("release")(
        with_plugin_options(lock_release, [o for o in extra if o.command == "lock release"])
    )
    app.add_typer(lock_app, name="lock")
    app.command("plugins")(plugins_command)
    app.add_typer(config_app, name="config")
    app.command("migrate")(migrate)
    from tenctl_core.cli.watch_cmd import watch

    app.command("watch")(with_plugin_options(watch, [o for o in extra if o.command == "watch"]))
    from tenctl_core.cli.guard_cmd import make_guard_app

    app.add_typer(make_guard_app(), name="guard")
    app.command("audit")(audit_command)
    from tenctl_core.cli.notify_cmd import make_notify_app

    app.add_typer(make_notify_app(), name="notify")
    from tenctl_core.cli.rotate_cmd import rotate

    app.command("rotate")(rotate)
    from tenctl_core.cli.install_cmd import register as register_install

    register_install(app)
