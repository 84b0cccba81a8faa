"""The configuration: TOML files with named profiles.

Search order: the file named by ``--config`` or ``TENCTL_CONFIG`` alone; else
``/etc/tenctl/tenctl.toml`` then ``$XDG_CONFIG_HOME/tenctl/tenctl.toml``, the
second overriding the first. Tables under ``[profiles.<name>]`` override the
top level when that profile is chosen with ``--profile``, ``TENCTL_PROFILE`` or
the top-level key ``profile``. Secrets never live in the file: it names the
file or environment variable that holds each one.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core import rules
from tenctl_core.errors import ConfigError
from tenctl_core.notify import NotificationSettings, check_notification_settings, shown_webhook_url
from tenctl_core.rules import rule
from tenctl_core.validation import (
    CPU_MAX,
    CPU_MIN,
    RAM_MAX_MB,
    RAM_MIN_MB,
    STORAGE_MAX_GB,
    STORAGE_MIN_GB,
)

if TYPE_CHECKING:
    from tenctl_core.providers import Settings

SYSTEM_CONFIG = Path("/etc/tenctl/tenctl.toml")
CONFIG_ENV = "TENCTL_CONFIG"
PROFILE_ENV = "TENCTL_PROFILE"
PVE_DIR = Path("/etc/pve")
BACKUP_DIR = "/var/backups/tenctl"
"""Where backups go by default (as root), as with the Bash tool."""


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tenctl" / "tenctl.toml"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tenctl"


@dataclass(frozen=True)
class ProxmoxSettings:
    host: str = field(default="127.0.0.1", metadata=rule(rules.host))
    port: int = field(default=8006, metadata=rule(rules.between(1, 65535)))
    user: str = field(default="root@pam", metadata=rule(rules.userid))
    token_name: str | None = field(default=None, metadata=rule(rules.token_name))
    token_secret_file: str | None = field(default=None, metadata=rule(rules.path_text))
    token_secret_env: str | None = field(default=None, metadata=rule(rules.env_name))
    password_file: str | None = field(default=None, metadata=rule(rules.path_text))
    password_env: str | None = field(default=None, metadata=rule(rules.env_name))
    verify_tls: bool = True
    ca_file: str | None = field(default=None, metadata=rule(rules.ca_file))
    timeout: float = field(default=30.0, metadata=rule(rules.above(0, 3600)))
    proxy: str | None = field(default=None, metadata={**rule(rules.proxy_url), "echo": False})
    """An HTTP(S) proxy for the API; none unless named here (the environment's proxies are ignored)."""

    @property
    def uses_token(self) -> bool:
        return self.token_name is not None


@dataclass(frozen=True)
class PathSettings:
    cluster_dir: str = field(default="", metadata=rule(rules.absolute_path))
    tenants_dir: str = field(default="", metadata=rule(rules.absolute_path))
    log_dir: str = field(default="", metadata=rule(rules.absolute_path))
    state_dir: str = field(default="", metadata=rule(rules.absolute_path))
    """This node's own state (not shared): the watcher's usage history and the guard's cache."""
    backup_dir: str = field(default="", metadata=rule(rules.absolute_path))
    """Where ``tenctl backup`` and ``remove --backup`` write archives unless told otherwise."""

    @property
    def audit_log(self) -> Path:
        return Path(self.log_dir) / "tenant-management.log"


@dataclass(frozen=True)
class AllocationSettings:
    allocator: str = field(default="first-free", metadata=rule(rules.plugin_name))
    vlan_ranges: tuple[tuple[int, int], ...] = ((100, 999),)
    subnet_pool: str = field(default="10.100.0.0/16", metadata=rule(rules.tenant_network))
    prefix_length: int = field(default=24, metadata=rule(rules.between(8, 30)))
    reserved: tuple[str, ...] = field(default=(), metadata=rule(rules.each(rules.network)))
    """Networks no tenant may have (the management and storage networks...): skipped by the allocator,
    refused for ``--subnet``."""

    @property
    def pool(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet_pool)

    @property
    def reserved_networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        return tuple(ipaddress.IPv4Network(n) for n in self.reserved)


@dataclass(frozen=True)
class LimitDefaults:
    cpu: int = field(default=8, metadata=rule(rules.between(CPU_MIN, CPU_MAX, " cores")))
    ram_mb: int = field(default=16384, metadata=rule(rules.between(RAM_MIN_MB, RAM_MAX_MB, " MB")))
    storage_gb: int = field(
        default=500, metadata=rule(rules.between(STORAGE_MIN_GB, STORAGE_MAX_GB, " GB"))
    )


TENANT_ROLE = "TenctlTenant"
"""The role tenctl makes at ``init`` for the tenants' groups on their pools (see access.TENANT_PRIVILEGES)."""


@dataclass(frozen=True)
class PermissionSettings:
    admin_role: str = field(default=TENANT_ROLE, metadata=rule(rules.role_id))
    """The role of a tenant's group on its pool. tenctl makes and keeps TenctlTenant; another role must
    exist and hold nothing that changes ACLs, users or the pool (``health`` checks it)."""
    storages: tuple[str, ...] = field(default=("local-lvm",), metadata=rule(rules.each(rules.storage_id)))


@dataclass(frozen=True)
class CapacitySettings:
    max_share: float = field(default=0.8, metadata=rule(rules.above(0, 1)))
    """The tenants' limits may total at most this share of the cluster's capacity (times the ratio)."""
    warn_share: float = field(default=0.9, metadata=rule(rules.above(0, 1)))
    """Warn when the VLAN ranges or the subnet pool are used beyond this share."""
    cpu_ratio: float = field(default=1.0, metadata=rule(rules.above(0, 100)))
    """Allocation ratio of CPU cores (as OpenStack's cpu_allocation_ratio): 4.0 lets the tenants' CPU
    limits total four times the online cores (times max_share)."""
    ram_ratio: float = field(default=1.0, metadata=rule(rules.above(0, 100)))
    storage_ratio: float = field(default=1.0, metadata=rule(rules.above(0, 100)))
    """Allocation ratio of the configured storages' size (thin provisioning)."""


GUARD_UNKNOWN = ("allow", "refuse")


@dataclass(frozen=True)
class MonitoringSettings:
    warning_percent: int = field(default=80, metadata=rule(rules.between(1, 100, " %")))
    """A tenant's use of a limit at or above this share is a WARNING (``usage``, ``health``, ``watch``)."""
    critical_percent: int = field(default=90, metadata=rule(rules.between(1, 100, " %")))
    interval: float = field(default=60.0, metadata=rule(rules.between(1, 86400, " s")))
    """Seconds between two polls of ``tenctl watch``."""
    history: int = field(default=1440, metadata=rule(rules.between(2, 100000, " samples")))
    """Samples of usage ``watch`` keeps per tenant (1440 at 60 s: one day)."""
    guard_storage: str = field(default="local", metadata=rule(rules.storage_id))
    """The storage (with content ``snippets``) that holds the guard hookscript."""
    guard_timeout: float = field(default=0.5, metadata=rule(rules.above(0, 0.9)))
    """Seconds the guard waits for the API before it answers from the watcher's cache."""
    guard_unknown: str = field(default="allow", metadata=rule(rules.one_of(GUARD_UNKNOWN)))
    """What the guard does when it can tell neither from the API nor from the cache: ``allow`` the start
    (and say so in the task log) or ``refuse`` it."""


@dataclass(frozen=True)
class Config:
    """The effective configuration of one command."""

    source: tuple[str, ...]
    profile: str | None
    proxmox: ProxmoxSettings
    paths: PathSettings
    allocation: AllocationSettings
    defaults: LimitDefaults
    permissions: PermissionSettings
    capacity: CapacitySettings = field(default_factory=CapacitySettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Top-level tables core does not own: each belongs to a plugin's provider (``[sdn]``, ``[vyos]``),
    parsed by :meth:`settings` and checked against the installed plugins by :func:`check_tables`."""

    def settings(self, spec: Settings) -> Any:
        """A plugin's table ``[<section>]`` parsed by its declared schema, with core's rules: an unknown
        key, a secret, or a value of the wrong type is a configuration error naming the key."""
        where = ", ".join(self.source) or "configuration"
        value = _section(where, spec.section, spec.schema, self.tables.get(spec.section, {}))
        if spec.check is not None:
            spec.check(value, where)
        return value

    def as_dict(self) -> dict[str, Any]:
        data = {
            "proxmox": asdict(self.proxmox),
            "paths": asdict(self.paths),
            "allocation": {
                **asdict(self.allocation),
                "vlan_ranges": [f"{low}-{high}" for low, high in self.allocation.vlan_ranges],
                "reserved": list(self.allocation.reserved),
            },
            "defaults": asdict(self.defaults),
            "permissions": {**asdict(self.permissions), "storages": list(self.permissions.storages)},
            "capacity": asdict(self.capacity),
            "monitoring": asdict(self.monitoring),
            "notifications": {
                **asdict(self.notifications),
                "email_to": list(self.notifications.email_to),
                "commands": list(self.notifications.commands),
                "outcomes": list(self.notifications.outcomes),
                "webhook_url": shown_webhook_url(self.notifications.webhook_url),
            },
            **self.tables,
        }
        return _drop_none(data)

    def read_secret(self, kind: str) -> str | None:
        """The token secret or password, read from the file or environment variable the config names."""
        px = self.proxmox
        file_key, env_key = (
            ("token_secret_file", "token_secret_env")
            if kind == "token"
            else ("password_file", "password_env")
        )
        path, env = getattr(px, file_key), getattr(px, env_key)
        if path:
            return read_secret_file(Path(path), f"proxmox.{file_key}")
        if env:
            value = os.environ.get(env)
            if not value:
                raise ConfigError(f"proxmox.{env_key} names {env}, which is not set or empty")
            return value
        return None

    def api_token(self) -> tuple[str, str]:
        """The API token's name and secret. Its file holds the secret alone (the token is ``token_name``) or,
        once ``tenctl rotate --api-token`` has written it, ``<name>=<secret>``: a name that is ``token_name``
        or ``token_name-<suffix>``, so that the name and its secret are swapped together, atomically."""
        px = self.proxmox
        secret = self.read_secret("token")
        if px.token_name is None or secret is None:
            raise ConfigError("no API token configured: set proxmox.token_name and proxmox.token_secret_file")
        name, sep, value = secret.rpartition("=")
        if not sep or not px.token_secret_file:
            return px.token_name, secret
        if not (name == px.token_name or name.startswith(px.token_name + "-")) or not value:
            raise ConfigError(
                f"proxmox.token_secret_file: {px.token_secret_file} names the token {name!r}, which is not "
                f"proxmox.token_name ({px.token_name!r}) or a rotation of it ({px.token_name}-...)"
            )
        return name, value


def read_secret_file(path: Path, what: str) -> str:
    try:
        info = path.stat()
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) & ~stat.S_IRGRP:
        raise ConfigError(f"{what}: {path} is readable or writable by others; chmod 600 {path}")
    if not value:
        raise ConfigError(f"{what}: {path} is empty")
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


SECTIONS: dict[str, type] = {
    "proxmox": ProxmoxSettings,
    "paths": PathSettings,
    "allocation": AllocationSettings,
    "defaults": LimitDefaults,
    "permissions": PermissionSettings,
    "capacity": CapacitySettings,
    "monitoring": MonitoringSettings,
    "notifications": NotificationSettings,
}
TOP_LEVEL = set(SECTIONS) | {"profile", "profiles"}
def refuse_secrets(where: str, raw: dict[str, Any]) -> None:
    """A key that would hold a secret, in any section or profile, core's or a plugin's, is refused."""
    for key in rules.find_secrets(raw):
        leaf = key.rsplit(".", 1)[-1]
        instead = (
            "set proxmox.token_secret_file or proxmox.password_file to its path"
            if key.startswith("proxmox.")
            else f"name its file in a key like {leaf}_file, if the section has one"
        )
        raise ConfigError(
            f"{where}: {key}: secrets do not go in the configuration file; put it in a file readable "
            f"only by root and {instead}"
        )


def config_files(explicit: str | None) -> list[Path]:
    """The files to read, in order."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        return [path]
    return [path for path in (SYSTEM_CONFIG, user_config_path()) if path.is_file()]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(explicit: str | None = None, profile: str | None = None) -> Config:
    """Read, merge and validate the configuration; ConfigError names the bad key."""
    files = config_files(explicit)
    raw: dict[str, Any] = {}
    for path in files:
        raw = merge(raw, _read_toml(path))
    where = ", ".join(str(p) for p in files) or "built-in defaults"
    refuse_secrets(where, raw)
    profiles = raw.pop("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{where}: 'profiles' must be a table of tables")
    chosen = profile or os.environ.get(PROFILE_ENV) or raw.pop("profile", None)
    raw.pop("profile", None)
    if chosen is not None:
        if chosen not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"profile {chosen!r} is not defined in {where} (profiles: {known})")
        raw = merge(raw, profiles[chosen])
    return build_config(raw, tuple(str(p) for p in files), chosen, where)


def build_config(raw: dict[str, Any], source: tuple[str, ...], profile: str | None, where: str) -> Config:
    """Core's sections parsed and checked; every other top-level table kept for the plugin that owns it."""
    refuse_secrets(where, raw)
    tables: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key in TOP_LEVEL:
            continue
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(TOP_LEVEL))}, and plugins' tables)"
            )
        tables[key] = value
    sections = {name: _section(where, name, cls, raw.get(name, {})) for name, cls in SECTIONS.items()}
    sections["paths"] = _default_paths(sections["paths"])
    config = Config(source=source, profile=profile, tables=tables, **sections)
    _check_semantics(config, where)
    return config


