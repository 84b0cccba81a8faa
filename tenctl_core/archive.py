"""What a tenant backup holds, how it is written, and how an archive is checked before a restore.

A backup is a set of members, stored by a :class:`~tenctl_core.providers.BackupFormat` (core's ``tar.gz``
and ``json``, :mod:`tenctl_core.backup`):

``manifest.json``
    ``format`` (``tenctl-tenant-backup``), ``format_version`` (:data:`FORMAT_VERSION`), ``tenant``,
    ``created``, ``tenctl_version``, ``node``, ``archive_format``, and ``members``: for every other member
    its ``sha256`` and ``size``.
``tenant.toml``
    The tenant's record as the tenants directory holds it (limits, contact, status, dates, each provider's
    part). A record never holds a password or any other secret.
``guests.json``
    The guests in the tenant's pool when the backup was made (the inventory; their disks are Proxmox
    Backup Server's or vzdump's job).
``providers/<provider>.json``
    For each enabled provider: ``intended``, what the tenant should have in that layer (pool, group, user,
    ACL entries; VNet and subnet; the router's lines; the switches' VLANs), and ``observed``, the objects
    of the tenant's as they were. Attributes only: what a provider sends only at creation (an initial
    password) is never written.

Reading (:func:`read_backup`) treats the archive as untrusted: the format refuses unsafe or oversized
members, then every member must be listed in the manifest with its checksum and size, the format version
must be one this tenctl knows, and every value of the record is checked with the rules of ``add``, all
before the first request. A restore then goes through ``add``'s own planning and applying
(:func:`tenctl_core.operations.add_tenant`), with the backup's record as what to restore.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from tenctl_core import __version__
from tenctl_core.errors import ArchiveError, TenctlError, UsageError
from tenctl_core.model import ACTIVE, DATE_FORMAT, SUSPENDED, Tenant
from tenctl_core.naming import TenantNames, check_new_tenant_name, check_tenant_name
from tenctl_core.validation import (
    check_cidr,
    check_cpu,
    check_email,
    check_ram,
    check_storage,
    check_text,
    check_vlan,
)

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.operations import AddRequest, AddResult
    from tenctl_core.providers import BackupFormat, Observed, Resource

FORMAT = "tenctl-tenant-backup"
FORMAT_VERSION = 1
"""The layout of the members this tenctl writes and reads; an archive of another version is refused."""
MANIFEST, RECORD, GUESTS, LAYERS = "manifest.json", "tenant.toml", "guests.json", "providers"
PROVIDER_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,62}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
STAMP_FORMAT = "%Y%m%d_%H%M%S"
"""The time in an archive's name, ``<name>_<YYYYmmdd_HHMMSS><extension>``, as the Bash tool named them."""
AUTO = "auto"
REMAP_HINTS = {
    "name": "restore it under another name with --new-name, or remove the existing tenant first",
    "vlan": "restore with --new-vlan auto (or --new-vlan ID) to give the tenant another VLAN",
    "subnet": "restore with --new-subnet auto (or --new-subnet CIDR) to give the tenant another subnet",
}


@dataclass
class Backup:
    """An archive read and checked: what :func:`read_backup` returns."""

    path: Path
    archive_format: str
    format_version: int
    created: str
    tenctl_version: str
    node: str
    tenant: Tenant
    """The record, every value checked with the rules of ``add``."""
    guests: list[dict[str, Any]]
    layers: dict[str, dict[str, list[dict[str, Any]]]]
    """provider -> ``{"intended": [...], "observed": [...]}``, as written (shapes checked)."""


# ------------------------------------------------------------------------------------------ writing


def resource_dict(resource: Resource) -> dict[str, Any]:
    """An intended object without its ``create_only`` values (an initial password is one)."""
    return {
        "kind": resource.kind,
        "id": resource.id,
        "attrs": dict(resource.attrs),
        "parent": list(resource.parent) if resource.parent else None,
        "label": resource.describe(),
    }


def observed_dict(found: Observed) -> dict[str, Any]:
    return {
        "kind": found.kind,
        "id": found.id,
        "attrs": dict(found.attrs),
        "marker": found.marker.text() if found.marker else None,
        "parent": list(found.parent) if found.parent else None,
        "label": found.describe(),
    }


