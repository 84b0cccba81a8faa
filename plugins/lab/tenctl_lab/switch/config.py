"""An EOS switch's configuration: the state the lab keeps, its running-config text, and the configuration
mode of the CLI that changes it.

Only what a tenant network needs is modelled: the hostname, VLANs (name, state, comment) and the switchport
side of Ethernet ports (description, comment, access or trunk mode, the trunk's allowed VLANs). Every other
configuration command is refused with EOS's "Invalid input" error, so a push of anything the lab does not model
fails as a typo fails on a switch, instead of being accepted and forgotten.

Configuration comments: EOS keeps a free-text comment per configuration section, set with the ``comment``
command in the section's mode (its text comes as the command's input: the CLI reads it up to a line ``EOF``,
eAPI takes it in the command's ``input`` field) and removed with ``no comment``; ``show running-config``
prints it inside the section as lines that start with ``!!``, and a ``!!`` line in a configuration file (a
startup-config, a file given to ``configure replace``) puts the comment back. Source: the Arista EOS User
Manual, chapter "Command-Line Interface", command ``comment``
(https://www.arista.com/en/um-eos/eos-command-line-interface-commands). napalm's eos driver relies on this: it turns the ``!!`` lines of a configuration it loads into one ``comment``
command with the lines as input (``EOSDriver._mode_comment_convert``). The lab keeps comments in the two
section modes it models, ``vlan`` and ``interface``, and prints them first in their section.
"""

from __future__ import annotations

import copy
import dataclasses
import re

from ..passwords import PREFIX, lab_password_hash

ALL_VLANS = frozenset(range(1, 4095))
VLAN_NAME_MAX = 32
DESCRIPTION_MAX = 240


class CliError(Exception):
    """A command EOS refuses: the eAPI error code and reason, and the error lines the CLI prints."""

    INVALID = (1002, "invalid command")
    FAILED = (1000, "could not run command")
    UNCONVERTED = (1003, "unconverted command")
    DENIED = (1005, "permission to run command denied")

    def __init__(self, kind: tuple[int, str], *errors: str):
        super().__init__("; ".join(errors))
        self.code, self.reason = kind
        self.errors = list(errors)


def invalid_input(tokens: list[str], index: int) -> CliError:
    """EOS's answer to a word it does not expect, counting words from 0."""
    return CliError(CliError.INVALID, f"Invalid input (at token {index}: '{tokens[index]}')")


def incomplete() -> CliError:
    return CliError(CliError.INVALID, "Incomplete command")


# ------------------------------------------------------------------ VLAN lists


def parse_vlan_list(text: str) -> set[int]:
    """ "1,100-102" -> {1, 100, 101, 102}; ValueError for anything EOS would refuse."""
    vlans: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d{1,4})(?:-(\d{1,4}))?", part)
        if not match:
            raise ValueError(text)
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if not (1 <= first <= last <= 4094):
            raise ValueError(text)
        vlans.update(range(first, last + 1))
    return vlans


def format_vlan_list(vlans) -> str:
    """{1, 100, 101, 102} -> "1,100-102" (how EOS writes a VLAN list)."""
    parts = []
    ordered = sorted(vlans)
    start = previous = None
    for vid in ordered + [None]:
        if start is not None and vid == previous + 1:
            previous = vid
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = vid
    return ",".join(parts)


def natural_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


# ------------------------------------------------------------------ the state


@dataclasses.dataclass
class Vlan:
    name: str | None = None  # None: EOS's default name (VLAN0100; "default" for VLAN 1)
    state: str = "active"  # active | suspend
    comment: tuple[str, ...] = ()  # the section's comment, one entry per line

    def display_name(self, vid: int) -> str:
        if self.name:
            return self.name
        return "default" if vid == 1 else f"VLAN{vid:04d}"


@dataclasses.dataclass
class Port:
    description: str = ""
    comment: tuple[str, ...] = ()  # the section's comment, one entry per line
    mode: str = "access"  # access | trunk
    allowed: frozenset[int] = ALL_VLANS  # the trunk's allowed VLANs (EOS's default: all)
    switchport: bool = True  # False for Management1, a routed port


