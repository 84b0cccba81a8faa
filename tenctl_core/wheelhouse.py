"""The wheelhouse: every distribution tenctl runs with, as wheel files, kept in ``/opt/tenctl/wheels``.

Other nodes install from it with ``pip install --no-index``, so the cluster gets exactly the versions this
node runs, with no package index and no network beyond SSH between the nodes. Wheels come from a
directory the user names (``--from``: a release's wheels) or are packed again from what is installed here
(the files each distribution's ``RECORD`` lists), which needs nothing but the standard library.

``wheelhouse.json`` beside the wheels names the distributions to install (tenctl and its plugins, pinned
to their versions); pip's own wheel runs the installation, so a node needs no pip of its own.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tenctl_core import PROJECT_NAME
from tenctl_core.errors import TenctlError, UsageError

MANIFEST = "wheelhouse.json"
PIP = "pip"
_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


@dataclass(frozen=True)
class Wheelhouse:
    """What ``wheelhouse.json`` says: the pinned requirements and the wheel of pip that installs them."""

    requirements: tuple[str, ...]
    pip_wheel: str

    @classmethod
    def read(cls, directory: Path) -> Wheelhouse:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(str(r) for r in data["requirements"]), str(data["pip_wheel"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TenctlError(
                f"the wheelhouse {directory} has no readable {MANIFEST} ({exc})",
                "run `tenctl install-local` on this node to make it again",
            ) from None

    def version_of(self, distribution: str) -> str | None:
        for requirement in self.requirements:
            name, _, version = requirement.partition("==")
            if canonical(name) == canonical(distribution):
                return version
        return None


def plugin_distributions() -> list[str]:
    """The distributions that register plugins in the ``tenctl`` entry point group."""
    found = set()
    for entry in metadata.entry_points(group=PROJECT_NAME):
        if entry.dist is not None:
            found.add(entry.dist.metadata["Name"])
    return sorted(found)


def wheels_in(directory: Path) -> dict[str, Path]:
    """canonical distribution name -> its wheel, for the wheels in directory (one version each)."""
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.whl")):
        match = _WHEEL_RE.match(path.name)
        if match is None:
            raise UsageError(
                f"--from {directory}: {path.name} is not a wheel file name (name-version-tags.whl)"
            )
        name = canonical(match["name"])
        if name in found:
            raise UsageError(f"--from {directory}: two wheels of {name}: {found[name].name} and {path.name}")
        found[name] = path
    return found


def wheel_version(path: Path) -> str:
    match = _WHEEL_RE.match(path.name)
    assert match is not None
    return match["version"]


def installed(name: str) -> metadata.Distribution | None:
    """The installed distribution of that name: one with a RECORD (what pip or uv installed) before any
    other, such as the ``*.egg-info`` a build leaves in a source tree that happens to be on ``sys.path``."""
    found = list(metadata.distributions(name=name))
    return next((d for d in found if d.read_text("RECORD") is not None), found[0] if found else None)


def requirement_closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions roots need: the roots and, recursively, every installed requirement
    that is not behind an extra (a requirement that is not installed was not wanted on this Python)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        dist = installed(name)
        if dist is None:
            continue
        seen[name] = dist
        for requirement in dist.requires or ():
            requirement_text, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            match = _NAME_RE.match(requirement_text)
            if match:
                todo.append(match.group(1))
    return list(seen.values())


def editable_source(dist: metadata.Distribution) -> str | None:
    """The source directory of an editable (development) installation, else None."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if (data.get("dir_info") or {}).get("editable"):
        return str(data.get("url", "")).removeprefix("file://")
    return None


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def repack(dist: metadata.Distribution, directory: Path) -> Path:
    """Pack an installed distribution into a wheel again, from the files its RECORD lists.

    Compiled bytecode, console scripts (pip writes them again from the entry points) and files installed
    outside site-packages are left out; the dist-info gets a fresh RECORD.
    """
    name = dist.metadata["Name"]
    source = editable_source(dist)
    if source is not None:
        raise UsageError(
            f"{name} is installed in development mode from {source}: it cannot be packed again",
            f"build its wheel (pip wheel --no-deps -w DIR {source}) and pass --from DIR",
        )
    info = next((f for f in dist.files or () if f.parts[0].endswith(".dist-info")), None)
    if info is None:
        raise TenctlError(f"{name} {dist.version} has no RECORD: it cannot be packed into a wheel")
    info_dir = info.parts[0]
    wheel_meta = (dist.read_text("WHEEL") or "").splitlines()
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta if line.startswith("Tag:")] or [
        "py3-none-any"
    ]
    parts = [tag.split("-") for tag in tags]
    tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))  # py2.py3-none-any
    target = directory / f"{wheel_name(name)}-{dist.version}-{tag}.whl"
    rows: list[tuple[str, str, str]] = []
    skip_info = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for member in dist.files or ():
            text = member.as_posix()
            if ".." in member.parts or "__pycache__" in member.parts or text.endswith(".pyc"):
                continue
            if member.parts[0] == info_dir and member.name in skip_info:
                continue
            path = Path(str(dist.locate_file(member)))
            if not path.is_file():
                continue
            data = path.read_bytes()
            zinfo = zipfile.ZipInfo(text, date_time=(1980, 1, 1, 0, 0, 0))
            zinfo.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(zinfo, data)
            rows.append((text, _record_hash(data), str(len(data))))
        record = io.StringIO()
        writer = csv.writer(record, lineterminator="\n")
        writer.writerows(rows)
        writer.writerow((f"{info_dir}/RECORD", "", ""))
        wheel.writestr(f"{info_dir}/RECORD", record.getvalue())
    return target


