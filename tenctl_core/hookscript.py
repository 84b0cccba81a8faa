"""The guard's hookscript: the file on a snippets storage, and its place in the tenants' guests.

What Proxmox asks of a hookscript (pve-guest-common ``src/PVE/GuestHelpers.pm`` ``check_hookscript``):
a volume ``<storage>:snippets/<file>`` of a storage with a path, whose file exists on the node and is
executable. PVE itself does not look at the storage's ``content`` setting there; tenctl asks for
``snippets`` in it all the same, because that is what lists the file in ``GET .../storage/<id>/content``
(pve-storage ``src/PVE/Storage/Plugin.pm``), which is how tenctl tells on which nodes it is installed.

The file cannot go through the API: the upload call takes ``iso``, ``vztmpl`` and ``import`` only
(pve-storage ``src/PVE/API2/Storage/Status.pm``). ``tenctl guard install`` therefore writes it into the
storage's directory on the machine it runs on: a node. A shared storage (NFS, CephFS...) needs it once; a
node-local one (``local``) needs it on every node, so the command runs on each.

Only ``root@pam`` may set or remove a guest's ``hookscript`` (qemu-server ``src/PVE/API2/Qemu.pm``
``check_vm_modify_config_perm``, pve-container ``src/PVE/LXC.pm`` ``check_ct_modify_config_perm``), and an
API token is its own user (pve-manager ``PVE/HTTPServer.pm``: "the token-ID ... is the user for token based
authentication"), so even a token of root@pam is refused: tenctl attaches the script through a password
session (:meth:`tenctl_core.context.Context.ticket_session`). The same rule keeps a tenant's admin from
taking the guard off its guests.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import ConfigError, ProxmoxError, TenctlError, UsageError, is_missing
from tenctl_core.plan import Plan, Step

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.proxmox import ProxmoxClient

SCRIPT_NAME = "tenctl-guard"
MARKER = "# tenctl-guard: a Proxmox VE hookscript written by `tenctl guard install`"
"""The line that makes the file tenctl's: ``install`` rewrites such a file and refuses any other."""
FILE_STORAGES = ("dir", "nfs", "cifs", "cephfs", "btrfs")
"""Storage types with a ``path`` that can hold snippets (pve-storage's plugins)."""
SCRIPT_MODE = 0o755


# ------------------------------------------------------------------------------------- the storage


@dataclass(frozen=True)
class SnippetStorage:
    """A storage that can hold the guard, as ``GET /storage/{storage}`` describes it."""

    id: str
    type: str
    path: str
    shared: bool
    subdir: str = "snippets"
    """Where snippets live under ``path`` (``content-dirs`` may move them)."""

    @property
    def volid(self) -> str:
        return f"{self.id}:snippets/{SCRIPT_NAME}"

    @property
    def directory(self) -> Path:
        return Path(self.path) / self.subdir

    @property
    def file(self) -> Path:
        return self.directory / SCRIPT_NAME


def snippet_storage(ctx: Context, storage_id: str) -> SnippetStorage:
    """The guard's storage, checked: it exists, is enabled, has a path and allows content ``snippets``."""
    try:
        found = ctx.cached_get(f"/storage/{storage_id}")
    except ProxmoxError as exc:
        if is_missing(exc):
            raise UsageError(
                f"storage {storage_id!r} does not exist",
                hint="name a directory storage with content snippets: --storage ID or monitoring.guard_storage",
            ) from None
        raise
    found = found or {}
    kind = str(found.get("type", ""))
    content = [c for c in str(found.get("content", "")).split(",") if c]
    if kind not in FILE_STORAGES or not found.get("path"):
        raise UsageError(
            f"storage {storage_id} ({kind or 'unknown type'}) holds no files, so no hookscript",
            hint=f"choose a storage of type {', '.join(FILE_STORAGES)} with content snippets",
        )
    if "snippets" not in content:
        wanted = ",".join([*content, "snippets"]) if content and content != ["none"] else "snippets"
        raise UsageError(
            f"storage {storage_id} does not allow content snippets (content: {','.join(content) or 'none'})",
            hint=f"allow it with `pvesm set {storage_id} --content {wanted}`, or choose another storage",
        )
    if str(found.get("disable", "0")) in ("1", "true"):
        raise UsageError(f"storage {storage_id} is disabled", hint=f"`pvesm set {storage_id} --disable 0`")
    subdir = "snippets"
    for item in str(found.get("content-dirs", "")).split(","):
        key, _, value = item.partition("=")
        if key.strip() == "snippets" and value.strip():
            subdir = value.strip().strip("/")
    # pve-storage src/PVE/Storage/Plugin.pm marks nfs, cifs and cephfs shared whatever their `shared` says.
    shared = str(found.get("shared", "0")) in ("1", "true") or kind in ("nfs", "cifs", "cephfs")
    return SnippetStorage(storage_id, kind, str(found["path"]), shared, subdir)