@dataclasses.dataclass
class SwitchConfig:
    """One configuration of the switch: the running one, a session's, or one parsed from a file."""

    hostname: str = "localhost"
    vlans: dict[int, Vlan] = dataclasses.field(default_factory=lambda: {1: Vlan()})
    ports: dict[str, Port] = dataclasses.field(default_factory=dict)
    users: dict[str, str] = dataclasses.field(default_factory=dict)
    """``username <name> secret ...``: user name -> the stored hash (see tenctl_lab.passwords)."""

    @classmethod
    def clean(cls, ethernet_ports: int) -> SwitchConfig:
        """The factory default configuration (what `rollback clean-config` starts a session from)."""
        ports = {f"Ethernet{n}": Port() for n in range(1, ethernet_ports + 1)}
        ports["Management1"] = Port(switchport=False)
        return cls(ports=ports)

    def copy(self) -> SwitchConfig:
        return copy.deepcopy(self)

    def port_names(self) -> list[str]:
        return sorted(self.ports, key=lambda n: (n.startswith("Management"), natural_key(n)))

    def vlan_members(self, vid: int, connected: set[str] | None = None) -> list[str]:
        """The ports that carry vid: access ports in VLAN 1 and trunks that allow it (only connected ports
        count when `connected` is given, as in `show vlan`)."""
        members = []
        for name in self.port_names():
            port = self.ports[name]
            if not port.switchport or (connected is not None and name not in connected):
                continue
            if (port.mode == "trunk" and vid in port.allowed) or (port.mode == "access" and vid == 1):
                members.append(name)
        return members


def render(cfg: SwitchConfig, header: list[str]) -> list[str]:
    """The configuration as `show running-config` prints it, from the line after "! Command: ..." on.

    EOS prints VLANs with identical settings together (``vlan 20,30``); the lab prints one block per VLAN.
    """
    lines = [*header, "!", f"hostname {cfg.hostname}", "!"]
    if cfg.users:
        lines += [f"username {name} secret sha512 {cfg.users[name]}" for name in sorted(cfg.users)] + ["!"]
    lines += ["spanning-tree mode mstp", "!"]
    for vid in sorted(cfg.vlans):
        vlan = cfg.vlans[vid]
        body = [comment_line(text) for text in vlan.comment]
        if vlan.name:
            body.append(f"   name {vlan.name}")
        if vlan.state != "active":
            body.append(f"   state {vlan.state}")
        if vid == 1 and not body:
            continue  # VLAN 1 is always there; EOS shows it only when it was changed
        lines += [f"vlan {vid}", *body, "!"]
    for name in cfg.port_names():
        port = cfg.ports[name]
        lines.append(f"interface {name}")
        lines += [comment_line(text) for text in port.comment]
        if port.description:
            lines.append(f"   description {port.description}")
        if port.switchport:
            if port.allowed != ALL_VLANS:
                allowed = format_vlan_list(port.allowed) if port.allowed else "none"
                lines.append(f"   switchport trunk allowed vlan {allowed}")
            if port.mode == "trunk":
                lines.append("   switchport mode trunk")
        lines.append("!")
    lines += ["management api http-commands", "   no shutdown", "!", "end"]
    return lines


def comment_line(text: str) -> str:
    """One line of a section's comment as running-config prints it."""
    return f"   !! {text}".rstrip()


def comment_text(line: str) -> str:
    """The comment text of a running-config line ``!! text`` (the inverse of comment_line)."""
    text = line.strip()[2:]
    return text[1:] if text.startswith(" ") else text


# ------------------------------------------------------------------ configuration mode

_ETHERNET = re.compile(r"(?i)(?:ethernet|eth|et)\s*(\d+)(?:\s*-\s*(\d+))?")
_MANAGEMENT = re.compile(r"(?i)(?:management|ma)\s*(\d+)")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62})")
_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


