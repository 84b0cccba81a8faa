"""``tenctl vyos rotate-secret``: a new secret for tenctl on the router: the SSH login's password (transport
``ssh``) or the HTTP API key (transport ``api``).

API key: the new key is added under an id of its own (``tenctl-<UTC time>``) while the old one keeps working,
a session with it reads the configuration, the staged file is swapped in, and the old key's id is deleted
through the new key. A failure before the swap deletes the new id; the old key and file stay.

SSH password:

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


def works(settings: VyosSettings, secret_file: Path) -> str | None:
    """Open a session of its own with the secret in secret_file (the transport's password or API key) and
    read from the router; None when that worked, else why."""
    from tenctl_vyos.transport import ApiRouter, SshRouter

    probe: Router
    if settings.transport == "ssh":
        probe = SshRouter(dataclasses.replace(settings, password_file=str(secret_file), password_env=None))
    else:
        probe = ApiRouter(dataclasses.replace(settings, api_key_file=str(secret_file), api_key_env=None))
    try:
        if settings.transport == "api":
            probe.running()
        else:
            probe.version()
    except TenctlError as exc:
        return str(exc)
    finally:
        probe.close()
    return None


def secret_key(settings: VyosSettings) -> tuple[str | None, str | None, str]:
    """The file, the environment variable and the configuration key of the transport's secret."""
    if settings.transport == "ssh":
        return settings.password_file, settings.password_env, "vyos.password_file"
    return settings.api_key_file, settings.api_key_env, "vyos.api_key_file"


def rotate_secret(
    tctx: typer.Context, force: ForceOption = False, dry_run: DryRun = False, as_json: JsonFlag = False
) -> None:
    """Give the router a new secret for tenctl (the SSH login's password, or the API key with
    transport = "api") and swap its file (vyos.password_file or vyos.api_key_file).

    Set on the router in one commit (saved), checked with a new session, then written to the file (mode
    0600, one rename). On failure the router and the file keep the old secret. It is never shown or logged.
    """
    from tenctl_core.output import print_json
    from tenctl_core.rotation import check_swappable, staged_path
    from tenctl_vyos.settings import vyos_settings

    with reported_errors(options(tctx).debug):
        ctx = open_context(tctx, "vyos rotate-secret", dry_run)
        settings = vyos_settings(ctx)
        if not settings.configured:
            raise UsageError("no VyOS router is configured: add a [vyos] table with host = ... (see the VyOS guide)")
        path_text, env, key = secret_key(settings)
        target = check_swappable(path_text, env, key)
        pending = staged_path(target)
        what = f"the password of {settings.user}" if settings.transport == "ssh" else "the API key"
        summary = {"router": settings.host, "transport": settings.transport, "secret_file": str(target)}
        if dry_run:
            steps = [
                f"set a new generated secret as {what} on {settings.host} (commit, save)"
                + ("" if settings.transport == "ssh" else ", as a new key id next to the old one"),
                f"open a session with it, then write it to {target} (mode 0600)",
            ]
            if settings.transport == "api":
                steps.append("delete the old key's id through the new key (commit, save)")
            if pending.exists():
                steps.insert(0, f"first try the secret {pending} holds, left by an interrupted rotation")
            if as_json:
                print_json({"dry_run": True, **summary, "steps": steps})
            else:
                for step in steps:
                    print(f"  {step}")
                print("Dry run: nothing was changed.")
            return
        confirm_if_interactive(f"Give the router {settings.host} a new secret for tenctl ({what})?", force)
        with audited(ctx, "vyos rotate-secret", None, dict(summary)) as info:
            if pending.is_file() and not pending.is_symlink() and works(settings, pending) is None:
                finish_interrupted(ctx, settings, target, key)
                info["finished_interrupted"] = True
                message = f"finished an interrupted rotation: {target} holds the router's current secret"
            elif settings.transport == "ssh":
                rotate_ssh_password(ctx, settings, target)
                message = f"router {settings.host}: {settings.user} has a new password, written to {target} (mode 0600)"
            else:
                info["key_id"] = rotate_api_key(ctx, settings, target)
                message = f"router {settings.host}: new API key (id {info['key_id']}), written to {target} (mode 0600)"
        if as_json:
            print_json({**summary, **{k: v for k, v in info.items() if k not in summary}, "outcome": "success"})
        else:
            print(message)


def finish_interrupted(ctx: Any, settings: VyosSettings, target: Path, key: str) -> None:
    """The staged secret works: swap it in; over the API, then delete the ids of the old key too."""
    from tenctl_core.rotation import StagedSecret
    from tenctl_vyos.settings import read_secret
    from tenctl_vyos.transport import ApiRouter

    old = read_secret(settings, "password" if settings.transport == "ssh" else "api_key")
    StagedSecret.left_over(target, key).commit()
    if settings.transport == "api":
        fresh = ApiRouter(settings)
        try:
            drop_keys(fresh, [i for i, k in api_keys(fresh).items() if k == old], old)
        finally:
            fresh.close()


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


# ------------------------------------------------------------------------------------------ API key

KEYS = ["service", "https", "api", "keys", "id"]
PREVIOUS_ID = "tenctl-previous"
"""The id under which the old key is written when the router's configuration does not show it (the lab's
factory state): so that it stays valid until the new key works, and can be deleted by id after."""


def api_keys(link: Router) -> dict[str, str]:
    """Key id -> key, as the running configuration shows them."""
    return {
        p[len(KEYS)]: p[len(KEYS) + 2]
        for p in link.running()
        if p[: len(KEYS)] == KEYS and len(p) == len(KEYS) + 3 and p[len(KEYS) + 1] == "key"
    }


def key_line(key_id: str, key: str) -> str:
    import shlex

    return f"set {' '.join(KEYS)} {key_id} key {shlex.quote(key)}"


def drop_keys(link: Router, ids: list[str], *secrets: str) -> None:
    """Delete key ids in one commit (saved) and check they are gone."""
    from tenctl_core.rotation import scrubbed

    if not ids:
        return

    def verify(paths: list[list[str]]) -> None:
        left = {p[len(KEYS)] for p in paths if p[: len(KEYS)] == KEYS and len(p) > len(KEYS)} & set(ids)
        if left:
            raise VyosRotationFailed(f"the router still shows the API key id(s) {', '.join(sorted(left))}")

    try:
        link.change([f"delete {' '.join(KEYS)} {i}" for i in ids], verify, confirm=False)
    except TenctlError as exc:
        raise VyosRotationFailed(scrubbed(str(exc), *secrets)) from None


def rotate_api_key(ctx: Any, settings: VyosSettings, target: Path) -> str:
    """Add the new key under an id of its own (the old one keeps working), open a session with it, swap the
    file, then delete the old key's id(s) through the new key. Returns the new key's id."""
    import time

    from tenctl_core.rotation import StagedSecret, generate_device_secret, scrubbed
    from tenctl_vyos.settings import read_secret
    from tenctl_vyos.transport import ApiRouter, router

    old = read_secret(settings, "api_key")
    new = generate_device_secret()
    staged = StagedSecret(target, "vyos.api_key_file")
    staged.write(new)
    link: Router = router(ctx, settings)
    try:
        keys = api_keys(link)
        old_ids = sorted(i for i, k in keys.items() if k == old)
        when = int(time.time())
        while (new_id := f"tenctl-{time.strftime('%Y%m%d%H%M%S', time.gmtime(when))}") in keys:
            when += 1
        lines = [key_line(new_id, new)]
        if not old_ids:
            old_ids = [PREVIOUS_ID]
            lines.insert(0, key_line(PREVIOUS_ID, old))

        def verify(paths: list[list[str]]) -> None:
            if [*KEYS, new_id, "key", new] not in paths:
                raise VyosRotationFailed(f"the router does not show the API key id {new_id} after the commit")

        link.change(lines, verify, confirm=False)
    except TenctlError as exc:
        staged.discard()
        raise VyosRotationFailed(
            f"the router kept its API keys and {target} is unchanged: {scrubbed(str(exc), new, old)}"
        ) from None
    problem = works(settings, staged.path)
    if problem is not None:
        try:
            drop_keys(link, [new_id], new, old)
        except VyosRotationFailed as exc:
            problem += f"; deleting the new key id {new_id} failed too ({exc})"
        staged.discard()
        raise VyosRotationFailed(
            f"a session with the new API key failed ({scrubbed(problem, new, old)}); {target} is unchanged"
        )
    staged.commit()
    fresh = ApiRouter(settings)  # reads the file just swapped in
    try:
        drop_keys(fresh, old_ids, new, old)
    except VyosRotationFailed as exc:
        raise VyosRotationFailed(
            f"the new API key (id {new_id}) is in use and in {target}, but the old key's id(s) "
            f"{', '.join(old_ids)} could not be deleted: {exc}",
            hint="delete them on the router (delete service https api keys id ...; commit; save)",
        ) from None
    finally:
        fresh.close()
    return new_id
