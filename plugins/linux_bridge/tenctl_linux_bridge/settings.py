"""The ``[sdn]`` configuration table, ``tenctl init``'s zone options, and the plugin's part of a tenant's
record. Light on purpose: ``tenctl --help`` imports it (for the options) and nothing else of the plugin."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import ConfigError, TenctlError, UsageError
from tenctl_core.providers import CommandOption, Settings

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant

PROVIDER = "sdn-vnet"
ZONE_TYPES = ("vlan", "qinq", "vxlan", "simple")
"""The zone types tenctl makes and puts tenants in (pve-network's Zones/*Plugin.pm). In ``vlan`` and
``vxlan`` zones the tenant's VLAN is the VNet's tag (the 802.1Q id, the VXLAN id); in a ``qinq`` zone it
is the inner (customer) tag under the zone's service VLAN; a ``simple`` zone has no tag: its VNets are
bridges local to each node, and the tenant's VLAN is then only the edge's and the switches'."""
UNTAGGED_ZONE_TYPES = ("simple",)
ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{1,7}")
"""pve-network's zone id: a letter, then letters or digits, 2-8 characters in all."""
BRIDGE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
VNET_PREFIX = "vn"


@dataclass(frozen=True)
class SdnSettings:
    """``[sdn]``: the zone the tenants' VNets live in, and how ``tenctl init`` makes it."""

    zone: str = "tenants"
    zone_type: str = "vlan"
    bridge: str = "vmbr0"
    vxlan_port: int = 4789
    peers: tuple[str, ...] = ()
    service_vlan: int = 0
    """The outer (service) VLAN of a ``qinq`` zone, 1-4094; required for that type, unused by others."""


def check_zone_type(value: str) -> str:
    if value not in ZONE_TYPES:
        raise UsageError(f"zone type {value!r} must be one of {', '.join(ZONE_TYPES)}")
    return value


def check_zone(value: str) -> str:
    if not ZONE_RE.fullmatch(value):
        raise UsageError(f"zone name {value!r} must be 2-8 letters or digits, starting with a letter")
    return value


def check_bridge(value: str) -> str:
    if not BRIDGE_RE.fullmatch(value):
        raise UsageError(f"bridge {value!r} is not a valid interface name")
    return value


def check_peers(value: str) -> tuple[str, ...]:
    peers = tuple(p.strip() for p in value.split(",") if p.strip())
    for peer in peers:
        try:
            ipaddress.ip_address(peer)
        except ValueError:
            raise UsageError(f"VXLAN peer {peer!r} is not an IP address") from None
    return peers


def check_service_vlan(value: str) -> int:
    try:
        vlan = int(value)
    except ValueError:
        raise UsageError(f"service VLAN {value!r} is not a number") from None
    if not 1 <= vlan <= 4094:
        raise UsageError(f"service VLAN {vlan} must be between 1 and 4094")
    return vlan


def check_settings(settings: SdnSettings, where: str) -> None:
    for key, check in (("zone_type", check_zone_type), ("zone", check_zone), ("bridge", check_bridge)):
        try:
            check(getattr(settings, key))
        except TenctlError as exc:
            raise ConfigError(f"{where}: sdn.{key}: {exc}") from None
    try:
        check_peers(",".join(settings.peers))
    except TenctlError as exc:
        raise ConfigError(f"{where}: sdn.peers: {exc}") from None
    if not 1 <= settings.vxlan_port <= 65535:
        raise ConfigError(f"{where}: sdn.vxlan_port = {settings.vxlan_port}: must be between 1 and 65535")
    if settings.zone_type == "qinq" and not 1 <= settings.service_vlan <= 4094:
        raise ConfigError(
            f"{where}: sdn.service_vlan = {settings.service_vlan}: a qinq zone needs its service VLAN, 1-4094"
        )
    if settings.service_vlan and not 1 <= settings.service_vlan <= 4094:
        raise ConfigError(f"{where}: sdn.service_vlan = {settings.service_vlan}: must be between 1 and 4094")


SETTINGS = Settings("sdn", SdnSettings, check_settings)

INIT_OPTIONS = (
    CommandOption(
        "init",
        ("--type", "-t"),
        "sdn.zone_type",
        "SDN zone type: vlan, qinq, vxlan or simple.",
        check_zone_type,
    ),
    CommandOption("init", ("--zone", "-z"), "sdn.zone", "SDN zone name (2-8 letters or digits).", check_zone),
    CommandOption("init", ("--bridge", "-b"), "sdn.bridge", "Bridge of a vlan or qinq zone.", check_bridge),
    CommandOption(
        "init",
        ("--peers", "-p"),
        "sdn.peers",
        "VXLAN peers (comma-separated IPs); default: every node.",
        check_peers,
    ),
    CommandOption(
        "init", ("--service-vlan",), "sdn.service_vlan", "Service (outer) VLAN of a qinq zone.", check_service_vlan
    ),
)


RELEASE_OPTION = CommandOption(
    "lock release",
    ("--sdn",),
    "sdn.release_lock",
    "Release Proxmox's SDN lock (it never expires by itself).",
    flag=True,
)
OPTIONS = (*INIT_OPTIONS, RELEASE_OPTION)


def sdn_settings(ctx: Context) -> SdnSettings:
    """``[sdn]`` as configured, with what the command's options override (``init --zone``...)."""
    settings: SdnSettings = ctx.config.settings(SETTINGS)
    overrides: dict[str, Any] = {
        field.name: ctx.options[f"sdn.{field.name}"]
        for field in dataclasses.fields(SdnSettings)
        if ctx.options.get(f"sdn.{field.name}") is not None
    }
    return dataclasses.replace(settings, **overrides) if overrides else settings


def vnet_id(vlan: int) -> str:
    """The SDN VNet id of a VLAN: ``vn<vlan>`` (at most 8 characters for VLANs up to 4094)."""
    return f"{VNET_PREFIX}{vlan}"


def zone_of(tenant: Tenant) -> str:
    """The zone of the tenant's VNet, from the plugin's part of its record."""
    return str(tenant.plugins.get(PROVIDER, {}).get("zone", ""))


def vnet_of(tenant: Tenant) -> str:
    """The tenant's VNet id, from the plugin's part of its record (``vn<vlan>`` if the record has none)."""
    return str(tenant.plugins.get(PROVIDER, {}).get("vnet") or vnet_id(tenant.vlan))
