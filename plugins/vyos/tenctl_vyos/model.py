"""The router's configuration as tenctl reads and writes it: ``set`` lines, a tree, and the tenant's part.

What tenctl puts on the router for a tenant (VyOS 1.4 LTS / 1.5 syntax)::

    set interfaces ethernet <lan> vif <vlan> address '<gateway>/<prefix>'
    set interfaces ethernet <lan> vif <vlan> description 'Tenant <name> (tenctl:<installation>:<name>)'
    set nat source rule <vlan*10> description 'Tenant <name> (tenctl:...)'
    set nat source rule <vlan*10> outbound-interface name '<wan>'
    set nat source rule <vlan*10> source address '<subnet>'
    set nat source rule <vlan*10> translation address 'masquerade'
    set firewall group network-group TENCTL-TENANTS network '<subnet>'
    set firewall group network-group TENCTL-SUSPENDED network '<subnet>'      (suspended, cut)

Isolation is one rule set made once by ``tenctl vyos configure``: strict source validation (a packet
whose source address is not routed back through the interface it came in on is dropped, so a tenant
cannot pose as another subnet); the forward filter drops anything from or to TENCTL-SUSPENDED, accepts
return traffic, drops new connections from the WAN side to TENCTL-TENANTS and traffic from a subnet of
TENCTL-TENANTS to a subnet of TENCTL-TENANTS (traffic inside one tenant's subnet never crosses the
router), and accepts the rest; the input filter keeps tenants off the router's own services (ping of
the gateway allowed, nothing at all for suspended tenants). Adding a tenant adds its subnet to the group; no per-tenant firewall rule exists, so rule
numbers cannot collide and the rule set does not grow with the tenants. NAT rule numbers are
``vlan * 10`` (as the Bash tool's): VLANs are unique, so are the numbers, in 10-40940.

Every value is checked before it goes into a line (addresses and networks parsed, names matched) and
every value is single-quoted, so nothing a tenant gives can reach the router's shell or parser.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable
from typing import Any

TENANTS_GROUP = "TENCTL-TENANTS"
SUSPENDED_GROUP = "TENCTL-SUSPENDED"
NAT_STEP = 10
VIF, NAT, MEMBER, CUT = "vif", "nat", "member", "cut"
SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9 .,:()_+@/-]*")


def quote(value: object) -> str:
    """A value for a ``set`` line: checked to hold no quote, backslash or control character, then
    single-quoted (VyOS's own quoting)."""
    text = str(value)
    if not SAFE_VALUE_RE.fullmatch(text):
        raise ValueError(f"refusing to send {text!r} to the router: it holds characters outside the safe set")
    return f"'{text}'"


def nat_rule(vlan: int) -> int:
    return int(vlan) * NAT_STEP


# ------------------------------------------------------------------------------------------- reading


def parse_lines(lines: Iterable[str]) -> list[list[str]]:
    """``set a b 'c d'`` lines (``show configuration commands``) as token lists ``[a, b, c d]``."""
    paths = []
    for line in lines:
        line = line.strip()
        if not line.startswith("set "):
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue  # a line tenctl cannot read is not one it wrote
        paths.append(tokens[1:])
    return paths


def tree_lines(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """The same paths from the API's JSON tree (``/retrieve showConfig``): nodes are objects, a leaf's
    value a string or a list of strings, a valueless leaf an empty object."""
    paths: list[list[str]] = []
    for key, value in tree.items():
        here = (*prefix, str(key))
        if isinstance(value, dict):
            paths.extend(tree_lines(value, here) if value else [list(here)])
        elif isinstance(value, list):
            paths.extend([*here, str(item)] for item in value)
        else:
            paths.append([*here, str(value)])
    return paths


class RouterConfig:
    """The running configuration, indexed for the tenant's objects."""

    def __init__(self, paths: list[list[str]]) -> None:
        self.paths = paths

    def values(self, *prefix: str) -> list[str]:
        """Every value under a path (the token right after it)."""
        n = len(prefix)
        return [p[n] for p in self.paths if len(p) > n and tuple(p[:n]) == prefix]

    def value(self, *prefix: str) -> str | None:
        found = self.values(*prefix)
        return found[0] if found else None

    def children(self, *prefix: str) -> list[str]:
        return sorted(set(self.values(*prefix)), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))

    def vifs(self, lan: str) -> dict[int, dict[str, str]]:
        """vlan -> {address, description} of the LAN interface's vifs."""
        found = {}
        for vlan in self.children("interfaces", "ethernet", lan, "vif"):
            if not vlan.isdigit():
                continue
            base = ("interfaces", "ethernet", lan, "vif", vlan)
            found[int(vlan)] = {
                "address": ",".join(sorted(self.values(*base, "address"))),
                "description": self.value(*base, "description") or "",
            }
        return found

    def nat_rules(self) -> dict[int, dict[str, str]]:
        found = {}
        for number in self.children("nat", "source", "rule"):
            if not number.isdigit():
                continue
            base = ("nat", "source", "rule", number)
            found[int(number)] = {
                "description": self.value(*base, "description") or "",
                "source": self.value(*base, "source", "address") or "",
                "outbound": self.value(*base, "outbound-interface", "name") or "",
                "translation": self.value(*base, "translation", "address") or "",
            }
        return found

    def group(self, name: str) -> list[str]:
        return sorted(self.values("firewall", "group", "network-group", name, "network"))

    def has(self, *path: str) -> bool:
        n = len(path)
        return any(tuple(p[:n]) == path for p in self.paths)


def gateway_cidr(gateway: str, subnet: str) -> str:
    network = ipaddress.IPv4Network(subnet)
    address = ipaddress.IPv4Address(gateway)
    if address not in network:
        raise ValueError(f"gateway {gateway} is not in {subnet}")
    return f"{address}/{network.prefixlen}"


def subnet_of_address(address: str) -> str | None:
    try:
        return str(ipaddress.IPv4Interface(address).network)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ writing


def vif_path(lan: str, vlan: int | str) -> str:
    return f"interfaces ethernet {lan} vif {int(vlan)}"


def nat_path(number: int | str) -> str:
    return f"nat source rule {int(number)}"


def group_path(group: str) -> str:
    if group not in (TENANTS_GROUP, SUSPENDED_GROUP):
        raise ValueError(f"not a tenctl group: {group}")
    return f"firewall group network-group {group}"


def vif_lines(lan: str, vlan: int, attrs: dict[str, Any], before: dict[str, Any] | None = None) -> list[str]:
    path = vif_path(lan, vlan)
    lines = []
    if before is not None and before.get("address") and before.get("address") != attrs["address"]:
        lines.append(f"delete {path} address")
    if before is None or before.get("address") != attrs["address"]:
        lines.append(f"set {path} address {quote(ipaddress.IPv4Interface(attrs['address']).with_prefixlen)}")
    if before is None or before.get("description") != attrs["description"]:
        lines.append(f"set {path} description {quote(attrs['description'])}")
    return lines


NAT_LEAVES = {
    "description": "description",
    "outbound": "outbound-interface name",
    "source": "source address",
    "translation": "translation address",
}


def nat_lines(number: int, attrs: dict[str, Any], before: dict[str, Any] | None = None) -> list[str]:
    path = nat_path(number)
    lines = []
    for key, leaf in NAT_LEAVES.items():
        if before is None or before.get(key) != attrs[key]:
            lines.append(f"set {path} {leaf} {quote(attrs[key])}")
    return lines


def member_line(verb: str, group: str, subnet: str) -> str:
    return f"{verb} {group_path(group)} network {quote(ipaddress.IPv4Network(subnet))}"


def base_lines(
    *,
    lan: str,
    wan: str,
    wan_address: str,
    wan_gateway: str,
    name_servers: Iterable[str] = (),
    lan_address: str | None = None,
) -> list[str]:
    """The base configuration ``tenctl vyos configure`` makes: WAN address and default route, name
    servers, the two tenctl groups and the forward filter that isolates tenants."""
    lines = [
        f"set interfaces ethernet {wan} address {quote(ipaddress.IPv4Interface(wan_address).with_prefixlen)}",
        f"set interfaces ethernet {wan} description {quote('WAN (tenctl)')}",
        f"set interfaces ethernet {lan} description {quote('Tenant VLANs (tenctl)')}",
        f"set protocols static route 0.0.0.0/0 next-hop {quote(ipaddress.IPv4Address(wan_gateway))}",
    ]
    if lan_address:
        lines.append(
            f"set interfaces ethernet {lan} address {quote(ipaddress.IPv4Interface(lan_address).with_prefixlen)}"
        )
    lines += [f"set system name-server {quote(ipaddress.ip_address(ns))}" for ns in name_servers]
    for group, words in (
        (TENANTS_GROUP, "Tenant subnets (tenctl)"),
        (SUSPENDED_GROUP, "Suspended tenant subnets (tenctl)"),
    ):
        lines.append(f"set {group_path(group)} description {quote(words)}")
    rule = "firewall ipv4 forward filter rule"
    lines += [
        "set firewall global-options source-validation 'strict'",
        "set firewall ipv4 forward filter default-action 'accept'",
        f"set {rule} 10 action 'drop'",
        f"set {rule} 10 description {quote('tenctl: suspended tenants send nothing')}",
        f"set {rule} 10 source group network-group '{SUSPENDED_GROUP}'",
        f"set {rule} 11 action 'drop'",
        f"set {rule} 11 description {quote('tenctl: suspended tenants receive nothing')}",
        f"set {rule} 11 destination group network-group '{SUSPENDED_GROUP}'",
        f"set {rule} 20 action 'accept'",
        f"set {rule} 20 description {quote('tenctl: return traffic')}",
        f"set {rule} 20 state 'established'",
        f"set {rule} 20 state 'related'",
        f"set {rule} 25 action 'drop'",
        f"set {rule} 25 description {quote('tenctl: the WAN side opens nothing to a tenant')}",
        f"set {rule} 25 inbound-interface name {quote(wan)}",
        f"set {rule} 25 destination group network-group '{TENANTS_GROUP}'",
        f"set {rule} 30 action 'drop'",
        f"set {rule} 30 description {quote('tenctl: no tenant reaches another tenant')}",
        f"set {rule} 30 source group network-group '{TENANTS_GROUP}'",
        f"set {rule} 30 destination group network-group '{TENANTS_GROUP}'",
    ]
    rule = "firewall ipv4 input filter rule"
    lines += [
        "set firewall ipv4 input filter default-action 'accept'",
        f"set {rule} 10 action 'accept'",
        f"set {rule} 10 description {quote('tenctl: answers to the router')}",
        f"set {rule} 10 state 'established'",
        f"set {rule} 10 state 'related'",
        f"set {rule} 20 action 'drop'",
        f"set {rule} 20 description {quote('tenctl: suspended tenants reach nothing')}",
        f"set {rule} 20 source group network-group '{SUSPENDED_GROUP}'",
        f"set {rule} 30 action 'accept'",
        f"set {rule} 30 description {quote('tenctl: tenants may ping their gateway')}",
        f"set {rule} 30 protocol 'icmp'",
        f"set {rule} 30 source group network-group '{TENANTS_GROUP}'",
        f"set {rule} 40 action 'drop'",
        f"set {rule} 40 description {quote('tenctl: tenants reach no service of the router')}",
        f"set {rule} 40 source group network-group '{TENANTS_GROUP}'",
    ]
    return lines


ISOLATION_RULES = {
    ("forward", "10"): {"action": "drop", "source group network-group": SUSPENDED_GROUP},
    ("forward", "11"): {"action": "drop", "destination group network-group": SUSPENDED_GROUP},
    ("forward", "20"): {"action": "accept", "state": "established"},
    ("forward", "25"): {"action": "drop", "destination group network-group": TENANTS_GROUP},
    ("forward", "30"): {
        "action": "drop",
        "source group network-group": TENANTS_GROUP,
        "destination group network-group": TENANTS_GROUP,
    },
    ("input", "20"): {"action": "drop", "source group network-group": SUSPENDED_GROUP},
    ("input", "40"): {"action": "drop", "source group network-group": TENANTS_GROUP},
}
"""The rules isolation rests on (``health`` and ``vyos status`` check them; the rest of the base
configuration may be changed by hand)."""


def isolation_problems(config: RouterConfig, wan: str | None = None) -> list[str]:
    """What of the isolation rule set is missing or changed (for ``health`` and ``vyos status``)."""
    problems = []
    for group in (TENANTS_GROUP, SUSPENDED_GROUP):
        if not config.has("firewall", "group", "network-group", group):
            problems.append(f"firewall group {group} is missing")
    if config.value("firewall", "global-options", "source-validation") != "strict":
        problems.append("source validation is not strict: a tenant could forge its source address")
    for (chain, number), leaves in ISOLATION_RULES.items():
        base = ("firewall", "ipv4", chain, "filter", "rule", number)
        for leaf, value in leaves.items():
            if value not in config.values(*base, *leaf.split()):
                problems.append(f"{chain} filter rule {number} does not have {leaf} {value}")
    if wan is not None:
        inbound = config.value("firewall", "ipv4", "forward", "filter", "rule", "25", "inbound-interface", "name")
        if inbound != wan:
            problems.append(f"forward filter rule 25 does not have inbound-interface name {wan}")
    return problems
