"""The tenant record: everything tenctl knows about one tenant."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tenctl_core.errors import TenctlError

SCHEMA_VERSION = 2
LEGACY_PLUGIN_KEYS = {"zone": "sdn-vnet", "vnet": "sdn-vnet"}
"""Schema 1 (tenctl 0.2) kept these at the top of the record; since schema 2 they live in the section of
the provider that owns them (``[plugins.<provider>]``), where reading an old record moves them."""
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

PROVISIONING = "provisioning"
ACTIVE = "active"
SUSPENDED = "suspended"
REMOVING = "removing"
FAILED = "failed"
STATUSES = (PROVISIONING, ACTIVE, SUSPENDED, REMOVING, FAILED)


def now_text() -> str:
    return dt.datetime.now().strftime(DATE_FORMAT)


@dataclass
class Tenant:
    """A tenant record as stored in ``<tenants_dir>/<name>.toml``."""

    name: str
    pool: str
    group: str
    admin_user: str
    vlan: int
    subnet: str
    gateway: str
    cpu_limit: int
    ram_limit: int
    """MB."""
    storage_limit: int
    """GB."""
    email: str = ""
    storages: list[str] = field(default_factory=list)
    status: str = PROVISIONING
    created_date: str = field(default_factory=now_text)
    updated_date: str = ""
    created_by: str = ""
    created_on: str = ""
    suspend_reason: str = ""
    suspend_date: str = ""
    resume_date: str = ""
    installation: str = ""
    """The id of the installation that made the tenant (see :mod:`tenctl_core.ownership`)."""
    created_objects: list[str] = field(default_factory=list)
    """tenctl 0.2 kept here what it created; 0.3 reads ownership from the objects' markers instead."""
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each plugin's own data, under its provider name."""
    journal: list[dict[str, str]] = field(default_factory=list)
    """The steps of the last operation and their states."""
    schema: int = SCHEMA_VERSION

    def to_toml_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_toml_dict(cls, data: dict[str, Any], where: str) -> Tenant:
        known = {f.name for f in fields(cls)}
        data = migrated(data)
        unknown = set(data) - known
        if unknown:
            raise TenctlError(f"tenant record {where} has unknown keys: {', '.join(sorted(unknown))}")
        if data.get("schema", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise TenctlError(
                f"tenant record {where} has schema {data['schema']}, newer than this tenctl understands "
                f"({SCHEMA_VERSION}): upgrade tenctl"
            )
        try:
            tenant = cls(**data)
        except TypeError as exc:
            raise TenctlError(f"tenant record {where} is incomplete: {exc}") from None
        for spec in fields(cls):
            value = getattr(tenant, spec.name)
            expected = {"int": int, "str": str, "list[str]": list, "dict[str, dict[str, Any]]": dict}.get(
                str(spec.type)
            )
            if expected is not None and (not isinstance(value, expected) or isinstance(value, bool)):
                raise TenctlError(
                    f"tenant record {where}: {spec.name} = {value!r} has the wrong type ({spec.type} expected)"
                )
        if tenant.status not in STATUSES:
            raise TenctlError(f"tenant record {where} has unknown status {tenant.status!r}")
        return tenant

    def section(self, provider: str) -> dict[str, Any]:
        """The provider's part of the record (created empty when absent)."""
        return self.plugins.setdefault(provider, {})

    def unfinished(self) -> str | None:
        """Why the tenant is mid-operation (a command died or could not undo), or None when consistent."""
        if self.status in (PROVISIONING, REMOVING):
            return f"status {self.status}"
        if self.journal:
            last = self.journal[-1]
            return f"journal of {len(self.journal)} step(s), last: {last['action']} ({last['state']})"
        return None


def migrated(data: dict[str, Any]) -> dict[str, Any]:
    """A record read from an older schema, in the current layout (the file is rewritten on its next save)."""
    if not any(key in data for key in LEGACY_PLUGIN_KEYS):
        return data
    data = dict(data)
    plugins = {name: dict(section) for name, section in (data.get("plugins") or {}).items()}
    for key, provider in LEGACY_PLUGIN_KEYS.items():
        if key in data:
            plugins.setdefault(provider, {}).setdefault(key, data.pop(key))
    data["plugins"] = plugins
    if data.get("schema", 1) < SCHEMA_VERSION:
        data["schema"] = SCHEMA_VERSION
    return data