# ---------------------------------------------------------------------------------------- the file


def script_text(python: str, config_file: str | None, profile: str | None) -> str:
    """The hookscript: a shell script that runs this installation's tenctl with its configuration."""
    lines = [
        "#!/bin/sh",
        MARKER,
        "# Proxmox runs it as `tenctl-guard VMID PHASE`; at pre-start it refuses a start that would take the",
        "# guest's tenant over a limit. It answers as `tenctl guard hook VMID PHASE` does (see its --help).",
        "# `tenctl guard install` rewrites this file: change tenctl's configuration rather than this file.",
    ]
    for name, value in (("TENCTL_CONFIG", config_file), ("TENCTL_PROFILE", profile)):
        if value:
            lines += [f"{name}={shlex.quote(value)}", f"export {name}"]
    lines.append(f'exec {shlex.quote(python)} -m tenctl_core.guard "$1" "$2"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LocalScript:
    """What is at the guard's path on this machine."""

    state: str
    """``missing``, ``ours`` (carries the marker), ``foreign`` (another file, a link, a directory), or
    ``elsewhere`` (the storage's directory is not on this machine)."""
    text: str = ""


def local_script(storage: SnippetStorage) -> LocalScript:
    if not Path(storage.path).is_dir():
        return LocalScript("elsewhere")
    path = storage.file
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return LocalScript("foreign")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return LocalScript("missing")
    except OSError as exc:
        raise TenctlError(f"cannot read {path}: {exc.strerror}") from None
    return LocalScript("ours" if MARKER in text.splitlines() else "foreign", text)


def write_script(path: Path, text: str) -> None:
    """Write the script atomically: mode 0755, owned by root when run as root (Proxmox runs it as root)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if os.geteuid() == 0:
            os.chown(tmp, 0, 0)
        os.chmod(tmp, SCRIPT_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def install_plan(
    ctx: Context, storage_id: str | None, force: bool, config_file: str | None, profile: str | None
) -> Plan:
    """The step that writes the guard into the storage's directory here, or notes saying it is in place."""
    storage = snippet_storage(ctx, storage_id or ctx.config.monitoring.guard_storage)
    plan = Plan("guard install", None)
    existing = local_script(storage)
    if existing.state == "elsewhere":
        raise UsageError(
            f"the directory of storage {storage.id} ({storage.path}) is not on this machine",
            hint="run `tenctl guard install` on a Proxmox node: the API cannot upload snippets",
        )
    if existing.state == "foreign" and not force:
        raise UsageError(
            f"{storage.file} exists and was not written by tenctl (it lacks tenctl's marker line)",
            hint="remove or rename it, choose another storage, or replace it with --force",
        )
    text = script_text(sys.executable, config_file, profile)
    if existing.state == "ours" and existing.text == text:
        plan.notes.append(f"the guard is installed at {storage.file} ({storage.volid}), unchanged")
    else:
        verb = {"missing": "write", "ours": "update", "foreign": "replace the foreign file"}[existing.state]
        diff = "".join(
            difflib.unified_diff(
                existing.text.splitlines(keepends=True),
                text.splitlines(keepends=True),
                str(storage.file) + " (now)",
                str(storage.file) + " (new)",
            )
        )
        plan.add(
            Step(
                "host",
                f"{verb} {storage.file} (volume {storage.volid}, mode 0755)",
                lambda: write_script(storage.file, text),
                id=f"core:guard:install:{storage.id}",
                op="create" if existing.state == "missing" else "update",
                diff=diff,
            )
        )
    if not storage.shared:
        plan.notes.append(
            f"storage {storage.id} is not shared: install the guard on every node that runs tenant guests "
            f"(this writes it on {ctx.node} only)"
        )
    mode = Path(storage.path).stat().st_mode if Path(storage.path).is_dir() else 0
    if mode & 0o022:
        plan.notes.append(
            f"warning: {storage.path} is writable by group or others: whoever can replace the script runs "
            "code as root at every guest start"
        )
    plan.notes.append(
        f"attach it to the tenants' guests with `tenctl guard attach --all` (or `tenctl sync --all`): "
        f"hookscript {storage.volid}"
    )
    return plan


# ------------------------------------------------------------------------------------------ guests


def nodes_with_script(ctx: Context, storage: SnippetStorage, nodes: list[str]) -> dict[str, bool | None]:
    """node -> whether the storage lists the guard there (None: the node could not be asked).

    One request for a shared storage, one per node otherwise."""
    found: dict[str, bool | None] = {}
    asked: bool | None = None
    for node in nodes:
        if storage.shared and asked is not None:
            found[node] = asked
            continue
        try:
            listing = ctx.proxmox.get(f"/nodes/{node}/storage/{storage.id}/content", content="snippets") or []
            present: bool | None = any(item.get("volid") == storage.volid for item in listing)
        except ProxmoxError:
            present = None
        found[node] = present
        if present is not None:
            asked = present
    return found


@dataclass
class GuestGuard:
    """One guest of a tenant and its hookscript."""

    tenant: str
    vmid: int
    type: str
    name: str
    node: str
    state: str
    """``guarded``, ``unguarded`` (no hookscript), ``other`` (another hookscript), ``not-installed`` (the
    guard is missing on the guest's node) or ``unreadable``."""
    hookscript: str = ""
    detail: str = ""
    digest: str = ""

    @property
    def label(self) -> str:
        return f"{self.type} {self.vmid}" + (f" ({self.name})" if self.name else "")

    @property
    def path(self) -> str:
        return f"/nodes/{self.node}/{self.type}/{self.vmid}/config"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "vmid": self.vmid,
            "type": self.type,
            "name": self.name,
            "node": self.node,
            "state": self.state,
            "hookscript": self.hookscript or None,
            "detail": self.detail or None,
        }


