"""The ``[vyos]`` configuration table. Light on purpose: ``tenctl --help`` may import it.

Without a ``[vyos]`` table the edge provider is disabled: tenctl then makes no router change. Secrets
(the SSH password, the API key) come from files or environment variables named here, never from the
table itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tenctl_core import rules
from tenctl_core.config import read_secret_file
from tenctl_core.errors import ConfigError
from tenctl_core.providers import Settings
from tenctl_core.rules import rule

if TYPE_CHECKING:
    from tenctl_core.context import Context

PROVIDER = "vyos-edge"
INTERFACE_RE = re.compile(r"(?:eth|bond|br)\d{1,3}")
TRANSPORTS = ("ssh", "api")
SUSPEND_ACTIONS = ("cut", "keep")


def interface(value: str) -> None:
    if not INTERFACE_RE.fullmatch(value):
        raise ValueError("is not a VyOS interface name like eth1, bond0 or br2")


def one_of(choices: tuple[str, ...]) -> rules.Rule:
    def check(value: str) -> None:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")

    return check


@dataclass(frozen=True)
class VyosSettings:
    """``[vyos]``: how to reach the edge router and which of its interfaces face the tenants and the WAN."""

    transport: str = field(default="ssh", metadata=rule(one_of(TRANSPORTS)))
    host: str = field(default="", metadata=rule(rules.host))
    ssh_port: int = field(default=22, metadata=rule(rules.between(1, 65535)))
    api_port: int = field(default=443, metadata=rule(rules.between(1, 65535)))
    user: str = field(default="vyos", metadata=rule(rules.matching(re.compile(r"[a-z_][a-z0-9_.-]{0,31}"), "a user name")))
    password_file: str | None = field(default=None, metadata=rule(rules.path_text))
    password_env: str | None = field(default=None, metadata=rule(rules.env_name))
    api_key_file: str | None = field(default=None, metadata=rule(rules.path_text))
    api_key_env: str | None = field(default=None, metadata=rule(rules.env_name))
    known_hosts_file: str | None = field(default=None, metadata=rule(rules.path_text))
    """The router's SSH host key (OpenSSH known_hosts format); default: ~/.ssh/known_hosts."""
    verify_host_key: bool = True
    ca_file: str | None = field(default=None, metadata=rule(rules.ca_file))
    verify_tls: bool = True
    lan_interface: str = field(default="eth1", metadata=rule(interface))
    wan_interface: str = field(default="eth0", metadata=rule(interface))
    suspend_action: str = field(default="cut", metadata=rule(one_of(SUSPEND_ACTIONS)))
    """``cut``: a suspended tenant's subnet reaches nothing through the router; ``keep``: unchanged."""
    commit_confirm_minutes: int = field(default=2, metadata=rule(rules.between(0, 60)))
    """The confirm window of ``commit-confirm`` over SSH (0: plain commit)."""
    timeout: float = field(default=30.0, metadata=rule(rules.above(0, 600)))

    @property
    def configured(self) -> bool:
        return bool(self.host)


def check_settings(settings: VyosSettings, where: str) -> None:
    if not settings.configured:
        return
    if settings.transport == "ssh" and not (settings.password_file or settings.password_env):
        raise ConfigError(f"{where}: vyos: the ssh transport needs password_file or password_env")
    if settings.transport == "api" and not (settings.api_key_file or settings.api_key_env):
        raise ConfigError(f"{where}: vyos: the api transport needs api_key_file or api_key_env")
    if settings.lan_interface == settings.wan_interface:
        raise ConfigError(f"{where}: vyos.lan_interface and vyos.wan_interface must differ")


SETTINGS = Settings("vyos", VyosSettings, check_settings)


def vyos_settings(ctx: Context) -> VyosSettings:
    settings: VyosSettings = ctx.config.settings(SETTINGS)
    return settings


def read_secret(settings: VyosSettings, kind: str) -> str:
    """The SSH password or the API key, from its file (0600) or environment variable."""
    path, env = (
        (settings.password_file, settings.password_env)
        if kind == "password"
        else (settings.api_key_file, settings.api_key_env)
    )
    if path:
        return read_secret_file(Path(path), f"vyos.{kind}_file" if kind == "password" else "vyos.api_key_file")
    if env and os.environ.get(env):
        return os.environ[env]
    if env:
        raise ConfigError(f"vyos.{kind}_env names the environment variable {env}, which is not set or empty")
    raise ConfigError(f"vyos: no {kind} configured (set vyos.{kind}_file or vyos.{kind}_env)")