def tenant_layers(ctx: Context, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Each enabled provider's intended objects of the tenant and its objects as they are (those carrying
    this installation's marker for it, or hanging on one that does): one batched read per provider.

    A backend that cannot be read (a router down) does not stop the backup: the record is what a restore
    needs. Its layer then holds the intended objects only, and ``unread`` says why (with a warning)."""
    from tenctl_core.engine import is_owned, tenant_providers

    marker = ctx.marker(tenant)
    layers: dict[str, dict[str, Any]] = {}
    for provider in tenant_providers(ctx):
        if not PROVIDER_NAME_RE.fullmatch(provider.name):
            ctx.warn(f"provider {provider.name!r} has a name no archive member can carry: its layer is not in the backup")
            continue
        layer: dict[str, Any] = {"intended": [resource_dict(r) for r in provider.desired(ctx, tenant)]}
        try:
            everything = provider.observe(ctx, [tenant])
        except TenctlError as exc:
            ctx.warn(f"backup of tenant {tenant.name}: the {provider.name} layer could not be read ({exc}); "
                     "the backup holds what it should be, not what it is")
            layer.update(observed=[], unread=str(exc))
        else:
            index = {o.key: o for o in everything}
            layer["observed"] = [observed_dict(o) for o in everything if is_owned(o, marker, index)]
        layers[provider.name] = layer
    return layers


def guest_inventory(ctx: Context, tenant: Tenant) -> list[dict[str, Any]]:
    from tenctl_core.guests import guests_by_pool

    return [
        {**guest.as_dict(), "disk": guest.disk, "pool": tenant.pool}
        for guest in sorted(guests_by_pool(ctx).get(tenant.pool, []), key=lambda g: g.vmid)
    ]


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def archive_members(
    tenant: Tenant,
    layers: dict[str, dict[str, Any]],
    guests: list[dict[str, Any]],
    *,
    node: str,
    created: str,
    archive_format: str,
) -> dict[str, bytes]:
    """Every member of a backup, the manifest with the others' checksums included."""
    members = {
        RECORD: tomli_w.dumps(tenant.to_toml_dict()).encode("utf-8"),
        GUESTS: json_bytes(guests),
        **{f"{LAYERS}/{name}.json": json_bytes({"provider": name, **layer}) for name, layer in layers.items()},
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tenant": tenant.name,
        "created": created,
        "tenctl_version": __version__,
        "node": node,
        "archive_format": archive_format,
        "members": {
            name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
            for name, content in sorted(members.items())
        },
    }
    return {MANIFEST: json_bytes(manifest), **members}


def backup_file_name(tenant: str, when: dt.datetime, fmt: BackupFormat) -> str:
    return f"{tenant}_{when.strftime(STAMP_FORMAT)}{fmt.extension}"


def write_backup(ctx: Context, tenant: Tenant, directory: Path, fmt: BackupFormat) -> Path:
    """Write the tenant's backup into directory (made 0700 if missing) as a new file of mode 0600, read it
    back with every check a restore makes, and return its path. The caller holds the tenant's lock."""
    when = dt.datetime.now()
    members = archive_members(
        tenant,
        tenant_layers(ctx, tenant),
        guest_inventory(ctx, tenant),
        node=ctx.node,
        created=when.strftime(DATE_FORMAT),
        archive_format=fmt.name,
    )
    name = backup_file_name(tenant.name, when, fmt)
    final = directory / name
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if final.exists() or final.is_symlink():
            raise TenctlError(
                f"backup {final} exists already", hint="run the command again a second later, or use another directory"
            )
        # Created 0600 before the format writes into it: the file is never readable by others, whatever
        # the umask, and the format only truncates and fills it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
    except OSError as exc:
        raise TenctlError(
            f"cannot write a backup of tenant {tenant.name} to {directory}: {exc.strerror}",
            hint="check the directory given with -o/--output (or paths.backup_dir)",
        ) from None
    try:
        try:
            fmt.write(tmp, members)
            os.chmod(tmp, 0o600)
        except OSError as exc:
            raise TenctlError(f"cannot write a backup of tenant {tenant.name} to {directory}: {exc.strerror}") from None
        read_backup(tmp, fmt)  # what was written is what a restore will read
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def backup_tenant(ctx: Context, name: str, directory: Path, fmt: BackupFormat) -> Path:
    """Back one tenant up under its lock (a consistent record and layers); a tenant whose last command did
    not finish is refused: its archive could not be restored."""
    from tenctl_core.operations import check_no_unfinished, tenant_locked

    with tenant_locked(ctx, name, "backup"):
        tenant = ctx.store.load(name)
        check_no_unfinished(tenant, "backup")
        return write_backup(ctx, tenant, directory, fmt)


def format_named(ctx: Context, name: str) -> BackupFormat:
    formats = ctx.plugins.backup_formats()
    if name not in formats.names():
        raise UsageError(f"--format {name!r}: no such backup format (installed: {', '.join(sorted(formats.names()))})")
    return formats.get(name)


def format_of_file(ctx: Context, path: Path, name: str | None) -> BackupFormat:
    """The format ``--format`` names, else the one whose extension ends the file's name (the longest)."""
    if name is not None:
        return format_named(ctx, name)
    formats = sorted(ctx.plugins.backup_formats(), key=lambda f: len(f.extension), reverse=True)
    for fmt in formats:
        if path.name.endswith(fmt.extension):
            return fmt
    known = ", ".join(f"{f.extension} ({f.name})" for f in formats)
    raise UsageError(
        f"backup {path}: its name ends in no backup format's extension ({known})",
        hint="name the format with --format",
    )


# ------------------------------------------------------------------------------------------ reading


def read_backup(path: Path, fmt: BackupFormat) -> Backup:
    """The archive at path, read and checked; :class:`ArchiveError` (exit 2) for anything wrong with it."""
    from tenctl_core.backup import ARCHIVE_MAX, MEMBER_MAX, check_member_name

    if not path.is_file():
        raise ArchiveError(f"backup {path} does not exist or is not a regular file")
    if path.stat().st_size > 2 * ARCHIVE_MAX:
        raise ArchiveError(f"backup {path} is larger than {2 * ARCHIVE_MAX} bytes")
    members = fmt.read(path)
    # Checked again here, whatever the format (a plugin's may be careless): names, sizes, count.
    for name, content in members.items():
        check_member_name(name, path)
        if not isinstance(content, bytes) or len(content) > MEMBER_MAX:
            raise ArchiveError(f"backup {path}: member {name!r} is larger than {MEMBER_MAX} bytes")
    manifest = read_manifest(path, members)
    for name, entry in manifest["members"].items():
        if name not in members:
            raise ArchiveError(f"backup {path}: member {name!r}, listed in the manifest, is missing")
        content = members[name]
        if len(content) != entry["size"] or hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise ArchiveError(
                f"backup {path}: member {name!r} does not match its checksum in the manifest: "
                "the archive was changed or damaged"
            )
    for name in members:
        if name != MANIFEST and name not in manifest["members"]:
            raise ArchiveError(f"backup {path}: member {name!r} is not in the manifest")
    tenant = read_record(path, members)
    if tenant.name != manifest["tenant"]:
        raise ArchiveError(
            f"backup {path}: the manifest names tenant {manifest['tenant']!r} but the record is of tenant {tenant.name!r}"
        )
    return Backup(
        path=path,
        archive_format=fmt.name,
        format_version=manifest["format_version"],
        created=manifest["created"],
        tenctl_version=manifest["tenctl_version"],
        node=manifest["node"],
        tenant=tenant,
        guests=read_guests(path, members),
        layers=read_layers(path, members),
    )


def parsed_json(path: Path, members: dict[str, bytes], name: str) -> Any:
    try:
        return json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArchiveError(f"backup {path}: member {name!r} is not valid JSON: {exc}") from None


def read_manifest(path: Path, members: dict[str, bytes]) -> dict[str, Any]:
    if MANIFEST not in members:
        raise ArchiveError(f"backup {path} has no {MANIFEST}: it is not a tenctl tenant backup")
    manifest = parsed_json(path, members, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"backup {path}: {MANIFEST} is not the manifest of a tenctl tenant backup")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveError(f"backup {path}: the manifest's format_version {version!r} is not a version")
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise ArchiveError(
            f"backup {path} has format version {version}, "
            + ("newer than this tenctl reads" if newer else "which this tenctl does not read")
            + f" ({FORMAT_VERSION})",
            hint="restore it with the tenctl release that wrote it, or a newer one" if newer else None,
        )
    for key in ("tenant", "created", "tenctl_version", "node", "archive_format"):
        value = manifest.get(key)
        if not isinstance(value, str):
            raise ArchiveError(f"backup {path}: the manifest's {key} is missing or not a string")
        if key == "tenant":
            guarded(path, "the manifest's tenant", lambda v=value: check_tenant_name(v))
        else:
            guarded(path, f"the manifest's {key}", lambda v=value, k=key: check_text(f"manifest {k}", v))
    listed = manifest.get("members")
    if not isinstance(listed, dict) or not listed:
        raise ArchiveError(f"backup {path}: the manifest lists no members")
    from tenctl_core.backup import check_member_name

    for name, entry in listed.items():
        check_member_name(name, path)
        if (
            name == MANIFEST
            or not isinstance(entry, dict)
            or set(entry) != {"sha256", "size"}
            or not isinstance(entry["sha256"], str)
            or not SHA256_RE.fullmatch(entry["sha256"])
            or not isinstance(entry["size"], int)
            or isinstance(entry["size"], bool)
        ):
            raise ArchiveError(f"backup {path}: the manifest's entry for {name!r} is not {{sha256, size}}")
        if name not in (RECORD, GUESTS) and not (
            name.startswith(f"{LAYERS}/")
            and name.endswith(".json")
            and PROVIDER_NAME_RE.fullmatch(name.removeprefix(f"{LAYERS}/").removesuffix(".json"))
        ):
            raise ArchiveError(f"backup {path}: member {name!r} is no part of a tenctl tenant backup")
    for required in (RECORD, GUESTS):
        if required not in listed:
            raise ArchiveError(f"backup {path}: the manifest does not list {required}")
    return manifest


def guarded(path: Path, what: str, check: Any) -> None:
    """Run a check of ``add``'s; its refusal becomes the archive's, naming the archive and the value."""
    try:
        check()
    except UsageError as exc:
        raise ArchiveError(f"backup {path}: {what}: {exc}") from None


def read_record(path: Path, members: dict[str, bytes]) -> Tenant:
    where = f"{path}:{RECORD}"
    try:
        data = tomllib.loads(members[RECORD].decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ArchiveError(f"backup {path}: {RECORD} is not a readable record: {exc}") from None
    try:
        tenant = Tenant.from_toml_dict(data, where)
    except TenctlError as exc:
        raise ArchiveError(str(exc)) from None
    check_record(path, tenant)
    return tenant


def check_record(path: Path, tenant: Tenant) -> None:
    """Every value of the backup's record, with the rules ``add`` applies to what it is given."""
    guarded(path, "tenant name", lambda: check_tenant_name(tenant.name))
    guarded(path, "admin user", lambda: TenantNames.for_tenant(tenant.name, tenant.admin_user))
    names = TenantNames.for_tenant(tenant.name, tenant.admin_user)
    if (tenant.pool, tenant.group) != (names.pool, names.group):
        raise ArchiveError(
            f"backup {path}: the record names pool {tenant.pool!r} and group {tenant.group!r}, "
            f"not {names.pool!r} and {names.group!r} as tenant {tenant.name!r} has"
        )
    guarded(path, "VLAN", lambda: check_vlan(tenant.vlan))
    guarded(path, "subnet", lambda: check_cidr(tenant.subnet))
    gateway = str(check_cidr(tenant.subnet).network_address + 1)
    if tenant.gateway != gateway:
        raise ArchiveError(f"backup {path}: gateway {tenant.gateway!r} is not {gateway}, the first address of {tenant.subnet}")
    guarded(path, "CPU limit", lambda: check_cpu(tenant.cpu_limit))
    guarded(path, "RAM limit", lambda: check_ram(tenant.ram_limit))
    guarded(path, "storage limit", lambda: check_storage(tenant.storage_limit))
    if tenant.email:
        guarded(path, "email", lambda: check_email(tenant.email))
    from tenctl_core.rules import storage_id

    for storage in tenant.storages:
        try:
            if not isinstance(storage, str):
                raise ValueError("is not a string")
            storage_id(storage)
        except ValueError as exc:
            raise ArchiveError(f"backup {path}: storage {storage!r} {exc}") from None
    if tenant.status not in (ACTIVE, SUSPENDED):
        raise ArchiveError(
            f"backup {path}: tenant {tenant.name} is {tenant.status} in the backup: only an active or suspended "
            "tenant can be restored"
        )
    if tenant.journal:
        raise ArchiveError(f"backup {path}: the record holds the journal of an unfinished command")
    guarded(path, "suspend_reason", lambda: check_text("suspension reason", tenant.suspend_reason))
    for key in ("created_by", "created_on"):  # who and where: shown, never sent to a backend
        value = getattr(tenant, key)
        if len(value) > 200 or not value.isprintable():
            raise ArchiveError(f"backup {path}: {key} {value[:200]!r} is not a printable name of at most 200 characters")
    for key in ("created_date", "updated_date", "suspend_date", "resume_date"):
        value = getattr(tenant, key)
        try:
            if value:
                dt.datetime.strptime(value, DATE_FORMAT)
        except ValueError:
            raise ArchiveError(f"backup {path}: {key} {value!r} is not a date like 2024-01-31 12:00:00") from None
    for provider, section in tenant.plugins.items():
        if not PROVIDER_NAME_RE.fullmatch(provider) or not isinstance(section, dict):
            raise ArchiveError(f"backup {path}: the record's part [plugins.{provider}] is not a provider's table")


def read_guests(path: Path, members: dict[str, bytes]) -> list[dict[str, Any]]:
    guests = parsed_json(path, members, GUESTS)
    shape = {"vmid": int, "name": str, "type": str, "status": str, "node": str}
    if not isinstance(guests, list) or not all(
        isinstance(g, dict) and all(isinstance(g.get(k), t) for k, t in shape.items()) for g in guests
    ):
        raise ArchiveError(f"backup {path}: {GUESTS} is not a list of guests (vmid, name, type, status, node)")
    return guests


def read_layers(path: Path, members: dict[str, bytes]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    layers = {}
    for name in sorted(members):
        if not name.startswith(f"{LAYERS}/"):
            continue
        provider = name.removeprefix(f"{LAYERS}/").removesuffix(".json")
        layer = parsed_json(path, members, name)
        if (
            not isinstance(layer, dict)
            or layer.get("provider") != provider
            or not all(
                isinstance(layer.get(part), list)
                and all(isinstance(o, dict) and isinstance(o.get("kind"), str) and isinstance(o.get("id"), str) for o in layer[part])
                for part in ("intended", "observed")
            )
        ):
            raise ArchiveError(f"backup {path}: {name} is not a provider's layer (provider, intended, observed)")
        layers[provider] = {"intended": layer["intended"], "observed": layer["observed"]}
    return layers


# ------------------------------------------------------------------------------------------ restoring


def restore_request(
    backup: Backup, new_name: str | None, new_vlan: int | str | None, new_subnet: str | None
) -> AddRequest:
    """What ``add`` is asked for to bring the backup's tenant back: its limits, contact and record, with
    the name, VLAN and subnet given (``auto``: allocated) or else the backup's."""
    from tenctl_core.operations import AddRequest

    saved = backup.tenant
    name = new_name or saved.name
    if new_name is None:
        try:
            check_new_tenant_name(name)
        except UsageError as exc:
            raise UsageError(str(exc), hint="restore it under another name with --new-name") from None
    admin_user: str | None = saved.admin_user
    if new_name is not None and admin_user == TenantNames.for_tenant(saved.name).admin_user:
        admin_user = None  # the default user of the old name becomes the default of the new one
    return AddRequest(
        name=name,
        cpu=saved.cpu_limit,
        ram=saved.ram_limit,
        storage=saved.storage_limit,
        email=saved.email,
        vlan=None if new_vlan == AUTO else int(new_vlan) if new_vlan is not None else saved.vlan,
        subnet=None if new_subnet == AUTO else new_subnet if new_subnet is not None else saved.subnet,
        admin_user=admin_user,
        command="restore",
        restored=saved,
        taken_hints=dict(REMAP_HINTS),
    )


def restore_notes(ctx: Context, backup: Backup, result: AddResult) -> list[str]:
    """What the restore could not bring back, and what is left to do: the guests."""
    from tenctl_core.engine import tenant_providers

    tenant, saved = result.tenant, backup.tenant
    enabled = {p.name: p for p in tenant_providers(ctx)}
    notes = []
    for provider in sorted((set(backup.layers) | set(saved.plugins)) - set(enabled)):
        notes.append(f"the backup holds the {provider} layer, which is not enabled here: not restored")
    same = (tenant.name, tenant.vlan, tenant.subnet) == (saved.name, saved.vlan, saved.subnet)
    for name, layer in sorted(backup.layers.items()):
        if name not in enabled or not same:
            continue
        before = {(str(r["kind"]), str(r["id"])) for r in layer["intended"]}
        now = {r.key for r in enabled[name].desired(ctx, tenant)}
        for kind, ident in sorted(before - now):
            notes.append(f"{name}: the backup's {kind} {ident} is not part of the restored tenant (the configuration differs)")
        for kind, ident in sorted(now - before):
            notes.append(f"{name}: the restored tenant also gets {kind} {ident}, which the backup did not have")
    if backup.guests:
        listing = ", ".join(f"{shown(g['type'])} {g['vmid']} ({shown(g['name'])})" for g in backup.guests)
        notes.append(
            f"the backup lists {len(backup.guests)} guest(s) of pool {saved.pool}: {listing}; restore them from "
            f"Proxmox Backup Server or vzdump into pool {tenant.pool}"
        )
    return notes


def shown(text: str) -> str:
    """A value from the archive, fit to print: as it is when it is plain, else quoted with escapes."""
    return text if re.fullmatch(r"[A-Za-z0-9._-]{0,64}", text) else repr(text[:64])

