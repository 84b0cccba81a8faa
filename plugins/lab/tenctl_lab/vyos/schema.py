"""What the lab's VyOS accepts: the part of the VyOS 1.4/1.5 configuration tree a tenant edge needs.

Each node of the schema is a :class:`Spec`: a plain container (``interfaces``), a tag node whose entries
are named by the user (``interfaces ethernet <name>``), a leaf with one value, a multi-value leaf, or a
valueless flag (``disable``). Value checks return VyOS's error text, or None when the value is good.
Anything the schema does not list is refused, as a real router refuses a path it has no template for.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable

NODE, TAG, LEAF, MULTI, FLAG = "node", "tag", "leaf", "multi", "flag"

Check = Callable[[str], "str | None"]


@dataclasses.dataclass(frozen=True)
class Spec:
    kind: str
    children: dict[str, Spec] = dataclasses.field(default_factory=dict)
    check: Check | None = None

    @property
    def takes_value(self) -> bool:
        return self.kind in (LEAF, MULTI)


def node(children: dict[str, Spec]) -> Spec:
    return Spec(NODE, children)


def tag(check: Check, children: dict[str, Spec]) -> Spec:
    return Spec(TAG, children, check)


def leaf(check: Check) -> Spec:
    return Spec(LEAF, check=check)


def multi(check: Check) -> Spec:
    return Spec(MULTI, check=check)


def flag() -> Spec:
    return Spec(FLAG)


# ------------------------------------------------------------------ value checks (VyOS's texts)

INVALID = "Invalid value"


def ip_host(value: str) -> str | None:
    """An interface address with its prefix length (VyOS's ip-host validator)."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        return f"Error: {value} is not a valid IP host"
    if "/" not in value:
        return f"Error: {value} is not a valid IP host"
    net = iface.network
    if iface.version == 4 and net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        return f"Error: {value} is not a valid IP host"
    return None


def address_or_dhcp(value: str) -> str | None:
    if value in ("dhcp", "dhcpv6"):
        return None
    return ip_host(value)


def ipv4_address(value: str) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f"Error: {value} is not a valid IPv4 address"
    return None


def ip_address(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"Error: {value} is not a valid IP address"
    return None


def ipv4_prefix(value: str) -> str | None:
    """A network with its host bits clear (VyOS's ipv4-prefix validator)."""
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return f"Error: {value} is not a valid IPv4 prefix"
    return None if "/" in value else f"Error: {value} is not a valid IPv4 prefix"


def ipv4_address_or_prefix(value: str) -> str | None:
    """What a NAT or firewall rule matches: an address or a prefix, optionally negated with '!'."""
    bare = value[1:] if value.startswith("!") else value
    if ipv4_address(bare) is None or ipv4_prefix(bare) is None:
        return None
    return f"Error: {value} is not a valid IPv4 address or prefix"


def translation_address(value: str) -> str | None:
    if value == "masquerade" or ipv4_address(value) is None or ipv4_prefix(value) is None:
        return None
    return "Error: translation address must be masquerade, an IPv4 address or an IPv4 prefix"


def numeric(low: int, high: int, message: str) -> Check:
    def check(value: str) -> str | None:
        if not value.isdigit() or not low <= int(value) <= high:
            return message
        return None

    return check


def one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else INVALID

    return check


def matches(pattern: str, message: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: str) -> str | None:
        return None if compiled.fullmatch(value) else message

    return check


def password_text(value: str) -> str | None:
    """A plaintext password: VyOS takes any text; the lab refuses what no client should send on a `set`
    line (quotes, control characters) and an empty one."""
    if not value or any(c in value for c in "'\"\\") or any(ord(c) < 32 for c in value):
        return INVALID
    return None


def description(value: str) -> str | None:
    # VyOS allows any 255 characters; the lab also refuses quotes and control characters, which tenctl
    # must never send (they would break the `set` line a client builds).
    if len(value) > 255:
        return "Description too long (limit 255 characters)"
    if any(c in "'\"" or not c.isprintable() for c in value):
        return INVALID
    return None


ethernet_name = matches(r"eth\d+", "Invalid Ethernet interface name")
interface_name = matches(
    r"(bond|br|dum|eth|lo|vti|vxlan|wg|pppoe)\d*(\.\d+)?|lo|any", "Invalid interface name"
)
group_name = matches(
    r"[a-zA-Z0-9][\w\-.]*",
    "Name of firewall group can only contain alphanumeric letters, hyphen, underscores and dot",
)
vrf_name = matches(
    r"(?!(eth|br|bond|dum|lo|vxlan|wg)\d)[a-zA-Z0-9\-_]{1,15}",
    "VRF instance name must be 15 characters or less and can not be named as regular network interfaces",
)
host_name = matches(
    r"[A-Za-z0-9][-.A-Za-z0-9]{0,62}",
    "Host-name must be alphanumeric and can contain hyphens",
)
mac_address = matches(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "Error: invalid MAC address")
vlan_id = numeric(0, 4094, "VLAN ID must be between 0 and 4094")
port = numeric(1, 65535, "Port number must be in range 1 to 65535")


def _description() -> Spec:
    return leaf(description)


def _vif() -> Spec:
    return tag(
        vlan_id,
        {
            "address": multi(ip_host),
            "description": _description(),
            "disable": flag(),
            "vrf": leaf(vrf_name),
        },
    )


def _filter() -> Spec:
    """A base chain's filter (``firewall ipv4 forward|input filter``): default action and numbered rules."""
    return node(
        {
            "default-action": leaf(one_of("accept", "drop")),
            "rule": tag(
                numeric(1, 999999, "Number must be between 1 and 999999"),
                {
                    "action": leaf(one_of("accept", "drop", "reject")),
                    "description": _description(),
                    "destination": _match_side(),
                    "disable": flag(),
                    "inbound-interface": node({"name": leaf(interface_name)}),
                    "protocol": leaf(one_of("all", "icmp", "tcp", "udp", "tcp_udp")),
                    "source": _match_side(),
                    "state": multi(one_of("established", "related", "invalid", "new")),
                },
            ),
        }
    )


def _match_side() -> Spec:
    return node(
        {
            "address": leaf(ipv4_address_or_prefix),
            "group": node({"network-group": leaf(group_name)}),
        }
    )


SCHEMA = node(
    {
        "interfaces": node(
            {
                "ethernet": tag(
                    ethernet_name,
                    {
                        "address": multi(address_or_dhcp),
                        "description": _description(),
                        "disable": flag(),
                        "hw-id": leaf(mac_address),
                        "vif": _vif(),
                        "vrf": leaf(vrf_name),
                    },
                ),
            }
        ),
        "nat": node(
            {
                "source": node(
                    {
                        "rule": tag(
                            numeric(1, 999999, "NAT rule number must be between 1 and 999999"),
                            {
                                "description": _description(),
                                "destination": node({"address": leaf(ipv4_address_or_prefix)}),
                                "disable": flag(),
                                "outbound-interface": node({"name": leaf(interface_name)}),
                                "source": node({"address": leaf(ipv4_address_or_prefix)}),
                                "translation": node({"address": leaf(translation_address)}),
                            },
                        )
                    }
                )
            }
        ),
        "firewall": node(
            {
                "group": node(
                    {
                        "network-group": tag(
                            group_name,
                            {"description": _description(), "network": multi(ipv4_prefix)},
                        )
                    }
                ),
                # vyos-1x interface-definitions/firewall.xml.in: global-options source-validation
                # (strict | loose | disable) and the ipv4 forward and input filters share one rule shape.
                "global-options": node(
                    {"source-validation": leaf(one_of("strict", "loose", "disable"))}
                ),
                "ipv4": node({"forward": node({"filter": _filter()}), "input": node({"filter": _filter()})}),
            }
        ),
        "protocols": node(
            {
                "static": node(
                    {"route": tag(ipv4_prefix, {"next-hop": tag(ipv4_address, {"disable": flag()})})}
                )
            }
        ),
        "service": node(
            {
                "ssh": node({"port": leaf(port)}),
                # vyos-1x interface-definitions/service_https.xml.in (1.4): API keys by id.
                "https": node(
                    {
                        "api": node(
                            {
                                "keys": node(
                                    {
                                        "id": tag(
                                            matches(r"[-_a-zA-Z0-9.]{1,64}", "Invalid key id"),
                                            {"key": leaf(password_text)},
                                        )
                                    }
                                )
                            }
                        )
                    }
                ),
            }
        ),
        "system": node(
            {
                "host-name": leaf(host_name),
                "name-server": multi(ip_address),
                # vyos-1x interface-definitions/system_login.xml.in: user names, and the two ways to give a
                # password; the commit turns plaintext-password into encrypted-password (router.py).
                "login": node(
                    {
                        "user": tag(
                            matches(r"[-_a-zA-Z0-9.]{1,100}", "Invalid username"),
                            {
                                "authentication": node(
                                    {
                                        "plaintext-password": leaf(password_text),
                                        "encrypted-password": leaf(
                                            matches(r"[!*]?\$\S+", "Invalid encrypted password")
                                        ),
                                    }
                                )
                            },
                        )
                    }
                ),
            }
        ),
        "vrf": node(
            {
                "name": tag(
                    vrf_name,
                    {
                        "description": _description(),
                        "table": leaf(
                            numeric(100, 65535, "VRF routing table must be in range from 100 to 65535")
                        ),
                    },
                )
            }
        ),
    }
)
