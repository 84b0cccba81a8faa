"""The two ways to the router: SSH through netmiko's ``vyos`` driver, and the VyOS HTTPS API.

Both give the same three operations: read the running configuration (as ``set`` paths), change it with
one batch of ``set``/``delete`` lines (committed together, verified, saved), and say which version the
router runs. One session per command: the connection is opened at the first use and kept in the
command's context. netmiko and requests are imported only here, when a router is touched.

SSH: the stock netmiko flow (``send_config_set``, ``commit``, ``save_config``) waits for two seconds of
silence at every step to find out where it is. Here each command is written and the answer read up to
the prompt, matched by pattern; a change's lines go out in one write. A change is committed with
``commit-confirm`` when configured: the router rolls it back by itself unless ``confirm`` follows, and
``confirm`` is sent only once the running configuration, read back, shows the change.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import TenctlError
from tenctl_vyos.model import parse_lines, tree_lines
from tenctl_vyos.settings import VyosSettings, read_secret

if TYPE_CHECKING:
    from tenctl_core.context import Context

log = logging.getLogger("tenctl.vyos")
ROUTER_ERRORS = re.compile(
    r"(Set failed|Delete failed|Commit failed|is not valid|Invalid command|Nothing to delete|Error:)", re.I
)
Verify = Callable[[list[list[str]]], None]
Window = Callable[[int], None]
"""Told the minutes of a confirm window just before ``commit-confirm`` opens it, and 0 once ``confirm``
closed it: the provider keeps that in the tenant's record, so that ``repair`` can close a window a killed
command left open."""


class RouterError(TenctlError):
    """The router refused a change or could not be reached; the message keeps VyOS's own words."""


class RouterUnreachable(RouterError):
    """No session: the change was not sent (or its outcome is unknown, when the session was lost)."""