@dataclass
class GuardSurvey:
    """The guard's storage, the nodes that have the script, and every tenant guest's hookscript."""

    storage: SnippetStorage
    nodes: dict[str, bool | None]
    guests: list[GuestGuard] = field(default_factory=list)

    @property
    def unguarded(self) -> list[GuestGuard]:
        return [g for g in self.guests if g.state != "guarded"]


def survey(ctx: Context, tenants: list[Tenant], only_if_installed: bool = False) -> GuardSurvey:
    """Every guest of these tenants with its hookscript (templates left out: they never start): one
    ``/cluster/resources`` read, the storage listing of each node that has such guests, and one
    configuration read per guest.

    ``only_if_installed``: when no node has the guard, read no guest (``sync`` uses the guard only where
    it is installed)."""
    storage = snippet_storage(ctx, ctx.config.monitoring.guard_storage)
    pools = {t.pool: t.name for t in tenants}
    items = sorted(
        (
            item
            for item in ctx.cached_get("/cluster/resources")
            if item.get("type") in ("qemu", "lxc") and item.get("pool") in pools and not item.get("template")
        ),
        key=lambda item: int(item["vmid"]),
    )
    nodes = nodes_with_script(ctx, storage, sorted({str(item.get("node")) for item in items}))
    result = GuardSurvey(storage, nodes)
    if only_if_installed and not any(nodes.values()):
        return result
    for item in items:
        guest = GuestGuard(
            pools[item["pool"]],
            int(item["vmid"]),
            str(item.get("type")),
            str(item.get("name", "")),
            str(item.get("node")),
            "unreadable",
        )
        try:
            config = ctx.proxmox.get(guest.path) or {}
        except ProxmoxError as exc:
            guest.detail = str(exc)
            result.guests.append(guest)
            continue
        guest.hookscript = str(config.get("hookscript") or "")
        guest.digest = str(config.get("digest") or "")
        if guest.hookscript == storage.volid:
            guest.state = "guarded" if nodes.get(guest.node) is not False else "not-installed"
        elif guest.hookscript:
            guest.state = "other"
        else:
            guest.state = "unguarded" if nodes.get(guest.node) else "not-installed"
        result.guests.append(guest)
    return result


