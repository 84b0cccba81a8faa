"""The lab's VyOS router: a running, a saved and per-session candidate configurations, commit checks,
commit-confirm, faults for tests, and a log of what clients asked.

The model is transport-free: :mod:`.shell` turns SSH lines into calls on it, :mod:`.api` turns HTTP API
requests into calls on it. ``start()`` serves both on loopback (their modules, and asyncssh, are imported
there, not here). All methods may be called from any thread: one lock guards the configurations.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import threading
from pathlib import Path

from ..passwords import lab_password_hash, password_matches
from ..peerlog import RequestLog
from . import tree as cfgtree
from .tree import EditError, copy_tree, split_command

SAVE_PATH = "/config/config.boot"

VERSION_TEXT = """\
Version:          VyOS 1.4.0
Release train:    sagitta

Built by:         Sentrium S.L.
Built on:         Thu 01 Feb 2024 12:00 UTC
Build UUID:       5d2c9f1e-8b0a-4f1c-9d6e-tenctl-lab
Build commit:     0000000000000

Architecture:     x86_64
Boot via:         installed image
System type:      KVM guest

Hardware vendor:  tenctl
Hardware model:   lab
Hardware S/N:     lab-0001
Hardware UUID:    00000000-0000-0000-0000-000000000000

Copyright:        VyOS maintainers and contributors"""


def factory_config(hostname: str = "vyos") -> dict:
    """What a freshly installed lab router holds: a WAN (eth0, DHCP) and a LAN port (eth1), SSH."""
    return {
        "interfaces": {
            "ethernet": {
                "eth0": {"address": ["dhcp"], "hw-id": "0c:76:c4:1e:00:00"},
                "eth1": {"hw-id": "0c:76:c4:1e:00:01"},
            }
        },
        "service": {"ssh": {"port": "22"}},
        "system": {"host-name": hostname},
    }


class CommitFailed(Exception):
    """A commit VyOS refuses; lines are what it prints, ending with "Commit failed"."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclasses.dataclass
class Faults:
    """What the router does wrong on purpose (see VyosRouter's fault methods).

    A request is one SSH command line or one API call; both transports count in one sequence."""

    fail_commit: str | None = None
    drop_after: int | None = None  # the k-th request: SSH drops the connection, the API gives no answer
    drop_command: str | None = None  # ... or the first SSH command that starts with this text
    drop_applied: bool = True  # run that request before dropping (True) or drop before running it
    refuse_at: int | None = None  # the k-th request is refused (SSH: dropped unapplied; API: 500)
    hold_at: int | None = None  # the k-th request waits hold_seconds before it is applied
    hold_seconds: float = 0.0
    delay: float = 0.0  # seconds before each SSH answer and API answer
    wrong_host_key: bool = False
    api_unreachable: bool = False
    requests_seen: int = 0


# Commit units: a unit's changes are committed or refused together; a failing unit does not stop the
# others (VyOS commits node by node in priority order, so a failed commit can be partly applied).
UNIT_ORDER = ("vrf", "interfaces", "firewall", "protocols", "nat", "system", "service")


def hash_plaintext_passwords(candidate: dict) -> None:
    """What vyos-1x src/conf_mode/system_login.py does at commit: each user's plaintext-password is
    hashed into encrypted-password and removed from the configuration (of the session too, so that the
    session has nothing left to commit)."""
    users = candidate.get("system", {}).get("login", {}).get("user", {})
    for body in users.values():
        auth = body.get("authentication", {})
        plain = auth.pop("plaintext-password", None)
        if isinstance(plain, str):
            auth["encrypted-password"] = lab_password_hash(plain)


def _units(tree: dict) -> dict[tuple, object]:
    units = {}
    for section in UNIT_ORDER:
        if section == "interfaces":
            for name, body in tree.get("interfaces", {}).get("ethernet", {}).items():
                units[("interfaces", "ethernet", name)] = body
        elif section in tree:
            units[(section,)] = tree[section]
    return units


def _unit_rank(unit: tuple) -> tuple:
    return (UNIT_ORDER.index(unit[0]), cfgtree.natural_key(" ".join(unit)))


