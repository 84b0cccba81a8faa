"""The configuration text that puts a tenant's VLAN on a switch and takes it off again, one template per napalm
driver, and the registry that finds a template by driver name.

A template turns a :class:`VlanIntent` (VLAN id, name, tenctl's ownership marker, the trunk ports toward the
Proxmox nodes) into text for napalm's ``load_merge_candidate(config=TEXT)``: :meth:`SwitchTemplate.add` creates
the VLAN and adds it to each trunk's allowed VLANs, leaving the VLANs a trunk already carries as they are;
:meth:`SwitchTemplate.remove` takes it off each trunk, then deletes it. The text is a merge, never a replace:
it names only what it changes.

Every value is checked before it is rendered: the VLAN range and the marker by :class:`VlanIntent` itself, the
VLAN name and the port names by each platform's rules. No space, quote, newline or other control character can
reach the text through any field, so nothing a tenant or an inventory file holds can add a line of its own.

Four templates ship here (``eos``, ``ios``, ``nxos``, ``junos``); a distribution adds one for another napalm
driver through the entry point group ``tenctl.switch_templates`` (the entry point's name is the driver name,
its value an object or a class that implements :class:`SwitchTemplate`). The group is read on the first lookup,
not at import. This module imports only the standard library and tenctl_core: no device library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, cast, runtime_checkable

from tenctl_core.ownership import MARKER_RE

ENTRY_POINT_GROUP = "tenctl.switch_templates"

VLAN_MIN = 2  # VLAN 1 is every switch's default VLAN: tenctl never gives it to a tenant
VLAN_MAX = 4094  # 0 and 4095 are reserved by 802.1Q

# What any VLAN name or port name may hold, whatever the platform. Each template is stricter; this floor keeps
# spaces, quotes, comment signs and control characters out of third-party templates' text too.
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
SAFE_PORT = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
DRIVER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def refuse(field: str, value: object, rule: str) -> ValueError:
    """The error for a value that cannot be rendered: ``<field>: <value>: <rule>`` on one line."""
    return ValueError(f"{field}: {value!r}: {rule}")


@dataclass(frozen=True)
class VlanIntent:
    """One tenant's VLAN on one switch: what a template renders.

    ``vlan`` is the VLAN id (2-4094), ``name`` the VLAN's name on the switch, ``marker`` tenctl's ownership
    marker (``tenctl:<installation>:<tenant>``) and ``trunk_ports`` the switch's ports toward the Proxmox
    nodes (a list is taken as a tuple). Making one checks what does not depend on the platform and raises
    ValueError naming the field; each template then checks the name and the ports by its platform's rules.
    """

    vlan: int
    name: str
    marker: str
    trunk_ports: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_vlan(self.vlan)
        if not isinstance(self.name, str) or not SAFE_NAME.fullmatch(self.name):
            raise refuse("name", self.name, "a VLAN name is 1-255 of the characters A-Z a-z 0-9 _ . -")
        if not isinstance(self.marker, str) or not MARKER_RE.fullmatch(self.marker):
            raise refuse("marker", self.marker, "a marker is tenctl:<12 hex digits>:<tenant name>")
        ports = self.trunk_ports
        if isinstance(ports, str) or not isinstance(ports, (tuple, list)):
            raise refuse("trunk_ports", ports, "the trunk ports are a list of interface names")
        for port in ports:
            if not isinstance(port, str) or not SAFE_PORT.fullmatch(port):
                raise refuse("trunk_ports", port, "an interface name is 1-64 of A-Z a-z 0-9 _ . : / -")
        duplicates = sorted({port for port in ports if ports.count(port) > 1})
        if duplicates:
            raise refuse("trunk_ports", duplicates[0], "listed more than once")
        object.__setattr__(self, "trunk_ports", tuple(ports))


def check_vlan(vlan: object) -> None:
    """ValueError unless vlan is a VLAN id tenctl may give a tenant (an int in 2-4094)."""
    if isinstance(vlan, bool) or not isinstance(vlan, int) or not VLAN_MIN <= vlan <= VLAN_MAX:
        raise refuse(
            "vlan",
            vlan,
            f"a tenant VLAN is a number in {VLAN_MIN}-{VLAN_MAX} (1 is the default VLAN, 0 and 4095 are reserved)",
        )


@runtime_checkable
class SwitchTemplate(Protocol):
    """The configuration text of one napalm driver (see the module's docstring)."""

    driver: str
    """The napalm driver name (``eos``, ``ios``, ``nxos``, ``junos``...)."""

    marker_in_config: bool
    """Whether the platform keeps the marker with the VLAN (EOS: a comment; Junos: a description). Where it
    cannot, tenctl owns a VLAN on a switch only through its name and the tenant's record (docs: switches)."""

    def add(self, intent: VlanIntent) -> str:
        """Text that creates the VLAN (name, and marker where kept) and adds it to each trunk port's allowed
        VLANs without touching the others; applying it twice changes nothing the second time."""
        ...

    def remove(self, intent: VlanIntent) -> str:
        """Text that takes the VLAN off each trunk port, then deletes it."""
        ...

    def check_name(self, name: str) -> None:
        """ValueError naming the rule unless name is a VLAN name this platform takes."""
        ...

    def check_port(self, port: str) -> None:
        """ValueError naming the rule unless port is an interface name of this platform."""
        ...


def _checked(template: Any, intent: VlanIntent) -> VlanIntent:
    if not isinstance(intent, VlanIntent):
        raise TypeError(f"{template.driver} template: expected a VlanIntent, got {type(intent).__name__}")
    template.check_vlan(intent.vlan)
    template.check_name(intent.name)
    for port in intent.trunk_ports:
        template.check_port(port)
    return intent


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ EOS, IOS and NX-OS names

# The VLAN name rule these three share: one word of at most 32 characters. tenctl keeps to letters, digits and
# _ . - so that the name needs no quoting and reads the same in every show command.
CISCO_STYLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def _check_cisco_style_name(name: object, platform: str) -> None:
    if not isinstance(name, str) or not CISCO_STYLE_NAME.fullmatch(name):
        raise refuse("name", name, f"an {platform} VLAN name is 1-32 of the characters A-Z a-z 0-9 _ . -")


def _check_port(port: object, pattern: re.Pattern[str], platform: str, examples: str) -> None:
    if not isinstance(port, str) or not pattern.fullmatch(port):
        raise refuse(
            "trunk_ports", port, f"not an {platform} interface name (written in full, like {examples})"
        )


# ------------------------------------------------------------------ Arista EOS

EOS_PORT = re.compile(r"Ethernet[1-9][0-9]{0,2}(?:/[1-9][0-9]{0,2}){0,2}|Port-Channel[1-9][0-9]{0,3}")


class EosTemplate:
    """Arista EOS, napalm driver ``eos`` (eAPI; the text runs in a configuration session).

    The marker is the VLAN's configuration comment. EOS keeps a comment per configuration section and shows it
    as ``!!`` lines inside the section; its ``comment`` command reads the text as input, which a line of
    configuration text cannot carry, but napalm's eos driver turns the ``!!`` lines of the text it loads into
    that command with the lines as input (``EOSDriver._mode_comment_convert``). So the template writes the
    marker as the ``!!`` line that running-config shows, right after ``vlan N``. napalm sends such a comment
    only when a command follows it in the text: ``name`` always does.
    """

    driver = "eos"
    marker_in_config = True

    def check_vlan(self, vlan: int) -> None:
        check_vlan(vlan)

    def check_name(self, name: str) -> None:
        _check_cisco_style_name(name, "EOS")

    def check_port(self, port: str) -> None:
        _check_port(port, EOS_PORT, "EOS", "Ethernet1, Ethernet1/1 or Port-Channel10")

    def add(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = [f"vlan {intent.vlan}", f"   !! {intent.marker}", f"   name {intent.name}", "!"]
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f"   switchport trunk allowed vlan add {intent.vlan}", "!"]
        return _text(lines)

    def remove(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = []
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f"   switchport trunk allowed vlan remove {intent.vlan}", "!"]
        lines.append(f"no vlan {intent.vlan}")
        return _text(lines)


# ------------------------------------------------------------------ Cisco IOS

IOS_PORT = re.compile(
    r"(?:FastEthernet|GigabitEthernet|TwoGigabitEthernet|FiveGigabitEthernet|TenGigabitEthernet"
    r"|TwentyFiveGigE|FortyGigabitEthernet|HundredGigE)[0-9]{1,2}(?:/[0-9]{1,3}){1,3}"
    r"|Port-channel[1-9][0-9]{0,2}"
)
IOS_RESERVED_VLANS = range(
    1002, 1006
)  # the FDDI and Token Ring defaults: they can be neither made nor deleted


class IosTemplate:
    """Cisco IOS and IOS-XE, napalm driver ``ios`` (the text is copied to the switch and merged with ``copy
    FILE running-config``).

    An IOS VLAN has a name and no other free text, so the marker is not kept on the switch. The text ends with
    ``end``: without it IOS's ``show archive config incremental-diffs``, which napalm's compare_config runs on
    a merge, fails with "error 5".
    """

    driver = "ios"
    marker_in_config = False

    def check_vlan(self, vlan: int) -> None:
        check_vlan(vlan)
        if vlan in IOS_RESERVED_VLANS:
            raise refuse("vlan", vlan, "VLANs 1002-1005 are IOS's FDDI and Token Ring defaults")

    def check_name(self, name: str) -> None:
        _check_cisco_style_name(name, "IOS")

    def check_port(self, port: str) -> None:
        _check_port(port, IOS_PORT, "IOS", "GigabitEthernet0/1, TenGigabitEthernet1/0/1 or Port-channel1")

    def add(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = [f"vlan {intent.vlan}", f" name {intent.name}", "!"]
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f" switchport trunk allowed vlan add {intent.vlan}", "!"]
        return _text([*lines, "end"])

    def remove(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = []
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f" switchport trunk allowed vlan remove {intent.vlan}", "!"]
        return _text([*lines, f"no vlan {intent.vlan}", "!", "end"])


# ------------------------------------------------------------------ Cisco NX-OS

NXOS_PORT = re.compile(
    r"Ethernet[1-9][0-9]{0,2}/[1-9][0-9]{0,2}(?:/[1-9][0-9]{0,2})?|port-channel[1-9][0-9]{0,3}"
)
NXOS_RESERVED_VLANS = range(
    3968, 4095
)  # NX-OS's internal VLANs unless `system vlan <first> reserve` moved them


class NxosTemplate:
    """Cisco NX-OS, napalm driver ``nxos`` (NX-API; ``nxos_ssh`` takes the same text): a merge is sent line by
    line.

    An NX-OS VLAN has a name and no other free text, so the marker is not kept on the switch. The text has no
    ``!`` or ``end`` lines: napalm sends every line as a configuration command. A merge on NX-OS is not atomic
    (napalm's NX-OS notes): a line the switch refuses leaves the lines before it applied.
    """

    driver = "nxos"
    marker_in_config = False

    def check_vlan(self, vlan: int) -> None:
        check_vlan(vlan)
        if vlan in NXOS_RESERVED_VLANS:
            raise refuse("vlan", vlan, "VLANs 3968-4094 are NX-OS's reserved internal VLANs")

    def check_name(self, name: str) -> None:
        _check_cisco_style_name(name, "NX-OS")

    def check_port(self, port: str) -> None:
        _check_port(port, NXOS_PORT, "NX-OS", "Ethernet1/1, Ethernet101/1/1 or port-channel10")

    def add(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = [f"vlan {intent.vlan}", f"  name {intent.name}"]
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f"  switchport trunk allowed vlan add {intent.vlan}"]
        return _text(lines)

    def remove(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = []
        for port in intent.trunk_ports:
            lines += [f"interface {port}", f"  switchport trunk allowed vlan remove {intent.vlan}"]
        return _text([*lines, f"no vlan {intent.vlan}"])


# ------------------------------------------------------------------ Juniper Junos (ELS)

# Juniper's `vlans` statement: "The name can contain letters, numbers, hyphens (-), and periods (.) and can be
# up to 255 characters long." tenctl also wants a letter first, so that a name never reads as a VLAN id in
# `vlan members`, and refuses `default` (the factory VLAN) and `all` (`vlan members all` means every VLAN).
JUNOS_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.-]{0,254}")
JUNOS_RESERVED_NAMES = frozenset({"default", "all"})
JUNOS_PORT = re.compile(r"(?:ge|xe|et|mge|fe)-[0-9]{1,2}/[0-9]{1,2}/[0-9]{1,3}(?::[0-9])?|ae[0-9]{1,3}")


class JunosTemplate:
    """Juniper Junos with ELS (EX, QFX), napalm driver ``junos`` (NETCONF; load, commit).

    The text is ``set``/``delete`` commands: napalm's junos driver loads a text whose first word is ``set`` or
    ``delete`` in ``set`` format. The marker is the VLAN's ``description``, quoted (it holds colons). Trunk
    membership names the VLAN, on unit 0 of each port, which must already be a trunk (``family
    ethernet-switching interface-mode trunk``): the template adds and removes one member and nothing else.
    """

    driver = "junos"
    marker_in_config = True

    def check_vlan(self, vlan: int) -> None:
        check_vlan(vlan)

    def check_name(self, name: str) -> None:
        if not isinstance(name, str) or not JUNOS_NAME.fullmatch(name):
            raise refuse(
                "name",
                name,
                "a Junos VLAN name is a letter, then up to 254 of the characters A-Z a-z 0-9 - .",
            )
        if name in JUNOS_RESERVED_NAMES:
            raise refuse("name", name, "reserved on Junos (the factory VLAN `default`, the keyword `all`)")

    def check_port(self, port: str) -> None:
        _check_port(port, JUNOS_PORT, "Junos", "ge-0/0/1, xe-0/0/1 or ae0")

    def add(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = [
            f"set vlans {intent.name} vlan-id {intent.vlan}",
            f'set vlans {intent.name} description "{intent.marker}"',
        ]
        for port in intent.trunk_ports:
            lines.append(f"set interfaces {port} unit 0 family ethernet-switching vlan members {intent.name}")
        return _text(lines)

    def remove(self, intent: VlanIntent) -> str:
        _checked(self, intent)
        lines = [
            f"delete interfaces {port} unit 0 family ethernet-switching vlan members {intent.name}"
            for port in intent.trunk_ports
        ]
        return _text([*lines, f"delete vlans {intent.name}"])


BUILTIN_TEMPLATES: tuple[SwitchTemplate, ...] = (
    EosTemplate(),
    IosTemplate(),
    NxosTemplate(),
    JunosTemplate(),
)


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True)
class _Claim:
    """Who offers a template for a driver name: this package, or an entry point of some distribution."""

    source: str
    template: SwitchTemplate | None = None
    entry_point: metadata.EntryPoint | None = None


def _describe(entry_point: metadata.EntryPoint) -> str:
    dist = entry_point.dist
    owner = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point {entry_point.name} = {entry_point.value} of {owner}"


def _template_from(value: object, driver: str) -> SwitchTemplate:
    """The template an entry point's value gives (a class is instantiated), checked against the protocol."""
    template = value() if isinstance(value, type) else value
    if getattr(template, "driver", None) != driver:
        raise TypeError(f"its driver is {getattr(template, 'driver', None)!r}, not the entry point's name")
    if not isinstance(getattr(template, "marker_in_config", None), bool):
        raise TypeError("its marker_in_config is not True or False")
    missing = [
        name
        for name in ("add", "remove", "check_name", "check_port")
        if not callable(getattr(template, name, None))
    ]
    if missing:
        raise TypeError(f"it has no method {', '.join(missing)}")
    return cast(SwitchTemplate, template)


class TemplateRegistry:
    """The templates by driver name: the built-in ones and those of the ``tenctl.switch_templates`` entry
    points, read on the first lookup.

    A driver name offered twice (two distributions, or one and a built-in) is an error naming both, and so is an
    entry point that fails to load or does not implement :class:`SwitchTemplate`; either makes that one name
    unusable and is reported by :meth:`broken`, and every other template still works.
    """

    def __init__(
        self, group: str = ENTRY_POINT_GROUP, builtins: tuple[SwitchTemplate, ...] = BUILTIN_TEMPLATES
    ) -> None:
        self.group = group
        self._builtins = builtins
        self._templates: dict[str, SwitchTemplate] | None = None
        self._sources: dict[str, str] = {}
        self._broken: dict[str, str] = {}

    def _load(self) -> dict[str, SwitchTemplate]:
        if self._templates is not None:
            return self._templates
        claims: dict[str, list[_Claim]] = {}
        for template in self._builtins:
            claims.setdefault(template.driver, []).append(_Claim("tenctl-switch-napalm (built in)", template))
        for entry_point in metadata.entry_points(group=self.group):
            claims.setdefault(entry_point.name, []).append(_Claim(_describe(entry_point), None, entry_point))
        templates: dict[str, SwitchTemplate] = {}
        for driver, offered in sorted(claims.items()):
            if len(offered) > 1:
                owners = " and by ".join(claim.source for claim in offered)
                self._broken[driver] = (
                    f"switch template {driver!r} is registered twice: by {owners}; uninstall one of them"
                )
                continue
            claim = offered[0]
            if claim.template is not None:
                templates[driver] = claim.template
                self._sources[driver] = claim.source
                continue
            assert claim.entry_point is not None  # a claim is a built-in template or an entry point
            if not DRIVER_NAME.fullmatch(driver):
                self._broken[driver] = (
                    f"switch template {driver!r} ({claim.source}): a driver name is lower-case letters, digits, _"
                )
                continue
            try:
                templates[driver] = _template_from(claim.entry_point.load(), driver)
            except Exception as exc:  # noqa: BLE001 - any failure of a third-party template is reported by name
                self._broken[driver] = (
                    f"switch template {driver!r} ({claim.source}) cannot be used: {type(exc).__name__}: {exc}"
                )
                continue
            self._sources[driver] = claim.source
        self._templates = templates
        return templates

    def get(self, driver: str) -> SwitchTemplate:
        """The template of a napalm driver; ValueError naming the known drivers if there is none."""
        templates = self._load()
        if driver in templates:
            return templates[driver]
        if driver in self._broken:
            raise ValueError(self._broken[driver])
        known = ", ".join(sorted(templates)) or "none"
        message = f"no switch template for napalm driver {driver!r}: known drivers are {known}"
        if self._broken:
            message += f" (not loaded: {', '.join(sorted(self._broken))})"
        raise ValueError(message)

    def drivers(self) -> list[str]:
        """The driver names that have a usable template, sorted."""
        return sorted(self._load())

    def source(self, driver: str) -> str:
        """Where a driver's template comes from (built in, or which entry point of which distribution)."""
        self.get(driver)
        return self._sources[driver]

    def broken(self) -> dict[str, str]:
        """Driver names whose template cannot be used, each with the reason."""
        self._load()
        return dict(self._broken)


_REGISTRY = TemplateRegistry()


def template_for(driver: str) -> SwitchTemplate:
    """The configuration template of a napalm driver (``eos``, ``ios``, ``nxos``, ``junos``, or one a
    distribution registers); ValueError naming the known drivers when there is none."""
    return _REGISTRY.get(driver)


def known_drivers() -> list[str]:
    """The napalm drivers that have a usable template, sorted."""
    return _REGISTRY.drivers()


def broken_templates() -> dict[str, str]:
    """Entry points of ``tenctl.switch_templates`` that could not be used, by driver name, with the reason."""
    return _REGISTRY.broken()


__all__ = [
    "VlanIntent",
    "SwitchTemplate",
    "template_for",
    "known_drivers",
    "broken_templates",
    "TemplateRegistry",
    "check_vlan",
    "refuse",
    "EosTemplate",
    "IosTemplate",
    "NxosTemplate",
    "JunosTemplate",
    "BUILTIN_TEMPLATES",
    "ENTRY_POINT_GROUP",
]
