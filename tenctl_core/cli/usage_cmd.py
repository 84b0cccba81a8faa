"""``tenctl usage``: what each tenant's guests hold and use against its limits (one API request)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import JsonFlag, open_context, options, reported_errors
from tenctl_core.naming import check_tenant_name

if TYPE_CHECKING:
    from tenctl_core.limits import TenantUsage

MARKS = {"OK": "✓", "WARNING": "⚠", "CRITICAL": "⚠", "OVER": "✗"}


def usage(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only this tenant.")] = None,
    as_json: JsonFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list each tenant's guests.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw the watcher's usage history into FILE (.svg, .png or .html) instead of printing figures.",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Show what each tenant's guests hold against its CPU, RAM and storage limits: OK, WARNING (80 %),
    CRITICAL (90 %) or OVER. Without -n, every tenant, highest share first."""
    from tenctl_core.limits import usage_of

    with reported_errors(options(tctx).debug):
        if name is not None:
            check_tenant_name(name)
        if plot is not None:
            draw_plot(tctx, plot, name)
            return
        ctx = open_context(tctx, "usage")
        store = ctx.store
        tenants = [store.load(name)] if name else ctx.tenants()
        for problem in store.damaged:
            ctx.warn(f"{problem} (skipped)")
        reports = usage_of(ctx, tenants)
        if name is None:
            reports.sort(key=lambda u: (-u.highest_percent, u.tenant.name))
        if as_json:
            from tenctl_core.output import print_json

            data = [u.as_dict() for u in reports]
            print_json(data[0] if name else data)
        else:
            print_usage(reports, verbose)


def print_usage(reports: list[TenantUsage], verbose: bool) -> None:
    from tenctl_core.limits import fmt

    if not reports:
        print("No tenants.")
        return
    for report in reports:
        tenant = report.tenant
        suspended = "  (SUSPENDED)" if tenant.status == "suspended" else ""
        print(f"{MARKS[report.overall_status]} {tenant.name}: {report.overall_status}{suspended}")
        print(f"    VMs: {len(report.guests)} total, {report.running_count} running")
        for m in report.measures:
            extra = (
                f"  (all guests: {fmt(m.allocated)})"
                if m.resource != "storage" and m.allocated != m.counted
                else ""
            )
            beyond = f", {fmt(m.over_by)} over" if m.over_by else ""
            label = {"cpu": "CPU", "ram": "RAM", "storage": "Storage"}[m.resource]
            print(
                f"    {label + ':':9}{fmt(m.counted):>9} / {m.limit:<7} {m.unit:5} {m.percent:6.1f} %  "
                f"{m.status}{beyond}{extra}"
            )
        if verbose and report.guests:
            print(
                f"    {'VMID':>6}  {'Name':20} {'Type':5} {'Status':8} {'Node':10} {'Cores':>5} {'RAM(MB)':>8} "
                f"{'Disk(GB)':>9}"
            )
            for g in report.guests:
                print(
                    f"    {g.vmid:>6}  {g.name[:20]:20} {g.type:5} {g.status:8} {g.node[:10]:10} {g.cpu:>5} "
                    f"{g.mem // 1024**2:>8} {fmt(round(g.disk / 1024**3, 2)):>9}"
                )
    over = sum(r.overall_status == "OVER" for r in reports)
    near = sum(r.overall_status in ("WARNING", "CRITICAL") for r in reports)
    print(f"{len(reports)} tenant(s): {over} over a limit, {near} near one")


def draw_plot(tctx: typer.Context, path: Path, name: str | None) -> None:
    """``--plot``: this node's watcher history, drawn by :mod:`tenctl_core.plot` (no API request)."""
    from tenctl_core.cli.watch_cmd import draw_usage_plot

    draw_usage_plot(tctx, path, name)


def usage_summary(report: TenantUsage) -> dict[str, Any]:
    """What ``list`` and ``show`` add about a tenant's limits: its overall status and what is over."""
    return {
        "limits_status": report.overall_status,
        "over_limits": [m.describe() for m in report.over],
    }
