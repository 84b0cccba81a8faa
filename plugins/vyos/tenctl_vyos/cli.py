"""``tenctl vyos``: status, test, configure (the base configuration) and show (a tenant's part)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from tenctl_core.cli.common import DryRun, JsonFlag, execute, open_context, options, reported_errors
from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.model import ACTIVE, SUSPENDED
from tenctl_core.naming import check_tenant_name

app = typer.Typer(help="The VyOS edge router.", no_args_is_help=True, rich_markup_mode=None)


def _settings(ctx):  # type: ignore[no-untyped-def]
    from tenctl_vyos.settings import vyos_settings

    settings = vyos_settings(ctx)
    if not settings.configured:
        raise UsageError("no VyOS router is configured: add a [vyos] table with host = ... (see the VyOS guide)")
    return settings


@app.command()
def status(tctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Reachable, version, isolation rules, and tenants on the router versus records."""
    from tenctl_core.output import print_json
    from tenctl_core.ownership import parse_marker
    from tenctl_vyos.model import isolation_problems, nat_rule
    from tenctl_vyos.provider import running_config
    from tenctl_vyos.transport import router

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "vyos status")
        settings = _settings(ctx)
        link = router(ctx, settings)
        config = running_config(ctx)
        vifs = config.vifs(settings.lan_interface)
        nats = config.nat_rules()
        tenants = [t for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED)]
        missing = [t.name for t in tenants if t.vlan not in vifs or nat_rule(t.vlan) not in nats]
        records = set(ctx.store.names())
        markers = [parse_marker(attrs["description"]) for attrs in [*vifs.values(), *nats.values()]]
        orphans = sorted(
            {m.tenant for m in markers if m and m.installation == ctx.installation and m.tenant not in records}
        )
        report = {
            "host": settings.host,
            "transport": settings.transport,
            "reachable": True,
            "version": link.version(),
            "tenants": len(tenants),
            "tenants_configured": len(tenants) - len(missing),
            "tenants_missing": missing,
            "orphans": orphans,
            "isolation_problems": isolation_problems(config, settings.wan_interface),
        }
        if as_json:
            print_json(report)
        else:
            print(f"router {settings.host} ({report['version']}) over {settings.transport}: reachable")
            print(f"tenants configured on the router: {report['tenants_configured']} of {len(tenants)}")
            for name in missing:
                print(f"  missing: {name} (run `tenctl sync -n {name}`)")
            for name in orphans:
                print(f"  no record: {name} (run `tenctl sync --all --prune` to delete its objects)")
            for problem in report["isolation_problems"]:
                print(f"  isolation: {problem} (run `tenctl vyos configure`)")
        if missing or orphans or report["isolation_problems"]:
            raise typer.Exit(1)


@app.command()
def test(tctx: typer.Context) -> None:
    """Open a session with the router and read its configuration (exit 1 when that fails)."""
    from tenctl_vyos.provider import running_config

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "vyos test")
        settings = _settings(ctx)
        lines = len(running_config(ctx).paths)
        print(f"ok: {settings.host} over {settings.transport}, {lines} configuration lines read")


@app.command()
def show(
    tctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Tenant name.")],
    as_json: JsonFlag = False,
) -> None:
    """A tenant's part of the router configuration, as the router has it."""
    from tenctl_core.output import print_json
    from tenctl_vyos.model import nat_rule
    from tenctl_vyos.provider import running_config

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        ctx = open_context(tctx, "vyos show")
        settings = _settings(ctx)
        tenant = ctx.store.load(name)
        config = running_config(ctx)
        vif = config.vifs(settings.lan_interface).get(tenant.vlan)
        nat = config.nat_rules().get(nat_rule(tenant.vlan))
        from tenctl_vyos.model import SUSPENDED_GROUP, TENANTS_GROUP

        prefixes = [
            ("interfaces", "ethernet", settings.lan_interface, "vif", str(tenant.vlan)),
            ("nat", "source", "rule", str(nat_rule(tenant.vlan))),
        ]
        members = [
            ("firewall", "group", "network-group", group, "network", tenant.subnet)
            for group in (TENANTS_GROUP, SUSPENDED_GROUP)
        ]
        lines = [
            "set " + " ".join(path[:-1]) + f" '{path[-1]}'"
            for path in config.paths
            if any(tuple(path[: len(p)]) == p for p in prefixes) or tuple(path) in members
        ]
        report = {
            "tenant": name,
            "vif": vif,
            "nat_rule": nat,
            "isolated": tenant.subnet in config.group(TENANTS_GROUP),
            "cut": tenant.subnet in config.group(SUSPENDED_GROUP),
            "lines": lines,
        }
        if as_json:
            print_json(report)
            return
        print(f"Tenant {name} on the router {settings.host} (VLAN {tenant.vlan}, subnet {tenant.subnet}):")
        for line in lines or ["(nothing: run `tenctl sync -n " + name + "`)"]:
            print(f"  {line}")
        print(
            f"Isolated from other tenants: {'yes' if report['isolated'] else 'NO'}; "
            f"cut (suspended): {'yes' if report['cut'] else 'no'}"
        )


