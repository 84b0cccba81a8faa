"""The EOS command line as eAPI runs it: the commands of one ``runCmds`` request, in order, in one CLI
session that starts in exec mode, each answered in the request's format (json or text); the first command
EOS refuses ends the request.

Commands (napalm's ``eos`` driver sends these, through pyeapi, which puts ``enable`` first):

- ``enable`` (with the enable secret as input when the switch has one);
- ``configure`` / ``configure terminal``, ``configure session [NAME]``, ``configure session NAME commit
  [timer hh:mm:ss]``, ``configure session NAME abort``, ``configure replace SOURCE``; in a session:
  ``commit [timer hh:mm:ss]``, ``abort``, ``rollback clean-config``, and the configuration lines of
  :class:`~.config.ConfigEditor` with ``exit``/``end``;
- ``copy SOURCE DEST`` (running-config, startup-config, flash:NAME), ``write [memory]``;
- ``show version``, ``show hostname``, ``show interfaces [NAME] [switchport]``, ``show vlan [LIST]``,
  ``show running-config [all|sanitized] [section REGEX]``, ``show startup-config``,
  ``show session-config [named NAME] [diffs]``, ``show configuration sessions [detail]``; text answers
  take ``| include REGEX`` and ``| section REGEX``.

JSON answers have the keys of EOS 4.30's (checked against napalm's eos test fixtures where they exist;
``show interfaces switchport``, ``show configuration sessions`` and the running-config's JSON form are
modelled on Arista's documentation and are marked so below).
"""

from __future__ import annotations

import dataclasses
import json
import re

from .config import CliError, ConfigEditor, comment_text, format_vlan_list, invalid_input, parse_vlan_list
from .device import MAX_OPEN_SESSIONS, MAX_SAVED_SESSIONS, EosSwitch

UNCONVERTED_TEXT = (
    "Command cannot be used over the API at this time. To see ASCII output, set format='text' in your request"
)


@dataclasses.dataclass
class Answer:
    """What a command answers in each format (None: the format is not available for it)."""

    json: dict | None = None
    text: str | None = None


EMPTY = Answer({}, "")


@dataclasses.dataclass
class Failure:
    """The command that ended a request: its position (from 0), its text, and EOS's error."""

    index: int
    command: str
    error: CliError


