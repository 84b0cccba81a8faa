"""The Bash tool's ``VYOS_*`` settings as the ``[vyos]`` table (for ``tenctl migrate``).

The Bash tool made the router a VM on one node and logged in with keys it copied there or with
``sshpass``. tenctl reaches the router over the network with a password kept in a file, checks its host
key, and takes the WAN address as arguments of ``tenctl vyos configure`` rather than as settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from tenctl_core.migration import MigratedSettings
from tenctl_vyos.settings import VyosSettings

SECTION = "vyos"
KEYS = (
    "VYOS_ENABLED",
    "VYOS_NODE",
    "VYOS_VMID",
    "VYOS_SSH_USER",
    "VYOS_IP",
    "VYOS_WAN_INTERFACE",
    "VYOS_LAN_INTERFACE",
    "VYOS_WAN_IP",
    "VYOS_WAN_GATEWAY",
)
ENABLED = ("true", "yes", "1")
DISABLED = ("false", "no", "0", "")
PASSWORD_FILE = "/etc/tenctl/vyos.password"  # noqa: S105 - a path, not a password
"""Where the written table says the SSH password is; the administrator creates the file (mode 0600)."""


def migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    given = [key for key in KEYS if key in values]
    if not given:
        return None
    out = MigratedSettings()
    enabled = values.get("VYOS_ENABLED", "").strip().lower()
    if enabled not in ENABLED + DISABLED:
        out.refuse("VYOS_ENABLED", "must be true, yes, 1, false, no or 0")
        return out
    if enabled in DISABLED:
        why = "VYOS_ENABLED is false" if "VYOS_ENABLED" in values else "VYOS_ENABLED is not set"
        for key in given:
            out.ignore(key, f"{why}: no [vyos] table is written and tenctl makes no router change")
        return out
    host = values.get("VYOS_IP", "").strip()
    if not host:
        out.refuse("VYOS_ENABLED", "the router is enabled but VYOS_IP is not set or was not read: tenctl needs its address")
        return out
    out.put("VYOS_ENABLED", SECTION, "transport", "ssh")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        out.refuse("VYOS_IP", "vyos.host must be an IP address here (the Bash tool's VYOS_IP)")
    else:
        out.take("VYOS_IP", SECTION, VyosSettings, "host", host)
    _map_login(values, out)
    _map_interfaces(values, out)
    _note_wan(values, out)
    for key in ("VYOS_NODE", "VYOS_VMID"):
        if key in values:
            out.ignore(key, "not needed: tenctl reaches the router over the network at vyos.host, from any node")
    if not out.invalid:
        out.actions.append(
            f"tenctl checks the router's SSH host key, which the Bash tool never did: add the key of {host} to "
            "the known_hosts of the user running tenctl, after checking it on the router's console, or name "
            "a file with it in vyos.known_hosts_file"
        )
    return out


def _map_login(values: Mapping[str, str], out: MigratedSettings) -> None:
    user = values.get("VYOS_SSH_USER", "").strip()
    if "VYOS_SSH_USER" in values and not user:
        out.ignore("VYOS_SSH_USER", f"empty: vyos.user keeps its default {VyosSettings.user!r}")
    if user:
        out.take("VYOS_SSH_USER", SECTION, VyosSettings, "user", user)
    out.put("VYOS_ENABLED", SECTION, "password_file", PASSWORD_FILE)
    shown = user or VyosSettings.user
    out.actions.append(
        f"create {PASSWORD_FILE} with the SSH password of {shown} on the router, readable only by root "
        f"(`install -m 600 /dev/null {PASSWORD_FILE}`, then write the password into it), or point "
        "vyos.password_env at a variable holding it: the Bash tool logged in with keys or sshpass, and "
        "tenctl never keeps a secret in its configuration"
    )


def _map_interfaces(values: Mapping[str, str], out: MigratedSettings) -> None:
    chosen = {"lan_interface": VyosSettings.lan_interface, "wan_interface": VyosSettings.wan_interface}
    for bash_key, key in (("VYOS_WAN_INTERFACE", "wan_interface"), ("VYOS_LAN_INTERFACE", "lan_interface")):
        name = values.get(bash_key, "").strip()
        if bash_key in values and not name:
            out.ignore(bash_key, f"empty: vyos.{key} keeps its default {chosen[key]!r}")
        elif name and out.take(bash_key, SECTION, VyosSettings, key, name):
            chosen[key] = name
    if chosen["lan_interface"] == chosen["wan_interface"]:
        culprit = "VYOS_LAN_INTERFACE" if "VYOS_LAN_INTERFACE" in values else "VYOS_WAN_INTERFACE"
        out.refuse(culprit, f"the LAN and WAN interfaces are both {chosen['lan_interface']}: vyos.lan_interface and vyos.wan_interface must differ")


def _note_wan(values: Mapping[str, str], out: MigratedSettings) -> None:
    """The WAN address and gateway are arguments of ``tenctl vyos configure``, not settings."""
    address = values.get("VYOS_WAN_IP", "").strip()
    gateway = values.get("VYOS_WAN_GATEWAY", "").strip()
    wan_ip: str | None = None
    wan_gw: str | None = None
    if "VYOS_WAN_IP" in values:
        try:
            ipaddress.IPv4Interface(address)
            wan_ip = address if "/" in address else f"{address}/<prefix length>"
            out.ignore("VYOS_WAN_IP", "not a setting: the WAN address is given to `tenctl vyos configure` (see the actions)")
        except ValueError:
            out.ignore("VYOS_WAN_IP", "not an IPv4 address: give the router's WAN address to `tenctl vyos configure`")
    if "VYOS_WAN_GATEWAY" in values:
        try:
            ipaddress.IPv4Address(gateway)
            wan_gw = gateway
            out.ignore("VYOS_WAN_GATEWAY", "not a setting: the gateway is given to `tenctl vyos configure` (see the actions)")
        except ValueError:
            out.ignore("VYOS_WAN_GATEWAY", "not an IPv4 address: give the router's gateway to `tenctl vyos configure`")
    out.actions.append(
        f"run `tenctl vyos configure --wan-ip {wan_ip or '<address/prefix>'} --wan-gw {wan_gw or '<gateway>'}` "
        "(with --dry-run first): it sets the WAN address and default route and adds tenctl's isolation rules, "
        "which the Bash tool's router lacks"
    )