class ConfigSession:
    """One configuration session (an SSH `configure`, or one HTTP API request) with its own candidate."""

    def __init__(self, router: VyosRouter):
        self.router = router
        self.candidate = router.running_copy()

    # -- editing
    def set(self, path: str | list[str]) -> None:
        """`set PATH VALUE`; raises EditError with VyOS's lines."""
        tokens = split_command(path) if isinstance(path, str) else list(path)
        cfgtree.set_path(self.candidate, tokens)

    def delete(self, path: str | list[str]) -> str | None:
        """`delete PATH`; returns VyOS's note if nothing was there (VyOS treats that as success)."""
        tokens = split_command(path) if isinstance(path, str) else list(path)
        return cfgtree.delete_path(self.candidate, tokens)

    def discard(self) -> None:
        self.candidate = self.router.running_copy()

    def changed(self) -> bool:
        return self.candidate != self.router.running_copy()

    def compare(self, commands: bool = False) -> list[str]:
        running = self.router.running_copy()
        if running == self.candidate:
            return ["No changes between working and active configurations."]
        if commands:
            return cfgtree.diff_commands(running, self.candidate)
        return cfgtree.diff_context(running, self.candidate)

    def commit(self, comment: str | None = None) -> list[str]:
        """Commit the candidate; returns the lines VyOS prints (none on a clean commit).

        Raises CommitFailed; the units that passed their checks are committed all the same, as on VyOS.
        """
        return self.router._commit(self, comment)

    def commit_confirm(self, minutes: int = 10) -> list[str]:
        """Commit and arm a timer that reloads the previous running config unless confirm() comes first."""
        return self.router._commit(self, None, confirm_minutes=minutes)


