"""A data plane for the lab router: Linux network namespaces wired as its committed configuration says,
with nftables rules translated from that configuration.

Why this exists: the lab's VyOS router (:mod:`tenctl_lab.vyos.router`) checks and stores configuration
but forwards no packet, so tests against it prove that tenctl wrote the lines it meant to write, not
that those lines keep tenants apart. Here the kernel gets the same lines: a router namespace with a leg
per interface address, a bridge per tenant VLAN with two hosts on it, an uplink with an "internet"
address, and the forward filter and source NAT as nftables rules. Reachability is then a packet that
arrives or does not.

It models exactly the part of a VyOS 1.4 configuration that tenctl writes (see
``tenctl_vyos.model``): ethernet interfaces and their vifs with static addresses, one default route,
network groups, ``firewall global-options source-validation``, ``firewall ipv4 forward filter`` and
``firewall ipv4 input filter`` rules that match groups, inbound interface, protocol and connection state,
and masquerading source NAT rules. Anything else under those trees, and any tree that could change
forwarding, raises :class:`Untranslatable`: a change in what tenctl emits must stop the test, not pass
through a translation that ignored it.

Faithful to VyOS where it matters for isolation:

* no 802.1Q: each vif is its own veth leg named as VyOS names it (``eth1.100``), ending on a bridge of
  its own, which is what a VLAN is to the hosts on it;
* the kernel's reverse-path filtering is off in the router namespace; source validation is what
  ``firewall global-options source-validation`` says (default ``disable``), compiled as VyOS does, into
  an nftables ``fib`` check before routing;
* the forward and input filters are base chains in rule-number order with the default action as their
  policy, as VyOS compiles them; without an input filter the router's own addresses are open, as on
  VyOS.

Nothing outside namespaces this module creates is touched: every namespace is named with a prefix
unique to the process and the build, interfaces are created inside them, and :meth:`DataPlane.close`
deletes them all (it also runs when building fails half-way).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

PROBE = Path(__file__).with_name("netprobe.py")
INTERNET = ipaddress.IPv4Address("198.51.100.10")  # TEST-NET-2: an address "out there" on the uplink
PEER_PORT = 4080  # where the uplink's server answers with the address a connection came from
DATAGRAM_PORT = 4081
PROBE_TIMEOUT = 1.0  # seconds a probe waits for a reply, as ``ping -W1``
COMMAND_TIMEOUT = 20.0
HOSTS_PER_SEGMENT = 2
IFNAMSIZ = 15  # Linux interface names are at most 15 characters
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FILTER_ACTIONS = {"accept", "drop"}
STATES = {"established", "related", "new", "invalid"}

NAT_PROBE_RULES = "add table ip t; add chain ip t n { type nat hook postrouting priority srcnat; }; add rule ip t n masquerade"

_builds = itertools.count()


PROTOCOLS = ("icmp", "tcp", "udp")
SOURCE_VALIDATION = {"disable": None, "loose": "fib saddr oif missing", "strict": "fib saddr . iif oif missing"}
"""How VyOS compiles ``firewall global-options source-validation`` (a reverse-path check of nftables)."""


class Untranslatable(ValueError):
    """A part of the router's configuration the data plane does not model: the test must not go on as
    if that part were not there."""


# ------------------------------------------------------------------------------------------- reading


@dataclass
class FilterRule:
    """One ``firewall ipv4 forward filter rule``: what it matches and what it does."""

    number: int
    action: str = ""
    source_group: str | None = None
    destination_group: str | None = None
    states: list[str] = field(default_factory=list)
    inbound_interface: str | None = None
    protocol: str | None = None


@dataclass
class SourceNatRule:
    """One ``nat source rule``; the only translation modelled is masquerade."""

    number: int
    source: ipaddress.IPv4Network | None = None
    outbound_interface: str | None = None
    translation: str = ""


@dataclass
class EdgeConfig:
    """What the router's configuration says about forwarding, read strictly from its ``set`` lines."""

    addresses: dict[str, list[ipaddress.IPv4Interface]] = field(default_factory=dict)
    next_hop: ipaddress.IPv4Address | None = None
    groups: dict[str, list[ipaddress.IPv4Network]] = field(default_factory=dict)
    forward_default: str = "accept"  # VyOS's default-action for the forward filter
    forward_rules: dict[int, FilterRule] = field(default_factory=dict)
    input_default: str = "accept"  # ... and for the input filter (traffic to the router itself)
    input_rules: dict[int, FilterRule] = field(default_factory=dict)
    source_validation: str = "disable"  # VyOS's default for firewall global-options source-validation
    nat_rules: dict[int, SourceNatRule] = field(default_factory=dict)

    @property
    def wan(self) -> str:
        """The interface whose subnet holds the default route's next hop: the way out."""
        if self.next_hop is None:
            raise Untranslatable("no default route: the data plane has no uplink to build")
        found = [
            name
            for name, addresses in self.addresses.items()
            if any(self.next_hop in address.network for address in addresses)
        ]
        if len(found) != 1:
            raise Untranslatable(
                f"the next hop {self.next_hop} is on {len(found)} interfaces ({found}), not one"
            )
        return found[0]

    @property
    def segments(self) -> dict[str, ipaddress.IPv4Interface]:
        """Every other interface with an address (the tenants' vifs): its name and the router's address."""
        wan = self.wan
        segments = {}
        for name, addresses in sorted(self.addresses.items()):
            if name == wan:
                continue
            if len(addresses) != 1:
                raise Untranslatable(f"{name} has {len(addresses)} addresses; a segment has one subnet here")
            segments[name] = addresses[0]
        return segments


