"""``tenctl migrate``: the Bash tool's global configuration (``tenant.conf``) as a tenctl configuration file.

The file is read as data by :mod:`tenctl_core.bashfile`, never run. Every implementation of
``tenctl_migrate_bash_config`` receives its plain values and answers with a :class:`MigratedSettings`: the
tables it writes, and per key what it became, why it was left out, or which rule its value breaks. Core maps
its own keys below (VLAN range, subnet pool, paths, limits, the tenants' role, notifications); each plugin
maps its backend's (``[sdn]``, ``[vyos]``). A value that breaks a rule stops the migration with the file,
line and key named; a key nobody maps is only reported. The document is then checked as ``tenctl config
check`` checks a file, and written atomically.

Tenant records (the Bash tool's ``<name>.conf``, in the same ``KEY=value`` format) are not migrated here
yet: a later ``tenctl migrate --records DIR`` will read them with :func:`tenctl_core.bashfile.read_bash_file`
and write tenctl records next to :func:`migrate_bash_config`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tenctl_core import __version__, hookimpl
from tenctl_core.bashfile import BashFile, read_bash_file
from tenctl_core.config import (
    SECTIONS,
    SYSTEM_CONFIG,
    TENANT_ROLE,
    AllocationSettings,
    LimitDefaults,
    PathSettings,
    PermissionSettings,
    build_config,
    check_field,
    check_tables,
)
from tenctl_core.errors import PluginError, TenctlError, UsageError

if TYPE_CHECKING:
    from tenctl_core.plugins import PluginSet

BASH_CONFIG = Path("/usr/local/share/tenctl/config/tenant.conf")
"""Where the Bash tool kept its global configuration."""
DEFAULT_OUTPUT = SYSTEM_CONFIG
OUTPUT_MODE = 0o644
"""The configuration names where secrets are; it holds none, so everyone may read it."""
HOOK = "tenctl_migrate_bash_config"
BASH_TENANT_PREFIX = 24
"""The Bash tool gave every tenant ``<BASE_SUBNET>.X.0/24``."""


@dataclass
class MigratedSettings:
    """What one plugin (or core) makes of the Bash tool's settings: the answer of ``tenctl_migrate_bash_config``.

    Fill it with :meth:`take` (a value checked by its field's rule, as ``config check`` does), :meth:`put`
    (a value checked otherwise), :meth:`use`, :meth:`ignore` and :meth:`refuse`; ``actions`` are what the
    administrator must do by hand (create a secret file, run a command), one sentence each.
    """

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The tables to write, ``{"vyos": {"host": "192.0.2.1", ...}}``; each table belongs to one plugin."""
    used: dict[str, list[str]] = field(default_factory=dict)
    """Bash key -> what it became (``allocation.vlan_ranges = ["100-999"]``)."""
    ignored: dict[str, str] = field(default_factory=dict)
    """Bash key -> why it is not carried over (reported, not an error)."""
    invalid: dict[str, str] = field(default_factory=dict)
    """Bash key -> the rule its value breaks: the migration stops, naming the key and its line."""
    actions: list[str] = field(default_factory=list)

    def put(self, source: str, table: str, key: str, value: Any) -> None:
        """Write ``[table] key = value``, made from the Bash key ``source``."""
        self.tables.setdefault(table, {})[key] = value
        self.use(source, f"{table}.{key} = {json.dumps(value)}")

    def take(self, source: str, table: str, schema: type, key: str, value: Any) -> bool:
        """:meth:`put` the value when it passes the rule of ``key`` in the settings dataclass ``schema``;
        otherwise :meth:`refuse` the Bash key with that rule. True when the value was taken."""
        try:
            check_field(schema, key, value)
        except ValueError as exc:
            self.refuse(source, f"{table}.{key} {exc}")
            return False
        self.put(source, table, key, value)
        return True

    def use(self, source: str, what: str) -> None:
        """Note that the Bash key ``source`` was used, and what it became."""
        self.used.setdefault(source, []).append(what)

    def ignore(self, source: str, reason: str) -> None:
        self.ignored[source] = reason

    def refuse(self, source: str, reason: str) -> None:
        self.invalid[source] = reason


class BadBashValues(UsageError):
    """Values of the Bash file that would be wrong in tenctl's configuration, one ``FILE: line N: KEY=value:
    reason`` each; nothing is written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    key: str
    line: int
    became: tuple[str, ...]
    plugin: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "line": self.line, "became": list(self.became), "plugin": self.plugin}


@dataclass(frozen=True)
class NotImported:
    """A key or a line of the Bash file that is not in the new configuration, and why. ``key`` is None for a
    line that names no key; values are not repeated (an unknown key may hold anything)."""

    key: str | None
    line: int
    reason: str
    refused_line: bool = False
    """The line is not a plain assignment: nothing of it was used, and it was not run."""

    def describe(self) -> str:
        if self.refused_line:
            return self.reason
        return f"line {self.line}: {self.key}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class Migration:
    """The configuration made from a Bash file, and the report of what went where."""

    source: Path
    document: dict[str, Any]
    imported: tuple[Imported, ...]
    not_imported: tuple[NotImported, ...]
    actions: tuple[str, ...]

    def toml(self) -> str:
        import tomli_w

        shown = "".join(c if c.isprintable() else "?" for c in str(self.source))
        header = (
            f"# Made by `tenctl migrate` (tenctl {__version__}) from the Bash tool's {shown}.\n"
            "# Check it with `tenctl --config <this file> config check`.\n"
        )
        return header + ("\n" + tomli_w.dumps(self.document) if self.document else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.document,
            "imported": [i.as_dict() for i in self.imported],
            "not_imported": [n.as_dict() for n in self.not_imported],
            "actions": list(self.actions),
        }


# ------------------------------------------------------------------------------------- the migration


def migrate_bash_config(path: Path, plugins: PluginSet, output: Path = DEFAULT_OUTPUT) -> Migration:
    """Read the Bash file, ask every mapper, and check the result as ``config check`` would.

    :class:`BadBashValues` (exit 2) names every value that breaks a rule; ConfigError (exit 2) says why the
    finished document would not pass ``config check``; PluginError names a plugin that broke the hook's
    contract. Nothing is written here: see :func:`write_config_file`.
    """
    from tenctl_core.plugins import BUILTIN_PLUGINS

    bash = read_bash_file(path)
    # Core's answer first, so that its actions lead the list.
    answers = sorted(_ask_mappers(bash, plugins), key=lambda answer: answer[0] not in BUILTIN_PLUGINS)
    refused = sorted(
        ((bash.assignments[key], reason) for _, answer in answers for key, reason in answer.invalid.items()),
        key=lambda item: item[0].line,
    )
    if refused:
        raise BadBashValues([f"{bash.path}: line {a.line}: {a.key}={a.value}: {reason}" for a, reason in refused])
    document = _document(answers)
    _check_like_config_check(document, plugins, bash.path, output)
    imported = sorted(
        (
            Imported(key, bash.line_of(key) or 0, tuple(became), plugin)
            for plugin, answer in answers
            for key, became in answer.used.items()
        ),
        key=lambda i: (i.line, i.key),
    )
    actions: list[str] = []
    for _, answer in answers:
        actions.extend(a for a in answer.actions if a not in actions)
    return Migration(
        source=bash.path,
        document=document,
        imported=tuple(imported),
        not_imported=tuple(_not_imported(bash, answers, {i.key for i in imported})),
        actions=tuple(actions),
    )


def _ask_mappers(bash: BashFile, plugins: PluginSet) -> list[tuple[str, MigratedSettings]]:
    values = MappingProxyType(bash.values())
    answers = []
    for plugin_name, call in plugins.each_impl(HOOK):
        try:
            answer = call(values=values)
        except TenctlError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {plugin_name!r} failed to map the Bash tool's settings: {type(exc).__name__}: {exc}"
            ) from exc
        if answer is None:
            continue
        if not isinstance(answer, MigratedSettings):
            raise PluginError(f"plugin {plugin_name!r}: {HOOK} returned {type(answer).__name__}, not MigratedSettings")
        strangers = (set(answer.used) | set(answer.ignored) | set(answer.invalid)) - set(values)
        if strangers:
            raise PluginError(f"plugin {plugin_name!r}: {HOOK} reports keys it was not given: {', '.join(sorted(strangers))}")
        answers.append((plugin_name, answer))
    return answers


def _document(answers: list[tuple[str, MigratedSettings]]) -> dict[str, Any]:
    """The tables of every answer, core's sections first in their usual order; a table written by two
    plugins is an error naming both."""
    owners: dict[str, str] = {}
    tables: dict[str, dict[str, Any]] = {}
    for plugin_name, answer in answers:
        for name, table in answer.tables.items():
            if name in owners:
                raise PluginError(f"plugins {owners[name]!r} and {plugin_name!r} both write the table [{name}]")
            owners[name] = plugin_name
            tables[name] = dict(table)
    order = [name for name in SECTIONS if name in tables] + sorted(set(tables) - set(SECTIONS))
    return {name: tables[name] for name in order}


def _check_like_config_check(document: dict[str, Any], plugins: PluginSet, source: Path, output: Path) -> None:
    """The checks of ``tenctl config check`` that concern the file's content; its messages then name the Bash
    file, since the new file does not exist yet."""
    where = f"the configuration made from {source} for {output}"
    config = build_config(copy.deepcopy(document), (where,), None, where)
    check_tables(config, plugins.settings_specs())


def _not_imported(bash: BashFile, answers: list[tuple[str, MigratedSettings]], used: set[str]) -> list[NotImported]:
    found = [
        NotImported(
            refused.key,
            refused.line,
            f"{refused.where} {'is' if refused.line == refused.last_line else 'are'} not a plain assignment: "
            f"{refused.reason}; nothing of it was used or run",
            refused_line=True,
        )
        for refused in bash.refused
    ]
    refused_lines = {r.line for r in bash.refused}
    for earlier, later in bash.overridden:
        how = "which is not a plain assignment" if later in refused_lines else "which replaces it"
        found.append(NotImported(earlier.key, earlier.line, f"set again on line {later}, {how}"))
    for key, assignment in bash.assignments.items():
        if key in used:
            continue
        reason = next((a.ignored[key] for _, a in answers if key in a.ignored), None)
        found.append(NotImported(key, assignment.line, reason or "no installed plugin maps this key"))
    return sorted(found, key=lambda n: (n.line, n.key or ""))


def write_config_file(path: Path, text: str, replace: bool, source: Path | None = None) -> None:
    """Write the configuration atomically, mode 0644: a temporary file in the same directory, renamed into
    place. Without ``replace`` an existing file (or symbolic link) is refused, also one that appears while
    the file is being written."""
    if source is not None and _same_file(path, source):
        raise UsageError(f"--output {path} is the Bash configuration being read")
    exists = UsageError(f"{path} exists: tenctl migrate does not replace it", hint="pass --force to replace it")
    if not replace and (path.exists() or path.is_symlink()):
        raise exists
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), OUTPUT_MODE)
    except OSError as exc:
        raise TenctlError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, OUTPUT_MODE)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path, exists)
    except OSError as exc:
        raise TenctlError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path, exists: UsageError) -> None:
    """Give the written file its name only if that name is still free (a hard link fails on an existing one)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists from None
    except OSError:
        # A file system without hard links: the check before writing has to do.
        if path.exists() or path.is_symlink():
            raise exists from None
        os.replace(tmp, path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


# --------------------------------------------------------------------------- core's keys (a built-in plugin)

WHOLE_NUMBER_RE = re.compile(r"[0-9]+")


def whole_number(text: str) -> int:
    """A Bash value that must be a whole number (``8``, ``16384``); ValueError otherwise."""
    if not WHOLE_NUMBER_RE.fullmatch(text.strip()):
        raise ValueError("must be a whole number")
    return int(text)


@hookimpl
def tenctl_migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    """Core's keys: the VLAN range, the subnet pool, the paths, the default limits, the tenants' role, and
    the notification keys tenctl has no settings for yet."""
    out = MigratedSettings()
    out.actions.append(
        "tenctl talks to the Proxmox API rather than running pvesh: make an API token and set "
        "proxmox.token_name and proxmox.token_secret_file (see the configuration guide)"
    )
    _map_admin_role(values, out)
    _map_vlan_range(values, out)
    _map_base_subnet(values, out)
    _map_paths(values, out)
    _map_limits(values, out)
    _note_notifications(values, out)
    _note_capacity(out)
    return out


def _map_vlan_range(values: Mapping[str, str], out: MigratedSettings) -> None:
    start, end = values.get("VLAN_START"), values.get("VLAN_END")
    if start is None and end is None:
        return
    if start is None or end is None:
        given, missing = ("VLAN_END", "VLAN_START") if start is None else ("VLAN_START", "VLAN_END")
        out.ignore(given, f"{missing} is not set or was not read, so there is no range: allocation.vlan_ranges keeps tenctl's default 100-999")
        return
    numbers = {}
    for key, text in (("VLAN_START", start), ("VLAN_END", end)):
        try:
            numbers[key] = whole_number(text)
        except ValueError as exc:
            out.refuse(key, f"the first and last VLAN {exc}")
    if len(numbers) < 2:
        return
    low, high = numbers["VLAN_START"], numbers["VLAN_END"]
    item = f"{low}-{high}"
    try:
        from tenctl_core import rules

        rules.vlan_range(item)
    except ValueError as exc:
        culprit = "VLAN_END" if 2 <= low <= 4094 and not 2 <= high <= 4094 else "VLAN_START"
        out.refuse(culprit, f'allocation.vlan_ranges item "{item}" {exc}')
        return
    out.put("VLAN_START", "allocation", "vlan_ranges", [item])
    out.use("VLAN_END", f'allocation.vlan_ranges = ["{item}"]')


def _map_base_subnet(values: Mapping[str, str], out: MigratedSettings) -> None:
    base = values.get("BASE_SUBNET")
    if base is None:
        return
    match = re.fullmatch(r"([0-9]{1,3})\.([0-9]{1,3})", base.strip())
    if not match or any(int(octet) > 255 for octet in match.groups()):
        out.refuse("BASE_SUBNET", "must be the first two octets of the tenants' networks, like 10.100 (tenants got 10.100.X.0/24)")
        return
    pool = f"{int(match[1])}.{int(match[2])}.0.0/16"
    if out.take("BASE_SUBNET", "allocation", AllocationSettings, "subnet_pool", pool):
        out.put("BASE_SUBNET", "allocation", "prefix_length", BASH_TENANT_PREFIX)


def _map_paths(values: Mapping[str, str], out: MigratedSettings) -> None:
    for bash_key, key in (("TENANT_CONFIG_DIR", "tenants_dir"), ("LOG_DIR", "log_dir")):
        value = values.get(bash_key)
        if value is None:
            continue
        if not value.strip():
            out.ignore(bash_key, f"empty: paths.{key} keeps tenctl's default")
            continue
        if not out.take(bash_key, "paths", PathSettings, key, value):
            continue
        if bash_key == "TENANT_CONFIG_DIR":
            out.actions.append(
                f"the Bash tool's tenant records ({value}/<name>.conf) are not migrated by this command; "
                "tenctl keeps its own records (<name>.toml) in that directory"
            )
        else:
            out.actions.append(
                f"tenctl appends its audit trail to {value}/tenant-management.log, one JSON line per command: "
                "if the Bash tool's log has that name, rename it first so the file holds one format"
            )


def _map_limits(values: Mapping[str, str], out: MigratedSettings) -> None:
    for bash_key, key in (
        ("DEFAULT_CPU_LIMIT", "cpu"),
        ("DEFAULT_RAM_LIMIT", "ram_mb"),
        ("DEFAULT_STORAGE_LIMIT", "storage_gb"),
    ):
        value = values.get(bash_key)
        if value is None:
            continue
        try:
            number = whole_number(value)
        except ValueError as exc:
            out.refuse(bash_key, f"defaults.{key} {exc}")
            continue
        out.take(bash_key, "defaults", LimitDefaults, key, number)


def _map_admin_role(values: Mapping[str, str], out: MigratedSettings) -> None:
    from tenctl_core.access import forbidden_builtin_privileges

    role = values.get("TENANT_ADMIN_ROLE")
    if role is None:
        return
    role = role.strip()
    if not role:
        out.ignore("TENANT_ADMIN_ROLE", f"empty: tenctl's own role {TENANT_ROLE} is used")
        return
    broad = forbidden_builtin_privileges(role)
    if broad:
        out.ignore(
            "TENANT_ADMIN_ROLE",
            f"{role} is not carried over: it holds {', '.join(broad)}, with which a tenant's admin could change "
            f"its pool's ACLs, users or the pool itself; tenctl's own role {TENANT_ROLE} is used "
            "(permissions.admin_role left at its default)",
        )
        out.actions.append(
            f"run `tenctl init`: it makes the role {TENANT_ROLE} that tenants get on their pools instead of {role}"
        )
        return
    if not out.take("TENANT_ADMIN_ROLE", "permissions", PermissionSettings, "admin_role", role):
        return
    if role != TENANT_ROLE:
        out.actions.append(
            f"role {role} must exist and hold no privilege outside {TENANT_ROLE}'s (`tenctl health` checks it); "
            f"or delete permissions.admin_role to use {TENANT_ROLE}"
        )


def _note_notifications(values: Mapping[str, str], out: MigratedSettings) -> None:
    """The Bash tool sent mail through a Proxmox notification target; Proxmox's API cannot send a message of
    ours (it only sends a fixed test to a target), so tenctl talks to the SMTP server itself
    (``[notifications]``). The target's server and addresses live in Proxmox's notification configuration,
    not in ``tenant.conf``: the administrator copies them."""
    endpoint = values.get("SMTP_ENDPOINT", "").strip()
    enabled = values.get("EMAIL_NOTIFICATIONS_ENABLED", "").strip().lower() in ("true", "yes", "1")
    reason = (
        "tenctl sends mail through an SMTP server of its own ([notifications]), not through a Proxmox "
        "notification target: the server and addresses are not in tenant.conf"
    )
    for key in ("EMAIL_NOTIFICATIONS_ENABLED", "SMTP_ENDPOINT"):
        if key in values:
            out.ignore(key, reason)
    if enabled:
        target = f" of the Proxmox notification target {endpoint!r}" if endpoint else ""
        out.actions.append(
            f"the Bash tool emailed tenants when they were added or removed: set notifications.smtp_host, "
            f"email_from (and smtp_user, smtp_password_file) to the SMTP server{target}, "
            "notifications.notify_tenants = true to keep those emails, and notifications.email_to for the "
            "administrators; then run `tenctl notify test` (see the Notifications page of the documentation)"
        )


def _note_capacity(out: MigratedSettings) -> None:
    """The Bash tool's defaults allowed 900 VLANs but had only 256 /24 subnets: say so before tenants run out."""
    allocation = out.tables.get("allocation")
    if not allocation:
        return
    defaults = AllocationSettings()
    ranges = allocation.get("vlan_ranges", [f"{low}-{high}" for low, high in defaults.vlan_ranges])
    vlans = sum(int(high) - int(low) + 1 for low, _, high in (item.partition("-") for item in ranges))
    pool = ipaddress.IPv4Network(allocation.get("subnet_pool", defaults.subnet_pool))
    prefix = allocation.get("prefix_length", defaults.prefix_length)
    subnets = 2 ** (prefix - pool.prefixlen)
    if vlans > subnets:
        out.actions.append(
            f"the VLAN range holds {vlans} VLANs but the subnet pool {pool} only {subnets} /{prefix} subnets, as in "
            "the Bash tool: tenants will run out of subnets first; widen allocation.subnet_pool if more are coming"
        )
