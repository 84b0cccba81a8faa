"""Start, stop and inspect the lab: a simulated Proxmox cluster on loopback, kept in one directory.

Layout of the lab directory::

    lab.json                  pid, host, port, url, ca_file, started (written once the server listens)
    tenctl.toml               a tenctl configuration pointing at the lab
    state.json                the simulated cluster's state (0600), kept between `down` and `up`
    pki/fakepve.crt, .key     the server's self-signed certificate (the CA file for clients)
    secrets/root-password     root@pam's password (0600)
    secrets/pve-token         the secret of the API token root@pam!tenctl (0600)
    logs/pve-requests.jsonl   one JSON line per API request: time, method, path, status
    logs/server.log           the server's own output
    logs/vyos-requests.jsonl  one JSON line per SSH command or API call of the router (no secrets)
    secrets/vyos-password     the router's SSH password for user vyos (0600)
    secrets/vyos-api-key      the router's HTTP API key (0600)
    vyos/ssh_host_ed25519_key the router's SSH host key (made once, kept)
    vyos/known_hosts          a known_hosts line for it, for strict host key checking
    vyos/config.boot.json     the router's saved configuration (config.boot also, for reading)
    secrets/switch-NAME-password  the eAPI password of switch NAME for user admin (0600)
    switches/NAME/flash/      switch NAME's flash: startup-config (kept between runs), rollback-0
    logs/switch-NAME-requests.jsonl  one JSON line per eAPI request of switch NAME (no secrets)
    etc-pve/                  plays /etc/pve for tenctl (tenants/ holds its records)
    log/                      tenctl's log directory
    node-state/               tenctl's node-local state (paths.state_dir: the watcher's cache)
    backups/                  where `tenctl backup` writes archives (paths.backup_dir)
    storage/local/            the directory of storage local (a node's /var/lib/vz)
    storage/snippets/         the directory of the shared storage snippets (content snippets: the guard)

Only the standard library and tomli_w are imported here.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
TOKEN_USER = "root@pam"  # noqa: S105 - a user name, not a secret
TOKEN_NAME = "tenctl"  # noqa: S105 - a token name, not a secret
VYOS_USER = "vyos"
VYOS_LAN = "eth1"
VYOS_WAN = "eth0"
NODES = ("pve1", "pve2", "pve3")
SWITCH_USER = "admin"
GUARD_STORAGE = "snippets"
"""The lab's shared storage with content snippets, where ``tenctl guard install`` puts the guard."""
# The lab's switches: two sites of two switches each, their trunk ports toward the Proxmox nodes, and the
# VLAN every site already carries before tenctl (outside tenctl's VLAN range, so allocation is unaffected).
SWITCH_SITES = (("site-a", ("sw-a1", "sw-a2")), ("site-b", ("sw-b1", "sw-b2")))
SWITCH_TRUNK_PORTS = ("Ethernet1", "Ethernet2")
SWITCH_VLANS = {10: "infra"}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class LabError(Exception):
    """The lab could not be started, stopped or read; the message says what to do."""


def default_dir() -> Path:
    """$TENCTL_LAB_DIR, else $XDG_STATE_HOME/tenctl/lab, else ~/.local/state/tenctl/lab."""
    if os.environ.get("TENCTL_LAB_DIR"):
        return Path(os.environ["TENCTL_LAB_DIR"]).expanduser().absolute()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser().absolute() / "tenctl" / "lab"


