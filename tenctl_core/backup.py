"""Core's backup archive formats: ``tar.gz`` (a gzip-compressed tar of plain files) and ``json`` (one JSON
document holding the same files).

A format only turns members (archive name -> bytes) into a file and back; what the members are and how
they are checked (manifest, checksums, values) is :mod:`tenctl_core.archive`'s job. Reading is defensive
all the same, because an archive is untrusted input: only regular files with plain relative names are
taken, no name twice, each at most :data:`MEMBER_MAX` bytes, at most :data:`MEMBERS_MAX` of them and
:data:`ARCHIVE_MAX` bytes in all, so an archive can neither write outside its place nor exhaust memory.
Nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath

from tenctl_core import hookimpl
from tenctl_core.errors import ArchiveError
from tenctl_core.providers import BackupFormat
from tenctl_core.registry import Registrar

MEMBER_MAX = 16 * 1024 * 1024
"""Bytes one member may hold."""
MEMBERS_MAX = 1024
"""Members one archive may hold."""
ARCHIVE_MAX = 64 * 1024 * 1024
"""Bytes all members together may hold (what reading an archive may take in memory)."""
MEMBER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,3}")
"""A member name: up to four plain path segments of letters, digits, '.', '-' and '_', none starting with a
dot (so no '..', no hidden file, no absolute path, no backslash, no control character)."""


def check_member_name(name: str, path: Path) -> str:
    """The name if it is a safe member name; :class:`ArchiveError` naming the archive otherwise."""
    pure = PurePosixPath(name) if isinstance(name, str) else None
    if (
        pure is None
        or not MEMBER_NAME_RE.fullmatch(name)
        or pure.is_absolute()
        or ".." in pure.parts
        or str(pure) != name
    ):
        raise ArchiveError(f"backup {path}: unsafe member name {name!r}")
    return name


class MemberLimits:
    """Counts what a reader has taken so far and refuses a member past the limits (or a name seen twice)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: set[str] = set()
        self.total = 0

    def admit(self, name: str, size: int) -> None:
        check_member_name(name, self.path)
        if name in self.names:
            raise ArchiveError(f"backup {self.path}: member {name!r} appears twice")
        if size > MEMBER_MAX:
            raise ArchiveError(f"backup {self.path}: member {name!r} is larger than {MEMBER_MAX} bytes")
        if len(self.names) >= MEMBERS_MAX:
            raise ArchiveError(f"backup {self.path}: more than {MEMBERS_MAX} members")
        if self.total + size > ARCHIVE_MAX:
            raise ArchiveError(f"backup {self.path}: its members hold more than {ARCHIVE_MAX} bytes")
        self.names.add(name)
        self.total += size


class TarGzFormat(BackupFormat):
    name = "tar.gz"
    extension = ".tar.gz"
    description = "gzip-compressed tar of the tenant's files"

    def write(self, path: Path, members: dict[str, bytes]) -> None:
        import tarfile  # only when a backup is written: `tenctl --help` loads this module

        for name in members:
            check_member_name(name, path)
        with tarfile.open(path, "w:gz") as tar:
            for name, content in sorted(members.items()):
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(content))

    def read(self, path: Path) -> dict[str, bytes]:
        import tarfile
        import zlib

        members: dict[str, bytes] = {}
        limits = MemberLimits(path)
        try:
            check_unpacked_size(path)
            with tarfile.open(path, "r:gz") as tar:
                for info in tar:
                    check_member_name(info.name, path)
                    if not info.isfile():
                        raise ArchiveError(f"backup {path}: member {info.name!r} is not a regular file")
                    limits.admit(info.name, info.size)
                    handle = tar.extractfile(info)
                    if handle is None:
                        raise ArchiveError(f"backup {path}: member {info.name!r} cannot be read")
                    content = handle.read(MEMBER_MAX + 1)
                    if len(content) != info.size:
                        raise ArchiveError(f"backup {path}: member {info.name!r} is truncated")
                    members[info.name] = content
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"backup {path} is not a readable tar.gz archive: {exc}") from None
        return members


