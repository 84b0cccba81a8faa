"""The faces of the batch commands: ``tenctl migrate --records DIR`` and ``tenctl add --from-file FILE``.

They parse, call :mod:`tenctl_core.record_migration` or :mod:`tenctl_core.bulk`, and print; the commands in
:mod:`tenctl_core.cli.commands` hand over to them when the option is given.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tenctl_core.cli.common import audited, open_context, options, reported_errors
from tenctl_core.errors import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    from tenctl_core.record_migration import RecordMigration


def migrate_records_command(tctx: typer.Context, records: Path, dry_run: bool, as_json: bool) -> None:
    from tenctl_core.audit import note_outcome
    from tenctl_core.record_migration import BadRecords, migrate_records

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "migrate", dry_run)
        try:
            if dry_run:
                result = migrate_records(ctx, records)
            else:
                with audited(ctx, "migrate", None, {"records": str(records)}) as info:
                    result = migrate_records(ctx, records)
                    info.update(
                        migrated=[t.tenant for t in result.tenants if t.outcome == "migrated"],
                        skipped=[t.tenant for t in result.tenants if t.outcome == "skipped"],
                        failed=[t.tenant for t in result.tenants if t.outcome == "failed"],
                    )
        except BadRecords as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            print(f"hint: {exc.hint}", file=sys.stderr)
            note_outcome(
                "refused", f"{len(exc.problems)} value(s) in the records of {records} break tenctl's rules"
            )
            raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        from tenctl_core.output import print_json

        print_json({**result.as_dict(), "dry_run": dry_run})
    else:
        print_record_report(result, dry_run)
    if result.failed:
        raise typer.Exit(EXIT_FAILURE)


def print_record_report(result: RecordMigration, dry_run: bool) -> None:
    print(f"Read {len(result.tenants)} record(s) in {result.directory}.")
    for report in result.tenants:
        print(
            f"{report.tenant} ({report.record}): {report.outcome}"
            + (f": {report.reason}" if report.reason else "")
        )
        for label, items in (
            ("taken over", report.taken_over),
            ("created", report.created),
            ("removed (tenctl does not grant it)", report.removed),
            ("filled", report.filled),
            ("not mapped", report.not_mapped),
            ("note", report.notes),
        ):
            for what in items:
                print(f"  {label}: {what}")
        if dry_run and report.plan is not None:
            print("  " + report.plan.describe().replace("\n", "\n  "))
    print_commits(result.commits, dry_run)
    if result.batch_error:
        print(f"error: {result.batch_error}", file=sys.stderr)
    if dry_run:
        print("Dry run: nothing was changed.")


def print_commits(commits: list[str], dry_run: bool) -> None:
    for name in commits:
        print(f"{'Then' if dry_run else 'Committed'} once for the whole batch: {name}.")


def add_from_file_command(
    tctx: typer.Context, source: Path, password_out: Path | None, dry_run: bool, as_json: bool
) -> None:
    from tenctl_core.bulk import add_many, read_tenant_file
    from tenctl_core.cli.common import SecretFile, check_new_secret_file

    with reported_errors(options(tctx).debug):
        rows = read_tenant_file(source)
        if password_out is not None:
            check_new_secret_file(password_out, False)
        ctx = open_context(tctx, "add", dry_run)
        requests = [row.request(ctx.config.defaults) for row in rows]
        if dry_run:
            result = add_many(ctx, requests, [row.where for row in rows])
        else:
            secret_file = SecretFile(password_out) if password_out is not None else None
            try:
                with audited(ctx, "add", None, {"from_file": str(source), "tenants": len(requests)}) as info:
                    result = add_many(ctx, requests, [row.where for row in rows])
                    info.update(
                        added=[r.tenant.name for r in result.added],
                        failed=[name for name, _ in result.failed],
                    )
            except BaseException:
                if secret_file is not None:
                    secret_file.discard()
                raise
            generated = [(r.tenant.name, r.tenant.admin_user, r.password) for r in result.added if r.password]
            if secret_file is not None:
                secret_file.write(
                    "\n".join(f"{name},{user},{password}" for name, user, password in generated)
                )
    if as_json:
        from tenctl_core.output import print_json

        print_json(result.as_dict(show_passwords=password_out is None and not dry_run, dry_run=dry_run))
    else:
        for plan in result.plans:
            print(plan.describe())
        for added in result.added:
            tenant = added.tenant
            print(
                f"Tenant {tenant.name} created: VLAN {tenant.vlan}, subnet {tenant.subnet}, user {tenant.admin_user}."
            )
            if added.password and password_out is None:
                print(
                    f"Initial password of {tenant.admin_user} (shown once, store it safely): {added.password}"
                )
        if password_out is not None and result.added:
            print(f"Initial passwords written to {password_out} (mode 0600, lines tenant,user,password).")
        for name, reason in result.failed:
            print(f"error: tenant {name} was not added: {reason}", file=sys.stderr)
        print_commits(result.commits, dry_run)
        if result.batch_error:
            print(f"error: {result.batch_error}", file=sys.stderr)
        if dry_run:
            print("Dry run: nothing was changed.")
    if result.failed or result.batch_error:
        raise typer.Exit(EXIT_FAILURE)


def only_from_file(tctx: typer.Context, from_file: Path | None, name: str | None, *given: object) -> None:
    """``--from-file`` replaces ``--name`` and the options of one tenant; one of the two is needed."""
    with reported_errors(options(tctx).debug):
        from tenctl_core.errors import UsageError

        if from_file is None:
            raise UsageError("give the tenant's name with --name, or a file of tenants with --from-file")
        if name is not None or any(value is not None for value in given):
            raise UsageError(
                "--from-file takes every tenant's values from the file: give no --name or other tenant option "
                "with it (only --password-out, --dry-run and --json)"
            )
