"""Rotation of the secrets tenctl holds or hands out: a tenant admin's password and tenctl's own API token.

A tenant admin's new password is generated as ``add`` generates the first one, set with
``PUT /access/password`` (which PVE refuses to API tokens: the password session of the configuration is used)
and shown once or written to a file of mode 0600.

The API token is never regenerated in place. Newer pve-access-control can (``PUT
/access/users/{userid}/token/{tokenid}`` with ``regenerate``, added 2026-04-17 in src/PVE/API2/User.pm), and
deleting and re-creating the same id would keep the configuration as it is, but both kill the old secret
before the new one is safely on disk: a failure or a kill in between would leave tenctl locked out. So a
token with a new id ``<token_name>-<UTC time>`` is made with the old one's privilege separation, expiry and
comment, and the old one's ACL entries; its name and secret are written together (``<name>=<secret>``) to
a new file beside the secret file; a session with it is opened; only then does the new file replace the old
one (one rename), and the old token is deleted through the new one. Any failure before the rename deletes
the new token and leaves the old token and file as they were. A kill leaves at worst a token of the family
that the file does not name: the next rotation finds it and deletes it first, and ``--dry-run`` shows it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core import hookimpl
from tenctl_core.errors import ConflictError, TenctlError, UsageError
from tenctl_core.health import PASS, WARN
from tenctl_core.providers import AuditCheck, CheckResult, Remedy

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.plan import Plan
    from tenctl_core.proxmox import ProxmoxClient
    from tenctl_core.registry import Registrar

API_TOKEN_LOCK = "api-token-rotation"  # noqa: S105 - a lock name, not a secret
STAMP_FORMAT = "%Y%m%d%H%M%S"


class RotationFailed(TenctlError):
    """A rotation that did not happen; the message says what was left as it was."""


# ------------------------------------------------------------------------------------ secret files

DEVICE_SECRET_LENGTH = 32
DEVICE_SECRET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"  # noqa: S105 - an alphabet


def generate_device_secret() -> str:
    """A new router or switch secret: 32 letters and digits (about 186 bits), nothing a device's command
    line could read as a quote, an option or a separator."""
    import secrets

    return "".join(secrets.choice(DEVICE_SECRET_ALPHABET) for _ in range(DEVICE_SECRET_LENGTH))


def scrubbed(text: str, *secrets: str) -> str:
    """Text (a device's error message, which may echo the line sent) with the secrets replaced by stars."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def staged_path(target: Path) -> Path:
    """Where :class:`StagedSecret` keeps a target's next secret until it is swapped in."""
    return target.with_name(f".{target.name}.rotating")


def check_swappable(path_text: str | None, env: str | None, key: str) -> Path:
    """A secret that rotation can swap: it lives in a file (not a link) the configuration names."""
    if not path_text:
        raise UsageError(
            f"{key}: the secret comes from the environment variable {env}; tenctl can only swap a file: "
            f"set {key}" if env else f"{key} is not set: rotation writes the new secret there"
        )
    path = Path(path_text)
    if path.is_symlink():
        raise UsageError(f"{key} {path}: is a symbolic link; rotation replaces only plain files")
    if not path.parent.is_dir():
        raise UsageError(f"{key} {path}: directory {path.parent} does not exist")
    return path


def check_secret_target(path: Path, overwrite: bool, option: str) -> None:
    """A file a new secret may go to: in an existing directory, never through a symbolic link, and an
    existing file only with ``overwrite``. Checked before the first request."""
    if path.is_symlink():
        raise UsageError(f"{option} {path}: is a symbolic link; tenctl writes secrets only to plain files")
    if path.exists() and not overwrite:
        raise UsageError(f"{option} {path}: the file exists; add --overwrite to replace it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{option} {path}: is not a regular file")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: directory {path.parent} does not exist")


class StagedSecret:
    """A secret's next file, made before anything changes, beside the file it will replace (same directory:
    the rename is atomic): created exclusively, never through a link, mode 0600 whatever the umask. ``write``
    puts the secret in it (flushed to disk); ``commit`` renames it over the target; ``discard`` removes it."""

    def __init__(self, target: Path, option: str) -> None:
        self.target = target
        self.option = option
        self.path = staged_path(target)
        self._written = False
        if self.path.is_symlink() or self.path.exists():
            # Left by a rotation that was killed: the secret it may hold was never in use.
            self.path.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd: int | None = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise UsageError(f"{option} {target}: cannot create a file in {target.parent}: {exc.strerror}") from None
        os.fchmod(self.fd, 0o600)

    @classmethod
    def left_over(cls, target: Path, option: str) -> StagedSecret:
        """The staged file an interrupted rotation left, to be swapped in once its secret proved to work."""
        staged = cls.__new__(cls)
        staged.target, staged.option, staged.path = target, option, staged_path(target)
        staged.fd, staged._written = None, True
        return staged

    def write(self, text: str) -> None:
        assert self.fd is not None
        fd, self.fd = self.fd, None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._written = True

    def commit(self) -> None:
        """The new file takes the target's place in one rename (a link put there meanwhile is replaced,
        not followed); the directory is synced so that the rename survives a power loss."""
        assert self._written
        os.replace(self.path, self.target)
        directory = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------- tenant passwords


@dataclass
class PasswordRotation:
    tenant: Tenant
    plan: Plan
    password: str = field(repr=False)


def plan_tenant_password(ctx: Context, tenant: Tenant) -> PasswordRotation:
    """A new generated password for the tenant's admin user, as one step (``PUT /access/password``)."""
    from tenctl_core.operations import generate_password
    from tenctl_core.plan import Plan, Step

    password = generate_password()
    plan = Plan("rotate", tenant.name)
    session = ctx.ticket_session() if not ctx.dry_run else None
    userid = tenant.admin_user

    def change() -> None:
        assert session is not None
        session.change_password(userid, password)

    plan.add(
        Step(
            "proxmox",
            f"set a new generated password for {userid}",
            change,
            id=f"core:password:user:{userid}",
            op="password",
        )
    )
    if tenant.status != "active":
        plan.notes.append(f"tenant {tenant.name} is {tenant.status}: the new password works once it is resumed")
    return PasswordRotation(tenant, plan, password)


def apply_tenant_password(ctx: Context, rotation: PasswordRotation) -> None:
    """Under the tenant's lock, as every change of a tenant: a command under way on it is not raced."""
    from tenctl_core.operations import check_no_unfinished, tenant_locked
    from tenctl_core.plan import apply_plan

    with tenant_locked(ctx, rotation.tenant.name, "rotate"):
        check_no_unfinished(ctx.store.load(rotation.tenant.name), "rotate")
        apply_plan(rotation.plan)


# ------------------------------------------------------------------------------------- API token


@dataclass
class TokenRotation:
    """What an API token rotation will do (``--dry-run`` shows it, the audit trail names it)."""

    userid: str
    old_name: str
    new_name: str
    secret_file: Path
    info: dict[str, Any]
    acl: list[dict[str, Any]]
    leftovers: list[str]

    def full_id(self, name: str) -> str:
        return f"{self.userid}!{name}"

    def describe(self) -> list[str]:
        lines = [f"delete the leftover token {self.full_id(n)} of an interrupted rotation" for n in self.leftovers]
        lines.append(
            f"create the token {self.full_id(self.new_name)} (privsep {self.info.get('privsep', 1)}, "
            f"expire {self.info.get('expire', 0)}, comment {self.info.get('comment', '')!r})"
        )
        lines += [
            f"grant {e['roleid']} on {e['path']} to {self.full_id(self.new_name)}"
            + ("" if e.get("propagate", 1) else " (no propagation)")
            for e in self.acl
        ]
        lines += [
            f"write its name and secret to {self.secret_file} (mode 0600, replacing the old file in one rename) "
            "once a session with it works",
            f"delete the old token {self.full_id(self.old_name)}",
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.full_id(self.old_name),
            "new_token": self.full_id(self.new_name),
            "secret_file": str(self.secret_file),
            "acl_entries": len(self.acl),
            "leftovers": [self.full_id(n) for n in self.leftovers],
        }


def token_secret_file(ctx: Context) -> Path:
    """The file the rotation swaps; a token read from the environment cannot be rotated by tenctl."""
    px = ctx.config.proxmox
    if not px.uses_token:
        raise UsageError(
            "--api-token: tenctl logs in with a password, not an API token (proxmox.token_name is not set)"
        )
    return check_swappable(px.token_secret_file, px.token_secret_env, "proxmox.token_secret_file")


def family(stem: str) -> re.Pattern[str]:
    """The ids of a configured token name: the name itself and its rotations ``<name>-<14 digits>``."""
    return re.compile(re.escape(stem) + r"(-\d{14})?")


def plan_api_token(ctx: Context) -> TokenRotation:
    """Read the token in use (its settings and ACL entries) and every leftover of its family."""
    px = ctx.config.proxmox
    path = token_secret_file(ctx)
    old_name, _secret = ctx.config.api_token()
    stem = px.token_name or old_name
    api = ctx.proxmox
    user = px.user
    tokens = {t["tokenid"]: t for t in api.get(f"/access/users/{user}/token") or []}
    if old_name not in tokens:
        raise RotationFailed(
            f"the token {user}!{old_name} that tenctl uses is not among {user}'s tokens",
            hint="check proxmox.user and proxmox.token_name",
        )
    leftovers = sorted(n for n in tokens if n != old_name and family(stem).fullmatch(n))
    old_id = f"{user}!{old_name}"
    acl = [e for e in api.get("/access/acl") or [] if e.get("type") == "token" and e.get("ugid") == old_id]
    info = {k: tokens[old_name][k] for k in ("privsep", "expire", "comment") if tokens[old_name].get(k) is not None}
    when = int(time.time())
    while (new_name := f"{stem}-{time.strftime(STAMP_FORMAT, time.gmtime(when))}") in tokens:
        when += 1  # two rotations within a second: the next free second names the new token
    return TokenRotation(user, old_name, new_name, path, info, acl, leftovers)


def client_for(ctx: Context, secret_file: Path) -> ProxmoxClient:
    """A session that authenticates exactly as tenctl will once the file is in place."""
    from tenctl_core.proxmox import ProxmoxClient

    config = dataclasses.replace(
        ctx.config, proxmox=dataclasses.replace(ctx.config.proxmox, token_secret_file=str(secret_file))
    )
    return ProxmoxClient(config)


def apply_api_token(ctx: Context, rotation: TokenRotation, report: dict[str, Any]) -> None:
    """Run the rotation (see the module's docstring); ``report`` collects what was done, for the audit trail."""
    from tenctl_core.locking import cluster_lock
    from tenctl_core.operations import audit_lock_break

    old = ctx.proxmox
    user = rotation.userid
    with cluster_lock(
        ctx.config.paths.cluster_dir,
        ctx.node,
        "rotate --api-token",
        ctx.operator,
        name=API_TOKEN_LOCK,
        on_break=lambda info: audit_lock_break(ctx, None, info),
    ):
        current, _secret = ctx.config.api_token()
        if current != rotation.old_name:
            raise ConflictError(
                f"{rotation.secret_file} names the token {rotation.full_id(current)} now: another command rotated "
                "it while this one was being prepared",
                hint="run the command again if the token should be rotated once more",
            )
        for name in rotation.leftovers:
            old.delete(f"/access/users/{user}/token/{name}")
            report.setdefault("deleted_leftovers", []).append(rotation.full_id(name))
        staged = StagedSecret(rotation.secret_file, "proxmox.token_secret_file")
        created = False
        try:
            answer = old.post(f"/access/users/{user}/token/{rotation.new_name}", **rotation.info)
            created = True
            secret = str((answer or {}).get("value") or "")
            if not secret:
                raise RotationFailed(f"Proxmox made the token {rotation.full_id(rotation.new_name)} but sent no secret")
            staged.write(f"{rotation.new_name}={secret}")
            del secret
            for entry in rotation.acl:
                old.put(
                    "/access/acl",
                    path=entry["path"],
                    roles=entry["roleid"],
                    tokens=rotation.full_id(rotation.new_name),
                    propagate=1 if entry.get("propagate", 1) else 0,
                )
            fresh = client_for(ctx, staged.path)
            fresh.get("/version")
            granted = {
                (e["path"], e["roleid"])
                for e in fresh.get("/access/acl") or []
                if e.get("type") == "token" and e.get("ugid") == rotation.full_id(rotation.new_name)
            } if rotation.acl else set()
            missing = {(e["path"], e["roleid"]) for e in rotation.acl} - granted
            if missing:
                raise RotationFailed(
                    f"the new token lacks {len(missing)} ACL entr{'y' if len(missing) == 1 else 'ies'} of the old one"
                )
            staged.commit()
        except BaseException as exc:
            staged.discard()
            if created:
                try:
                    old.delete(f"/access/users/{user}/token/{rotation.new_name}")
                except TenctlError:
                    report["left_behind"] = rotation.full_id(rotation.new_name)
            if isinstance(exc, TenctlError) and not isinstance(exc, RotationFailed):
                raise RotationFailed(
                    f"API token rotation failed, {rotation.full_id(rotation.old_name)} and "
                    f"{rotation.secret_file} are unchanged: {exc}",
                    hint=exc.hint,
                ) from None
            raise
        report["rotated"] = True
        try:
            fresh.delete(f"/access/users/{user}/token/{rotation.old_name}")
        except TenctlError as exc:
            report["old_token_left"] = rotation.full_id(rotation.old_name)
            raise RotationFailed(
                f"the new token {rotation.full_id(rotation.new_name)} is in use and in {rotation.secret_file}, "
                f"but the old token {rotation.full_id(rotation.old_name)} could not be deleted: {exc}",
                hint="run `tenctl rotate --api-token` again: it deletes tokens left by a rotation first",
            ) from None



# ------------------------------------------------------------------------------------ health check


class CredentialsCheck(AuditCheck):
    """What an interrupted API token rotation leaves: a token of the family that the secret file does not
    name, or a staged secret file. One API request (the user's tokens), only with a token secret file."""

    name = "credentials"
    description = "no token or staged secret file is left behind by an interrupted `tenctl rotate --api-token`"

    def run(self, ctx: Context) -> list[CheckResult]:
        px = ctx.config.proxmox
        if not (px.uses_token and px.token_secret_file and px.token_name):
            return [CheckResult(self.name, PASS, "no API token secret file to watch")]
        path = Path(px.token_secret_file)
        current, _secret = ctx.config.api_token()
        tokens = [t.get("tokenid", "") for t in ctx.proxmox.get(f"/access/users/{px.user}/token") or []]
        leftovers = sorted(t for t in tokens if t != current and family(px.token_name).fullmatch(t))
        staged = staged_path(path)
        details = [f"token {px.user}!{name} is not the one {path} names" for name in leftovers]
        if staged.exists() or staged.is_symlink():
            details.append(f"{staged} is left from a rotation that did not finish")
        if not details:
            return [CheckResult(self.name, PASS, f"API token {px.user}!{current}; nothing left by a rotation")]
        return [
            CheckResult(
                self.name,
                WARN,
                "an API token rotation was interrupted: run `tenctl rotate --api-token` to clean up and finish",
                details,
                [Remedy("tenctl rotate --api-token")],
            )
        ]


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    register(CredentialsCheck())