TAR_OVERHEAD = MEMBERS_MAX * 3 * 512 + 10240
"""What a tar adds to its members at most, for MEMBERS_MAX members: a header block, a long-name or pax block
and padding each, and the end-of-archive blocks."""


def check_unpacked_size(path: Path) -> None:
    """Decompress once, counting and keeping nothing, before tarfile parses anything: tarfile reads a pax or
    long-name header whole into memory, so a small archive could otherwise unpack to gigabytes there."""
    import gzip

    total = 0
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            total += len(chunk)
            if total > ARCHIVE_MAX + TAR_OVERHEAD:
                raise ArchiveError(f"backup {path}: it unpacks to more than {ARCHIVE_MAX + TAR_OVERHEAD} bytes")


JSON_FORMAT_KEY = "tenctl_backup"
"""The key that marks a JSON document as a tenctl backup; its value is the format's name."""


class JsonFormat(BackupFormat):
    """One JSON document: ``{"tenctl_backup": "json", "members": {NAME: {"text": ...} | {"base64": ...}}}``.

    A member that is UTF-8 text (every member core writes) is kept as text, so the archive can be read
    with ``jq`` (``jq -r '.members["tenant.toml"].text'``); any other member as base64. The checksums of
    the manifest are those of the bytes, which both forms give back exactly.
    """

    name = "json"
    extension = ".json"
    description = "one JSON document with the tenant's files as text (readable with jq)"

    def write(self, path: Path, members: dict[str, bytes]) -> None:
        import base64
        import json

        encoded: dict[str, dict[str, str]] = {}
        for name, content in sorted(members.items()):
            check_member_name(name, path)
            try:
                encoded[name] = {"text": content.decode("utf-8")}
            except UnicodeDecodeError:
                encoded[name] = {"base64": base64.b64encode(content).decode("ascii")}
        document = {JSON_FORMAT_KEY: self.name, "members": encoded}
        path.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")

    def read(self, path: Path) -> dict[str, bytes]:
        import base64
        import binascii
        import json

        # base64 takes 4 bytes for 3 and text may be escaped: a document twice the limit is surely too big.
        try:
            with path.open("rb") as handle:
                raw = handle.read(2 * ARCHIVE_MAX + 1)
        except OSError as exc:
            raise ArchiveError(f"backup {path} cannot be read: {exc.strerror}") from None
        if len(raw) > 2 * ARCHIVE_MAX:
            raise ArchiveError(f"backup {path}: the document is larger than {2 * ARCHIVE_MAX} bytes")
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ArchiveError(f"backup {path} is not a readable JSON backup: {exc}") from None
        if not isinstance(document, dict) or document.get(JSON_FORMAT_KEY) != self.name:
            raise ArchiveError(f"backup {path} is not a tenctl JSON backup (no \"{JSON_FORMAT_KEY}\": \"json\")")
        found = document.get("members")
        if not isinstance(found, dict):
            raise ArchiveError(f"backup {path}: \"members\" is not an object")
        members: dict[str, bytes] = {}
        limits = MemberLimits(path)
        for name, entry in found.items():
            check_member_name(name, path)
            if not isinstance(entry, dict) or len(entry) != 1:
                raise ArchiveError(f"backup {path}: member {name!r} is not {{\"text\": ...}} or {{\"base64\": ...}}")
            [(kind, value)] = entry.items()
            if kind not in ("text", "base64") or not isinstance(value, str):
                raise ArchiveError(f"backup {path}: member {name!r} is not {{\"text\": ...}} or {{\"base64\": ...}}")
            try:
                content = value.encode("utf-8") if kind == "text" else base64.b64decode(value, validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ArchiveError(f"backup {path}: member {name!r} is not valid {kind}") from None
            limits.admit(name, len(content))
            members[name] = content
        return members


@hookimpl
def tenctl_register_backup_formats(register: Registrar[BackupFormat]) -> None:
    register(TarGzFormat())
    register(JsonFormat())
