"""``tenctl switch rotate-secret``: new passwords for the switch logins tenctl uses (napalm's ``eos`` driver).

Switches are rotated by password file: switches that share a ``password_file`` share its secret, so they
form one group that changes all together or not at all; switches with files of their own are groups of
one, and one switch failing leaves the others rotated. For each group:

1. a new secret is generated and written to a staged file beside the password file (0600), before anything
   is sent;
2. every switch of the group gets ``username <user> secret <new>`` as a merge, committed with the switch's
   commit timer (``revert_in``, at least 60 s): unless confirmed in time, the switch restores its old
   configuration, old password included, by itself;
3. once every switch committed, each is confirmed by a second session that logs in with the new secret
   (napalm's ``confirm_commit``) — the connection test and the confirmation are one step;
4. then the staged file replaces the password file in one rename.

When a switch of the group fails, the others are put back: a pending commit is aborted (napalm's
``rollback``), a confirmed one gets the old secret again; a switch that cannot be reached for that returns
to its old password when its commit timer runs out. The staged file is removed and the password file kept.
A run killed after a group confirmed but before the rename leaves the staged file: the next run finds that
it opens every switch of the group and swaps it in.

The secret never reaches a log or a message: pyeapi's and napalm's loggers are held above DEBUG, and
device messages are scrubbed of it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
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
from tenctl_core.errors import TenctlError, UsageError

if TYPE_CHECKING:
    from tenctl_switch_napalm.device import Switch
    from tenctl_switch_napalm.settings import SwitchSettings

MIN_TIMER = 60
"""Seconds of the commit timer at least: long enough for the second login and the confirmation."""


class SwitchRotationFailed(TenctlError):
    """One or more switches kept their old secret; the message names them."""


@contextmanager
def quiet_device_logs() -> Iterator[None]:
    """pyeapi logs request bodies at DEBUG: never while a secret is in one."""
    loggers = [logging.getLogger(name) for name in ("pyeapi", "napalm", "netmiko")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.level, logging.INFO))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@dataclasses.dataclass
class Group:
    """Switches that share one password file."""

    target: Path
    switches: list[Switch]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.switches]


def groups_of(ctx: Any, settings: SwitchSettings, sites: tuple[str, ...] | None, only: tuple[str, ...]) -> list[Group]:
    """The chosen switches grouped by password file, each file checked before any switch is touched."""
    from tenctl_core.rotation import check_swappable
    from tenctl_switch_napalm.provider import switches

    devices = switches(ctx)
    chosen = [
        devices[spec.name]
        for site, spec in settings.switches()
        if (sites is None or site.name in sites) and (not only or spec.name in only)
    ]
    unknown = sorted(set(only) - {s.name for s in chosen})
    if unknown:
        raise UsageError(f"--switch {', '.join(unknown)}: no such switch in the chosen sites of [switches]")
    if not chosen:
        raise UsageError("no switch to rotate: the chosen sites have no switches")
    groups: dict[Path, Group] = {}
    for device in chosen:
        spec = device.spec
        if spec.driver != "eos":
            raise UsageError(
                f"switch {spec.name}: rotate-secret knows EOS's `username ... secret` only, not the {spec.driver} "
                "driver; rotate its password by hand and write it to its password_file"
            )
        target = check_swappable(spec.password_file, spec.password_env, f"switches: {spec.name}.password_file")
        groups.setdefault(target.resolve(), Group(target, [])).switches.append(device)
    for group in groups.values():
        users = {s.spec.user for s in group.switches}
        if len(users) > 1:
            raise UsageError(
                f"switches {', '.join(group.names)} share {group.target} but log in as different users "
                f"({', '.join(sorted(users))}): give each its own password_file"
            )
    # Switches of a group not chosen would keep the old secret that the file would no longer hold.
    for spec_site, spec in settings.switches():
        for group in groups.values():
            if spec.name not in group.names and spec.password_file and Path(spec.password_file).resolve() == group.target.resolve():
                raise UsageError(
                    f"switch {spec.name} ({spec_site.name}) shares {group.target} with {', '.join(group.names)}: "
                    "rotate them together (choose its site or name it with --switch too)"
                )
    return list(groups.values())


def with_secret_file(device: Switch, path: Path) -> Switch:
    """A second connection to the switch that logs in with the secret in path."""
    from tenctl_switch_napalm.device import Switch

    spec = dataclasses.replace(device.spec, password_file=str(path), password_env=None)
    return Switch(device.site, spec, device.timeout)


def secret_line(device: Switch, secret: str) -> str:
    return f"username {device.spec.user} secret {secret}\n"


def rotate_group(group: Group, settings: SwitchSettings) -> dict[str, str]:
    """Rotate one group (see the module's docstring); each switch's outcome in words. Raises
    SwitchRotationFailed when the group kept its old secret."""
    from tenctl_core.rotation import StagedSecret, generate_device_secret, scrubbed, staged_path
    from tenctl_switch_napalm.device import on_each
    from tenctl_switch_napalm.settings import read_password

    option = f"switches: {', '.join(group.names)}.password_file"
    leftover = staged_path(group.target)
    if leftover.is_file() and not leftover.is_symlink():
        probes = on_each([with_secret_file(s, leftover) for s in group.switches], lambda s: s.facts(), settings.concurrency)
        if all(isinstance(found, dict) for found in probes.values()):
            StagedSecret.left_over(group.target, option).commit()
            return dict.fromkeys(group.names, "finished an interrupted rotation")
    old = read_password(group.switches[0].spec)
    new = generate_device_secret()
    staged = StagedSecret(group.target, option)
    staged.write(new)
    timer = max(settings.revert_in, MIN_TIMER)

    def why(exc: BaseException) -> str:
        return scrubbed(str(exc), new, old)

    def commit(device: Switch) -> None:
        device.stage(secret_line(device, new))
        device.commit(timer)

    def confirm(device: Switch) -> None:
        second = with_secret_file(device, staged.path)
        try:
            second.device().config_session = device.device().config_session
            second.call("confirming the commit with the new secret", "confirm_commit")
        finally:
            second.close()

    with quiet_device_logs():
        committed = on_each(group.switches, commit, settings.concurrency)
        failed = {name: why(exc) for name, exc in committed.items() if isinstance(exc, BaseException)}
        confirmed: dict[str, Any] = {}
        if not failed:
            confirmed = on_each(group.switches, confirm, settings.concurrency)
            failed = {name: why(exc) for name, exc in confirmed.items() if isinstance(exc, BaseException)}
        if not failed:
            staged.commit()
            return dict.fromkeys(group.names, f"new secret in {group.target}")
        outcomes = {name: f"failed: {reason}" for name, reason in failed.items()}
        for device in group.switches:
            if isinstance(committed.get(device.name), BaseException):
                device.discard()  # nothing committed there
                continue
            was_confirmed = device.name in confirmed and not isinstance(confirmed[device.name], BaseException)
            outcomes.setdefault(device.name, "put back")
            try:
                put_back(device, staged.path, old, was_confirmed)
            except TenctlError as exc:
                outcomes[device.name] += (
                    f"; the old secret could not be put back now ({why(exc)}): the switch restores it when its "
                    f"commit timer runs out ({timer} s)"
                )
    staged.discard()
    raise SwitchRotationFailed(
        f"switches {', '.join(group.names)} keep the secret of {group.target} (unchanged): "
        + "; ".join(f"{name}: {text}" for name, text in sorted(outcomes.items()))
    )


def put_back(device: Switch, staged: Path, old: str, was_confirmed: bool) -> None:
    """Undo one switch's part of a failed group: abort its pending commit, or set the old secret again."""
    second = with_secret_file(device, staged)
    try:
        if was_confirmed:
            second.stage(secret_line(device, old))
            second.commit(0)
        else:
            second.device().config_session = device.device().config_session
            second.call("aborting the pending commit", "rollback")
    finally:
        second.close()


def rotate_secret(
    tctx: typer.Context,
    site: Annotated[str | None, typer.Option("--site", help="Only the switches of these sites (comma-separated).")] = None,
    switch: Annotated[
        list[str] | None, typer.Option("--switch", help="Only this switch (repeat for more).")
    ] = None,
    force: ForceOption = False,
    dry_run: DryRun = False,
    as_json: JsonFlag = False,
) -> None:
    """Give the switch logins tenctl uses new generated secrets and swap their password files.

    Switches sharing a password file change together or not at all; other switches do not wait for each
    other. Each change is committed with the switch's commit timer and confirmed by a login with the new
    secret. The secrets are never shown or logged.
    """
    from tenctl_core.output import print_json
    from tenctl_core.rotation import staged_path
    from tenctl_switch_napalm.plugin import check_sites
    from tenctl_switch_napalm.settings import NAME_RE, switch_settings

    with reported_errors(options(tctx).debug):
        sites = check_sites(site) if site is not None else None
        only = tuple(switch or ())
        for name in only:
            if not NAME_RE.fullmatch(name):
                raise UsageError(f"--switch {name!r}: not a switch name (lower case, digits, '-')")
        ctx = open_context(tctx, "switch rotate-secret", dry_run)
        settings = switch_settings(ctx)
        if not settings.configured:
            raise UsageError("no switch is configured: add a [switches] inventory (see the switch guide)")
        known = {s.name for s in settings.sites}
        for name in sites or ():
            if name not in known:
                raise UsageError(f"--site: no site {name} in the [switches] inventory")
        groups = groups_of(ctx, settings, sites, only)
        plan = [
            {
                "switches": group.names,
                "password_file": str(group.target),
                "interrupted_rotation": staged_path(group.target).exists(),
            }
            for group in groups
        ]
        if dry_run:
            if as_json:
                print_json({"dry_run": True, "groups": plan})
            else:
                for entry in plan:
                    first = "try the staged secret left by an interrupted rotation, else " if entry["interrupted_rotation"] else ""
                    print(
                        f"  {first}set a new secret on {', '.join(entry['switches'])} (commit timer, confirmed by a "
                        f"login with it), then write it to {entry['password_file']} (mode 0600)"
                    )
                print("Dry run: nothing was changed.")
            return
        confirm_if_interactive(f"Give {sum(len(g.switches) for g in groups)} switch(es) new secrets?", force)
        outcomes: dict[str, str] = {}
        failures: list[str] = []
        with audited(ctx, "switch rotate-secret", None, {"groups": plan}) as info:
            for group in groups:
                try:
                    outcomes.update(rotate_group(group, settings))
                except SwitchRotationFailed as exc:
                    failures.append(str(exc))
                    outcomes.update(dict.fromkeys(group.names, "kept its old secret"))
            info["outcomes"] = outcomes
            if failures:
                rotated = sorted(n for n, text in outcomes.items() if text != "kept its old secret")
                raise SwitchRotationFailed(
                    " | ".join(failures) + (f" (rotated: {', '.join(rotated)})" if rotated else "")
                )
        if as_json:
            print_json({"outcomes": outcomes, "outcome": "success"})
        else:
            for name, text in sorted(outcomes.items()):
                print(f"switch {name}: {text}")
