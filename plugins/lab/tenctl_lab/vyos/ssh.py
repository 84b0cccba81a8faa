"""The lab router's SSH side (asyncssh): password login, an echoing line editor, VyOS's shell.

The host key is kept in the lab directory (made once), and a known_hosts line is written for it, so that
clients can check the key strictly. The wrong-host-key fault restarts the listener, on the same port, with
another key.
"""

from __future__ import annotations

import asyncio
import logging

import asyncssh

from ..passwords import masked
from .router import VyosRouter
from .shell import Shell

BANNER = "Welcome to VyOS!\n\n   The lab's simulated router (tenctl lab).\n\n"

logger = logging.getLogger("tenctl_lab.vyos")


class _Auth(asyncssh.SSHServer):
    def __init__(self, router: VyosRouter):
        self.router = router

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = self.router.accepts_login(username, password)
        if not ok:
            self.router.log("ssh", command="(login)", user=username, outcome="refused")
        return ok


class SshServer:
    def __init__(self, router: VyosRouter):
        self.router = router
        self.host = "127.0.0.1"
        self.port = 0
        self._server = None
        self._wrong = False
        self._key = self._load_or_make_key()
        self._other_key = asyncssh.generate_private_key("ssh-ed25519")

    def _load_or_make_key(self):
        path = self.router.host_key_file
        if path is None:
            return asyncssh.generate_private_key("ssh-ed25519")
        if path.exists():
            return asyncssh.read_private_key(str(path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)
        return key

    def known_hosts_line(self) -> str:
        public = self._key.export_public_key("openssh").decode().strip()
        return f"[{self.host}]:{self.port} {public}\n"

    async def start(self, host: str, port: int = 0) -> int:
        self.host = host
        await self._listen(port)
        path = self.router.known_hosts_file
        if path is not None:
            path.write_text(self.known_hosts_line(), encoding="utf-8")
        return self.port

    async def _listen(self, port: int) -> None:
        self._server = await asyncssh.create_server(
            lambda: _Auth(self.router),
            self.host,
            port,
            server_host_keys=[self._other_key if self._wrong else self._key],
            process_factory=self._run_shell,
            line_editor=True,
            encoding="utf-8",
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def use_wrong_key(self, wrong: bool) -> None:
        if wrong == self._wrong or self._server is None:
            self._wrong = wrong
            return
        self._wrong = wrong
        port = self.port
        await self.stop()
        await self._listen(port)

    async def _run_shell(self, process) -> None:
        router = self.router
        shell = Shell(router)
        process.stdout.write(BANNER + shell.prompt)
        try:
            while True:
                try:
                    line = await process.stdin.readline()
                except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, asyncssh.SignalReceived):
                    continue
                if not line:
                    break
                command = line.rstrip("\r\n")
                if not command.strip():
                    process.stdout.write(shell.prompt)
                    continue
                fault, hold = router.next_request(command, ssh=True)
                if hold:
                    await router.hold(hold)
                if fault is not None:
                    if fault == "lose":
                        shell.handle(command)
                    router.log(
                        "ssh", command=masked(command), outcome="dropped after applying" if fault == "lose" else "dropped"
                    )
                    process.channel.get_connection().abort()
                    return
                reply = shell.handle(command)
                router.log("ssh", command=masked(command), outcome="failed" if reply.failed else "ok")
                if router.faults.delay:
                    await asyncio.sleep(router.faults.delay)
                text = reply.output
                if reply.logout:
                    if text:
                        process.stdout.write(text + "\n")
                    process.exit(0)
                    return
                prompt = shell.prompt
                if text and prompt:
                    text += "\n"
                process.stdout.write(text + prompt)
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            return
        process.exit(0)
