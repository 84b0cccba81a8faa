"""``tenctl rotate``: a tenant admin's new password (``-n NAME``) or tenctl's own API token (``--api-token``).

The router's and the switches' secrets are rotated by their plugins' commands (``tenctl vyos rotate-secret``,
``tenctl switch rotate-secret``): they know how their devices take a new one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import (
    DryRun,
    ForceOption,
    JsonFlag,
    audited,
    confirm_if_interactive,
    open_context,
    options,
    reported_errors,
)
from tenctl_core.errors import UsageError
from tenctl_core.naming import check_tenant_name

if TYPE_CHECKING:
    from tenctl_core.context import Context


def rotate(
    tctx: typer.Context,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Give this tenant's admin user a new generated password.")
    ] = None,
    api_token: Annotated[
        bool,
        typer.Option(
            "--api-token",
            help="Replace tenctl's own API token with a new one (same rights) and swap its secret file.",
        ),
    ] = False,
    password_out: Annotated[
        Path | None,
        typer.Option(
            "--password-out",
            help="Write the tenant's new password to this file (mode 0600) instead of showing it.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Let --password-out replace an existing file (never a link).")
    ] = False,
    force: ForceOption = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Rotate a credential: a tenant admin's password (-n NAME) or tenctl's API token (--api-token).

    The new password is generated, set in Proxmox and shown once (or written to --password-out). The audit
    trail records the rotation, never a secret. VyOS and switch secrets: `tenctl vyos rotate-secret`,
    `tenctl switch rotate-secret`.
    """
    with reported_errors(options(tctx).debug):
        if (name is None) == (not api_token):
            raise UsageError("give -n NAME (a tenant admin's password) or --api-token, one of them")
        if api_token and password_out is not None:
            raise UsageError("--password-out is for a tenant's password; --api-token writes proxmox.token_secret_file")
        if overwrite and password_out is None:
            raise UsageError("--overwrite goes with --password-out FILE")
        if name is not None:
            check_tenant_name(name)
        if password_out is not None:
            from tenctl_core.rotation import check_secret_target

            check_secret_target(password_out, overwrite, "--password-out")
        if api_token:
            ctx = open_context(tctx, "rotate --api-token", dry_run)
            rotate_api_token(ctx, force, dry_run, as_json)
        else:
            assert name is not None
            ctx = open_context(tctx, "rotate", dry_run)
            rotate_tenant_password(ctx, name, password_out, force, dry_run, as_json)


def rotate_tenant_password(
    ctx: Context, name: str, password_out: Path | None, force: bool, dry_run: bool, as_json: bool
) -> None:
    from tenctl_core.cli.common import show_plan
    from tenctl_core.output import print_json
    from tenctl_core.rotation import StagedSecret, apply_tenant_password, plan_tenant_password

    tenant = ctx.store.load(name)
    rotation = plan_tenant_password(ctx, tenant)
    if dry_run:
        show_plan(rotation.plan, as_json)
        return
    confirm_if_interactive(f"Give {tenant.admin_user} a new password (the old one stops working)?", force)
    # Made before the change: if the file cannot be, the password is not changed.
    staged = StagedSecret(password_out, "--password-out") if password_out is not None else None
    try:
        with audited(ctx, "rotate", name, {"secret": "password", "user": tenant.admin_user}) as info:
            apply_tenant_password(ctx, rotation)
            if staged is not None:
                staged.write(rotation.password)
                staged.commit()
                info["password_file"] = str(password_out)
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    summary: dict[str, Any] = {"tenant": name, "user": tenant.admin_user, "rotated": "password"}
    if as_json:
        if password_out is None:
            summary["password"] = rotation.password
        else:
            summary["password_file"] = str(password_out)
        print_json(summary)
        return
    for note in rotation.plan.notes:
        print(f"note: {note}")
    if password_out is not None:
        print(f"New password of {tenant.admin_user} written to {password_out} (mode 0600).")
    else:
        print(f"New password of {tenant.admin_user} (shown once, store it safely): {rotation.password}")


def rotate_api_token(ctx: Context, force: bool, dry_run: bool, as_json: bool) -> None:
    from tenctl_core.output import print_json
    from tenctl_core.rotation import apply_api_token, plan_api_token

    rotation = plan_api_token(ctx)
    steps = rotation.describe()
    if dry_run:
        if as_json:
            print_json({"dry_run": True, **rotation.as_dict(), "steps": steps})
        else:
            for line in steps:
                print(f"  {line}")
            print("Dry run: nothing was changed.")
        return
    confirm_if_interactive(f"Replace the API token {rotation.full_id(rotation.old_name)}?", force)
    with audited(ctx, "rotate --api-token", None, rotation.as_dict()) as info:
        apply_api_token(ctx, rotation, info)
    if as_json:
        print_json({**rotation.as_dict(), "outcome": "success"})
        return
    for name in rotation.leftovers:
        print(f"deleted the leftover token {rotation.full_id(name)}", file=sys.stderr)
    print(
        f"API token rotated: {rotation.full_id(rotation.new_name)} replaces {rotation.full_id(rotation.old_name)} "
        f"(deleted); {rotation.secret_file} holds the new secret (mode 0600)."
    )