@app.command()
def configure(
    tctx: typer.Context,
    wan_ip: Annotated[str, typer.Option("--wan-ip", help="WAN address with prefix, e.g. 203.0.113.2/24.")],
    wan_gw: Annotated[str, typer.Option("--wan-gw", help="WAN default gateway.")],
    name_server: Annotated[
        list[str] | None, typer.Option("--name-server", help="A name server (repeat for more).")
    ] = None,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation.")] = False,
) -> None:
    """Make the base configuration: WAN address, default route, name servers, isolation groups and rules."""
    from tenctl_core.plan import Plan, Step
    from tenctl_vyos.model import base_lines
    from tenctl_vyos.provider import running_config
    from tenctl_vyos.transport import router

    with reported_errors(options(tctx).debug):
        try:
            ipaddress.IPv4Interface(wan_ip)
            ipaddress.IPv4Address(wan_gw)
            servers = [str(ipaddress.ip_address(ns)) for ns in name_server or ()]
        except ValueError as exc:
            raise UsageError(f"--wan-ip, --wan-gw and --name-server take IP addresses: {exc}") from None
        ctx = open_context(tctx, "vyos configure", dry_run)
        settings = _settings(ctx)
        lines = base_lines(
            lan=settings.lan_interface,
            wan=settings.wan_interface,
            wan_address=wan_ip,
            wan_gateway=wan_gw,
            name_servers=servers,
        )
        running = running_config(ctx)
        have = {" ".join(p) for p in running.paths}
        todo = [line for line in lines if line.removeprefix("set ").replace("'", "") not in have]
        # The WAN address given replaces a DHCP client on the WAN interface (VyOS's factory setting):
        # both at once would leave the default route to whichever answers.
        dhcp = "dhcp" in running.values("interfaces", "ethernet", settings.wan_interface, "address")
        if dhcp:
            todo.insert(0, f"delete interfaces ethernet {settings.wan_interface} address 'dhcp'")
        plan = Plan("vyos configure", None)
        if todo:

            def apply() -> None:
                def verify(paths: list[list[str]]) -> None:
                    shown = {" ".join(p) for p in paths}
                    absent = [
                        line
                        for line in todo
                        if line.startswith("set ") and line.removeprefix("set ").replace("'", "") not in shown
                    ]
                    if dhcp and f"interfaces ethernet {settings.wan_interface} address dhcp" in shown:
                        absent.append("the DHCP client on the WAN interface is still there")
                    if absent:
                        raise TenctlError(f"the router does not show {absent[0]!r} after the commit")

                router(ctx, settings).change(todo, verify)

            plan.add(
                Step("edge", f"base configuration of {settings.host}: {len(todo)} line(s)", apply, diff="\n".join(todo))
            )
        else:
            plan.notes.append("the router already has the base configuration")
        execute(ctx, plan, lambda: [s.apply() for s in plan.steps], tenant=None, dry_run=dry_run, as_json=as_json,
                force=force, ask="terminal", question=f"Change the configuration of {settings.host}?")


def _register_rotation() -> None:
    from tenctl_vyos.rotate import rotate_secret

    app.command("rotate-secret")(rotate_secret)


_register_rotation()
