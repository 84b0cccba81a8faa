"""An HTTP CONNECT proxy on loopback, for testing what tenctl sends through a configured proxy.

It opens a tunnel for every ``CONNECT host:port`` and relays bytes both ways without looking at them (TLS
runs from the client to the far end, through it), and keeps the target of every request it was asked for
in ``tunnels``, so a test can count what went through it. Anything but CONNECT is answered 405.
"""

from __future__ import annotations

import select
import socket
import threading

HOST = "127.0.0.1"


class CountingProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that relays bytes and counts the tunnels it was asked for."""

    def __init__(self) -> None:
        self.server = socket.create_server((HOST, 0))
        self.port = self.server.getsockname()[1]
        self.tunnels: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True, name="lab-proxy")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while self.running:
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            line = request.split(b"\r\n", 1)[0].decode()
            method, target, _ = line.split(" ", 2)
            self.tunnels.append(target)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(client, upstream)

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        """Bytes both ways until one side closes or resets (a client refusing the far end's certificate
        resets its connection: the tunnel just ends)."""
        pair = [client, upstream]
        try:
            while True:
                ready, _, _ = select.select(pair, [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self.running = False
        self.server.close()
