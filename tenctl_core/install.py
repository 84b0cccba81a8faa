"""Installing tenctl on a node and on the cluster: where the files go, what a node runs, and how the other
nodes are reached.

A node's installation (every path under ``root``, ``/`` on a real node; a staging directory, like a
package build's DESTDIR, otherwise):

=========================================  =================================================================
``/opt/tenctl``                            the virtual environment tenctl runs from
``/opt/tenctl/wheels``                     the wheelhouse (:mod:`tenctl_core.wheelhouse`): what other nodes
                                           install from, offline
``/opt/tenctl/installed.json``             the receipt: every file and directory the installation made
``/usr/local/bin/tenctl``, ``tenctl-*``    links to ``/opt/tenctl/bin/tenctl``: one per command and word
``/etc/bash_completion.d/tenctl``          bash completion
``/usr/local/share/zsh/site-functions/``   zsh completion (``_tenctl``)
``/usr/local/share/man/man1/tenctl.1``     the manual page
``/etc/systemd/system/``                   ``tenctl-watcher.service`` (not enabled: see the install guide)
``/etc/logrotate.d/tenctl``                rotation of the audit trail
=========================================  =================================================================

Every node runs the same short list of commands (:func:`node_commands`), here through ``subprocess`` and
on the other nodes through ``ssh``: make the venv, install the wheelhouse's pinned requirements with the
wheelhouse's own pip, then let the freshly installed tenctl write its node files (``tenctl install-local
--no-wheelhouse``). Only the node that runs ``cluster install`` or ``update-cli`` talks to the others, once
each.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.wheelhouse import Wheelhouse

PREFIX = Path("opt/tenctl")
WHEELS = PREFIX / "wheels"
INCOMING = PREFIX / "incoming"
RECEIPT = PREFIX / "installed.json"
MADE_DIRS = PREFIX / ".made-dirs"
"""The directories made for the venv before tenctl ran there (one absolute path a line), for the receipt."""
BIN_DIR = Path("usr/local/bin")
BASH_COMPLETION = Path("etc/bash_completion.d/tenctl")
ZSH_COMPLETION = Path("usr/local/share/zsh/site-functions/_tenctl")
MAN_PAGE = Path("usr/local/share/man/man1/tenctl.1")
UNIT = Path("etc/systemd/system/tenctl-watcher.service")
WATCHER_UNIT = UNIT.name
LOGROTATE = Path("etc/logrotate.d/tenctl")
FULL_EXTRA = (Path("etc/tenctl"), Path("var/log/tenctl"), Path("var/lib/tenctl"))
"""What ``uninstall --full`` removes beyond the receipt: configuration and secrets, logs, node state."""

TARGETS_ENV = "TENCTL_INSTALL_TARGETS"
"""A TOML file that overrides how nodes are reached (address, port, user, key, known_hosts, root); for
tests and staging, see the install guide."""
PVE_KNOWN_HOSTS = "/etc/pve/priv/known_hosts"
PVE_NODE_KNOWN_HOSTS = "/etc/pve/nodes/{node}/ssh_known_hosts"
"""Where newer Proxmox VE releases keep each node's key (and look it up by node name); both are read."""
NODE_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class InstallError(TenctlError):
    """A node could not be installed, updated or uninstalled."""


# --------------------------------------------------------------------------------------------- paths


def check_root(text: str, what: str = "--root") -> Path:
    """A node's root: an absolute directory path with nothing a shell or tar could misread."""
    if not text.startswith("/") or any(c in text for c in "\n\r\0") or "/../" in f"{text}/":
        raise UsageError(f"{what} {text!r}: not an absolute path without '..' and control characters")
    return Path(text)


def under(root: Path, relative: Path | str) -> Path:
    return root / str(relative).lstrip("/")