def bundled_pip_wheel() -> Path | None:
    """The pip wheel Python ships for ``ensurepip``, if this Python has it (Debian's needs python3-venv)."""
    try:
        import ensurepip
    except ImportError:
        return None
    return next(iter(sorted(Path(ensurepip.__file__).with_name("_bundled").glob("pip-*.whl"))), None)


def build(directory: Path, from_dir: Path | None) -> Wheelhouse:
    """Fill directory (emptied first) with the wheels of tenctl, its plugins and everything they need.

    With from_dir, its wheels are the release to install (tenctl and the plugins among them are what
    gets installed) and only what they need beyond them is packed from this installation; without it,
    tenctl and every installed plugin distribution are packed as installed.
    """
    given: dict[str, Path] = {}
    if from_dir is not None:
        if not from_dir.is_dir():
            raise UsageError(f"--from {from_dir}: no such directory")
        given = wheels_in(from_dir)
        if canonical(PROJECT_NAME) not in given:
            raise UsageError(f"--from {from_dir}: no wheel of {PROJECT_NAME} in it (tenctl-VERSION-*.whl)")
        roots = [name for name in given if name == PROJECT_NAME or name.startswith(f"{PROJECT_NAME}-")]
    else:
        roots = [canonical(name) for name in (PROJECT_NAME, *plugin_distributions())]
    roots.append(PIP)  # installed into the venv too: the next update packs it again from there
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o755)
    pins: dict[str, str] = {}
    for name, path in given.items():
        shutil.copyfile(path, directory / path.name)
        if name in roots:
            pins[name] = wheel_version(path)
    for dist in requirement_closure(roots):
        name = canonical(dist.metadata["Name"])
        if name in given:
            continue
        repack(dist, directory)
        if name in roots:
            pins[name] = dist.version
    pip_wheel = next((p.name for p in directory.glob("pip-*.whl")), None)
    if pip_wheel is None:  # an environment made without pip (uv, say): Python's own copy of pip will do
        bundled = bundled_pip_wheel()
        if bundled is None:
            raise TenctlError(
                "pip is neither installed beside tenctl nor bundled with this Python (ensurepip): "
                "its wheel is needed to install the nodes",
                "install pip into tenctl's environment",
            )
        shutil.copyfile(bundled, directory / bundled.name)
        pip_wheel = bundled.name
        pins[PIP] = wheel_version(bundled)
    house = Wheelhouse(tuple(f"{name}=={version}" for name, version in sorted(pins.items())), pip_wheel)
    (directory / MANIFEST).write_text(
        json.dumps({"requirements": list(house.requirements), "pip_wheel": house.pip_wheel}, indent=1) + "\n",
        encoding="utf-8",
    )
    return house
