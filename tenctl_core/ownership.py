"""Ownership: the marker every object tenctl creates carries, and the installation id in it.

A marker names tenctl, the installation and the tenant: ``tenctl:<installation>:<tenant>``. It goes in
whatever free-text field the backend has for the object (a Proxmox ``comment``, a VNet alias, a router
or switch description). An object is tenctl's to change or delete only when it carries the marker of
this installation for that tenant; objects without a field of their own (ACL entries, subnets) are owned
through the object they hang on (the tenant's group, its VNet).

The installation id is made by ``tenctl init`` and kept beside the tenant records, so that every node
sharing the records (``/etc/pve/tenants``) shares it, and two installations sharing one cluster with
separate records never touch each other's objects.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tenctl_core.errors import TenctlError

INSTALLATION_FILE = ".tenctl-installation"
INSTALLATION_RE = re.compile(r"[0-9a-f]{12}")
MARKER_RE = re.compile(r"tenctl:([0-9a-f]{12}):([A-Za-z][A-Za-z0-9_-]{0,31})")

LEGACY_POOL_COMMENT = "tenctl tenant {name}"
LEGACY_USER_COMMENT = "Administrator of tenant {name}"
"""What tenctl 0.2 wrote, which ``sync`` recognises to take such objects over."""


@dataclass(frozen=True)
class Marker:
    """The owner an object's marker names."""

    installation: str
    tenant: str

    def text(self) -> str:
        return f"tenctl:{self.installation}:{self.tenant}"

    def label(self, words: str) -> str:
        """A human text that ends with the marker: ``Tenant acme (tenctl:0123456789ab:acme)``."""
        return f"{words} ({self.text()})"


def parse_marker(text: object) -> Marker | None:
    """The marker found in a free-text field, or None."""
    if not isinstance(text, str):
        return None
    match = MARKER_RE.search(text)
    return Marker(match.group(1), match.group(2)) if match else None


def legacy_owner(text: object) -> str | None:
    """The tenant a tenctl 0.2 pool, group or user comment names, or None (each plugin recognises what 0.2
    wrote into its own objects: the SDN plugin, a VNet alias)."""
    if not isinstance(text, str):
        return None
    for template in (LEGACY_POOL_COMMENT, LEGACY_USER_COMMENT):
        prefix = template.format(name="")
        if text.startswith(prefix) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", text[len(prefix) :]):
            return text[len(prefix) :]
    return None


def installation_path(tenants_dir: str | Path) -> Path:
    return Path(tenants_dir) / INSTALLATION_FILE


def read_installation(tenants_dir: str | Path) -> str | None:
    """This installation's id, or None before `tenctl init` made one."""
    path = installation_path(tenants_dir)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TenctlError(f"cannot read the installation id {path}: {exc.strerror}") from None
    if not INSTALLATION_RE.fullmatch(text):
        raise TenctlError(
            f"the installation id in {path} is damaged ({text[:40]!r})",
            hint="restore it from a backup or another node; without it tenctl cannot tell its objects",
        )
    return text


def ensure_installation(tenants_dir: str | Path) -> str:
    """The installation id, made now (exclusively, so two nodes agree) if there is none."""
    existing = read_installation(tenants_dir)
    if existing:
        return existing
    import secrets  # only here: `tenctl --help` loads this module

    path = installation_path(tenants_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    ident = secrets.token_hex(6)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return read_installation(tenants_dir) or ident
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(ident + "\n")
        out.flush()
        os.fsync(out.fileno())
    return ident