def attach_step(ctx: Context, guest: GuestGuard, volid: str) -> Step:
    """Set the guard as the guest's hookscript (only if the guest's configuration is still as read), through
    the password session (:func:`guard_session`)."""

    def current() -> str:
        return str((guard_session(ctx).get(guest.path) or {}).get("hookscript") or "")

    def apply() -> None:
        guard_session(ctx).put(guest.path, hookscript=volid, digest=guest.digest or None)

    def undo() -> None:
        if current() == volid:
            guard_session(ctx).put(guest.path, delete="hookscript")

    def verify() -> None:
        if current() != volid:
            raise TenctlError(f"{guest.label} does not show hookscript {volid} after it was set")

    return Step(
        "proxmox",
        f"set hookscript {volid} on {guest.label} of tenant {guest.tenant}",
        apply,
        undo,
        f"remove hookscript {volid} from {guest.label}",
        id=f"core:guard:attach:{guest.vmid}",
        op="update",
        settle=lambda: current() == volid,
        verify=verify,
    )


def attach_plan(ctx: Context, found: GuardSurvey) -> Plan:
    """Steps that make the guard the hookscript of every surveyed guest that has none.

    A guest with a hookscript of its own keeps it (noted); a guest on a node without the guard is noted.
    Written through the password session, since Proxmox lets only root@pam set a hookscript: check it with
    :func:`guard_session` before applying."""
    plan = Plan("guard attach", None)
    volid = found.storage.volid
    missing = sorted(node for node, present in found.nodes.items() if present is False)
    for guest in found.guests:
        if guest.state == "unguarded":
            plan.add(attach_step(ctx, guest, volid))
        elif guest.state == "other":
            plan.notes.append(
                f"{guest.label} of tenant {guest.tenant} has a hookscript of its own ({guest.hookscript}): "
                "left alone, and the guard does not run for it"
            )
        elif guest.state == "not-installed":
            plan.notes.append(
                f"{guest.label} of tenant {guest.tenant} is on {guest.node}, which lacks the guard: run "
                f"`tenctl guard install` there"
            )
        elif guest.state == "unreadable":
            plan.notes.append(
                f"{guest.label} of tenant {guest.tenant}: configuration not read: {guest.detail}"
            )
    if missing and not any(g.state == "not-installed" for g in found.guests):
        plan.notes.append(f"the guard is not installed on {', '.join(missing)}")
    guarded = sum(g.state == "guarded" for g in found.guests)
    if guarded:
        plan.notes.append(f"{guarded} guest(s) already have the guard")
    if not found.guests:
        plan.notes.append("no tenant guest to guard")
    return plan


def guard_session(ctx: Context) -> ProxmoxClient:
    """The password session, with what to do when the configuration has no password."""
    user = ctx.config.proxmox.user
    if user != "root@pam":
        raise ConfigError(
            f"Proxmox lets only root@pam set a guest's hookscript; proxmox.user is {user}",
            hint="attach the guard with a configuration (profile) that logs in as root@pam",
        )
    try:
        return ctx.ticket_session()
    except ConfigError:
        raise ConfigError(
            "Proxmox lets only root@pam (not an API token) set a guest's hookscript",
            hint=f"set proxmox.password_file (or password_env) for {ctx.config.proxmox.user} in the configuration",
        ) from None
