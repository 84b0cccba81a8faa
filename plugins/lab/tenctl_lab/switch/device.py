"""The lab's Arista EOS switch: a running configuration, flash files (startup-config among them),
configuration sessions with commit timers, faults for tests, and a log of what clients asked.

The model is transport-free: :mod:`.cli` runs the commands of one eAPI request on it, :mod:`.eapi` serves
eAPI (JSON-RPC ``runCmds`` at ``POST /command-api``) over HTTPS; ``start()`` imports that module (and
aiohttp), not this one. All methods may be called from any thread: one lock guards the state, and a whole
eAPI request runs under it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
import threading
import time
from pathlib import Path

from ..passwords import password_matches
from ..peerlog import RequestLog
from .config import CliError, ConfigEditor, Port, SwitchConfig, Vlan, parse_config, render

MAX_OPEN_SESSIONS = 5  # pending sessions at once, as EOS allows
MAX_SAVED_SESSIONS = 1  # completed sessions EOS keeps listing
FLASH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def factory_config(
    hostname: str,
    ethernet_ports: int = 8,
    trunk_ports: tuple[str, ...] = ("Ethernet1", "Ethernet2"),
    vlans: dict[int, str] | None = None,
) -> SwitchConfig:
    """A switch as the lab ships it: its hostname, the given VLANs (id -> name) and trunk ports that carry
    VLAN 1 and those VLANs (the VLANs a site already uses, which a tenant push must not take away)."""
    cfg = SwitchConfig.clean(ethernet_ports)
    cfg.hostname = hostname
    for vid, name in (vlans or {}).items():
        cfg.vlans[int(vid)] = Vlan(name=name)
    for name in trunk_ports:
        cfg.ports[name] = Port(
            description="proxmox trunk", mode="trunk", allowed=frozenset({1, *map(int, vlans or {})})
        )
    return cfg


@dataclasses.dataclass
class ConfigSession:
    """A configuration session: its own copy of the whole configuration, committed as a whole."""

    name: str
    config: SwitchConfig
    state: str = "pending"  # pending | pendingCommitTimer | completed
    before: SwitchConfig | None = None  # the running config a commit timer restores
    commit_by: float | None = None  # the switch's uptime when the timer runs out
    completed_time: float | None = None
    timer: threading.Timer | None = None


@dataclasses.dataclass
class Faults:
    """What the switch does wrong on purpose (see EosSwitch's fault methods). A request is one eAPI call
    that passed authentication."""

    fail_commit: str | None = None
    refuse_at: int | None = None  # answered with an eAPI error, nothing run
    refuse_message: str = ""
    drop_at: int | None = None  # the connection closes before anything runs
    lose_at: int | None = None  # the commands run, then the connection closes without an answer
    hold_at: int | None = None  # waits hold_seconds before anything runs
    hold_seconds: float = 0.0
    delay: float = 0.0  # before every answer
    unreachable: bool = False
    requests_seen: int = 0


class EosSwitch(RequestLog):
    """A simulated Arista EOS switch (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        user: str = "admin",
        password: str = "admin",  # noqa: S107 - the lab passes a generated one
        *,
        site: str | None = None,
        ethernet_ports: int = 8,
        trunk_ports: tuple[str, ...] = ("Ethernet1", "Ethernet2"),
        vlans: dict[int, str] | None = None,
        connected_ports: tuple[str, ...] | None = None,
        enable_secret: str | None = None,
        state_dir: Path | str | None = None,
        log_path: Path | str | None = None,
        model: str = "cEOSLab",
        version: str = "4.30.1F",
        timer_scale: float = 1.0,
    ):
        self.name = name
        self.site = site
        self.user = user
        self.password = password
        self.enable_secret = enable_secret
        self.ethernet_ports = ethernet_ports
        self.trunk_ports = tuple(trunk_ports)
        # Ports with a link (up/connected); the others are notconnect. Default: the trunk ports.
        self.connected = set(connected_ports if connected_ports is not None else trunk_ports)
        self.model = model
        self.version = version
        digest = hashlib.sha256(name.encode()).hexdigest()
        self.serial = digest[:32].upper()
        self.mac_base = "00:1c:73:" + ":".join(digest[i : i + 2] for i in (32, 34))
        self.timer_scale = timer_scale  # how long a second of a commit timer lasts here
        self.state_dir = Path(state_dir) if state_dir else None
        self.lock = threading.RLock()
        self.init_request_log(log_path)
        self.faults = Faults()
        self.commits = 0
        self.sessions: dict[str, ConfigSession] = {}
        self.boot_time = time.time()
        self._boot_clock = time.monotonic()
        self.flash: dict[str, str] = self._read_flash()
        if "startup-config" in self.flash:
            self.running = parse_config(self.flash["startup-config"], ethernet_ports)
        else:
            self.running = factory_config(name, ethernet_ports, self.trunk_ports, vlans)
            self.flash["startup-config"] = self.file_text(self.running)
            self._write_flash("startup-config")
        self.startup_saved = time.time()
        self.host: str | None = None
        self.port: int | None = None
        self.ca_file: str | None = None
        self._server = None
        self._loop = None

    # ------------------------------------------------------------------ reading
    def accepts_login(self, user: str, password: str) -> bool:
        """EOS checks a login against the running ``username <user> secret``. A switch whose configuration
        names no user is the lab's factory state: it takes the user and password it was built with."""
        with self.lock:
            users = dict(self.running.users)
        if not users:
            return user == self.user and password == self.password
        stored = users.get(user)
        return stored is not None and password_matches(password, stored)

    def uptime(self) -> float:
        return time.monotonic() - self._boot_clock

    def config_text(self, cfg: SwitchConfig, command: str = "show running-config") -> str:
        """A configuration as EOS prints it for `command`."""
        return f"! Command: {command}\n" + self.file_text(cfg)

    def file_text(self, cfg: SwitchConfig) -> str:
        """A configuration as a file on flash holds it (startup-config, a rollback copy)."""
        return "\n".join(self._body(cfg)) + "\n"

    def _body(self, cfg: SwitchConfig) -> list[str]:
        return render(cfg, [f"! device: {cfg.hostname} ({self.model}, EOS-{self.version})"])

    def running_copy(self) -> SwitchConfig:
        with self.lock:
            return self.running.copy()

    def running_config(self) -> str:
        """`show running-config`."""
        return self.config_text(self.running_copy())

    def startup_config(self) -> str | None:
        """The startup-config file (what `write memory` saved), without the header `show` adds."""
        with self.lock:
            return self.flash.get("startup-config")

    def show_startup_config(self) -> str:
        """`show startup-config`."""
        with self.lock:
            text = self.read_location("startup-config")
            when = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self.startup_saved))
        return (
            f"! Command: show startup-config\n! Startup-config last modified at  {when} by {self.user}\n"
            + text
        )

    def vlans(self) -> dict[int, dict]:
        """The VLANs as the switch holds them: {id: {"name", "status", "interfaces"}} (interfaces: the ports
        that carry the VLAN, connected or not)."""
        cfg = self.running_copy()
        return {
            vid: {
                "name": vlan.display_name(vid),
                "status": "active" if vlan.state == "active" else "suspended",
                "interfaces": cfg.vlan_members(vid),
            }
            for vid, vlan in sorted(cfg.vlans.items())
        }

    def trunk_allowed(self, port: str) -> set[int]:
        """The VLANs a port's trunk allows."""
        with self.lock:
            return set(self.running.ports[port].allowed)

    def port_config(self, name: str) -> Port:
        with self.lock:
            return dataclasses.replace(self.running.ports[name])

    def session_states(self) -> dict[str, str]:
        with self.lock:
            return {name: s.state for name, s in self.sessions.items()}

    # ------------------------------------------------------------------ sessions
    def enter_session(self, name: str) -> ConfigSession:
        """`configure session NAME`: the session, made from the running config if it is new."""
        with self.lock:
            session = self.sessions.get(name)
            if session is None:
                if sum(s.state == "pending" for s in self.sessions.values()) >= MAX_OPEN_SESSIONS:
                    raise CliError(
                        CliError.FAILED,
                        "Maximum number of pending sessions has been reached. "
                        "Please commit or abort one of the pending sessions",
                    )
                session = ConfigSession(name, self.running.copy())
                self.sessions[name] = session
            elif session.state != "pending":
                # Modelled: EOS refuses to re-enter a session that waits on its commit timer or is done.
                raise CliError(CliError.FAILED, f"Cannot enter session {name} (state {session.state})")
            return session

    def session_config_text(self, name: str) -> str:
        with self.lock:
            session = self._existing(name)
            return self.config_text(session.config, f"show session-config named {name}")

    def session_diff(self, name: str) -> str:
        """`show session-config named NAME diffs`: a unified diff of the running config to the session's."""
        with self.lock:
            session = self._existing(name)
            running, candidate = self._body(self.running), self._body(session.config)
        lines = list(difflib.unified_diff(running, candidate, lineterm="", n=3))
        if not lines:
            return ""
        head = ["--- system:/running-config", f"+++ session:/{name}-session-config"]
        return "\n".join(head + lines[2:]) + "\n"

    def clean_session(self, name: str) -> None:
        """`rollback clean-config` in a session: start it again from the factory defaults."""
        with self.lock:
            session = self._existing(name)
            session.config = SwitchConfig.clean(self.ethernet_ports)

    def _existing(self, name: str) -> ConfigSession:
        session = self.sessions.get(name)
        if session is None:
            raise CliError(CliError.FAILED, f"Session {name} does not exist")  # modelled wording
        return session

    def commit_session(self, name: str, timer_seconds: float | None = None) -> None:
        """`commit` (or `commit timer`) of a session: its configuration becomes the running one.

        With a timer the switch restores the previous running config unless the session is committed again
        in time; committing a session that waits on its timer confirms it."""
        with self.lock:
            session = self._existing(name)
            if session.state == "completed":
                raise CliError(CliError.FAILED, f"Session {name} has already been committed")
            waiting = self._timer_session()
            if waiting is not None and waiting is not session:
                # Modelled wording: a pending commit timer blocks every other commit.
                raise CliError(
                    CliError.FAILED,
                    f"Cannot commit session {name}: session {waiting.name} is pending commit timer",
                )
            if self.faults.fail_commit is not None:
                message, self.faults.fail_commit = self.faults.fail_commit, None
                raise CliError(CliError.FAILED, message)
            if session.state == "pendingCommitTimer":
                self._cancel_timer(session)
                if timer_seconds is None:
                    self._complete(session)
                else:
                    self._arm_timer(session, timer_seconds)
                return
            previous = self.running
            self.running = session.config.copy()
            self.commits += 1
            if timer_seconds is None:
                self._complete(session)
            else:
                session.state = "pendingCommitTimer"
                session.before = previous
                self._arm_timer(session, timer_seconds)

    def abort_session(self, name: str) -> None:
        """`abort`: forget a pending session; one waiting on its commit timer is rolled back now."""
        with self.lock:
            session = self.sessions.get(name)
            # Modelled: aborting a session that does not exist (any more) is not an error.
            if session is None or session.state == "completed":
                return
            if session.state == "pendingCommitTimer":
                self._cancel_timer(session)
                self.running = session.before
                self.commits += 1
            del self.sessions[name]

    def _complete(self, session: ConfigSession) -> None:
        session.state = "completed"
        session.before = None
        session.commit_by = None
        session.completed_time = time.time()
        completed = [s for s in self.sessions.values() if s.state == "completed"]
        completed.sort(key=lambda s: s.completed_time or 0)
        for old in completed[:-MAX_SAVED_SESSIONS]:
            del self.sessions[old.name]

    def _timer_session(self) -> ConfigSession | None:
        for session in self.sessions.values():
            if session.state == "pendingCommitTimer":
                return session
        return None

    # ------------------------------------------------------------------ commit timer
    def _arm_timer(self, session: ConfigSession, seconds: float) -> None:
        session.commit_by = self.uptime() + seconds
        timer = threading.Timer(seconds * self.timer_scale, self._timer_ran_out, args=(session,))
        timer.daemon = True
        session.timer = timer
        timer.start()

    def _cancel_timer(self, session: ConfigSession) -> None:
        if session.timer is not None:
            session.timer.cancel()
        session.timer = None

    def _timer_ran_out(self, session: ConfigSession) -> None:
        with self.lock:
            if self.sessions.get(session.name) is not session or session.state != "pendingCommitTimer":
                return
            self.running = session.before
            self.commits += 1
            del self.sessions[session.name]
        self.log("timer", command="commit timer", session=session.name, outcome="rolled back")

    def commit_timer_pending(self) -> str | None:
        """The session whose commit timer runs, if any."""
        with self.lock:
            session = self._timer_session()
            return session.name if session else None

    def fire_commit_timer(self) -> bool:
        """For tests: let a running commit timer run out now; returns whether one was running."""
        with self.lock:
            session = self._timer_session()
            if session is None:
                return False
            self._cancel_timer(session)
            self._timer_ran_out(session)
            return True

    # ------------------------------------------------------------------ files
    def _file_name(self, location: str) -> str | None:
        """flash:NAME, flash:/NAME or startup-config -> the file's name on flash (None if not a file)."""
        if location == "startup-config":
            return "startup-config"
        if location.startswith("flash:"):
            name = location[len("flash:") :].lstrip("/")
            return name if FLASH_NAME.fullmatch(name) else None
        return None

    def read_location(self, location: str) -> str:
        with self.lock:
            if location == "running-config":
                return self.file_text(self.running)
            name = self._file_name(location)
            if name is None or name not in self.flash:
                raise CliError(CliError.FAILED, f"Error opening {location} (No such file or directory)")
            return self.flash[name]

    def copy(self, source: str, destination: str) -> str:
        """`copy SOURCE DESTINATION` between running-config, startup-config and flash: files."""
        with self.lock:
            name = self._file_name(destination)
            if name is None:
                raise CliError(CliError.FAILED, f"Cannot copy to {destination} on the lab switch")
            if source not in ("running-config", "startup-config") and self._file_name(source) is None:
                raise CliError(CliError.FAILED, f"Cannot copy from {source} on the lab switch")
            try:
                text = self.read_location(source)
            except CliError:
                raise CliError(
                    CliError.FAILED, f"Error copying {source} to {destination} (No such file or directory)"
                ) from None
            self.flash[name] = text
            if name == "startup-config":
                self.startup_saved = time.time()
            self._write_flash(name)
            return "Copy completed successfully."

    def write_memory(self) -> str:
        """`write memory` (`copy running-config startup-config`)."""
        return self.copy("running-config", "startup-config")

    def configure_replace(self, source: str) -> None:
        """`configure replace SOURCE`: the file, parsed, becomes the running configuration."""
        with self.lock:
            text = self.read_location(source)
            try:
                cfg = parse_config(text, self.ethernet_ports)
            except CliError as exc:
                raise CliError(CliError.FAILED, f"Configuration replace failed: {exc.errors[0]}") from None
            self.running = cfg
            self.commits += 1

    def _read_flash(self) -> dict[str, str]:
        files: dict[str, str] = {}
        if self.state_dir and (self.state_dir / "flash").is_dir():
            for path in (self.state_dir / "flash").iterdir():
                if path.is_file() and FLASH_NAME.fullmatch(path.name):
                    files[path.name] = path.read_text(encoding="utf-8")
        return files

    def _write_flash(self, name: str) -> None:
        if not self.state_dir:
            return
        folder = self.state_dir / "flash"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.flash[name])
        os.replace(tmp, folder / name)

    # ------------------------------------------------------------------ for tests
    def configure(self, *lines: str) -> None:
        """Configuration lines applied to the running config at once, as `configure` (terminal) does;
        raises CliError for a line EOS would refuse (the lines before it stay applied)."""
        with self.lock:
            editor = ConfigEditor(self.running)
            for line in lines:
                if not editor.run(line):
                    editor = ConfigEditor(self.running)
            self.commits += 1

    def reboot(self) -> None:
        """Running config from startup-config again; sessions and timers are gone."""
        with self.lock:
            for session in self.sessions.values():
                self._cancel_timer(session)
            self.sessions.clear()
            self.running = parse_config(self.flash["startup-config"], self.ethernet_ports)
            self.boot_time = time.time()
            self._boot_clock = time.monotonic()

    # ------------------------------------------------------------------ faults
    def fail_next_commit(self, message: str = "Commit failed: refused by the tenctl lab (fault)") -> None:
        """The next session commit (with or without timer, or its confirmation) is refused with this EOS error;
        nothing of it is applied and the session stays pending."""
        self.faults.fail_commit = message

    def refuse_nth(
        self, k: int, message: str = "Internal error: the lab switch refused this request"
    ) -> None:
        """The k-th request from now (1 = the next) gets an eAPI error answer; none of its commands run."""
        self.faults.refuse_at = self.faults.requests_seen + k
        self.faults.refuse_message = message

    def drop_nth(self, k: int) -> None:
        """The connection of the k-th request from now closes without an answer before its commands run."""
        self.faults.drop_at = self.faults.requests_seen + k

    def lose_nth(self, k: int) -> None:
        """The k-th request from now runs, then its connection closes without an answer."""
        self.faults.lose_at = self.faults.requests_seen + k

    def hold_nth(self, k: int, seconds: float) -> None:
        """The k-th request from now waits `seconds` before its commands run (counted in `holding`)."""
        self.faults.hold_at = self.faults.requests_seen + k
        self.faults.hold_seconds = seconds

    def slow(self, seconds: float) -> None:
        """Wait this long before every answer (0 turns it off)."""
        self.faults.delay = seconds

    def unreachable(self, on: bool = True) -> None:
        """Stop (or resume) listening: connections are refused, on the same port afterwards."""
        self.faults.unreachable = on
        self._apply_listening()

    def clear_faults(self) -> None:
        self.faults = Faults(requests_seen=self.faults.requests_seen)
        self._apply_listening()

    def next_request(self) -> tuple[str | None, float]:
        """Count a request; return the fault planned for it ("refuse", "drop", "lose" or None) and how long
        to hold it first."""
        with self.lock:
            f = self.faults
            f.requests_seen += 1
            n = f.requests_seen
            hold = f.hold_seconds if f.hold_at == n else 0.0
            for fault, at in (("refuse", f.refuse_at), ("drop", f.drop_at), ("lose", f.lose_at)):
                if at == n:
                    setattr(f, f"{fault}_at", None)
                    return fault, hold
        return None, hold

    def log_fields(self) -> dict:
        return {"switch": self.name}

    # ------------------------------------------------------------------ serving
    def info(self) -> dict:
        """How to reach the switch (one entry of `switches` in `tenctl lab status --json`)."""
        return {
            "name": self.name,
            "site": self.site,
            "driver": "eos",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "trunk_ports": list(self.trunk_ports),
            "ca_file": self.ca_file,
        }

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, certfile: str = "", keyfile: str = ""
    ) -> None:
        """Serve eAPI over HTTPS with the given certificate on host (port 0: the system picks one)."""
        import asyncio

        from .eapi import EapiServer

        self.host = host
        self.ca_file = certfile
        self._loop = asyncio.get_running_loop()
        self._server = EapiServer(self, certfile, keyfile)
        self.port = await self._server.start(host, port)

    async def stop(self) -> None:
        with self.lock:
            for session in self.sessions.values():
                self._cancel_timer(session)
        if self._server is not None:
            await self._server.stop()

    def _apply_listening(self) -> None:
        """Open or close the listener on the switch's event loop to match the unreachable fault."""
        loop = self._loop
        if loop is None or self._server is None:
            return
        import asyncio

        coro = self._server.set_reachable(not self.faults.unreachable)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).result(10)


__all__ = ["ConfigSession", "EosSwitch", "factory_config"]