class ConfigEditor:
    """The configuration mode of the EOS CLI over one SwitchConfig.

    Modes: global, ``vlan <ids>``, ``interface <ports>`` and ``management api http-commands``. As on EOS, a
    command the current sub-mode does not know is tried in the global mode (``vlan 200`` right after an
    interface's lines works without ``exit``). Keywords must be spelled in full: eAPI completes no
    abbreviations unless a request asks for autoComplete.
    """

    def __init__(self, cfg: SwitchConfig):
        self.cfg = cfg
        self.mode: tuple = ("global",)

    def run(self, line: str, given: str | None = None) -> bool:
        """Apply one line (with the input an eAPI command may carry, for ``comment``); returns False when it
        leaves configuration mode (`end`, `exit` from global)."""
        tokens = line.split()
        if tokens and tokens[0].startswith("!!") and self.mode[0] in ("vlan", "interface"):
            self._append_comment(comment_text(line))
            return True
        if not tokens or tokens[0].startswith("!"):
            return True  # a remark, and a "!!" line outside the modelled sections: nothing is kept
        if tokens[0] == "end":
            if len(tokens) > 1:
                raise invalid_input(tokens, 1)
            return False
        if self.mode[0] != "global":
            handler = {
                "vlan": self._vlan_mode,
                "interface": self._interface_mode,
                "management-api": self._management_mode,
            }[self.mode[0]]
            commenting = tokens[0] == "comment" or tokens[:2] == ["no", "comment"]
            if commenting and self.mode[0] in ("vlan", "interface"):
                return self._comment(tokens, given)
            handled = handler(tokens, line)
            if handled is not None:
                return handled
        return self._global(tokens, line)

    # -- comments, in the vlan and interface modes
    def _sections(self) -> list[Vlan | Port]:
        if self.mode[0] == "vlan":
            return [self.cfg.vlans[vid] for vid in self.mode[1] if vid in self.cfg.vlans]
        return [self.cfg.ports[name] for name in self.mode[1]]

    def _comment(self, tokens: list[str], given: str | None) -> bool:
        """`comment` (its text is the command's input) replaces the section's comment; `no comment` removes it."""
        if tokens[0] == "no":
            if len(tokens) > 2:
                raise invalid_input(tokens, 2)
            lines: tuple[str, ...] = ()
        else:
            if len(tokens) > 1:
                raise invalid_input(tokens, 1)
            if given is None:
                # Modelled: the CLI would wait for the text; a request without input cannot give it.
                raise incomplete()
            lines = tuple(text.rstrip() for text in given.splitlines())
        for section in self._sections():
            section.comment = lines
        return True

    def _append_comment(self, text: str) -> None:
        """A ``!!`` line: one more line of the section's comment (how a configuration file holds it)."""
        for section in self._sections():
            section.comment = (*section.comment, text)

    # -- global mode
    def _global(self, tokens: list[str], line: str) -> bool:
        word, negate = tokens[0], False
        args = tokens[1:]
        if word == "no":
            if not args:
                raise incomplete()
            negate, word, args = True, args[0], args[1:]
        at = 2 if negate else 1  # index of the first argument among tokens
        if word == "exit" and not negate:
            if args:
                raise invalid_input(tokens, 1)
            if self.mode[0] != "global":
                self.mode = ("global",)
                return True
            return False
        if word == "hostname":
            if negate:
                if args:
                    raise invalid_input(tokens, at)
                self.cfg.hostname = "localhost"
            else:
                if not args:
                    raise incomplete()
                if len(args) > 1:
                    raise invalid_input(tokens, at + 1)
                if not _HOSTNAME.fullmatch(args[0]):
                    raise invalid_input(tokens, at)
                self.cfg.hostname = args[0]
            self.mode = ("global",)
            return True
        if word == "username":
            self._username(tokens, args, negate, at)
            return True
        if word == "vlan":
            if not args:
                raise incomplete()
            if len(args) > 1:
                raise invalid_input(tokens, at + 1)
            try:
                ids = sorted(parse_vlan_list(args[0]))
            except ValueError:
                raise invalid_input(tokens, at) from None
            if negate:
                if 1 in ids:
                    raise CliError(CliError.FAILED, "Default VLAN 1 may not be deleted")
                for vid in ids:
                    self.cfg.vlans.pop(vid, None)
                self.mode = ("global",)
            else:
                for vid in ids:
                    self.cfg.vlans.setdefault(vid, Vlan())
                self.mode = ("vlan", tuple(ids))
            return True
        if word == "interface" and not negate:
            if not args:
                raise incomplete()
            self.mode = ("interface", tuple(self._ports(tokens, " ".join(args))))
            return True
        if word == "spanning-tree" and not negate:
            expected = ["mode", "mstp"]
            for i, want in enumerate(expected):
                if i >= len(args):
                    raise incomplete()
                if args[i] != want:
                    raise invalid_input(tokens, 1 + i)
            if len(args) > len(expected):
                raise invalid_input(tokens, 1 + len(expected))
            self.mode = ("global",)
            return True
        if word == "management" and not negate:
            expected = ["api", "http-commands"]
            for i, want in enumerate(expected):
                if i >= len(args):
                    raise incomplete()
                if args[i] != want:
                    raise invalid_input(tokens, 1 + i)
            if len(args) > len(expected):
                raise invalid_input(tokens, 1 + len(expected))
            self.mode = ("management-api",)
            return True
        raise invalid_input(tokens, 1 if negate else 0)

    def _username(self, tokens: list[str], args: list[str], negate: bool, at: int) -> None:
        """``username NAME secret [0] CLEARTEXT`` (kept hashed), ``username NAME secret sha512 HASH`` (as
        running-config shows it), ``no username NAME``: EOS's forms for a local user's password."""
        if not args:
            raise incomplete()
        name = args[0]
        if not _USERNAME.fullmatch(name):
            raise invalid_input(tokens, at)
        if negate:
            if len(args) > 1:
                raise invalid_input(tokens, at + 1)
            self.cfg.users.pop(name, None)
            self.mode = ("global",)
            return
        rest = args[1:]
        if not rest:
            raise incomplete()
        if rest[0] != "secret":
            raise invalid_input(tokens, at + 1)
        rest = rest[1:]
        if rest and rest[0] in ("0", "sha512"):
            kind, rest = rest[0], rest[1:]
        else:
            kind = "0"
        if not rest:
            raise incomplete()
        if len(rest) > 1:
            raise invalid_input(tokens, len(tokens) - len(rest) + 1)
        if kind == "sha512":
            if not rest[0].startswith(PREFIX):
                raise CliError(CliError.FAILED, "Invalid secret")
            self.cfg.users[name] = rest[0]
        else:
            self.cfg.users[name] = lab_password_hash(rest[0])
        self.mode = ("global",)

    def _ports(self, tokens: list[str], text: str) -> list[str]:
        match = _ETHERNET.fullmatch(text)
        if match:
            first = int(match.group(1))
            last = int(match.group(2) or first)
            names = [f"Ethernet{n}" for n in range(first, last + 1)]
        else:
            match = _MANAGEMENT.fullmatch(text)
            names = [f"Management{match.group(1)}"] if match else []
        if not names or any(name not in self.cfg.ports for name in names):
            raise invalid_input(tokens, 1)
        return names

    # -- vlan mode
    def _vlan_mode(self, tokens: list[str], line: str) -> bool | None:
        word, negate, at = tokens[0], False, 1
        if word == "no" and len(tokens) > 1 and tokens[1] in ("name", "state"):
            negate, word, at = True, tokens[1], 2
        args = tokens[at:]
        vlans = [self.cfg.vlans[vid] for vid in self.mode[1] if vid in self.cfg.vlans]
        if word == "name":
            if negate:
                if args:
                    raise invalid_input(tokens, at)
                for vlan in vlans:
                    vlan.name = None
                return True
            if not args:
                raise incomplete()
            # A VLAN name is one word of up to 32 characters.
            if len(args) > 1:
                raise invalid_input(tokens, at + 1)
            if len(args[0]) > VLAN_NAME_MAX or not args[0].isprintable():
                raise invalid_input(tokens, at)
            for vlan in vlans:
                vlan.name = args[0]
            return True
        if word == "state":
            if negate:
                value = "active"
                if args:
                    raise invalid_input(tokens, at)
            else:
                if not args:
                    raise incomplete()
                if args[0] not in ("active", "suspend") or len(args) > 1:
                    raise invalid_input(tokens, at if args[0] not in ("active", "suspend") else at + 1)
                value = args[0]
            for vlan in vlans:
                vlan.state = value
            return True
        return None

    # -- interface mode
    def _interface_mode(self, tokens: list[str], line: str) -> bool | None:
        ports = [self.cfg.ports[name] for name in self.mode[1]]
        if tokens[0] == "description":
            text = line.strip()[len("description") :].strip()
            if not text:
                raise incomplete()
            if len(text) > DESCRIPTION_MAX:
                raise invalid_input(tokens, 1)
            for port in ports:
                port.description = text
            return True
        if tokens[:2] == ["no", "description"]:
            for port in ports:
                port.description = ""
            return True
        negate = tokens[0] == "no"
        words = tokens[1:] if negate else tokens
        if not words or words[0] != "switchport":
            return None
        at = 2 if negate else 1  # index of the word after "switchport"
        if not all(port.switchport for port in ports):
            raise invalid_input(tokens, at - 1)
        rest = words[1:]
        if not rest:
            raise incomplete()
        if rest[0] == "mode":
            if negate:
                if len(rest) > 1:
                    raise invalid_input(tokens, at + 1)
                mode = "access"
            else:
                if len(rest) < 2:
                    raise incomplete()
                if rest[1] not in ("access", "trunk"):
                    raise invalid_input(tokens, at + 1)
                if len(rest) > 2:
                    raise invalid_input(tokens, at + 2)
                mode = rest[1]
            for port in ports:
                port.mode = mode
            return True
        if rest[0] == "trunk":
            for i, want in enumerate(["allowed", "vlan"], start=1):
                if len(rest) <= i:
                    raise incomplete()
                if rest[i] != want:
                    raise invalid_input(tokens, at + i)
            spec = rest[3:]
            first = at + 3  # index of the first word of the VLAN spec
            if negate:
                if spec:
                    raise invalid_input(tokens, first)
                for port in ports:
                    port.allowed = ALL_VLANS
                return True
            for port in ports:
                port.allowed = self._allowed(tokens, first, spec, port.allowed)
            return True
        raise invalid_input(tokens, at)

    @staticmethod
    def _allowed(tokens: list[str], first: int, spec: list[str], current: frozenset[int]) -> frozenset[int]:
        """`switchport trunk allowed vlan all|none|LIST|add LIST|remove LIST|except LIST`."""
        if not spec:
            raise incomplete()
        if spec[0] in ("all", "none"):
            if len(spec) > 1:
                raise invalid_input(tokens, first + 1)
            return ALL_VLANS if spec[0] == "all" else frozenset()
        verb = spec[0] if spec[0] in ("add", "remove", "except") else None
        values = spec[1:] if verb else spec
        index = first + (1 if verb else 0)
        if not values:
            raise incomplete()
        try:
            listed = frozenset(parse_vlan_list(values[0]))
        except ValueError:
            raise invalid_input(tokens, index) from None
        if len(values) > 1:
            raise invalid_input(tokens, index + 1)
        if verb == "add":
            return current | listed
        if verb == "remove":
            return current - listed
        if verb == "except":
            return ALL_VLANS - listed
        return listed

    # -- management api http-commands
    def _management_mode(self, tokens: list[str], line: str) -> bool | None:
        if tokens == ["no", "shutdown"]:
            return True
        if tokens[0] == "shutdown":
            # The lab's own API would stop answering: refused rather than modelled.
            raise CliError(CliError.FAILED, "The tenctl lab does not shut down its eAPI")
        return None


def parse_config(text: str, ethernet_ports: int) -> SwitchConfig:
    """A whole configuration file (as `show running-config` prints it) applied to a clean configuration, as
    `configure replace` does; raises CliError naming the line that failed."""
    cfg = SwitchConfig.clean(ethernet_ports)
    editor = ConfigEditor(cfg)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "end":
            break
        try:
            if not editor.run(line):
                editor = ConfigEditor(cfg)
        except CliError as exc:
            raise CliError(
                (exc.code, exc.reason), f"line {number}: {line.strip()}: {exc.errors[0]}"
            ) from None
    return cfg
