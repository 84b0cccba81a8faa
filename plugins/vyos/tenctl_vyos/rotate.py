"""``tenctl vyos rotate-secret``: a new password for the router login tenctl uses (the ``ssh`` transport).

The new password is generated and written to a staged file beside ``vyos.password_file`` (0600) before
anything is sent. It is set with ``set system login user <user> authentication plaintext-password`` in one
commit, saved, and a second SSH session logs in with it. Only then does the staged file replace the
password file (one rename). If the router refuses, nothing changed; if the new login fails, the old
password is set again through the session still open, and the file stays as it was. A run killed after the
commit leaves the staged file: the next run logs in with it and swaps it in.

Secrets never reach a log: netmiko's debug log (which records what is written to the channel) is held at
INFO while the password is sent, and the router's error messages are scrubbed of it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from tenctl_core.errors import TenctlError, UsageError

if TYPE_CHECKING:
    from tenctl_vyos.settings import VyosSettings
    from tenctl_vyos.transport import Router


class VyosRotationFailed(TenctlError):
    """The router's password was not rotated; the message says what was left as it was."""


@contextmanager
def quiet_channel_logs() -> Iterator[None]:
    """netmiko logs every write to the channel at DEBUG: never while a password is on it."""
    logger = logging.getLogger("netmiko")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


def login_path(settings: VyosSettings) -> list[str]:
    return ["system", "login", "user", settings.user, "authentication"]


def password_line(settings: VyosSettings, password: str) -> str:
    return f"set {' '.join(login_path(settings))} plaintext-password '{password}'"


def check_hashed(settings: VyosSettings) -> Any:
    """The commit's read-back: the user has an encrypted password and no plaintext one left."""

    def verify(paths: list[list[str]]) -> None:
        prefix = login_path(settings)
        kinds = {p[len(prefix)] for p in paths if p[: len(prefix)] == prefix and len(p) > len(prefix)}
        if "encrypted-password" not in kinds or "plaintext-password" in kinds:
            raise VyosRotationFailed(f"the router shows no new password for {settings.user} after the commit")

    return verify


def works(settings: VyosSettings, password_file: Path) -> str | None:
    """Log in with the password in password_file in a session of its own; None when it worked, else why."""
    from tenctl_vyos.transport import SshRouter

    probe = SshRouter(dataclasses.replace(settings, password_file=str(password_file), password_env=None))
    try:
        probe.version()
    except TenctlError as exc:
        return str(exc)
    finally:
        probe.close()
    return None


def rotate_secret(
    tctx: typer.Context, force: ForceOption = False, dry_run: DryRun = False, as_json: JsonFlag = False
) -> None:
    """Give the router login tenctl uses a new generated password and swap vyos.password_file.

    Set on the router in one commit (saved), checked with a new login, then written to the password file
    (mode 0600, one rename). On failure the router and the file keep the old password. The password is
    never shown or logged.
    """
    from tenctl_core.output import print_json
    from tenctl_core.rotation import check_swappable, staged_path
    from tenctl_vyos.settings import vyos_settings

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "vyos rotate-secret", dry_run)
        settings = vyos_settings(ctx)
        if not settings.configured:
            raise UsageError("no VyOS router is configured: add a [vyos] table with host = ... (see the VyOS guide)")
        if settings.transport != "ssh":
            raise UsageError(
                "vyos.transport is 'api': rotate-secret sets the SSH login's password; rotate the API key on "
                "the router by hand (see the credentials guide) and write it to vyos.api_key_file"
            )
        target = check_swappable(settings.password_file, settings.password_env, "vyos.password_file")
        pending = staged_path(target)
        summary = {"router": settings.host, "user": settings.user, "password_file": str(target)}
        if dry_run:
            steps = [
                f"set a new generated password for {settings.user} on {settings.host} (commit, save)",
                f"log in again with it, then write it to {target} (mode 0600)",
            ]
            if pending.exists():
                steps.insert(0, f"first try the password {pending} holds, left by an interrupted rotation")
            if as_json:
                print_json({"dry_run": True, **summary, "steps": steps})
            else:
                for step in steps:
                    print(f"  {step}")
                print("Dry run: nothing was changed.")
            return
        confirm_if_interactive(f"Give {settings.user} on the router {settings.host} a new password?", force)
        with audited(ctx, "vyos rotate-secret", None, dict(summary)) as info:
            if pending.exists() and not pending.is_symlink() and works(settings, pending) is None:
                from tenctl_core.rotation import StagedSecret

                StagedSecret.left_over(target, "vyos.password_file").commit()
                info["finished_interrupted"] = True
                message = f"finished an interrupted rotation: {target} holds the router's current password"
            else:
                rotate_ssh_password(ctx, settings, target)
                message = f"router {settings.host}: {settings.user} has a new password, written to {target} (mode 0600)"
        if as_json:
            print_json({**summary, **{k: v for k, v in info.items() if k not in summary}, "outcome": "success"})
        else:
            print(message)


def rotate_ssh_password(ctx: Any, settings: VyosSettings, target: Path) -> None:
    from tenctl_core.rotation import StagedSecret, generate_device_secret, scrubbed
    from tenctl_vyos.settings import read_secret
    from tenctl_vyos.transport import router

    old = read_secret(settings, "password")
    new = generate_device_secret()
    staged = StagedSecret(target, "vyos.password_file")
    staged.write(new)
    link: Router = router(ctx, settings)
    try:
        with quiet_channel_logs():
            link.change([password_line(settings, new)], check_hashed(settings), confirm=False)
    except TenctlError as exc:
        staged.discard()
        raise VyosRotationFailed(
            f"the router kept its password and {target} is unchanged: {scrubbed(str(exc), new, old)}"
        ) from None
    problem = works(settings, staged.path)
    if problem is None:
        staged.commit()
        return
    try:
        with quiet_channel_logs():
            link.change([password_line(settings, old)], check_hashed(settings), confirm=False)
    except TenctlError as exc:
        raise VyosRotationFailed(
            f"the new password was set but a login with it failed ({scrubbed(problem, new, old)}), and putting "
            f"the old one back failed too ({scrubbed(str(exc), new, old)}); the new password is in {staged.path}",
            hint=f"log in with it and check the router; `tenctl vyos rotate-secret` swaps {staged.path} in once it works",
        ) from None
    staged.discard()
    raise VyosRotationFailed(
        f"a login with the new password failed ({scrubbed(problem, new, old)}); the old password was set again "
        f"and {target} is unchanged"
    )
