"""``tenctl switch``: status (every switch, or one site's) and diff (what a tenant's VLAN would change)."""

from __future__ import annotations

from typing import Annotated

import typer

from tenctl_core.cli.common import JsonFlag, open_context, options, reported_errors
from tenctl_core.errors import UsageError
from tenctl_core.naming import check_tenant_name

app = typer.Typer(help="The site's physical switches.", no_args_is_help=True, rich_markup_mode=None)


def _configured(ctx):  # type: ignore[no-untyped-def]
    from tenctl_switch_napalm.settings import switch_settings

    settings = switch_settings(ctx)
    if not settings.configured:
        raise UsageError("no switch is configured: add a [switches] inventory (see the switch guide)")
    return settings


@app.command()
def status(
    tctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's switches.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Each switch: reachable, driver, facts, tenant VLANs present or missing (exit 1 when any is not)."""
    from tenctl_core.output import print_json
    from tenctl_switch_napalm.checks import switch_reports
    from tenctl_switch_napalm.device import on_each
    from tenctl_switch_napalm.plugin import check_sites
    from tenctl_switch_napalm.provider import switches

    with reported_errors(options(tctx).debug):
        if site is not None:
            check_sites(site)
        ctx = open_context(tctx, "switch status")
        settings = _configured(ctx)
        if site is not None and site not in {s.name for s in settings.sites}:
            raise UsageError(f"--site: no site {site} in the [switches] inventory")
        reports = switch_reports(ctx, site)
        devices = switches(ctx)
        facts = on_each([devices[r.name] for r in reports if r.reachable], lambda s: s.facts(), settings.concurrency)
        for report in reports:
            found = facts.get(report.name)
            if isinstance(found, dict):
                report.facts = found
        if as_json:
            print_json([r.as_dict() for r in reports])
        else:
            for r in reports:
                state = "reachable" if r.reachable else f"NOT reachable: {r.error}"
                print(f"switch {r.name} ({r.site}, {r.driver}): {state}")
                if r.facts:
                    print(
                        "  {} {} {}, serial {}".format(
                            r.facts.get("vendor"), r.facts.get("model"), r.facts.get("os_version"),
                            r.facts.get("serial_number"),
                        )
                    )
                if r.reachable:
                    print(f"  tenant VLANs present: {len(r.tenants_present)}")
                for problem in r.problems:
                    print(f"  {problem}")
        if any(not r.reachable or r.problems for r in reports):
            raise typer.Exit(1)


@app.command()
def diff(
    tctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Tenant name.")],
) -> None:
    """Each switch's own diff (napalm's compare_config) of what the tenant's VLAN needs there; nothing is
    committed, every candidate is discarded."""
    from tenctl_core.engine import diff_tenant
    from tenctl_switch_napalm.device import on_each
    from tenctl_switch_napalm.provider import PROVIDER, SwitchVlans, switches

    with reported_errors(options(tctx).debug):
        check_tenant_name(name)
        ctx = open_context(tctx, "switch diff", dry_run=True)
        settings = _configured(ctx)
        tenant = ctx.store.load(name)
        provider = SwitchVlans()
        [mine] = [d for d in diff_tenant(ctx, tenant, present=True).providers if d.provider.name == PROVIDER]
        texts: dict[str, str] = {}
        for change in mine.changes:
            switch, text = provider.text(ctx, tenant, change)
            texts[switch] = texts.get(switch, "") + text

        def compare(switch):  # type: ignore[no-untyped-def]
            try:
                return switch.stage(texts[switch.name])
            finally:
                switch.discard()

        devices = switches(ctx)
        results = on_each([devices[n] for n in texts], compare, settings.concurrency)
        if not texts:
            print(f"tenant {name}: every switch already carries its VLAN")
        for switch_name, result in results.items():
            print(f"--- switch {switch_name}")
            print(str(result).rstrip() if not isinstance(result, BaseException) else f"error: {result}")
        if any(isinstance(r, BaseException) for r in results.values()):
            raise typer.Exit(1)


def _register_rotation() -> None:
    from tenctl_switch_napalm.rotate import rotate_secret

    app.command("rotate-secret")(rotate_secret)


_register_rotation()
