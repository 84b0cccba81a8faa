"""Cluster nodes as SSH servers on loopback, for testing what tenctl does to other nodes over SSH.

Each node is an asyncssh server with its own host key, accepting one client key for ``root``, and a
directory that plays its file system root. A command it receives runs as ``sshd`` runs it, with
``bash -c`` (stdin, stdout, stderr and exit status passed through), in the node's own environment:
``TENCTL_NODE`` is its name and ``TENCTL_CONFIG`` the node's copy of the configuration (its root plus
the path the configuration has on the installing node). tenctl addresses a node's files under the root
its target names, so the same commands serve ``/`` on a real node and a directory here.

Every command received is logged (``node.commands``), so a test can count what each node was sent.
asyncssh is imported when the servers start.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


@dataclass
class SshNode:
    name: str
    root: Path
    env: dict[str, str]
    host_key: Any = None
    port: int = 0
    commands: list[str] = field(default_factory=list)

    def public_key_line(self) -> str:
        """The node's known_hosts line, under its name (as Proxmox's /etc/pve/priv/known_hosts has it)."""
        return f"{self.name} {self.host_key.export_public_key('openssh').decode().strip()}"


class SshNodes:
    """Start with :meth:`start`, stop with :meth:`stop`; ``nodes`` by name."""

    def __init__(self, base: Path, names: tuple[str, ...], config_path: str | None = None) -> None:
        import asyncssh

        self.base = base
        self.client_key_file = base / "client_key"
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(self.client_key_file))
        os.chmod(self.client_key_file, 0o600)
        self.authorized_keys = base / "authorized_keys"
        client_key.write_public_key(str(self.authorized_keys))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCTL_")}
        self.nodes: dict[str, SshNode] = {}
        for name in names:
            root = base / name
            root.mkdir(parents=True)
            node_env = dict(env, TENCTL_NODE=name)
            if config_path:
                node_env["TENCTL_CONFIG"] = str(root / config_path.lstrip("/"))
            self.nodes[name] = SshNode(name, root, node_env, asyncssh.generate_private_key("ssh-ed25519"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="ssh-nodes")
        self._servers: list[Any] = []

    def start(self) -> SshNodes:
        self._thread.start()
        for node in self.nodes.values():
            server = asyncio.run_coroutine_threadsafe(self._serve(node), self._loop).result(30)
            self._servers.append(server)
            node.port = server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, node: SshNode) -> Any:
        import asyncssh

        async def handle(process: Any) -> None:
            command = process.command
            if command is None:
                process.stderr.write(b"no interactive shell here\n")
                process.exit(1)
                return
            node.commands.append(command)
            data = await process.stdin.read()
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=node.env,
                cwd=node.root,
            )
            out, err = await proc.communicate(data)
            process.stdout.write(out)
            process.stderr.write(err)
            process.exit(proc.returncode or 0)

        return await asyncssh.create_server(
            asyncssh.SSHServer,
            HOST,
            0,
            server_host_keys=[node.host_key],
            authorized_client_keys=str(self.authorized_keys),
            process_factory=handle,
            encoding=None,
            allow_scp=False,
            sftp_factory=None,
        )

    def known_hosts(self, path: Path, wrong: tuple[str, ...] = ()) -> Path:
        """Write a known_hosts file with every node's key, except the nodes in ``wrong``, which get another
        key (a node whose key changed, or a machine pretending to be it)."""
        import asyncssh

        lines = []
        for node in self.nodes.values():
            if node.name in wrong:
                other = asyncssh.generate_private_key("ssh-ed25519")
                lines.append(f"{node.name} {other.export_public_key('openssh').decode().strip()}")
            else:
                lines.append(node.public_key_line())
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def targets_file(self, path: Path, known_hosts: Path) -> Path:
        """A ``TENCTL_INSTALL_TARGETS`` file: how tenctl reaches each node and where its root is."""
        lines = []
        for node in self.nodes.values():
            lines += [
                f"[nodes.{node.name}]",
                f'host = "{HOST}"',
                f"port = {node.port}",
                f'root = "{node.root}"',
                f'identity_file = "{self.client_key_file}"',
                f'known_hosts = "{known_hosts}"',
                "",
            ]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
                await server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