class LabPaths:
    """Where each file of a lab directory lives."""

    def __init__(self, directory: Path | str):
        self.dir = Path(directory).expanduser().absolute()
        self.info = self.dir / "lab.json"
        self.config = self.dir / "tenctl.toml"
        self.state = self.dir / "state.json"
        self.pki = self.dir / "pki"
        self.ca_file = self.pki / "fakepve.crt"
        self.key_file = self.pki / "fakepve.key"
        self.secrets = self.dir / "secrets"
        self.root_password = self.secrets / "root-password"
        self.token_secret = self.secrets / "pve-token"
        self.logs = self.dir / "logs"
        self.request_log = self.logs / "pve-requests.jsonl"
        self.server_log = self.logs / "server.log"
        self.cluster_dir = self.dir / "etc-pve"
        self.tenants_dir = self.cluster_dir / "tenants"
        self.log_dir = self.dir / "log"
        self.state_dir = self.dir / "node-state"
        self.backup_dir = self.dir / "backups"
        self.storage_dir = self.dir / "storage"
        self.vyos_dir = self.dir / "vyos"
        self.vyos_password = self.secrets / "vyos-password"
        self.vyos_api_key = self.secrets / "vyos-api-key"
        self.vyos_known_hosts = self.vyos_dir / "known_hosts"
        self.vyos_log = self.logs / "vyos-requests.jsonl"
        self.switches_dir = self.dir / "switches"

    def switch_dir(self, name: str) -> Path:
        return self.switches_dir / name

    def switch_password(self, name: str) -> Path:
        return self.secrets / f"switch-{name}-password"

    def switch_log(self, name: str) -> Path:
        return self.logs / f"switch-{name}-requests.jsonl"

    def make(self) -> None:
        for path in (
            self.pki,
            self.logs,
            self.tenants_dir,
            self.log_dir,
            self.state_dir,
            self.storage_dir,
            self.vyos_dir,
            self.switches_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(parents=True, exist_ok=True)
        os.chmod(self.secrets, 0o700)


def write_secret(path: Path, value: str) -> None:
    """Write a secret file atomically with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_or_make_secret(path: Path, nbytes: int = 18) -> str:
    """The secret stored in path, made (random) and stored first if there is none."""
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_urlsafe(nbytes)
    write_secret(path, value)
    return value


def config_document(
    directory: Path | str, port: int, host: str = HOST, vyos: dict | None = None, switches: dict | None = None
) -> dict:
    """The tenctl configuration that points at a lab listening on host:port (and its router, given the
    [vyos] table of :func:`vyos_config_table`)."""
    paths = LabPaths(directory)
    document = {
        "proxmox": {
            "host": host,
            "port": int(port),
            "user": TOKEN_USER,
            "token_name": TOKEN_NAME,
            "token_secret_file": str(paths.token_secret),
            "password_file": str(paths.root_password),
            "verify_tls": True,
            "ca_file": str(paths.ca_file),
        },
        "paths": {
            "cluster_dir": str(paths.cluster_dir),
            "tenants_dir": str(paths.tenants_dir),
            "log_dir": str(paths.log_dir),
            "state_dir": str(paths.state_dir),
            "backup_dir": str(paths.backup_dir),
        },
        "sdn": {"zone": "tenants", "zone_type": "vlan", "bridge": "vmbr0"},
        "permissions": {"storages": ["local-lvm"]},
        "monitoring": {"guard_storage": GUARD_STORAGE},
        "allocation": {
            "allocator": "first-free",
            "vlan_ranges": ["100-999"],
            "subnet_pool": "10.100.0.0/16",
            "prefix_length": 24,
        },
    }
    if vyos:
        document["vyos"] = vyos
    if switches:
        document["switches"] = switches
    return document


def write_config(
    directory: Path | str, port: int, host: str = HOST, vyos: dict | None = None, switches: dict | None = None
) -> Path:
    """Write <dir>/tenctl.toml for a lab on host:port; returns its path."""
    import tomli_w

    paths = LabPaths(directory)
    paths.dir.mkdir(parents=True, exist_ok=True)
    tmp = paths.config.with_name(paths.config.name + ".tmp")
    tmp.write_text(tomli_w.dumps(config_document(paths.dir, port, host, vyos, switches)), encoding="utf-8")
    os.replace(tmp, paths.config)
    return paths.config


# ------------------------------------------------------------------ processes


def _read_info(paths: LabPaths) -> dict | None:
    try:
        return json.loads(paths.info.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_lab_server(pid: int | None) -> bool:
    """True if pid is alive and is a tenctl lab server (not a recycled pid of something else)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid
    return b"tenctl_lab.server" in cmdline


def _tls_ready(host: str, port: int, ca_file: Path, timeout: float = 2.0) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ssl.SSLError):
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def up(directory: Path | str | None = None, port: int = 0, timeout: float = START_TIMEOUT) -> dict:
    """Start the lab in directory (detached) unless it runs already; returns status(directory)."""
    paths = LabPaths(directory or default_dir())
    current = status(paths.dir)
    if current["running"]:
        write_config(
            paths.dir,
            current["proxmox"]["port"],
            current["proxmox"]["host"],
            vyos_config_table(paths.dir),
            switches_config_table(paths.dir),
        )
        return status(paths.dir)
    paths.make()
    paths.info.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tenctl_lab.server", "--dir", str(paths.dir), "--port", str(port)]
    with open(paths.server_log, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while True:
        info = _read_info(paths)
        if (
            info
            and info.get("pid") == proc.pid
            and _tls_ready(info["host"], info["port"], Path(info["ca_file"]))
        ):
            break
        if proc.poll() is not None:
            raise LabError(
                f"the lab server exited with status {proc.returncode}; see the end of {paths.server_log}:\n"
                + _log_tail(paths.server_log)
            )
        if time.monotonic() > deadline:
            proc.terminate()
            raise LabError(f"the lab server did not answer within {timeout:.0f} s; see {paths.server_log}")
        time.sleep(0.05)
    write_config(
        paths.dir, info["port"], info["host"], vyos_config_table(paths.dir), switches_config_table(paths.dir)
    )
    return status(paths.dir)


def down(directory: Path | str | None = None, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the lab (it saves its state first); returns False if it was not running."""
    paths = LabPaths(directory or default_dir())
    info = _read_info(paths)
    pid = info.get("pid") if info else None
    if not _is_lab_server(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_lab_server(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _is_lab_server(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    return True


def _reap(pid: int) -> None:
    # The server is our child when up() ran in this process: collect it so it does not linger as a zombie.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(directory: Path | str | None = None) -> dict:
    """What the lab is and how to reach it (the JSON of `tenctl lab status --json`)."""
    paths = LabPaths(directory or default_dir())
    info = _read_info(paths) or {}
    pid = info.get("pid")
    running = _is_lab_server(pid)
    password = None
    if paths.root_password.exists():
        password = paths.root_password.read_text(encoding="utf-8").strip()
    return {
        "dir": str(paths.dir),
        "running": running,
        "pid": pid if running else None,
        "config": str(paths.config),
        "request_log": str(paths.request_log),
        "proxmox": {
            "host": info.get("host", HOST),
            "port": info.get("port"),
            "url": info.get("url"),
            "ca_file": str(paths.ca_file),
            "user": TOKEN_USER,
            "password": password,
            "password_file": str(paths.root_password),
            "token_id": f"{TOKEN_USER}!{TOKEN_NAME}",
            "token_secret_file": str(paths.token_secret),
            "started": info.get("started"),
        },
        "vyos": vyos_status(paths, info.get("vyos") or {}),
        "switches": switches_status(paths, info.get("switches") or []),
    }


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def vyos_status(paths: LabPaths, served: dict) -> dict:
    """The router's part of the status: where it listens (from lab.json) and its credentials."""
    return {
        "host": served.get("host", HOST),
        "ssh_port": served.get("ssh_port"),
        "api_port": served.get("api_port"),
        "user": VYOS_USER,
        "password": _read_secret(paths.vyos_password),
        "api_key": _read_secret(paths.vyos_api_key),
        "ca_file": str(paths.ca_file),
        "known_hosts": str(paths.vyos_known_hosts),
        "password_file": str(paths.vyos_password),
        "api_key_file": str(paths.vyos_api_key),
        "request_log": str(paths.vyos_log),
    }


SWITCH_SITE_NODES = {"site-a": ("pve1", "pve2"), "site-b": ("pve3",)}
"""Which of the lab's Proxmox nodes sit at which switch site, for the [switches] inventory."""


def switches_config_table(directory: Path | str | None = None) -> dict | None:
    """The [switches] inventory of tenctl.toml that drives the lab's switches (None while they are not
    served). ``tenctl lab up`` writes it; the test fixture's configuration leaves it out."""
    paths = LabPaths(directory or default_dir())
    served = (_read_info(paths) or {}).get("switches") or []
    if not served:
        return None
    sites = []
    for site, _ in SWITCH_SITES:
        entries = [
            {
                "name": entry["name"],
                "driver": entry["driver"],
                "host": entry["host"],
                "port": entry["port"],
                "user": entry["user"],
                "password_file": entry["password_file"],
                "ca_file": entry["ca_file"],
                "trunk_ports": entry["trunk_ports"],
            }
            for entry in switches_status(paths, served)
            if entry["site"] == site
        ]
        sites.append({"name": site, "nodes": list(SWITCH_SITE_NODES[site]), "switches": entries})
    return {"sites": sites}


def switches_status(paths: LabPaths, served: list[dict]) -> list[dict]:
    """The switches' part of the status: one entry per lab switch, with where it listens (from lab.json, as
    for the other peers) and its credentials. A tenctl switch inventory takes these fields."""
    where = {entry.get("name"): entry for entry in served}
    switches = []
    for site, names in SWITCH_SITES:
        for name in names:
            listening = where.get(name) or {}
            switches.append(
                {
                    "name": name,
                    "site": site,
                    "driver": "eos",
                    "host": listening.get("host", HOST),
                    "port": listening.get("port"),
                    "user": SWITCH_USER,
                    "password": _read_secret(paths.switch_password(name)),
                    "trunk_ports": list(SWITCH_TRUNK_PORTS),
                    "password_file": str(paths.switch_password(name)),
                    "ca_file": str(paths.ca_file),
                    "request_log": str(paths.switch_log(name)),
                }
            )
    return switches


def vyos_config_table(directory: Path | str | None = None, transport: str = "ssh") -> dict | None:
    """The [vyos] table of tenctl.toml that drives the lab's router (None while the router is not served).
    ``tenctl lab up`` writes it; the test fixture's configuration leaves it out (tests that want the
    router add it, see ``LabHandle.edge_config``)."""
    paths = LabPaths(directory or default_dir())
    served = (_read_info(paths) or {}).get("vyos") or {}
    if not served.get("ssh_port"):
        return None
    return {
        "transport": transport,
        "host": served.get("host", HOST),
        "ssh_port": served.get("ssh_port"),
        "api_port": served.get("api_port"),
        "user": VYOS_USER,
        "password_file": str(paths.vyos_password),
        "api_key_file": str(paths.vyos_api_key),
        "known_hosts_file": str(paths.vyos_known_hosts),
        "ca_file": str(paths.ca_file),
        "lan_interface": VYOS_LAN,
        "wan_interface": VYOS_WAN,
    }