class EapiCli:
    """One eAPI request's CLI session on a switch (the caller holds the switch's lock)."""

    def __init__(self, switch: EosSwitch, fmt: str):
        self.switch = switch
        self.fmt = fmt
        self.editor: ConfigEditor | None = None  # set while in configuration mode
        self.session: str | None = None  # the session being edited, if any

    def run(self, commands: list) -> tuple[list[dict], Failure | None]:
        """Run commands in order; returns their answers and the failure that stopped them (or None)."""
        results = []
        for index, command in enumerate(commands):
            if isinstance(command, dict):
                text, given = str(command.get("cmd", "")), command.get("input")
            else:
                text, given = str(command), None
            try:
                answer = self.execute(text.strip(), given)
                results.append(self._format(answer))
            except CliError as exc:
                return results, Failure(index, text, exc)
        return results, None

    def _format(self, answer: Answer) -> dict:
        if self.fmt == "json":
            if answer.json is None:
                raise CliError(CliError.UNCONVERTED, UNCONVERTED_TEXT)
            return answer.json
        if answer.text is None:
            return {"output": json.dumps(answer.json, indent=2) + "\n"}
        return {"output": answer.text}

    # ------------------------------------------------------------------ dispatch
    def execute(self, line: str, given: str | None = None) -> Answer:
        tokens = line.split()
        if not tokens:
            return EMPTY
        head = tokens[0]
        if head == "enable":
            return self._enable(tokens, given)
        if head == "show":
            return self._show(line)
        if head == "configure":
            return self._configure(tokens)
        if head == "copy":
            if len(tokens) < 3:
                raise CliError(CliError.INVALID, "Incomplete command")
            if len(tokens) > 3:
                raise invalid_input(tokens, 3)
            message = self.switch.copy(tokens[1], tokens[2])
            return Answer({"messages": [message]}, message + "\n")
        if head == "write":
            if len(tokens) > 2 or (len(tokens) == 2 and tokens[1] != "memory"):
                raise invalid_input(tokens, 1)
            message = self.switch.write_memory()
            return Answer({"messages": [message]}, message + "\n")
        if self.editor is None:
            raise invalid_input(tokens, 0)  # configuration commands need configuration mode
        if self.session is not None:
            if head == "commit":
                self.switch.commit_session(self.session, _timer(tokens, 1))
                self._leave_config()
                return EMPTY
            if head == "abort":
                if len(tokens) > 1:
                    raise invalid_input(tokens, 1)
                self.switch.abort_session(self.session)
                self._leave_config()
                return EMPTY
            if tokens == ["rollback", "clean-config"]:
                self.switch.clean_session(self.session)
                self.editor = ConfigEditor(self.switch.sessions[self.session].config)
                return EMPTY
        if not self.editor.run(line, given):
            self._leave_config()
        return EMPTY

    def _leave_config(self) -> None:
        self.editor = None
        self.session = None

    def _enable(self, tokens: list[str], given: str | None) -> Answer:
        if len(tokens) > 1:
            raise invalid_input(tokens, 1)
        secret = self.switch.enable_secret
        if secret is not None and given != secret:
            # EOS answers 1005 when an enable secret is set and not given (napalm's enable_password).
            raise CliError(CliError.DENIED, "Bad secret")
        return EMPTY

    def _configure(self, tokens: list[str]) -> Answer:
        args = tokens[1:]
        if not args or args == ["terminal"]:
            self.editor = ConfigEditor(self.switch.running)
            self.session = None
            return EMPTY
        if args[0] == "session":
            if len(args) == 1:
                name = _free_session_name(self.switch)
            else:
                name = args[1]
            if len(args) <= 2:
                session = self.switch.enter_session(name)
                self.editor = ConfigEditor(session.config)
                self.session = name
                return EMPTY
            action = args[2]
            if action == "commit":
                self.switch.commit_session(name, _timer(tokens, 4))
                return EMPTY
            if action == "abort":
                if len(args) > 3:
                    raise invalid_input(tokens, 4)
                self.switch.abort_session(name)
                return EMPTY
            raise invalid_input(tokens, 3)
        if args[0] == "replace":
            if len(args) < 2:
                raise CliError(CliError.INVALID, "Incomplete command")
            if len(args) > 2 and args[2:] != ["ignore-errors"]:
                raise invalid_input(tokens, 3)
            self.switch.configure_replace(args[1])
            return EMPTY
        raise invalid_input(tokens, 1)

    # ------------------------------------------------------------------ show
    def _show(self, line: str) -> Answer:
        command, bar, pipe = line.partition("|")
        tokens = command.split()
        args = tokens[1:]
        if not args:
            raise CliError(CliError.INVALID, "Incomplete command")
        what = args[0]
        if what == "version" and len(args) == 1:
            answer = self._version()
        elif what == "hostname" and len(args) == 1:
            name = self.switch.running.hostname
            answer = Answer({"hostname": name, "fqdn": name}, f"Hostname: {name}\nFQDN:     {name}\n")
        elif what == "interfaces":
            answer = self._interfaces(tokens)
        elif what == "vlan":
            answer = self._vlans(tokens)
        elif what == "running-config":
            answer = self._running(tokens)
        elif what == "startup-config" and len(args) == 1:
            text = self.switch.show_startup_config()
            answer = Answer(_config_json(text), text)
        elif what == "session-config":
            answer = self._session_config(tokens)
        elif what == "configuration" and args[1:2] == ["sessions"]:
            if len(args) > 3 or (len(args) == 3 and args[2] != "detail"):
                raise invalid_input(tokens, 3)
            answer = self._sessions(detail=len(args) == 3)
        elif what in ("version", "hostname", "startup-config", "configuration"):
            if len(args) == 1:
                raise CliError(CliError.INVALID, "Incomplete command")
            raise invalid_input(tokens, 2)
        else:
            raise invalid_input(tokens, 1)
        if bar:
            return Answer(None, _pipe(answer.text or "", pipe, line))
        return answer

    def _version(self) -> Answer:
        sw = self.switch
        mac = sw.mac_base + ":00:00"
        build = sw.version.replace(".", "")
        data = {
            "mfgName": "Arista",
            "modelName": sw.model,
            "hardwareRevision": "",
            "serialNumber": sw.serial,
            "systemMacAddress": mac,
            "hwMacAddress": "00:00:00:00:00:00",
            "configMacAddress": "00:00:00:00:00:00",
            "version": sw.version,
            "architecture": "x86_64",
            "internalVersion": f"{sw.version}-00000000.{build}",
            "internalBuildId": "00000000-0000-4000-8000-00000000eos0",
            "imageFormatVersion": "1.0",
            "imageOptimization": "None",
            "cEosToolsVersion": "(unknown)",
            "kernelVersion": "5.15.0-tenctl-lab",
            "bootupTimestamp": sw.boot_time,
            "uptime": sw.uptime(),
            "memTotal": 2014580,
            "memFree": 1350276,
            "isIntlVersion": False,
        }
        minutes = int(data["uptime"] // 60)
        text = (
            f"Arista {sw.model}\nHardware version: \nSerial number: {sw.serial}\n"
            f"Hardware MAC address: {data['hwMacAddress']}\nSystem MAC address: {mac}\n\n"
            f"Software image version: {sw.version}\nArchitecture: x86_64\n"
            f"Internal build version: {data['internalVersion']}\nInternal build ID: {data['internalBuildId']}\n"
            "Image format version: 1.0\nImage optimization: None\n\n"
            f"Kernel version: {data['kernelVersion']}\n\n"
            f"Uptime: {minutes // 10080} weeks, {minutes // 1440 % 7} days, {minutes // 60 % 24} hours and "
            f"{minutes % 60} minutes\nTotal memory: {data['memTotal']} kB\nFree memory: {data['memFree']} kB\n\n"
        )
        return Answer(data, text)

    def _interfaces(self, tokens: list[str]) -> Answer:
        cfg = self.switch.running
        rest = tokens[2:]
        names = cfg.port_names()
        if rest and rest[0] != "switchport":
            match = re.fullmatch(r"(?i)(ethernet|eth|et|management|ma)(\d+)", rest[0])
            name = None
            if match:
                kind = "Management" if match.group(1).lower().startswith("ma") else "Ethernet"
                name = f"{kind}{match.group(2)}"
            if name not in cfg.ports:
                raise invalid_input(tokens, 2)
            names, rest = [name], rest[1:]
        if rest == ["switchport"]:
            return self._switchports([n for n in names if cfg.ports[n].switchport])
        if rest:
            raise invalid_input(tokens, len(tokens) - len(rest))
        sw = self.switch
        data = {}
        lines = []
        every = cfg.port_names()
        for name in names:
            position = every.index(name) + 1
            port = cfg.ports[name]
            up = name in sw.connected or not port.switchport
            mac = f"{sw.mac_base}:{position // 256:02x}:{position % 256:02x}"
            data[name] = {
                "name": name,
                "forwardingModel": "bridged" if port.switchport else "routed",
                "lineProtocolStatus": "up" if up else "down",
                "interfaceStatus": "connected" if up else "notconnect",
                "hardware": "ethernet",
                "interfaceAddress": [],
                "physicalAddress": mac,
                "burnedInAddress": mac,
                "description": port.description,
                "bandwidth": (10_000_000_000 if port.switchport else 1_000_000_000) if up else 0,
                "mtu": 9214 if port.switchport else 1500,
                "l3MtuConfigured": False,
                "l2Mru": 0,
                "lastStatusChangeTimestamp": sw.boot_time,
                "duplex": "duplexFull",
                "autoNegotiate": "unknown",
                "loopbackMode": "loopbackNone",
                "interfaceStatistics": {
                    "updateInterval": 300.0,
                    "inBitsRate": 0.0,
                    "inPktsRate": 0.0,
                    "outBitsRate": 0.0,
                    "outPktsRate": 0.0,
                },
                "interfaceCounters": {
                    key: 0
                    for key in (
                        "inOctets",
                        "inUcastPkts",
                        "inMulticastPkts",
                        "inBroadcastPkts",
                        "inDiscards",
                        "totalInErrors",
                        "outOctets",
                        "outUcastPkts",
                        "outMulticastPkts",
                        "outBroadcastPkts",
                        "outDiscards",
                        "totalOutErrors",
                        "linkStatusChanges",
                    )
                },
            }
            state = "up" if up else "down"
            lines += [
                f"{name} is {state}, line protocol is {state} ({'connected' if up else 'notconnect'})",
                f"  Hardware is Ethernet, address is {mac} (bia {mac})",
                f"  Description: {port.description}" if port.description else None,
                f"  Ethernet MTU {data[name]['mtu']} bytes",
            ]
        return Answer({"interfaces": data}, "\n".join(x for x in lines if x is not None) + "\n")

    def _switchports(self, names: list[str]) -> Answer:
        # Modelled on EOS's documented `show interfaces switchport` JSON: full interface names as keys,
        # trunkAllowedVlans a string ("ALL", "NONE" or a VLAN list).
        cfg = self.switch.running
        data = {}
        lines = []
        for name in names:
            port = cfg.ports[name]
            if len(port.allowed) == 4094:
                allowed = "ALL"
            else:
                allowed = format_vlan_list(port.allowed) if port.allowed else "NONE"
            data[name] = {
                "enabled": True,
                "switchportInfo": {
                    "mode": port.mode,
                    "accessVlanId": 1,
                    "accessVlanName": cfg.vlans[1].display_name(1) if 1 in cfg.vlans else "default",
                    "trunkingNativeVlanId": 1,
                    "trunkingNativeVlanName": "default",
                    "trunkAllowedVlans": allowed,
                    "staticTrunkGroups": [],
                    "dynamicTrunkGroups": [],
                    "dynamicAllowedVlans": {},
                    "macLearning": True,
                    "tpid": "0x8100",
                    "tpidStatus": True,
                    "sourceportFilterMode": "enabled",
                },
            }
            lines += [
                f"Name: {name}",
                "Switchport: Enabled",
                f"Administrative Mode: {'trunk' if port.mode == 'trunk' else 'static access'}",
                f"Operational Mode: {'trunk' if port.mode == 'trunk' else 'static access'}",
                "Access Mode VLAN: 1 (default)",
                "Trunking Native Mode VLAN: 1 (default)",
                f"Trunking VLANs Enabled: {allowed}",
                "",
            ]
        return Answer({"switchports": data}, "\n".join(lines))

    def _vlans(self, tokens: list[str]) -> Answer:
        cfg = self.switch.running
        if len(tokens) > 3:
            raise invalid_input(tokens, 3)
        wanted = None
        if len(tokens) == 3:
            try:
                wanted = parse_vlan_list(tokens[2])
            except ValueError:
                raise invalid_input(tokens, 2) from None
            missing = sorted(wanted - set(cfg.vlans))
            if missing and not (wanted & set(cfg.vlans)):
                raise CliError(
                    CliError.FAILED, f"VLAN {format_vlan_list(missing)} not found in current VLAN database"
                )
        vlans = {}
        lines = [
            "VLAN  Name                             Status    Ports",
            "----- -------------------------------- --------- -------------------------------",
        ]
        for vid, vlan in sorted(cfg.vlans.items()):
            if wanted is not None and vid not in wanted:
                continue
            # `show vlan` lists the ports that carry the VLAN and have a link.
            members = cfg.vlan_members(vid, self.switch.connected)
            status = "active" if vlan.state == "active" else "suspended"
            vlans[str(vid)] = {
                "name": vlan.display_name(vid),
                "dynamic": False,
                "status": status,
                "interfaces": {name: {"privatePromoted": False} for name in members},
            }
            short = ", ".join(name.replace("Ethernet", "Et") for name in members)
            lines.append(f"{vid:<5} {vlan.display_name(vid):<32} {status:<9} {short}".rstrip())
        return Answer({"vlans": vlans, "sourceDetail": ""}, "\n".join(lines) + "\n")

    def _running(self, tokens: list[str]) -> Answer:
        args = tokens[2:]
        # `all` would add the defaults EOS hides; the lab shows the same text (deviation).
        while args and args[0] in ("all", "sanitized"):
            args = args[1:]
        text = self.switch.running_config()
        if args:
            if args[0] != "section" or len(args) != 2:
                raise invalid_input(tokens, len(tokens) - len(args))
            return Answer(None, _section(text, args[1]))
        return Answer(_config_json(text), text)

    def _session_config(self, tokens: list[str]) -> Answer:
        args = tokens[2:]
        name = self.session
        if args[:1] == ["named"]:
            if len(args) < 2:
                raise CliError(CliError.INVALID, "Incomplete command")
            name, args = args[1], args[2:]
        if name is None:
            raise CliError(CliError.FAILED, "Not in a configuration session")  # modelled wording
        if args == ["diffs"]:
            return Answer(None, self.switch.session_diff(name))
        if args:
            raise invalid_input(tokens, len(tokens) - len(args))
        text = self.switch.session_config_text(name)
        return Answer(_config_json(text), text)

    def _sessions(self, detail: bool) -> Answer:
        # Modelled on EOS 4.30 (before 4.32 moved the timer to commitTimerSessionName/ExpireTime), with
        # the keys napalm's eos driver reads: state, and commitBy (the uptime the timer runs out at).
        sessions = {}
        lines = [
            f"Maximum number of completed sessions: {MAX_SAVED_SESSIONS}",
            f"Maximum number of pending sessions: {MAX_OPEN_SESSIONS}",
            "",
            "  Name                 State                  User    Terminal",
            "  -------------------- ---------------------- ------- --------",
        ]
        for name, session in self.switch.sessions.items():
            entry = {
                "state": session.state,
                "completedTime": session.completed_time or 0,
                "commitUser": "",
                "description": "",
                "instances": {},
            }
            if detail and session.commit_by is not None:
                entry["commitBy"] = session.commit_by
            sessions[name] = entry
            lines.append(f"  {name:<20} {session.state:<22}")
        data = {
            "sessions": sessions,
            "maxSavedSessions": MAX_SAVED_SESSIONS,
            "maxOpenSessions": MAX_OPEN_SESSIONS,
        }
        return Answer(data, "\n".join(lines) + "\n")


# ------------------------------------------------------------------ helpers


def _timer(tokens: list[str], at: int) -> float | None:
    """The seconds of `... commit timer hh:mm:ss` (tokens[at] is the word after commit), or None."""
    if len(tokens) <= at:
        return None
    if tokens[at] != "timer":
        raise invalid_input(tokens, at)
    if len(tokens) == at + 1:
        raise CliError(CliError.INVALID, "Incomplete command")
    if len(tokens) > at + 2:
        raise invalid_input(tokens, at + 2)
    match = re.fullmatch(r"(\d{1,2}):(\d{2}):(\d{2})", tokens[at + 1])
    if not match or int(match.group(2)) > 59 or int(match.group(3)) > 59:
        raise invalid_input(tokens, at + 1)
    hours, minutes, seconds = (int(x) for x in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total == 0:
        raise invalid_input(tokens, at + 1)
    return float(total)


def _free_session_name(switch: EosSwitch) -> str:
    number = 1
    while f"session{number}" in switch.sessions:
        number += 1
    return f"session{number}"


def _blocks(text: str) -> list[list[str]]:
    """A configuration's top-level blocks: a line at column 0 with its indented lines."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" ") and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _section(text: str, pattern: str) -> str:
    """`| section REGEX`: the top-level blocks that have a line matching the pattern."""
    regex = re.compile(pattern)
    kept = [
        line
        for block in _blocks(text)
        if not block[0].startswith("!") and any(regex.search(line) for line in block)
        for line in block
    ]
    return "\n".join(kept) + ("\n" if kept else "")


def _pipe(text: str, pipe: str, line: str) -> str:
    words = pipe.split(None, 1)
    if len(words) != 2 or words[0] not in ("include", "section"):
        raise CliError(CliError.INVALID, f"Invalid input (at token {len(line.split('|')[0].split()) + 1})")
    if words[0] == "section":
        return _section(text, words[1])
    regex = re.compile(words[1])
    kept = [x for x in text.splitlines() if regex.search(x)]
    return "\n".join(kept) + ("\n" if kept else "")


def _config_json(text: str) -> dict:
    """A configuration's JSON form (modelled on EOS's `show running-config | json`): top-level commands
    as keys of "cmds", each with null or its own {"cmds", "comments"}; the leading comments in "header"."""
    header = []
    cmds: dict = {}
    for block in _blocks(text):
        first = block[0]
        if first.startswith("!"):
            if not cmds:
                header.append(first)
            continue
        if first == "end":
            continue
        children = [x.strip() for x in block[1:] if not x.strip().startswith("!")]
        comments = [comment_text(x) for x in block[1:] if x.strip().startswith("!!")]
        if children or comments:
            cmds[first] = {"cmds": dict.fromkeys(children), "comments": comments}
        else:
            cmds[first] = None
    return {"header": header, "cmds": cmds}
