"""``tenctl backup`` and ``tenctl restore`` (and the backup ``remove --backup`` makes first).

A backup is a tenant's record, its objects in every layer and its guest inventory, in one archive of a
registered format (:mod:`tenctl_core.archive`). A restore checks the whole archive before its first request,
then brings the tenant back through ``add``'s own planning and applying, with a new admin password.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import (
    DryRun,
    JsonFlag,
    audited,
    check_new_secret_file,
    confirm_if_interactive,
    open_context,
    options,
    reported_errors,
    show_plan,
)
from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.naming import check_new_tenant_name, check_tenant_name
from tenctl_core.validation import check_cidr, check_vlan

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.plan import Plan
    from tenctl_core.providers import BackupFormat

DEFAULT_FORMAT = "tar.gz"

OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Directory of the archives (default: paths.backup_dir, /var/backups/tenctl)."),
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="Archive format: tar.gz (default) or json (see `tenctl plugins`).")
]


def backup_directory(ctx: Context, given: Path | None) -> Path:
    return Path(given) if given is not None else Path(ctx.config.paths.backup_dir)


def backup(
    tctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Tenant to back up.")] = None,
    all_tenants: Annotated[bool, typer.Option("--all", help="Back up every tenant, one archive each.")] = False,
    output: OutputOption = None,
    fmt: FormatOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a tenant's backup: <name>_<YYYYmmdd_HHMMSS>.tar.gz (mode 0600) with its record, its objects in
    every layer, its guest inventory and a manifest of SHA-256 checksums. No password or secret is in it;
    the guests' disks are Proxmox Backup Server's (or vzdump's) job."""
    from tenctl_core import archive

    with reported_errors(options(tctx).debug):
        if (name is None) == (not all_tenants):
            raise UsageError("give --name NAME or --all")
        if name is not None:
            check_tenant_name(name)
        ctx = open_context(tctx, "backup")
        chosen = archive.format_named(ctx, fmt or DEFAULT_FORMAT)
        directory = backup_directory(ctx, output)
        if name is not None:
            with audited(ctx, "backup", name, {"format": chosen.name}) as info:
                path = archive.backup_tenant(ctx, name, directory, chosen)
                info["file"] = str(path)
            report([{"tenant": name, "file": str(path), "format": chosen.name}], as_json)
            return
        done, failed = [], []
        for tenant in ctx.tenants(refresh=True):
            try:
                with audited(ctx, "backup", tenant.name, {"format": chosen.name}) as info:
                    path = archive.backup_tenant(ctx, tenant.name, directory, chosen)
                    info["file"] = str(path)
            except TenctlError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed.append(tenant.name)
                continue
            done.append({"tenant": tenant.name, "file": str(path), "format": chosen.name})
        for problem in ctx.store.damaged:
            print(f"error: {problem} (not backed up)", file=sys.stderr)
        report(done, as_json)
        if failed or ctx.store.damaged:
            raise typer.Exit(1)


def report(done: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        from tenctl_core.output import print_json

        print_json(done)
        return
    for entry in done:
        print(f"Backup of tenant {entry['tenant']} written to {entry['file']}")


@dataclass
class BackupBeforeRemoval:
    """``remove --backup``: the tenant is backed up under the removal's own lock, before its first step."""

    ctx: Context
    directory: Path
    fmt: BackupFormat
    plan: Plan | None = None
    written: list[Path] = field(default_factory=list)

    def announce(self, plan: Plan, tenant: Tenant) -> None:
        self.plan = plan
        plan.notes.insert(
            0, f"tenant {tenant.name} is backed up to {self.directory} first; if that fails, nothing is removed"
        )

    def __call__(self, tenant: Tenant) -> None:
        from tenctl_core import archive
        from tenctl_core.operations import check_no_unfinished

        check_no_unfinished(tenant, "backup")
        path = archive.write_backup(self.ctx, tenant, self.directory, self.fmt)
        self.written.append(path)
        if self.plan is not None:
            self.plan.notes[0] = f"backup of tenant {tenant.name} written to {path}"


def backup_before_removal(ctx: Context, directory: Path | None) -> BackupBeforeRemoval:
    from tenctl_core import archive

    return BackupBeforeRemoval(ctx, backup_directory(ctx, directory), archive.format_named(ctx, DEFAULT_FORMAT))


def vlan_choice(text: str | None) -> int | str | None:
    """``--new-vlan``: ``auto`` or a VLAN id (checked before any request)."""
    from tenctl_core.archive import AUTO

    if text is None or text == AUTO:
        return text
    if not text.isdigit():
        raise UsageError(f"--new-vlan {text!r}: give a VLAN id (1-4094) or 'auto'")
    return check_vlan(int(text))


def subnet_choice(text: str | None) -> str | None:
    """``--new-subnet``: ``auto`` or a network in CIDR form (checked before any request)."""
    from tenctl_core.archive import AUTO

    if text is None or text == AUTO:
        return text
    return str(check_cidr(text))


def restore(
    tctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", help="The backup to restore (a .tar.gz or .json archive).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="The archive's format, when the file's name does not end in its extension."),
    ] = None,
    new_name: Annotated[
        str | None, typer.Option("--new-name", help="Restore the tenant under this name (default: the backup's).")
    ] = None,
    new_vlan: Annotated[
        str | None,
        typer.Option("--new-vlan", help="'auto' (a free one) or a VLAN id, instead of the backup's VLAN."),
    ] = None,
    new_subnet: Annotated[
        str | None,
        typer.Option("--new-subnet", help="'auto' (a free one) or a subnet in CIDR form, instead of the backup's."),
    ] = None,
    password_out: Annotated[
        Path | None,
        typer.Option(
            "--password-out", help="Write the admin user's new password to this new file (mode 0600) instead of showing it."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation at a terminal.")] = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Recreate a tenant from a backup: checks the archive (checksums, format version, every value), then
    does what `add` does, with the backup's limits, email, status, dates and each layer's part. The admin
    user gets a new password."""
    from tenctl_core import archive, operations
    from tenctl_core.cli.commands import create_tenant, print_new_tenant

    with reported_errors(options(tctx).debug):
        if new_name is not None:
            check_new_tenant_name(new_name)
        vlan = vlan_choice(new_vlan)
        subnet = subnet_choice(new_subnet)
        if password_out is not None:
            check_new_secret_file(password_out, False)
        ctx = open_context(tctx, "restore", dry_run)
        found = archive.read_backup(file, archive.format_of_file(ctx, file, fmt))
        request = archive.restore_request(found, new_name, vlan, subnet)
        if dry_run:
            result = operations.plan_add(ctx, request)
            result.plan.notes.extend(archive.restore_notes(ctx, found, result))
            show_plan(result.plan, as_json)
            return
        confirm_if_interactive(f"Restore tenant {request.name} from {file}?", force)
        details: dict[str, Any] = {"file": str(file), "from_tenant": found.tenant.name, "created": found.created}
        result, secret_file = create_tenant(ctx, request, password_out, details)
        notes = archive.restore_notes(ctx, found, result)
        print_new_tenant(ctx, result, password_out, secret_file, as_json, "restored", {"notes": notes} if as_json else None)
        if not as_json:
            for note in notes:
                print(f"note: {note}")
