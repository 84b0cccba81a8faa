"""Tenant records on disk: one TOML file per tenant in the tenants directory.

On a Proxmox node the directory is ``/etc/pve/tenants``, which pmxcfs
replicates to every node. Files are written to a temporary name and renamed,
so a reader never sees half a record; they are created 0640.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from tenctl_core.errors import ConflictError, NotFoundError, TenctlError
from tenctl_core.model import Tenant
from tenctl_core.naming import check_tenant_name

RECORD_SUFFIX = ".toml"
FILE_MODE = 0o640
DIR_MODE = 0o750


class TenantStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.damaged: list[str] = []
        """What :meth:`all` could not read, one message per record (it skips them)."""

    def path(self, name: str) -> Path:
        return self.directory / f"{check_tenant_name(name)}{RECORD_SUFFIX}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def load(self, name: str) -> Tenant:
        path = self.path(name)
        try:
            return self._read(path)
        except FileNotFoundError:
            raise NotFoundError(f"tenant {name!r} does not exist (no record {path})") from None

    def _read(self, path: Path) -> Tenant:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise TenctlError(f"tenant record {path} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise TenctlError(f"tenant record {path} is not UTF-8 text") from None
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise TenctlError(f"cannot read tenant record {path}: {exc.strerror}") from None
        tenant = Tenant.from_toml_dict(data, str(path))
        if tenant.name != path.stem:
            # The file name is the tenant's identity: a copied or renamed record must not act on another
            # tenant's objects under the wrong lock.
            raise TenctlError(
                f"tenant record {path} names tenant {tenant.name!r}, not {path.stem!r}: it was copied or renamed",
                hint=f"move it back to {tenant.name}.toml or delete the copy",
            )
        return tenant

    def all(self) -> list[Tenant]:
        """Every record, sorted by name (one directory listing, no API call).

        An empty file is a reservation whose creator died before writing it (see :meth:`create`): it
        reserves nothing and is skipped; `tenctl repair` and the next `add` of that name delete it.
        """
        if not self.directory.is_dir():
            return []
        paths = sorted(
            p for p in self.directory.iterdir() if p.suffix == RECORD_SUFFIX and not p.name.startswith(".")
        )
        tenants = []
        self.damaged = []
        for path in paths:
            try:
                if path.stat().st_size > 0:
                    tenants.append(self._read(path))
            except FileNotFoundError:
                continue  # removed by another command between the listing and the read
            except TenctlError as exc:
                self.damaged.append(str(exc))  # one bad record never stops commands on the others
        return tenants

    def names(self) -> list[str]:
        """The names of every record file, reservations included (one directory listing)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem for p in self.directory.iterdir() if p.suffix == RECORD_SUFFIX and not p.name.startswith(".")
        )

    def is_abandoned(self, name: str) -> bool:
        """The record exists but is empty: its creator died between creating and writing it."""
        path = self.path(name)
        try:
            return path.stat().st_size == 0
        except FileNotFoundError:
            return False

    def save(self, tenant: Tenant) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path = self.path(tenant.name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data = tomli_w.dumps(tenant.to_toml_dict()).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def create(self, tenant: Tenant) -> None:
        """Write a new record; ConflictError if one exists (exclusive create, so two adders cannot both win).

        The content goes into the exclusively created file at once; a process killed in the instant
        between creating and writing leaves an empty file, which :meth:`is_abandoned` recognises.
        """
        self.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path = self.path(tenant.name)
        data = tomli_w.dumps(tenant.to_toml_dict()).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            raise ConflictError(f"tenant {tenant.name!r} already exists (record {path})") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