class Router:
    """What the provider needs of a transport."""

    def running(self) -> list[list[str]]:
        raise NotImplementedError

    def change(self, lines: list[str], verify: Verify, confirm: bool = True, window: Window | None = None) -> None:
        """Send the lines as one commit, verify the running configuration, save. ``confirm``: commit with
        the confirm window (SSH) so that a change that fails verification rolls back by itself; undo and
        recovery commit plainly."""
        raise NotImplementedError

    def confirm(self) -> None:
        """Close a confirm window that may be open (``confirm``): what runs now stays. Nothing to do where
        the transport opens no window."""

    def version(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


def router(ctx: Context, settings: VyosSettings) -> Router:
    """The command's one session with the router (opened on first use)."""
    key = "vyos:router"
    if key not in ctx.cache:
        ctx.cache[key] = SshRouter(settings) if settings.transport == "ssh" else ApiRouter(settings)
    found: Router = ctx.cache[key]
    return found


# ----------------------------------------------------------------------------------------------- SSH


class SshRouter(Router):
    def __init__(self, settings: VyosSettings) -> None:
        self.settings = settings
        self._conn: Any = None
        self.prompt_re: re.Pattern[str] | None = None

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

        s = self.settings
        if not s.verify_host_key:
            log.warning("SSH host key of the VyOS router %s is not verified (vyos.verify_host_key = false)", s.host)
        options: dict[str, Any] = {
            "host": s.host,
            "port": s.ssh_port,
            "username": s.user,
            "password": read_secret(s, "password"),
            "timeout": s.timeout,
            "conn_timeout": s.timeout,
            "auth_timeout": s.timeout,
            # Unverified means no known key is loaded at all: paramiko refuses a key that differs from a
            # loaded one whatever the policy for unknown hosts.
            "ssh_strict": s.verify_host_key,
            "system_host_keys": s.verify_host_key and not s.known_hosts_file,
            "alt_host_keys": s.verify_host_key and bool(s.known_hosts_file),
            "alt_key_file": (s.known_hosts_file or "") if s.verify_host_key else "",
            "use_keys": False,
            "allow_agent": False,
            "fast_cli": True,
        }
        try:
            self._conn = fast_vyos_driver()(**options)
        except NetmikoAuthenticationException:
            raise RouterUnreachable(f"the VyOS router {s.host} refused the login of {s.user}") from None
        except NetmikoTimeoutException as exc:
            # netmiko reports paramiko's host-key refusals as timeouts; their text tells them apart.
            text = str(exc)
            if "does not match" in text or "not found in known_hosts" in text:
                raise RouterUnreachable(
                    f"refusing the VyOS router {s.host}:{s.ssh_port}: its host key is not the known one "
                    f"({s.known_hosts_file or '~/.ssh/known_hosts'})",
                    hint="check the router's key; if it really changed, update the known_hosts file",
                ) from None
            raise RouterUnreachable(f"cannot reach the VyOS router at {s.host}:{s.ssh_port}") from None
        except Exception as exc:  # paramiko's host-key and socket errors
            raise RouterUnreachable(
                f"cannot open an SSH session with the VyOS router {s.host}:{s.ssh_port}: {type(exc).__name__}"
                + (": its host key is not the known one" if "key" in str(exc).lower() else "")
            ) from None
        return self._conn

    def _command(self, command: str, prompt: str = r"[$#]\s*$") -> str:
        """Write one command and read its answer up to the next prompt (matched, not waited for)."""
        conn = self._connect()
        try:
            conn.write_channel(command + "\n")
        except Exception as exc:
            raise RouterUnreachable(
                f"lost the SSH session with the VyOS router during {command.split()[0]!r}: {type(exc).__name__}"
            ) from None
        return self._read_until(prompt, command)

    def _read_until(self, prompt: str, command: str, count: int = 1) -> str:
        """Read until `prompt` has matched `count` times; a closed session is noticed at once, not after
        the timeout (netmiko's reads take a closed channel for a quiet one)."""
        import time

        conn = self._connect()
        channel = conn.remote_conn
        pattern = re.compile(prompt, re.M)
        deadline = time.monotonic() + self.settings.timeout
        output = ""
        while True:
            try:
                output += conn.read_channel()
                closed = channel.closed or channel.eof_received
            except Exception:
                closed = True
            if len(pattern.findall(output)) >= count:
                return output
            if closed or time.monotonic() > deadline:
                self._conn = None
                raise RouterUnreachable(
                    f"lost the SSH session with the VyOS router during {command.split()[0]!r}"
                    + ("" if closed else " (no answer in time)")
                )
            time.sleep(0.002)

    def running(self) -> list[list[str]]:
        output = self._command("show configuration commands", prompt=r"\$\s*$")
        return parse_lines(output.splitlines())

    def version(self) -> str:
        output = self._command("show version", prompt=r"\$\s*$")
        match = re.search(r"^Version:[ \t]*(\S.*?)\s*$", output, re.M)
        return match.group(1) if match else "unknown"

    def change(self, lines: list[str], verify: Verify, confirm: bool = True, window: Window | None = None) -> None:
        config_prompt = r"#\s*$"
        entered = self._command("configure", prompt=config_prompt)
        prompt_text = (entered.rstrip().splitlines() or ["#"])[-1].strip()
        try:
            conn = self._connect()
            conn.write_channel("".join(line + "\n" for line in lines))
            output = self._read_until(re.escape(prompt_text), lines[0], count=len(lines))
            problem = ROUTER_ERRORS.search(output)
            if problem:
                raise RouterError(f"the router refused the change: {_error_text(output)}")
            minutes = self.settings.commit_confirm_minutes if confirm else 0
            command = f"commit-confirm {minutes}" if minutes else "commit"
            if minutes and window:
                window(minutes)
            answer = self._command(command, prompt=r"(#\s*$|\[confirm\]|\[y/N\]|\[Y/n\])")
            if re.search(r"\[confirm\]|\[y/N\]|\[Y/n\]", answer):
                answer += self._command("y", prompt=config_prompt)
            if "Commit failed" in answer or "failed" in answer.lower():
                raise RouterError(f"the router refused the commit: {_error_text(answer)}")
            shown = self._command("run show configuration commands", prompt=config_prompt)
            verify(parse_lines(shown.splitlines()))  # raises: no confirm, the router rolls back
            if minutes:
                self._command("confirm", prompt=config_prompt)
                if window:
                    window(0)
            saved = self._command("save", prompt=config_prompt)
            if "Done" not in saved:
                raise RouterError(f"the router did not save its configuration: {_error_text(saved)}")
        except RouterUnreachable:
            self._conn = None
            raise
        except BaseException:
            self._leave(discard=True)
            raise
        self._leave(discard=False)

    def confirm(self) -> None:
        config_prompt = r"#\s*$"
        self._command("configure", prompt=config_prompt)
        answer = self._command("confirm", prompt=config_prompt)
        log.info("VyOS router %s: confirm: %s", self.settings.host, _error_text(answer))
        self._leave(discard=True)

    def _leave(self, discard: bool) -> None:
        try:
            self._command("exit discard" if discard else "exit", prompt=r"\$\s*$")
        except RouterError:
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.disconnect()
            except Exception:  # noqa: S110 - closing a session that may be gone
                pass
            self._conn = None


def fast_vyos_driver() -> type:
    """netmiko's ``vyos`` driver, preparing the session by prompt pattern: the stock preparation reads
    until two seconds pass without output, at every connection."""
    from netmiko.vyos.vyos_ssh import VyOSSSH

    class FastVyOS(VyOSSSH):  # type: ignore[misc]
        def session_preparation(self) -> None:
            self._test_channel_read(pattern=r"[$#]\s*$")
            self.set_base_prompt()
            self.set_terminal_width(command="set terminal width 512", pattern="terminal")
            self.disable_paging(command="set terminal length 0")
            self.clear_buffer()

        def check_config_mode(self, check_string: str = "#", pattern: str = "", force_regex: bool = False) -> bool:
            self.write_channel(self.RETURN)
            output: str = self.read_until_pattern(pattern=r"[$#]\s*$", read_timeout=10)
            return output.rstrip().endswith(check_string)

    return FastVyOS


def _error_text(output: str) -> str:
    """The router's own error lines, without echo and prompts."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line.strip().endswith(("#", "$")) and not line.startswith(("set ", "delete "))
    ]
    return " / ".join(lines[-6:]) or "no message"


# ----------------------------------------------------------------------------------------------- API


class ApiRouter(Router):
    """The VyOS HTTPS API: one ``/configure`` list per change (applied and committed together, or not at
    all), read back with ``/retrieve``, saved with ``/config-file``."""

    def __init__(self, settings: VyosSettings) -> None:
        self.settings = settings
        self._session: Any = None
        self.base = f"https://{settings.host}:{settings.api_port}"

    def _post(self, endpoint: str, data: Any) -> Any:
        import requests

        s = self.settings
        if self._session is None:
            session = requests.Session()
            session.trust_env = False
            if not s.verify_tls:
                log.warning("TLS of the VyOS API at %s is not verified (vyos.verify_tls = false)", s.host)
            session.verify = (s.ca_file or True) if s.verify_tls else False
            self._session = session
            self._key = read_secret(s, "api_key")
        try:
            answer = self._session.post(
                self.base + endpoint, data={"key": self._key, "data": json.dumps(data)}, timeout=s.timeout
            )
        except requests.exceptions.SSLError:
            raise RouterUnreachable(
                f"the TLS certificate of the VyOS API at {s.host}:{s.api_port} could not be verified"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RouterUnreachable(
                f"lost the connection to the VyOS API at {s.host}:{s.api_port}: {type(exc).__name__}"
            ) from None
        if answer.status_code == 401:
            raise RouterUnreachable("the VyOS API refused the key (vyos.api_key_file)")
        try:
            body = answer.json()
        except ValueError:
            raise RouterError(f"the VyOS API answered {answer.status_code} without JSON") from None
        if not body.get("success"):
            raise RouterError(f"the VyOS API refused {endpoint}: {body.get('error') or answer.reason}")
        return body.get("data")

    def running(self) -> list[list[str]]:
        tree = self._post("/retrieve", {"op": "showConfig", "path": []}) or {}
        return tree_lines(tree)

    def version(self) -> str:
        data = self._post("/show", {"op": "show", "path": ["version"]}) or ""
        match = re.search(r"^Version:[ \t]*(\S.*?)\s*$", str(data), re.M)
        return match.group(1) if match else "unknown"

    def change(self, lines: list[str], verify: Verify, confirm: bool = True, window: Window | None = None) -> None:
        ops = []
        for line in lines:
            verb, _, rest = line.partition(" ")
            ops.append({"op": verb, "path": shlex.split(rest)})
        self._post("/configure", ops)
        verify(self.running())
        self._post("/config-file", {"op": "save"})

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
