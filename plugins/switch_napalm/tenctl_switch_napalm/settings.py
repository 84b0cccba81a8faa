"""The ``[switches]`` configuration table: sites, their switches and their Proxmox nodes.

Light on purpose: ``tenctl --help`` may import it (no napalm here). Without a site the provider is
disabled and tenctl touches no switch. Secrets (device passwords) come from files or environment
variables named here, never from the table itself::

    [switches]
    concurrency = 8
    revert_in = 120

    [[switches.sites]]
    name = "site-a"
    nodes = ["pve1", "pve2"]

    [[switches.sites.switches]]
    name = "sw-a1"
    driver = "eos"
    host = "10.0.0.11"
    user = "tenctl"
    password_file = "/etc/tenctl/sw-a1.password"
    trunk_ports = ["Ethernet1", "Ethernet2"]
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
from tenctl_core.rules import rule, tables

if TYPE_CHECKING:
    from tenctl_core.context import Context

PROVIDER = "switch-vlans"
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
NODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
PORT_RE = re.compile(r"[A-Za-z][A-Za-z0-9/.:-]{0,63}")
DRIVER_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
TRANSPORTS = ("https", "http", "ssh")


def one_of(choices: tuple[str, ...]) -> rules.Rule:
    def check(value: str) -> None:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")

    return check


@dataclass(frozen=True)
class SwitchSpec:
    """``[[switches.sites.switches]]``: one switch, how to reach it and its ports toward the nodes."""

    name: str = field(metadata=rule(rules.matching(NAME_RE, "a switch name (lower case, digits, '-')")))
    host: str = field(metadata=rule(rules.host))
    user: str = field(metadata=rule(rules.matching(re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}"), "a user name")))
    trunk_ports: tuple[str, ...] = field(
        default=(), metadata=rule(rules.each(rules.matching(PORT_RE, "an interface name")))
    )
    """The ports toward the Proxmox nodes (required: a switch without them carries no tenant VLAN)."""
    driver: str = field(default="eos", metadata=rule(rules.matching(DRIVER_RE, "a napalm driver name")))
    port: int = field(default=0, metadata=rule(rules.between(0, 65535)))
    """0: the driver's default port."""
    transport: str = field(default="https", metadata=rule(one_of(TRANSPORTS)))
    password_file: str | None = field(default=None, metadata=rule(rules.path_text))
    password_env: str | None = field(default=None, metadata=rule(rules.env_name))
    verify_tls: bool = True
    ca_file: str | None = field(default=None, metadata=rule(rules.ca_file))


@dataclass(frozen=True)
class SiteSpec:
    """``[[switches.sites]]``: a site, the Proxmox nodes that sit there and its switches."""

    name: str = field(metadata=rule(rules.matching(NAME_RE, "a site name (lower case, digits, '-')")))
    nodes: tuple[str, ...] = field(default=(), metadata=rule(rules.each(rules.matching(NODE_RE, "a node name"))))
    switches: tuple[SwitchSpec, ...] = field(default=(), metadata=tables(SwitchSpec))


@dataclass(frozen=True)
class SwitchSettings:
    """``[switches]``: the inventory and how changes are pushed."""

    sites: tuple[SiteSpec, ...] = field(default=(), metadata=tables(SiteSpec))
    concurrency: int = field(default=8, metadata=rule(rules.between(1, 64)))
    """Switches changed at once."""
    timeout: float = field(default=30.0, metadata=rule(rules.above(0, 600)))
    """Seconds one switch may take for one operation."""
    revert_in: int = field(default=120, metadata=rule(rules.between(0, 3600)))
    """Seconds of the commit timer where the driver has one (0: plain commit)."""

    @property
    def configured(self) -> bool:
        return any(site.switches for site in self.sites)

    def switches(self) -> list[tuple[SiteSpec, SwitchSpec]]:
        return [(site, switch) for site in self.sites for switch in site.switches]


def check_settings(settings: SwitchSettings, where: str) -> None:
    seen_sites: set[str] = set()
    seen_switches: set[str] = set()
    seen_nodes: dict[str, str] = {}
    for site in settings.sites:
        if site.name in seen_sites:
            raise ConfigError(f"{where}: switches: site {site.name} is given twice")
        seen_sites.add(site.name)
        for node in site.nodes:
            if node in seen_nodes:
                raise ConfigError(
                    f"{where}: switches: node {node} is in sites {seen_nodes[node]} and {site.name}"
                )
            seen_nodes[node] = site.name
        for switch in site.switches:
            if switch.name in seen_switches:
                raise ConfigError(f"{where}: switches: switch {switch.name} is given twice")
            seen_switches.add(switch.name)
            if not (switch.password_file or switch.password_env):
                raise ConfigError(
                    f"{where}: switches: switch {switch.name} needs password_file or password_env"
                )
            if not switch.trunk_ports:
                raise ConfigError(f"{where}: switches: switch {switch.name} names no trunk_ports")


SETTINGS = Settings("switches", SwitchSettings, check_settings)


def switch_settings(ctx: Context) -> SwitchSettings:
    settings: SwitchSettings = ctx.config.settings(SETTINGS)
    return settings


def read_password(switch: SwitchSpec) -> str:
    """The switch's password, from its file (0600) or environment variable."""
    if switch.password_file:
        return read_secret_file(Path(switch.password_file), f"switches: {switch.name}.password_file")
    env = switch.password_env or ""
    if os.environ.get(env):
        return os.environ[env]
    raise ConfigError(
        f"switches: switch {switch.name}: password_env names the environment variable {env}, which is not "
        "set or empty"
    )