def _name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise Untranslatable(f"{what} {value!r} is not a name the data plane can use")
    return value


def _number(value: str, what: str) -> int:
    if not value.isdigit():
        raise Untranslatable(f"{what} {value!r} is not a number")
    return int(value)


def _network(value: str, what: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise Untranslatable(f"{what} {value!r} is not an IPv4 network the data plane models") from exc


def _interface_address(config: EdgeConfig, interface: str, value: str) -> None:
    if value == "dhcp":
        # A DHCP client on the interface: the simulated uplink serves no lease, so it adds nothing.
        config.addresses.setdefault(interface, [])
        return
    try:
        address = ipaddress.IPv4Interface(value)
    except ValueError as exc:
        raise Untranslatable(
            f"address {value!r} of {interface} is not an IPv4 address with a prefix"
        ) from exc
    config.addresses.setdefault(interface, []).append(address)


def _read_path(config: EdgeConfig, path: list[str]) -> None:
    """Take one configuration path into config, or raise Untranslatable for a path it does not model."""
    match path:
        case ["interfaces", "ethernet", name] | ["interfaces", "ethernet", name, "description" | "hw-id", _]:
            _name(name, "interface")
        case ["interfaces", "ethernet", name, "address", value]:
            _interface_address(config, _name(name, "interface"), value)
        case ["interfaces", "ethernet", name, "vif", vlan] | [
            "interfaces",
            "ethernet",
            name,
            "vif",
            vlan,
            "description",
            _,
        ]:
            _name(name, "interface")
            _number(vlan, "VLAN")
        case ["interfaces", "ethernet", name, "vif", vlan, "address", value]:
            _interface_address(config, f"{_name(name, 'interface')}.{_number(vlan, 'VLAN')}", value)
        case ["protocols", "static", "route", "0.0.0.0/0", "next-hop", hop]:
            if config.next_hop is not None:
                raise Untranslatable("more than one next hop for the default route")
            try:
                config.next_hop = ipaddress.IPv4Address(hop)
            except ValueError as exc:
                raise Untranslatable(f"next hop {hop!r} is not an IPv4 address") from exc
        case ["firewall", "group", "network-group", group] | [
            "firewall",
            "group",
            "network-group",
            group,
            "description",
            _,
        ]:
            config.groups.setdefault(_name(group, "network-group"), [])
        case ["firewall", "group", "network-group", group, "network", value]:
            config.groups.setdefault(_name(group, "network-group"), []).append(
                _network(value, "group network")
            )
        case ["firewall", "global-options", "source-validation", mode]:
            config.source_validation = mode
        case ["firewall", "ipv4", "forward" | "input" as chain, "filter", "default-action", action]:
            setattr(config, f"{chain}_default", action)
        case ["firewall", "ipv4", "forward" | "input" as chain, "filter", "rule", number, *leaf]:
            rules = config.forward_rules if chain == "forward" else config.input_rules
            rule = rules.setdefault(_number(number, "rule"), FilterRule(_number(number, "rule")))
            match leaf:
                case ["action", action]:
                    rule.action = action
                case ["description", _]:
                    pass
                case ["state", state]:
                    rule.states.append(state)
                case ["source", "group", "network-group", group]:
                    rule.source_group = _name(group, "network-group")
                case ["destination", "group", "network-group", group]:
                    rule.destination_group = _name(group, "network-group")
                case ["inbound-interface", "name", interface]:
                    rule.inbound_interface = _name(interface, "interface")
                case ["protocol", protocol] if protocol in PROTOCOLS:
                    rule.protocol = protocol
                case _:
                    raise Untranslatable(f"{chain} filter rule {number}: {' '.join(leaf)!r} is not modelled")
        case ["nat", "source", "rule", number, *leaf]:
            nat = config.nat_rules.setdefault(
                _number(number, "NAT rule"), SourceNatRule(_number(number, "NAT rule"))
            )
            match leaf:
                case ["description", _]:
                    pass
                case ["source", "address", value]:
                    nat.source = _network(value, "NAT source address")
                case ["outbound-interface", "name", interface]:
                    nat.outbound_interface = _name(interface, "interface")
                case ["translation", "address", value]:
                    nat.translation = value
                case _:
                    raise Untranslatable(f"nat source rule {number}: {' '.join(leaf)!r} is not modelled")
        case ["system", "host-name" | "name-server", _] | ["service", "ssh" | "https", *_]:
            pass  # the router's name, its resolvers and its management services forward nothing
        case _:
            raise Untranslatable(f"the data plane does not model: set {shlex.join(path)}")


def read_config(lines: Iterable[str]) -> EdgeConfig:
    """The forwarding part of a configuration given as ``set`` lines (``show configuration commands``,
    or the lab router's ``running_commands()``); raises Untranslatable for anything it does not model."""
    config = EdgeConfig()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        words = shlex.split(line)
        if words[0] != "set":
            raise Untranslatable(f"not a set line: {line!r}")
        _read_path(config, words[1:])
    _check(config)
    return config


def _check(config: EdgeConfig) -> None:
    """What VyOS would refuse at commit, or what a rule needs to mean anything."""
    if config.source_validation not in SOURCE_VALIDATION:
        raise Untranslatable(f"source-validation {config.source_validation!r} is not modelled")
    for chain, default, rules in (
        ("forward", config.forward_default, config.forward_rules),
        ("input", config.input_default, config.input_rules),
    ):
        if default not in FILTER_ACTIONS:
            raise Untranslatable(f"{chain} filter default-action {default!r} is not modelled")
        for rule in rules.values():
            if rule.action not in FILTER_ACTIONS:
                raise Untranslatable(f"{chain} filter rule {rule.number}: action {rule.action!r} is not modelled")
            for state in rule.states:
                if state not in STATES:
                    raise Untranslatable(f"{chain} filter rule {rule.number}: state {state!r} is not modelled")
            for group in (rule.source_group, rule.destination_group):
                if group is not None and group not in config.groups:
                    raise Untranslatable(f"{chain} filter rule {rule.number} names a missing group {group}")
    for nat in config.nat_rules.values():
        if nat.translation != "masquerade":
            raise Untranslatable(
                f"nat source rule {nat.number}: translation {nat.translation!r} is not modelled"
            )
    for name in config.addresses:
        if len(name) > IFNAMSIZ:
            raise Untranslatable(f"interface name {name!r} is longer than Linux allows")
    config.segments  # noqa: B018 - reading it checks the uplink and one subnet per segment


# --------------------------------------------------------------------------------------- translating

TABLE = "vyos_dataplane"


def _matches(rule: FilterRule) -> list[str]:
    """A filter rule's matches as nftables expressions (names checked when the configuration was read)."""
    match = []
    if rule.inbound_interface:
        match.append(f'iifname "{rule.inbound_interface}"')
    if rule.protocol:
        match.append(f"ip protocol {rule.protocol}")
    if rule.source_group:
        match.append(f"ip saddr @{rule.source_group}")
    if rule.destination_group:
        match.append(f"ip daddr @{rule.destination_group}")
    if rule.states:
        match.append(f"ct state {{ {', '.join(rule.states)} }}")
    return match


def nft_ruleset(config: EdgeConfig) -> str:
    """The nftables script for the router namespace: one set per network group, the forward filter as a
    filter chain (rules in number order, the default action as policy), source NAT as a nat chain.
    Every rule carries a counter and its VyOS number as a comment, so ``nft list`` reads back to the
    configuration line by line."""
    lines = [f"table ip {TABLE} {{"]
    for group, networks in sorted(config.groups.items()):
        elements = f" elements = {{ {', '.join(map(str, networks))} }};" if networks else ""
        lines.append(f"  set {group} {{ type ipv4_addr; flags interval; auto-merge;{elements} }}")
    check = SOURCE_VALIDATION[config.source_validation]
    if check:
        lines.append("  chain source_validation { type filter hook prerouting priority raw; policy accept;")
        lines.append(f'    {check} counter drop comment "source-validation {config.source_validation}"')
        lines.append("  }")
    for chain, default, rules in (
        ("forward", config.forward_default, config.forward_rules),
        ("input", config.input_default, config.input_rules),
    ):
        lines.append(f"  chain {chain} {{ type filter hook {chain} priority filter; policy {default};")
        for number, rule in sorted(rules.items()):
            lines.append(f'    {" ".join(_matches(rule))} counter {rule.action} comment "{chain} rule {number}"')
        lines.append("  }")
    lines.append("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;")
    for number, nat in sorted(config.nat_rules.items()):
        match = []
        if nat.outbound_interface:
            match.append(f'oifname "{nat.outbound_interface}"')
        if nat.source:
            match.append(f"ip saddr {nat.source}")
        lines.append(f'    {" ".join(match)} counter masquerade comment "nat source rule {number}"')
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- building


def missing() -> str | None:
    """Why a data plane cannot be built here (None when it can): root, ``ip``, ``nft``, and a probe
    namespace in which a bridge, a veth pair and a NAT rule can be made."""
    lacking = []
    if os.geteuid() != 0:
        lacking.append("root (network namespaces and raw sockets need it)")
    for binary, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(binary) is None:
            lacking.append(f"the {binary} command ({package}) on PATH")
    if lacking:
        return "no data plane here: missing " + "; ".join(lacking)
    probe = f"tt{os.getpid()}x{next(_builds)}-probe"
    steps = [
        ["ip", "netns", "add", probe],
        ["ip", "-n", probe, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        ["ip", "netns", "exec", probe, "nft", NAT_PROBE_RULES],
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
            if done.returncode != 0:
                return f"no data plane here: `{shlex.join(step)}` failed: {done.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=COMMAND_TIMEOUT)
    return None


@dataclass(frozen=True)
class Host:
    """A tenant machine: a namespace with one interface (``eth0``) on its segment's bridge."""

    namespace: str
    address: ipaddress.IPv4Address


@dataclass(frozen=True)
class Segment:
    """One tenant network: the router's interface (VyOS's name), its address there, and the hosts."""

    interface: str
    gateway: ipaddress.IPv4Interface
    hosts: tuple[Host, ...]


class DataPlane:
    """The namespaces for one configuration. Use as a context manager, or call :meth:`close`.

    Namespaces: ``<prefix>-router`` (legs named as on VyOS, nftables, forwarding on), ``<prefix>-uplink``
    (the next hop's address and :data:`INTERNET` on its loopback, and no route back to any tenant
    subnet, so a reply reaches a tenant only through NAT), ``<prefix>-switch`` (a bridge per segment)
    and ``<prefix>-<interface>-<a|b>`` for the hosts of each segment.
    """

    def __init__(self, config: EdgeConfig, prefix: str | None = None) -> None:
        self.config = config
        self.prefix = prefix or f"tt{os.getpid()}x{next(_builds)}"
        self.router = f"{self.prefix}-router"
        self.uplink = f"{self.prefix}-uplink"
        self.switch = f"{self.prefix}-switch"
        self.internet = INTERNET
        self.segments: dict[str, Segment] = {}
        self.namespaces: list[str] = []
        self._servers: list[subprocess.Popen[str]] = []
        self.ruleset = nft_ruleset(config)  # translated before anything is made: refusals cost nothing
        self.wan_interface = config.wan
        self.wan_address = next(
            a for a in config.addresses[self.wan_interface] if config.next_hop in a.network
        )

    @classmethod
    def build(cls, lines: Iterable[str], prefix: str | None = None) -> DataPlane:
        """Read the configuration, then make the namespaces; on any failure what was made is removed."""
        plane = cls(read_config(lines), prefix)
        try:
            plane._make()
        except BaseException:
            plane.close()
            raise
        return plane

    def __enter__(self) -> DataPlane:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- making

    def run(self, namespace: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command inside one of this plane's namespaces."""
        if namespace not in self.namespaces:
            raise ValueError(f"{namespace} is not a namespace of this data plane")
        return self._run("ip", "netns", "exec", namespace, *command, check=check)

    def _run(
        self, *command: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if check and done.returncode != 0:
            raise RuntimeError(f"`{shlex.join(command)}` failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def _ip(self, namespace: str, command: str) -> None:
        """``ip -n namespace COMMAND`` (command's words are ours: names and addresses, no spaces)."""
        self._run("ip", "-n", namespace, *command.split())

    def _namespace(self, name: str, *, forwarding: bool = False) -> str:
        self._run("ip", "netns", "add", name)
        self.namespaces.append(name)
        self._ip(name, "link set lo up")
        # Set before any interface exists, so every interface inherits it from "default".
        settings = {"ip_forward": int(forwarding), "conf/all/rp_filter": 0, "conf/default/rp_filter": 0}
        script = " && ".join(f"echo {value} > /proc/sys/net/ipv4/{key}" for key, value in settings.items())
        self._run("ip", "netns", "exec", name, "sh", "-c", script)
        return name

    def _make(self) -> None:
        self._namespace(self.router, forwarding=True)
        self._namespace(self.uplink)
        self._namespace(self.switch)
        # The WAN leg and the uplink.
        next_hop = self.config.next_hop
        assert next_hop is not None  # config.wan checked it
        self._veth(self.router, self.wan_interface, self.uplink, "eth0")
        for address in self.config.addresses[self.wan_interface]:
            self._ip(self.router, f"address add {address.with_prefixlen} dev {self.wan_interface}")
        self._ip(self.uplink, f"address add {next_hop}/{self.wan_address.network.prefixlen} dev eth0")
        self._ip(self.uplink, f"address add {self.internet}/32 dev lo")
        self._ip(self.router, f"route add default via {next_hop}")
        # A bridge per segment, the router's leg on it, and the hosts.
        for index, (interface, gateway) in enumerate(self.config.segments.items()):
            bridge = f"br{index}"
            self._ip(self.switch, f"link add {bridge} type bridge")
            self._ip(self.switch, f"link set {bridge} up")
            self._veth(self.router, interface, self.switch, f"rt{index}", bridge=bridge)
            self._ip(self.router, f"address add {gateway.with_prefixlen} dev {interface}")
            spare = (address for address in gateway.network.hosts() if address != gateway.ip)
            hosts = []
            for letter, address in zip("ab", itertools.islice(spare, HOSTS_PER_SEGMENT), strict=False):
                host = self._namespace(f"{self.prefix}-{interface}-{letter}")
                self._veth(host, "eth0", self.switch, f"h{index}{letter}", bridge=bridge)
                self._ip(host, f"address add {address}/{gateway.network.prefixlen} dev eth0")
                self._ip(host, f"route add default via {gateway.ip}")
                hosts.append(Host(host, address))
            self.segments[interface] = Segment(interface, gateway, tuple(hosts))
        self._run("ip", "netns", "exec", self.router, "nft", "-f", "-", stdin=self.ruleset)

    def _veth(self, here: str, name: str, there: str, peer: str, *, bridge: str | None = None) -> None:
        """A veth pair made inside namespace here with its peer created in there (never in the root
        namespace), both up; the peer joins bridge when given."""
        self._ip(here, f"link add {name} type veth peer name {peer} netns {there}")
        if bridge:
            self._ip(there, f"link set {peer} master {bridge}")
        self._ip(there, f"link set {peer} up")
        self._ip(here, f"link set {name} up")

    # -- looking

    def segment_with_gateway(self, gateway: str) -> Segment:
        """The segment whose router address is gateway (a tenant's gateway as tenctl records it)."""
        for segment in self.segments.values():
            if str(segment.gateway.ip) == gateway:
                return segment
        raise LookupError(f"no segment of the router has the address {gateway}")

    def _probe(self, namespace: str, *args: str) -> list[str]:
        if namespace not in self.namespaces:
            raise ValueError(f"{namespace} is not a namespace of this data plane")
        return ["ip", "netns", "exec", namespace, sys.executable, "-I", "-S", str(PROBE), *args]

    def reachability(self, probes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """(namespace, address) -> whether an ICMP echo from there to there is answered. All probes run
        at once, so a set of blocked paths costs one timeout, not one each."""
        running = {
            (namespace, str(address)): subprocess.Popen(
                self._probe(namespace, "echo", str(address), str(PROBE_TIMEOUT)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for namespace, address in probes
        }
        result = {}
        for key, process in running.items():
            _, err = process.communicate(timeout=COMMAND_TIMEOUT)
            if process.returncode not in (0, 1):
                raise RuntimeError(f"echo probe {key} failed: {err.strip()}")
            result[key] = process.returncode == 0
        return result

    def _serve_peer_addresses(self) -> None:
        """Start (once) the uplink's server that tells each client where its connection came from."""
        if self._servers:
            return
        server = subprocess.Popen(
            self._probe(self.uplink, "serve", str(self.internet), str(PEER_PORT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._servers.append(server)
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError(
                f"the uplink's server did not start: {server.stderr.read() if server.stderr else ''}"
            )

    def source_seen_by_uplink(self, namespace: str) -> str | None:
        """The source address the uplink sees on a TCP connection from namespace to the internet address,
        or None when no connection is made: the proof of source NAT."""
        self._serve_peer_addresses()
        done = self._run(
            *self._probe(namespace, "connect", str(self.internet), str(PEER_PORT), str(PROBE_TIMEOUT)),
            check=False,
        )
        return done.stdout.strip() or None

    def datagram_source_seen(self, sender: str, source: str, receiver: str, address: str) -> str | None:
        """The source address with which a UDP datagram sent from namespace sender (from its address
        source) arrives in namespace receiver (at address), or None when it does not arrive. One way
        only: it shows what passes even when no answer could come back."""
        listener = subprocess.Popen(
            self._probe(receiver, "listen", str(DATAGRAM_PORT), str(PROBE_TIMEOUT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert listener.stdout is not None
            if listener.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the listener in {receiver} did not start")
            self._run(*self._probe(sender, "send", source, address, str(DATAGRAM_PORT)))
            out, _ = listener.communicate(timeout=COMMAND_TIMEOUT)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait()
        return out.strip() or None

    def ruleset_listing(self) -> str:
        """``nft list ruleset`` of the router namespace, counters included (for failure messages)."""
        return self._run("ip", "netns", "exec", self.router, "nft", "list", "ruleset").stdout

    # -- removing

    def close(self) -> None:
        """Stop this plane's processes and delete its namespaces (their interfaces go with them); also
        any namespace left with this plane's prefix, so a half-made plane leaves nothing behind."""
        for server in self._servers:
            server.kill()
            server.wait()
        self._servers.clear()
        listed = self._run("ip", "netns", "list", check=False).stdout.split("\n")
        leftovers = [line.split()[0] for line in listed if line.startswith(f"{self.prefix}-")]
        for name in dict.fromkeys([*reversed(self.namespaces), *leftovers]):
            self._run("ip", "netns", "del", name, check=False)
        self.namespaces.clear()


def reachability_table(result: Mapping[tuple[str, str], bool]) -> str:
    """A probe result as lines ``namespace -> address: yes/no``, for assertion messages."""
    return "\n".join(f"{ns} -> {address}: {'yes' if ok else 'no'}" for (ns, address), ok in result.items())
