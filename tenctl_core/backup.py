"""Core's backup archive format: a gzip-compressed tar of plain files.

Reading is defensive: only regular files with plain relative names are taken,
each at most :data:`MEMBER_MAX` bytes, so an archive cannot write outside its
place or exhaust memory.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

from tenctl_core import hookimpl
from tenctl_core.errors import TenctlError
from tenctl_core.providers import BackupFormat
from tenctl_core.registry import Registrar

MEMBER_MAX = 16 * 1024 * 1024


class TarGzFormat(BackupFormat):
    name = "tar.gz"
    extension = ".tar.gz"
    description = "gzip-compressed tar of the tenant's files"

    def write(self, path: Path, members: dict[str, bytes]) -> None:
        import tarfile  # only when a backup is written: `tenctl --help` loads this module

        with tarfile.open(path, "w:gz") as tar:
            for name, content in sorted(members.items()):
                _check_member_name(name, path)
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(content))

    def read(self, path: Path) -> dict[str, bytes]:
        import tarfile

        members: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r:gz") as tar:
                for info in tar:
                    _check_member_name(info.name, path)
                    if not info.isfile():
                        raise TenctlError(f"backup {path}: member {info.name!r} is not a regular file")
                    if info.size > MEMBER_MAX:
                        raise TenctlError(
                            f"backup {path}: member {info.name!r} is larger than {MEMBER_MAX} bytes"
                        )
                    handle = tar.extractfile(info)
                    if handle is None:
                        raise TenctlError(f"backup {path}: member {info.name!r} cannot be read")
                    members[info.name] = handle.read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise TenctlError(f"backup {path} is not a readable tar.gz archive: {exc}") from None
        return members


def _check_member_name(name: str, path: Path) -> None:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in name:
        raise TenctlError(f"backup {path}: unsafe member name {name!r}")


@hookimpl
def tenctl_register_backup_formats(register: Registrar[BackupFormat]) -> None:
    register(TarGzFormat())