def check_tables(config: Config, specs: Iterable[Settings]) -> None:
    """Every plugin table parsed by its provider's schema; a table no installed provider owns is an error."""
    owned = {}
    for spec in specs:
        if spec.section in SECTIONS or spec.section in TOP_LEVEL:
            raise ConfigError(f"a plugin claims [{spec.section}], which is core's own section")
        owned[spec.section] = spec
    for section in sorted(config.tables):
        if section not in owned:
            where = ", ".join(config.source) or "configuration"
            raise ConfigError(
                f"{where}: unknown section [{section}]: no installed plugin reads it "
                f"(plugin sections: {', '.join(sorted(owned)) or 'none'})"
            )
    for spec in owned.values():
        config.settings(spec)


def _section(where: str, name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown key {name}.{key} (known: {', '.join(sorted(known))})")
        try:
            values[key] = _coerce(where, f"{name}.{key}", known[key], value)
        except ConfigError:
            if known[key].metadata.get("echo", True):
                raise
            raise ConfigError(f"{where}: {name}.{key} has the wrong type or form") from None
        check = known[key].metadata.get("check")
        if check is not None and values[key] is not None:
            try:
                check(values[key])
            except ValueError as exc:
                shown = f" = {value!r}" if known[key].metadata.get("echo", True) else ""
                raise ConfigError(f"{where}: {name}.{key}{shown}: {exc}") from None
    for key, spec in known.items():
        if key not in values and spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError(f"{where}: {name}.{key} is required")
    return cls(**values)


def check_field(schema: type, key: str, value: Any) -> None:
    """Check one value of a settings dataclass (core's or a plugin's) by the rule its field carries, as the
    loader does after the type check; ValueError says which rule it breaks, in the words that follow
    ``<section>.<key> = <value>:`` in a configuration error. For code that makes configuration values, such as
    ``tenctl migrate``, which checks every value it imports before it writes it."""
    spec = next((f for f in fields(schema) if f.name == key), None)
    if spec is None:
        raise KeyError(f"{schema.__name__} has no key {key!r}")
    check = spec.metadata.get("check")
    if check is not None and value is not None:
        check(value)


def _coerce(where: str, key: str, spec: Any, value: Any) -> Any:
    schema = spec.metadata.get("tables")
    if schema is not None:  # [[section.key]]: each table parsed by its own dataclass (rules.tables)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ConfigError(f"{where}: {key} must be a list of tables ([[{key}]])")
        return tuple(_section(where, f"{key}[{i}]", schema, item) for i, item in enumerate(value))
    default = spec.default
    expected = str(spec.type).replace(" | None", "").replace("tuple[str, ...]", "list of strings")
    bad = ConfigError(f"{where}: {key} = {value!r} has the wrong type (expected {expected})")
    if key == "allocation.vlan_ranges":
        return _vlan_ranges(where, value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, str):
        raise bad
    return value


def _vlan_ranges(where: str, value: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}: allocation.vlan_ranges must be a non-empty list like ["100-999"]')
    ranges = []
    for item in value:
        text = str(item)
        try:
            rules.vlan_range(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: allocation.vlan_ranges: {item!r} {exc}") from None
        low_text, _, high_text = text.partition("-")
        ranges.append((int(low_text), int(high_text or low_text)))
    ranges.sort()
    for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False):
        if low <= high:
            raise ConfigError(f"{where}: allocation.vlan_ranges overlap at VLAN {low}")
    return tuple(ranges)


def _default_paths(paths: PathSettings) -> PathSettings:
    cluster = paths.cluster_dir or (str(PVE_DIR) if PVE_DIR.is_dir() else str(state_dir() / "cluster"))
    tenants = paths.tenants_dir or (
        str(PVE_DIR / "tenants") if PVE_DIR.is_dir() else str(state_dir() / "tenants")
    )
    log = paths.log_dir or ("/var/log/tenctl" if os.geteuid() == 0 else str(state_dir() / "log"))
    local = paths.state_dir or ("/var/lib/tenctl" if os.geteuid() == 0 else str(state_dir() / "node"))
    backups = paths.backup_dir or (BACKUP_DIR if os.geteuid() == 0 else str(state_dir() / "backups"))
    return PathSettings(cluster_dir=cluster, tenants_dir=tenants, log_dir=log, state_dir=local, backup_dir=backups)


def _check_semantics(config: Config, where: str) -> None:
    px = config.proxmox
    if px.token_secret_file and px.token_secret_env:
        raise ConfigError(f"{where}: set only one of proxmox.token_secret_file and proxmox.token_secret_env")
    if px.password_file and px.password_env:
        raise ConfigError(f"{where}: set only one of proxmox.password_file and proxmox.password_env")
    if px.token_name and not (px.token_secret_file or px.token_secret_env):
        raise ConfigError(f"{where}: proxmox.token_name is set but no token_secret_file or token_secret_env")
    alloc = config.allocation
    pool = alloc.pool
    if alloc.prefix_length < pool.prefixlen:
        raise ConfigError(
            f"{where}: allocation.prefix_length = {alloc.prefix_length}: must be at least the pool's "
            f"prefix length ({pool.prefixlen}) and at most 30"
        )
    for reserved in alloc.reserved_networks:
        if pool.subnet_of(reserved):
            raise ConfigError(
                f"{where}: allocation.subnet_pool = {alloc.subnet_pool!r}: lies wholly in the reserved "
                f"network {reserved} (allocation.reserved): no subnet would be left for tenants"
            )
    watch = config.monitoring
    if watch.critical_percent < watch.warning_percent:
        raise ConfigError(
            f"{where}: monitoring.critical_percent = {watch.critical_percent}: must not be below "
            f"monitoring.warning_percent ({watch.warning_percent})"
        )
    check_notification_settings(config.notifications, where)
    role = config.permissions.admin_role
    from tenctl_core.access import forbidden_builtin_privileges

    broad = forbidden_builtin_privileges(role)
    if broad:
        raise ConfigError(
            f"{where}: permissions.admin_role = {role!r}: this built-in role holds {', '.join(broad)}, "
            "with which a tenant admin could change its pool's ACLs, users or the pool itself",
            hint=f"leave it unset to use tenctl's own role {TENANT_ROLE}",
        )


def pool_capacity(config: Config) -> int:
    """How many tenant subnets the pool holds."""
    return 2 ** (config.allocation.prefix_length - config.allocation.pool.prefixlen)


def vlan_capacity(config: Config) -> int:
    return sum(high - low + 1 for low, high in config.allocation.vlan_ranges)
