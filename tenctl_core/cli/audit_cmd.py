"""``tenctl audit``: the audit trail, newest first, filtered, with counts by level and outcome.

Levels: a ``success`` is INFO, a ``refused`` command WARNING, a ``failure`` or an ``interrupted`` one
ERROR. The reading itself is :mod:`tenctl_core.audit_query`; this module parses and prints.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tenctl_core.cli.common import JsonFlag, options, reported_errors

if TYPE_CHECKING:
    from tenctl_core.audit_query import Entry, Query, Report

DEFAULT_LOG = "/var/log/tenctl/tenant-management.log"
"""The path the packaged logrotate file names; ``--logrotate`` puts the configured one in its place."""


def audit_command(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Only lines of this tenant.")] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            "-l",
            help="Only lines of this level, in any case: INFO (success), WARNING (refused) or ERROR "
            "(failure, interrupted).",
        ),
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", "-d", help="The last DAYS days, up to --until or now (default 7).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            "-s",
            help="From this day (YYYY-MM-DD) or ISO 8601 date and time; local time unless it has an offset.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", "-u", help="Up to this day (the whole day) or date and time (default: now)."),
    ] = None,
    as_json: JsonFlag = False,
    operations_only: Annotated[
        bool,
        typer.Option(
            "--operations-only", help="Only commands that change the cluster (no read-only command, no dry run)."
        ),
    ] = False,
    errors_only: Annotated[
        bool, typer.Option("--errors-only", help="Only failed and interrupted commands (level ERROR).")
    ] = False,
    all_nodes: Annotated[
        bool,
        typer.Option("--all-nodes", help="Every node's lines, from their copies in the cluster file system."),
    ] = False,
    logrotate: Annotated[
        bool,
        typer.Option("--logrotate", help="Print the /etc/logrotate.d/tenctl file for this configuration and exit."),
    ] = False,
) -> None:
    """Show the audit trail: the commands run on this node (on every node with --all-nodes), newest first,
    with counts by level and outcome."""
    from tenctl_core import audit_query
    from tenctl_core.audit import note_config
    from tenctl_core.config import load_config
    from tenctl_core.naming import check_tenant_name

    with reported_errors(options(tctx).debug):
        if name is not None:
            check_tenant_name(name)
        query = audit_query.Query.from_options(
            days=days,
            since=since,
            until=until,
            tenant=name,
            level=audit_query.parse_level(level) if level is not None else None,
            errors_only=errors_only,
            operations_only=operations_only,
        )
        opts = options(tctx)
        config = load_config(opts.config, opts.profile)
        note_config(config)
        if logrotate:
            print(logrotate_file(str(config.paths.audit_log)), end="")
            return
        report = audit_query.run_query(config, query, all_nodes)
        for path, count in report.damaged.items():
            print(f"warning: {path}: {count} damaged line(s) skipped", file=sys.stderr)
        if not report.sources:
            where = "the cluster file system" if all_nodes else str(config.paths.audit_log)
            print(f"note: no audit trail in {where} yet", file=sys.stderr)
        if as_json:
            from tenctl_core.output import print_json

            print_json(report.as_dict())
            return
        for entry in report.entries:
            print(describe(entry))
        print(summary(report, query))


def describe(entry: Entry) -> str:
    """One entry on one line: local time, level, operator@node, command and tenant, outcome and why."""
    from tenctl_core.audit import level_of

    line = entry.line
    when = entry.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    what = " ".join(part for part in (line["command"], line.get("tenant") or "") if part)
    facts = []
    if isinstance(line.get("duration"), int | float):
        facts.append(f"{line['duration']:.3f} s")
    steps = line.get("steps") or []
    if steps:
        facts.append(f"{len(steps)} step{'s' if len(steps) != 1 else ''}")
    text = f"{when}  {level_of(entry.outcome):<7}  {line.get('user', '?')}@{line.get('node', '?')}  "
    text += f"{what}: {entry.outcome}"
    if facts:
        text += f" ({', '.join(facts)})"
    message = " / ".join(part for part in str(line.get("message") or "").splitlines() if part.strip())
    return text + (f": {message}" if message else "")


def summary(report: Report, query: Query) -> str:
    counts = report.counts()
    start = query.since.astimezone().strftime("%Y-%m-%d %H:%M")
    end = query.until.astimezone().strftime("%Y-%m-%d %H:%M") if query.until is not None else "now"
    levels = ", ".join(f"{level} {count}" for level, count in counts["levels"].items())
    outcomes = ", ".join(f"{outcome} {count}" for outcome, count in counts["outcomes"].items())
    total = len(report.entries)
    return f"{total} entr{'y' if total == 1 else 'ies'} from {start} to {end}: {levels} ({outcomes})"


def logrotate_file(audit_log: str) -> str:
    """The packaged logrotate file, naming this configuration's audit trail."""
    from importlib.resources import files

    text = (files("tenctl_core") / "data" / "logrotate").read_text(encoding="utf-8")
    return text.replace(DEFAULT_LOG, f'"{audit_log}"' if any(c.isspace() for c in audit_log) else audit_log)