class VyosRouter(RequestLog):
    """A simulated VyOS 1.4 router (see the module's docstring)."""

    def __init__(
        self,
        user: str = "vyos",
        password: str = "vyos",  # noqa: S107 - the lab passes a generated one
        api_key: str = "lab-key",
        hostname: str = "vyos",
        state_dir: Path | str | None = None,
        log_path: Path | str | None = None,
        minute_seconds: float = 60.0,
    ):
        self.user = user
        self.password = password
        self.api_key = api_key
        self.hostname = hostname
        self.state_dir = Path(state_dir) if state_dir else None
        self.minute_seconds = minute_seconds  # how long a commit-confirm "minute" lasts here
        self.ethernet_ports = ("eth0", "eth1")
        self.faults = Faults()
        self.lock = threading.RLock()
        self.init_request_log(log_path)
        self._confirm_timer: threading.Timer | None = None
        self._confirm_previous: dict | None = None
        self.commits = 0
        self.saved = factory_config(hostname)
        if self.saved_file and self.saved_file.exists():
            self.saved = json.loads(self.saved_file.read_text(encoding="utf-8"))
        self.running = copy_tree(self.saved)  # a boot loads the saved config
        self.host = None
        self.ca_file = None
        self.ssh_port = None
        self.api_port = None
        self._ssh = None
        self._api = None

    # ------------------------------------------------------------------ files
    @property
    def saved_file(self) -> Path | None:
        return self.state_dir / "config.boot.json" if self.state_dir else None

    @property
    def host_key_file(self) -> Path | None:
        return self.state_dir / "ssh_host_ed25519_key" if self.state_dir else None

    @property
    def known_hosts_file(self) -> Path | None:
        return self.state_dir / "known_hosts" if self.state_dir else None

    # ------------------------------------------------------------------ configurations
    def running_copy(self) -> dict:
        with self.lock:
            return copy_tree(self.running)

    def session(self) -> ConfigSession:
        """A new configuration session (what `configure` opens)."""
        return ConfigSession(self)

    def running_tree(self) -> dict:
        """The running configuration as the HTTP API's showConfig returns it."""
        return cfgtree.to_json(self.running_copy())

    def running_commands(self) -> list[str]:
        """The running configuration as `show configuration commands` prints it, one line each."""
        return cfgtree.to_commands(self.running_copy())

    def saved_commands(self) -> list[str]:
        with self.lock:
            return cfgtree.to_commands(self.saved)

    def saved_tree(self) -> dict:
        with self.lock:
            return cfgtree.to_json(self.saved)

    def configure(self, *lines: str) -> list[str]:
        """For tests: run set/delete lines in a session and commit them; raises EditError or CommitFailed."""
        session = self.session()
        for line in lines:
            verb, _, rest = line.partition(" ")
            if verb == "set":
                session.set(rest)
            elif verb == "delete":
                session.delete(rest)
            else:
                raise ValueError(f"configure() takes set/delete lines, not {line!r}")
        return session.commit()

    def save(self) -> list[str]:
        """`save`: running → saved (kept in the lab directory); returns VyOS's lines."""
        with self.lock:
            self.saved = copy_tree(self.running)
            self._write_saved()
        return [f"Saving configuration to '{SAVE_PATH}'...", "Done"]

    def load_saved(self) -> None:
        """`load` + `commit` of the saved configuration."""
        with self.lock:
            self.running = copy_tree(self.saved)
            self.commits += 1

    def reboot(self) -> None:
        """Running (and every candidate made from now on) goes back to the saved configuration."""
        with self.lock:
            self._cancel_confirm_timer()
            self.running = copy_tree(self.saved)

    def _write_saved(self) -> None:
        if not self.saved_file:
            return
        self.saved_file.parent.mkdir(parents=True, exist_ok=True)
        for path, text in (
            (self.saved_file, json.dumps(self.saved, indent=1, sort_keys=True)),
            (self.saved_file.with_name("config.boot"), "\n".join(cfgtree.to_curly(self.saved)) + "\n"),
        ):
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)

    # ------------------------------------------------------------------ logins
    def accepts_login(self, user: str, password: str) -> bool:
        """VyOS checks a login against the running ``system login user <user> authentication
        encrypted-password``. A router whose configuration names no login user at all is the lab's factory
        state: it takes the user and password it was built with (a real image has them in its config)."""
        with self.lock:
            users = self.running.get("system", {}).get("login", {}).get("user", {})
            if not users:
                return user == self.user and password == self.password
            stored = users.get(user, {}).get("authentication", {}).get("encrypted-password")
        return isinstance(stored, str) and password_matches(password, stored)

    def accepts_api_key(self, key: str) -> bool:
        """The HTTP API takes the keys of the running ``service https api keys id <id> key``. A router whose
        configuration has none is the lab's factory state: it takes the key it was built with."""
        with self.lock:
            ids = self.running.get("service", {}).get("https", {}).get("api", {}).get("keys", {}).get("id", {})
            keys = [body.get("key") for body in ids.values()]
        if not keys:
            return key == self.api_key
        return any(isinstance(k, str) and hmac.compare_digest(k, key) for k in keys)

    # ------------------------------------------------------------------ commit
    def _commit(self, session: ConfigSession, comment: str | None, confirm_minutes: int | None = None):
        with self.lock:
            if session.candidate == self.running:
                raise CommitFailed(["No configuration changes to commit"])
            if confirm_minutes is not None and self._confirm_timer is not None:
                raise CommitFailed(["Another confirm is pending"])
            if self.faults.fail_commit is not None:
                message, self.faults.fail_commit = self.faults.fail_commit, None
                raise CommitFailed([*message.splitlines(), "", "Commit failed"])
            before = copy_tree(self.running)
            hash_plaintext_passwords(session.candidate)
            new_running, failures = self._checked_merge(session.candidate)
            self.running = new_running
            self.commits += 1
            lines: list[str] = []
            if confirm_minutes is not None and self.running != before:
                lines.append(
                    f"Initialized commit-confirm; {confirm_minutes} minutes to confirm before reload"
                )
                self._confirm_previous = before
                self._confirm_timer = threading.Timer(
                    confirm_minutes * self.minute_seconds, self._confirm_timeout
                )
                self._confirm_timer.daemon = True
                self._confirm_timer.start()
            if failures:
                for unit, message in failures:
                    label = " ".join(unit)
                    lines += [f"[ {label} ]", *message.splitlines(), "", f"[[{label}]] failed"]
                lines.append("Commit failed")
                raise CommitFailed(lines)
            return lines

    def _checked_merge(self, candidate: dict) -> tuple[dict, list[tuple[tuple, str]]]:
        """The running config after committing candidate unit by unit, and the units that failed."""
        old_units, new_units = _units(self.running), _units(candidate)
        failures = []
        result = copy_tree(self.running)
        for unit in sorted(set(old_units) | set(new_units), key=_unit_rank):
            if old_units.get(unit) == new_units.get(unit):
                continue
            problem = self._verify(unit, candidate)
            if problem:
                failures.append((unit, problem))
                continue
            _put(result, unit, new_units.get(unit))
        return result, failures

    def _verify(self, unit: tuple, cfg: dict) -> str | None:
        """VyOS's semantic checks for one commit unit (vyos-1x conf_mode scripts), or None."""
        if unit[0] == "interfaces":
            name = unit[2]
            body = cfg.get("interfaces", {}).get("ethernet", {}).get(name)
            if body is None:
                return None
            if name not in self.ethernet_ports:
                return f'Interface "{name}" does not exist!'
            vrfs = cfg.get("vrf", {}).get("name", {})
            owners = _address_owners(cfg)
            had = _address_owners(self.running)
            for ifname, iface in [(name, body)] + [
                (f"{name}.{vif}", sub) for vif, sub in body.get("vif", {}).items()
            ]:
                vrf = iface.get("vrf")
                if vrf and vrf not in vrfs:
                    return f'VRF "{vrf}" does not exist!'
                for address in iface.get("address", []):
                    if address in ("dhcp", "dhcpv6"):
                        continue
                    ip = address.split("/")[0]
                    others = sorted(o for o in owners.get(ip, ()) if o != ifname)
                    # Name the interface that held the address first (the one being added is at fault).
                    if others and ifname not in had.get(ip, ()):
                        return f"Address {address} is already assigned to interface {others[0]}!"
            return None
        if unit == ("nat",):
            for rule, body in cfg.get("nat", {}).get("source", {}).get("rule", {}).items():
                if "address" not in body.get("translation", {}):
                    return f"Source NAT configuration error in rule {rule}: translation requires address and/or port"
            return None
        if unit == ("firewall",):
            firewall = cfg.get("firewall", {})
            groups = firewall.get("group", {}).get("network-group", {})
            rules = firewall.get("ipv4", {}).get("forward", {}).get("filter", {}).get("rule", {})
            for _number, rule in sorted(rules.items(), key=lambda item: int(item[0])):
                if "action" not in rule:
                    return "Rule action must be defined"
                for side in ("source", "destination"):
                    match = rule.get(side, {})
                    group = match.get("group", {}).get("network-group")
                    if group and "address" in match:
                        return "network-group and address cannot both be defined"
                    if group and group.lstrip("!") not in groups:
                        return f'Invalid network-group "{group.lstrip("!")}" on firewall rule'
            return None
        if unit == ("vrf",):
            tables: dict[str, str] = {}
            for name, body in sorted(cfg.get("vrf", {}).get("name", {}).items()):
                if "table" not in body:
                    return f'VRF "{name}" table id is mandatory!'
                if body["table"] in tables:
                    return f'VRF "{name}" table id "{body["table"]}" is not unique!'
                tables[body["table"]] = name
            return None
        return None

    # ------------------------------------------------------------------ commit-confirm
    def confirm(self) -> str:
        """`confirm`: keep what commit-confirm committed."""
        with self.lock:
            if self._confirm_timer is None:
                return "No confirm pending"
            self._cancel_confirm_timer()
            return "Reload timer stopped"

    def commit_confirm_pending(self) -> bool:
        with self.lock:
            return self._confirm_timer is not None

    def fire_commit_confirm(self) -> bool:
        """For tests: let a pending commit-confirm run out now; returns whether one was pending."""
        with self.lock:
            if self._confirm_timer is None:
                return False
            self._confirm_timer.cancel()
            self._confirm_timeout()
            return True

    def _confirm_timeout(self) -> None:
        with self.lock:
            if self._confirm_previous is None:
                return
            self.running = self._confirm_previous
            self._confirm_previous = None
            self._confirm_timer = None
            self.commits += 1
        self.log("timer", command="commit-confirm", outcome="reverted")

    def _cancel_confirm_timer(self) -> None:
        if self._confirm_timer is not None:
            self._confirm_timer.cancel()
        self._confirm_timer = None
        self._confirm_previous = None

    # ------------------------------------------------------------------ faults
    def fail_next_commit(self, message: str = "Commit failed on purpose (tenctl lab)") -> None:
        """The next commit (SSH or API) fails with message, and nothing of it is applied."""
        self.faults.fail_commit = message

    def drop_ssh_after(self, k: int, applied: bool = True) -> None:
        """Close the connection at the k-th request from now (1 = the next), without an answer.

        applied=True runs that request first (the change happened, the client cannot know);
        applied=False drops before running it. Over the API the answer is lost the same way.
        """
        self.faults.drop_after = self.faults.requests_seen + k
        self.faults.drop_applied = applied

    def lose_nth(self, k: int) -> None:
        """The k-th request from now is applied and its answer lost (the connection drops)."""
        self.drop_ssh_after(k, applied=True)

    def refuse_nth(self, k: int) -> None:
        """The k-th request from now is refused unapplied: SSH drops the connection before running it, the
        API answers 500 with VyOS's error shape."""
        self.faults.refuse_at = self.faults.requests_seen + k

    def hold_nth(self, k: int, seconds: float) -> None:
        """The k-th request from now waits `seconds` before it is applied (a client may die meanwhile)."""
        self.faults.hold_at = self.faults.requests_seen + k
        self.faults.hold_seconds = seconds

    def drop_ssh_on(self, command: str, applied: bool = True) -> None:
        """Close the SSH connection at the first command starting with `command` (e.g. "commit")."""
        self.faults.drop_command = command
        self.faults.drop_applied = applied

    def slow(self, seconds: float) -> None:
        """Wait this long before each SSH answer and each API answer (0 turns it off)."""
        self.faults.delay = seconds

    def clear_faults(self) -> None:
        seen = self.faults.requests_seen
        self.faults = Faults(requests_seen=seen)
        self._apply_transport_faults()

    def serve_wrong_host_key(self, on: bool = True) -> None:
        """Serve an SSH host key other than the one in known_hosts (new connections only)."""
        self.faults.wrong_host_key = on
        self._apply_transport_faults()

    def api_unreachable(self, on: bool = True) -> None:
        """Stop (or resume) listening on the API port: connections are refused."""
        self.faults.api_unreachable = on
        self._apply_transport_faults()

    def next_request(self, command: str, ssh: bool) -> tuple[str | None, float]:
        """Count a request; return the fault planned for it ("refuse", "drop" or "lose", None) and how long
        to hold it first."""
        with self.lock:
            f = self.faults
            f.requests_seen += 1
            n = f.requests_seen
            hold = f.hold_seconds if f.hold_at == n else 0.0
            if f.refuse_at == n:
                f.refuse_at = None
                return "refuse", hold
            by_command = ssh and f.drop_command and command.strip().startswith(f.drop_command)
            if f.drop_after == n or by_command:
                if by_command:
                    f.drop_command = None
                else:
                    f.drop_after = None
                return ("lose" if f.drop_applied else "drop"), hold
        return None, hold

    # ------------------------------------------------------------------ serving
    def info(self) -> dict:
        """How to reach the router (the "vyos" part of `tenctl lab status --json`)."""
        return {
            "host": self.host,
            "ssh_port": self.ssh_port,
            "api_port": self.api_port,
            "user": self.user,
            "password": self.password,
            "api_key": self.api_key,
            "ca_file": self.ca_file,
            "known_hosts": str(self.known_hosts_file) if self.known_hosts_file else None,
        }

    async def start(
        self,
        host: str = "127.0.0.1",
        ssh_port: int = 0,
        api_port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        """Serve SSH and (with a certificate) the HTTPS API on host; ports 0 let the system pick."""
        import asyncio

        from .api import ApiServer
        from .ssh import SshServer

        self.host = host
        self.ca_file = certfile
        self._loop = asyncio.get_running_loop()
        self._ssh = SshServer(self)
        self.ssh_port = await self._ssh.start(host, ssh_port)
        if certfile:
            self._api = ApiServer(self, certfile, keyfile)
            self.api_port = await self._api.start(host, api_port)

    async def stop(self) -> None:
        with self.lock:
            self._cancel_confirm_timer()
        if self._ssh:
            await self._ssh.stop()
        if self._api:
            await self._api.stop()

    def _apply_transport_faults(self) -> None:
        """Restart listeners whose fault state changed, on the router's event loop."""
        loop = getattr(self, "_loop", None)
        if loop is None:
            return
        import asyncio

        async def apply():
            if self._ssh:
                await self._ssh.use_wrong_key(self.faults.wrong_host_key)
            if self._api:
                await self._api.set_reachable(not self.faults.api_unreachable)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(apply())
        else:
            asyncio.run_coroutine_threadsafe(apply(), loop).result(10)


def _put(tree: dict, unit: tuple, value) -> None:
    node = tree
    for key in unit[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(unit[-1], None)
    else:
        node[unit[-1]] = copy_tree(value)


def _address_owners(cfg: dict) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for name, body in cfg.get("interfaces", {}).get("ethernet", {}).items():
        for ifname, iface in [(name, body)] + [
            (f"{name}.{v}", sub) for v, sub in body.get("vif", {}).items()
        ]:
            for address in iface.get("address", []):
                owners.setdefault(address.split("/")[0], set()).add(ifname)
    return owners


__all__ = ["CommitFailed", "ConfigSession", "EditError", "VyosRouter", "factory_config"]