def installed_root() -> Path | None:
    """The root of the installation this process runs from (``/`` for ``/opt/tenctl``), or None when it
    does not run from an installed ``<root>/opt/tenctl`` with a receipt."""
    prefix = Path(sys.prefix)
    if prefix.parts[-2:] != PREFIX.parts or not (prefix / RECEIPT.name).is_file():
        return None
    return prefix.parent.parent


def require_installed_root() -> Path:
    root = installed_root()
    if root is None:
        raise UsageError(
            f"this tenctl runs from {sys.prefix}, not from an installation made by `tenctl install-local`",
            "install this node first (see the install guide), then run the command as /opt/tenctl/bin/tenctl",
        )
    return root


# ------------------------------------------------------------------------------------------- receipt


@dataclass
class Receipt:
    """What an installation made on its node, so that uninstall removes exactly that."""

    version: str = ""
    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    """Configuration and secret files copied from another node (removed by ``uninstall --full`` only)."""
    config_dirs: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, root: Path) -> Receipt:
        path = under(root, RECEIPT)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise InstallError(
                f"{path} cannot be read: {exc}", "reinstall with `tenctl install-local`"
            ) from None
        receipt = cls(**{k: data.get(k, v) for k, v in cls().__dict__.items()})
        for key in ("files", "dirs", "config", "config_dirs"):
            entries = getattr(receipt, key)
            if not isinstance(entries, list) or not all(is_relative(e) for e in entries):
                raise InstallError(
                    f"{path}: {key} holds a path that is not relative to the node's root: it is not trusted",
                    "reinstall with `tenctl install-local`",
                )
        return receipt

    def write(self, root: Path) -> None:
        path = under(root, RECEIPT)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def is_relative(entry: Any) -> bool:
    return (
        isinstance(entry, str) and bool(entry) and not entry.startswith("/") and ".." not in Path(entry).parts
    )


def node_file_paths(words: list[str]) -> list[Path]:
    """Where an installation puts its links and files on a node (relative to its root)."""
    return [
        BIN_DIR / "tenctl",
        *(BIN_DIR / f"tenctl-{word}" for word in words),
        BASH_COMPLETION,
        ZSH_COMPLETION,
        MAN_PAGE,
        UNIT,
        LOGROTATE,
    ]


def check_no_foreign_files(root: Path, words: list[str]) -> None:
    """Refuse, before anything is made, to take a path the installation did not make (a Bash tenctl's)."""
    receipt = Receipt.read(root)
    for relative in node_file_paths(words):
        path = under(root, relative)
        if (path.is_symlink() or path.exists()) and str(relative) not in receipt.files:
            raise InstallError(
                f"{path} exists and was not installed by tenctl (a Bash tenctl, or a file of your own?)",
                "move it away or uninstall what put it there, then install again",
            )


def make_dirs(root: Path, relative: Path, made: list[str], mode: int = 0o755) -> None:
    """Create root/relative and its missing parents, noting each directory made (relative to root)."""
    missing = []
    path = under(root, relative)
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=mode)
        os.chmod(directory, mode)
        rel = str(directory.relative_to(root))
        if rel not in made:
            made.append(rel)


def _placeable(root: Path, relative: Path, receipt: Receipt) -> Path:
    """Where ``relative`` goes under ``root``, its directories made; a file there that tenctl's receipt
    does not list is refused (tenctl replaces only what it installed)."""
    path = under(root, relative)
    if (path.is_symlink() or path.exists()) and str(relative) not in receipt.files:
        raise InstallError(
            f"{path} exists and was not installed by tenctl (a Bash tenctl, or a file of your own?)",
            "move it away or uninstall what put it there, then install again",
        )
    make_dirs(root, relative.parent, receipt.dirs)
    return path


def write_file(root: Path, relative: Path, data: bytes, mode: int, receipt: Receipt) -> None:
    path = _placeable(root, relative, receipt)
    tmp = path.with_name(f".{path.name}.tenctl-tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
    if str(relative) not in receipt.files:
        receipt.files.append(str(relative))


def link_file(root: Path, relative: Path, target: Path, receipt: Receipt) -> None:
    path = _placeable(root, relative, receipt)
    tmp = path.with_name(f".{path.name}.tenctl-tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, path)
    if str(relative) not in receipt.files:
        receipt.files.append(str(relative))


# ---------------------------------------------------------------------------------------- node files


def command_words(group: Any) -> list[str]:
    """Every name ``tenctl <word>`` accepts at the top: the registered commands (core's and the plugins')
    and the dispatcher words; each also gets its ``tenctl-<word>`` link."""
    from tenctl_core.cli.words import DISPATCH_WORDS

    return sorted(set(group.list_commands(None)) | set(DISPATCH_WORDS))


def tenants_dir_for_completion() -> str:
    """Where completion lists tenant names: the configuration's tenants directory (read at install time,
    so completing reads one directory and never the API)."""
    from tenctl_core.config import load_config

    try:
        return load_config().paths.tenants_dir
    except TenctlError:
        return "/etc/pve/tenants"


def install_node_files(root: Path, config_from: Path | None) -> Receipt:
    """Write this node's links, completion, manual page, unit and logrotate file (and, when given, the
    configuration files received from the installing node); record them in the receipt."""
    import typer

    from tenctl_core import __version__
    from tenctl_core.cli.app import make_app
    from tenctl_core.plugins import get_plugin_manager

    receipt = Receipt.read(root)
    receipt.version = __version__
    made = under(root, MADE_DIRS)
    if made.exists():
        for line in made.read_text(encoding="utf-8").splitlines():
            relative = str(Path(line).relative_to(root)) if line.strip() else ""
            if relative and relative not in receipt.dirs:
                receipt.dirs.append(relative)
        made.unlink()
    group = typer.main.get_command(make_app(get_plugin_manager()))
    try:
        write_node_files(root, group, receipt, config_from)
    finally:  # what was written is recorded even when a later file fails, so uninstall finds it
        receipt.write(root)
    return receipt


def write_node_files(root: Path, group: Any, receipt: Receipt, config_from: Path | None) -> None:
    from tenctl_core import completion, manpage

    if config_from is not None:  # first: completion reads the tenants directory from the configuration
        place_config(root, config_from, receipt)
    words = command_words(group)
    target = under(root, PREFIX / "bin" / "tenctl")
    link_file(root, BIN_DIR / "tenctl", target, receipt)
    for word in words:
        link_file(root, BIN_DIR / f"tenctl-{word}", target, receipt)
    for stale in [f for f in receipt.files if f.startswith(f"{BIN_DIR}/tenctl-")]:
        if stale.removeprefix(f"{BIN_DIR}/tenctl-") not in words:  # a command that is gone since
            under(root, stale).unlink(missing_ok=True)
            receipt.files.remove(stale)
    tree = completion.command_tree(group)
    tenants = tenants_dir_for_completion()
    write_file(root, BASH_COMPLETION, completion.bash_script(tree, tenants).encode(), 0o644, receipt)
    write_file(root, ZSH_COMPLETION, completion.zsh_script(tree, tenants).encode(), 0o644, receipt)
    write_file(root, MAN_PAGE, manpage.render(group, words).encode(), 0o644, receipt)
    data = Path(__file__).with_name("data")
    write_file(root, UNIT, (data / "tenctl-watcher.service").read_bytes(), 0o644, receipt)
    write_file(root, LOGROTATE, (data / "logrotate").read_bytes(), 0o644, receipt)


def place_config(root: Path, incoming: Path, receipt: Receipt) -> None:
    """Move the configuration files received in ``incoming`` (a tree mirroring the node's paths) into place,
    directories and files with the modes they had on the installing node."""
    for directory, subdirs, files in os.walk(incoming):
        subdirs.sort()
        for name in sorted(files):
            source = Path(directory, name)
            relative = source.relative_to(incoming)
            for parent in reversed(relative.parents[:-1]):
                mode = (incoming / parent).stat().st_mode & 0o7777
                made: list[str] = []
                make_dirs(root, parent, made, mode)
                receipt.config_dirs.extend(d for d in made if d not in receipt.config_dirs)
            dest = under(root, relative)
            mode = source.stat().st_mode & 0o7777
            tmp = dest.with_name(f".{dest.name}.tenctl-tmp")
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as out:
                out.write(source.read_bytes())
            os.chmod(tmp, mode)
            os.replace(tmp, dest)
            if str(relative) not in receipt.config:
                receipt.config.append(str(relative))
    shutil.rmtree(incoming)


def make_prefix(root: Path) -> None:
    """Create the venv's directory here, noting the directories made (see :data:`MADE_DIRS`)."""
    made: list[str] = []
    make_dirs(root, PREFIX, made)
    if made:
        with open(under(root, MADE_DIRS), "a", encoding="utf-8") as out:
            out.writelines(f"{under(root, d)}\n" for d in made)


def node_commands(root: Path, house: Wheelhouse, with_config: bool) -> list[list[str]]:
    """What a node runs to install or update itself from its wheelhouse (the same here and over SSH)."""
    prefix = under(root, PREFIX)
    wheels = under(root, WHEELS)
    python = str(prefix / "bin" / "python")
    finish = [str(prefix / "bin" / "tenctl"), "install-local", "--root", str(root), "--no-wheelhouse"]
    if with_config:
        finish += ["--config-from", str(under(root, INCOMING))]
    return [
        ["python3", "-m", "venv", "--without-pip", str(prefix)],
        [
            python,
            str(wheels / house.pip_wheel / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-warn-script-location",
            "--no-index",
            "--find-links",
            str(wheels),
            "--upgrade",
            *house.requirements,
        ],
        finish,
    ]


def run_here(commands: list[list[str]]) -> None:
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise InstallError(f"`{shlex.join(argv[:2])}` failed on this node: {last_line(done.stderr)}")


# ------------------------------------------------------------------------------------------ watcher

WATCHER_NOTES = {
    "restarted": "watcher restarted",
    "inactive": "watcher not running: left stopped",
    "no-systemd": "no systemd: watcher not restarted",
}
STAGING_NOTE = "staging root: watcher left alone, systemctl not called"
"""A root other than ``/`` is not what the node's systemd runs: its watcher is none of this update's."""


def watcher_restart_script() -> str:
    """What an updated node whose root is ``/`` runs (here with ``sh``, elsewhere over SSH): restart the
    watcher only if it is active (``systemctl try-restart``), only where systemd runs (as uninstall decides
    to stop it), and print ``restarted``, ``inactive`` or ``no-systemd``."""
    unit = shlex.quote(WATCHER_UNIT)
    return (
        "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then "
        f"if systemctl is-active --quiet {unit}; then systemctl try-restart {unit} && echo restarted; "
        "else echo inactive; fi; "
        "else echo no-systemd; fi"
    )


def watcher_note(output: str, node: str) -> str:
    word = output.strip().rpartition("\n")[2]
    if word not in WATCHER_NOTES:
        raise InstallError(
            f"node {node} was updated, but what became of its watcher is unknown (the node said {word!r})",
            f"see `systemctl status {WATCHER_UNIT}` there",
        )
    return WATCHER_NOTES[word]


def restart_watcher_here(root: Path, node: str) -> str:
    """After this node's update: restart its running watcher on the new code; what was done, in words."""
    if root != Path("/"):
        return STAGING_NOTE
    done = subprocess.run(
        ["sh", "-c", watcher_restart_script()], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise InstallError(
            f"node {node} was updated, but `systemctl try-restart {WATCHER_UNIT}` failed: "
            f"{last_line(done.stderr)}",
            f"see `systemctl status {WATCHER_UNIT}` and `journalctl -u {WATCHER_UNIT}` there",
        )
    return watcher_note(done.stdout, node)


def restart_watcher_remote(target: Target) -> str:
    """The same on another node, over SSH, after its update; a staging root gets no command at all."""
    if Path(target.root) != Path("/"):
        return STAGING_NOTE
    try:
        output = target.run(
            watcher_restart_script(), timeout=120, label=f"systemctl try-restart {WATCHER_UNIT}"
        )
    except InstallError as exc:
        raise InstallError(
            f"node {target.node} was updated, but its watcher did not restart: {exc.message}",
            f"see `systemctl status {WATCHER_UNIT}` and `journalctl -u {WATCHER_UNIT}` there",
        ) from None
    return watcher_note(output, target.node)


def update_remote(target: Target, root: Path, house: Wheelhouse) -> str:
    """Update the node from this node's wheelhouse, then restart its watcher if it runs; the watcher's note."""
    install_remote(target, root, house, [])
    return restart_watcher_remote(target)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


# ------------------------------------------------------------------------------------- uninstalling


def remove_node_files(root: Path, full: bool) -> list[str]:
    """Remove what the receipt lists, the venv, and with ``full`` the configuration, logs and state; return
    what was removed (paths as on the node)."""
    receipt = Receipt.read(root)
    removed: list[str] = []
    for relative in receipt.files + (receipt.config if full else []):
        path = under(root, relative)
        if path.is_symlink() or path.exists():
            path.unlink()
            removed.append(f"/{relative}")
    prefix = under(root, PREFIX)
    if prefix.exists():
        shutil.rmtree(prefix)
        removed.append(f"/{PREFIX}")
    if full:
        for extra in FULL_EXTRA:
            path = under(root, extra)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                removed.append(f"/{extra}")
    # directories the installation made, deepest first, when nothing else lives in them
    for relative in sorted(receipt.dirs + (receipt.config_dirs if full else []), key=len, reverse=True):
        path = under(root, relative)
        try:
            path.rmdir()
        except OSError:
            continue
    return removed


# ------------------------------------------------------------------------------------- other nodes


@dataclass(frozen=True)
class Target:
    """How one node is reached over SSH, and where its file system root is."""

    node: str
    host: str
    port: int = 22
    user: str = "root"
    root: str = "/"
    identity_file: str | None = None
    known_hosts: str | None = None
    """The known_hosts file to check the node's key against; None: the cluster's own files."""

    @property
    def known_hosts_files(self) -> str:
        if self.known_hosts:
            return self.known_hosts
        return f"{PVE_NODE_KNOWN_HOSTS.format(node=self.node)} {PVE_KNOWN_HOSTS}"

    def ssh_argv(self, command: str) -> list[str]:
        """ssh refusing a host key it does not know or that changed (StrictHostKeyChecking=yes) against
        the cluster's known_hosts, looked up by node name as Proxmox does (HostKeyAlias)."""
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_files}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"HostKeyAlias={self.node}",
            "-o", "ConnectTimeout=15",
            "-o", "LogLevel=ERROR",
            "-p", str(self.port),
        ]  # fmt: skip
        if self.identity_file:
            argv += ["-i", self.identity_file, "-o", "IdentitiesOnly=yes"]
        return [*argv, f"{self.user}@{self.host}", "--", command]

    def run(
        self, command: str, stdin: bytes | None = None, timeout: float = 600, label: str | None = None
    ) -> str:
        """Run the shell command there; its output. ``label`` names it in an error (else its first word)."""
        try:
            done = subprocess.run(
                self.ssh_argv(command),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise InstallError(
                f"node {self.node} ({self.host}): no answer over SSH in {timeout:.0f} s"
            ) from None
        except FileNotFoundError:
            raise InstallError(
                "the ssh client is not installed on this node (apt install openssh-client)"
            ) from None
        err = done.stderr.decode("utf-8", "replace")
        if done.returncode == 255 and "Host key verification failed" in err:
            raise InstallError(
                f"node {self.node} ({self.host}:{self.port}): its SSH host key is not the one {self.known_hosts_files} "
                f"has for {self.node}, or is missing there: refused",
                "check the node's key (`pvecm updatecerts` on it re-adds the cluster's keys) and try again",
            )
        if done.returncode != 0:
            raise InstallError(
                f"node {self.node} ({self.host}): `{label or command.split(' ', 1)[0]}` failed (exit {done.returncode}): "
                f"{last_line(err)}"
            )
        return done.stdout.decode("utf-8", "replace")


def read_targets_file(path: str) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{TARGETS_ENV}={path}: cannot be read: {exc}") from None
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise UsageError(f"{TARGETS_ENV}={path}: no [nodes.<name>] tables")
    allowed = {"host", "port", "user", "root", "identity_file", "known_hosts"}
    for name, table in nodes.items():
        if not isinstance(table, dict) or set(table) - allowed:
            raise UsageError(
                f"{TARGETS_ENV}={path}: nodes.{name}: keys allowed are {', '.join(sorted(allowed))}"
            )
    return nodes


def make_target(node: str, address: str | None, override: dict[str, Any] | None) -> Target:
    """The node's target, every value checked before anything is sent anywhere."""
    if not NODE_NAME_RE.match(node):
        raise UsageError(f"node name {node!r} from the cluster is not a valid host name: it is not used")
    values: dict[str, Any] = {"node": node, "host": address}
    values.update(override or {})
    host = values.get("host")
    if not isinstance(host, str) or not HOST_RE.match(host):
        raise UsageError(f"node {node}: address {host!r} is not an IP address or host name")
    port = values.get("port", 22)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"node {node}: SSH port {port!r} is not a number from 1 to 65535")
    user = values.get("user", "root")
    if not isinstance(user, str) or not USER_RE.match(user):
        raise UsageError(f"node {node}: SSH user {user!r} is not a valid user name")
    root = str(check_root(str(values.get("root", "/")), f"node {node}: root"))
    for key in ("identity_file", "known_hosts"):
        value = values.get(key)
        if value is not None:
            check_root(str(value), f"node {node}: {key}")
            if any(c.isspace() for c in str(value)):  # ssh reads a list of files from the option
                raise UsageError(f"node {node}: {key} {value!r}: a path without spaces, please")
    return Target(
        node=node,
        host=host,
        port=port,
        user=user,
        root=root,
        identity_file=values.get("identity_file"),
        known_hosts=values.get("known_hosts"),
    )


@dataclass(frozen=True)
class ClusterNodes:
    local: str
    targets: list[Target]
    offline: list[str]


def target_overrides() -> dict[str, dict[str, Any]]:
    """The ``$TENCTL_INSTALL_TARGETS`` file's tables, each checked (read before the first request)."""
    if not os.environ.get(TARGETS_ENV):
        return {}
    overrides = read_targets_file(os.environ[TARGETS_ENV])
    for name, table in overrides.items():
        make_target(name, table.get("host", "localhost"), table)
    return overrides


def cluster_nodes(
    status: list[dict[str, Any]], local: str, overrides: dict[str, dict[str, Any]]
) -> ClusterNodes:
    """The other online nodes of ``/cluster/status`` as SSH targets (with the overrides of
    ``$TENCTL_INSTALL_TARGETS``), and the offline ones."""
    targets, offline = [], []
    for item in sorted((i for i in status if i.get("type") == "node"), key=lambda i: str(i.get("name"))):
        name = str(item.get("name"))
        if name == local:
            continue
        if not int(item.get("online", 0) or 0):
            offline.append(name)
            continue
        targets.append(make_target(name, item.get("ip"), overrides.get(name)))
    return ClusterNodes(local, targets, offline)


def preflight(target: Target) -> None:
    """Reach the node (host key checked) and make sure it has the Python this node's wheels are for."""
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    have = target.run(shlex.join(["python3", "-c", code]), timeout=60).strip()
    if have != want:
        raise InstallError(
            f"node {target.node} has Python {have or '?'}, this node {want}: the wheelhouse is for {want}",
            "upgrade both nodes to the same Proxmox VE release",
        )


def config_files(config_sources: tuple[str, ...]) -> list[Path]:
    """The configuration files and every file they name (keys ending in ``_file``, in any table)."""
    found: list[Path] = []

    def walk(value: Any, key: str, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k), f"{where}{k}.")
        elif isinstance(value, list):
            for item in value:
                walk(item, key, where)
        elif isinstance(value, str) and key.endswith("_file"):
            path = Path(value)
            if not path.is_absolute():
                raise UsageError(
                    f"{where.rstrip('.')}: {value!r} is not an absolute path: it cannot be copied"
                )
            if not path.is_file():
                raise UsageError(f"{where.rstrip('.')}: {value} does not exist on this node: nothing to copy")
            if path not in found:
                found.append(path)

    for source in config_sources:
        path = Path(source)
        found.append(path)
        walk(tomllib.loads(path.read_text(encoding="utf-8")), "", "")
    return found


def payload(root: Path, files: list[Path]) -> bytes:
    """A tar stream of the wheelhouse and the configuration files (under ``incoming/``, with their
    directories' and their own modes), extracted into the other node's ``/opt/tenctl``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        wheels = under(root, WHEELS)
        for path in sorted(wheels.iterdir()):
            tar.add(path, arcname=f"wheels/{path.name}", filter=_owned_by_root)
        dirs_added: set[Path] = set()
        for path in files:
            for parent in reversed(path.parents[:-1]):
                if parent not in dirs_added:
                    dirs_added.add(parent)
                    tar.add(parent, arcname=f"incoming{parent}", recursive=False, filter=_owned_by_root)
            tar.add(path, arcname=f"incoming{path}", filter=_owned_by_root)
    return buffer.getvalue()


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def receive_commands(target: Target) -> str:
    """What the other node runs to take the payload: a clean wheelhouse and incoming directory, then tar."""
    root = Path(target.root)
    prefix = under(root, PREFIX)
    ancestors = (
        " ".join(shlex.quote(str(under(root, p))) for p in reversed(PREFIX.parents[:-1]))
        + " "
        + shlex.quote(str(prefix))
    )
    make_prefix = (
        f'set -- && for d in {ancestors}; do if [ ! -d "$d" ]; then mkdir -m 0755 -- "$d" && set -- "$@" "$d"; fi; done'
        f" && if [ $# -gt 0 ]; then printf '%s\\n' \"$@\" >> {shlex.quote(str(under(root, MADE_DIRS)))}; fi"
    )
    return " && ".join(
        [
            shlex.join(["rm", "-rf", "--", str(prefix / "wheels"), str(prefix / "incoming")]),
            make_prefix,
            shlex.join(["tar", "-x", "-p", "--no-same-owner", "-f", "-", "-C", str(prefix)]),
        ]
    )


def install_remote(target: Target, root: Path, house: Wheelhouse, files: list[Path]) -> None:
    """Send the wheelhouse (and configuration files) to the node, then have it install itself."""
    target.run(receive_commands(target), stdin=payload(root, files))
    commands = node_commands(Path(target.root), house, with_config=bool(files))
    target.run(" && ".join(shlex.join(argv) for argv in commands))


def uninstall_remote(target: Target, full: bool) -> None:
    tenctl = under(Path(target.root), PREFIX / "bin" / "tenctl")
    argv = [str(tenctl), "uninstall", "--local-only", "--force", *(["--full"] if full else [])]
    target.run(f"if [ -x {shlex.quote(str(tenctl))} ]; then {shlex.join(argv)}; fi")
