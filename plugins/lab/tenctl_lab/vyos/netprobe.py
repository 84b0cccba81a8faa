"""Network probes run inside a network namespace by :mod:`tenctl_lab.vyos.dataplane`.

The data plane checks reachability from namespaces that hold nothing but an interface, so each probe is
this one file run as ``ip netns exec NS python -I -S netprobe.py MODE ...``: standard library only (no
site, no tenctl import, about 15 ms a start), and no dependency on ``ping`` or ``nc``, which minimal
machines lack. Every probe ends on its own: a reply, or the timeout it was given.

Modes (exit status 0 when the probe got what it looked for, 1 when it did not)::

    echo ADDRESS TIMEOUT          one ICMP echo request, as ``ping -c1 -W TIMEOUT`` (needs root)
    connect ADDRESS PORT TIMEOUT  a TCP connection; prints the line the server sends
    serve ADDRESS PORT            a TCP server: prints "ready", then sends each client its own address
    listen PORT TIMEOUT           prints "ready", then the source address of the first UDP datagram
    send SOURCE ADDRESS PORT      one UDP datagram from SOURCE (which must be an address of the namespace)
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

ECHO_REQUEST, ECHO_REPLY = 8, 0
PAYLOAD = b"tenctl-dataplane-probe"


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) an ICMP header carries."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo(address: str, timeout: float) -> bool:
    """Send one echo request and wait for the reply from that address with our identifier.

    A raw socket sees every ICMP packet of the namespace (our own request to a local address, errors,
    other probes' replies), so anything but our echo reply is skipped until the deadline."""
    ident = os.getpid() & 0xFFFF
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, 1)
    packet = struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + PAYLOAD), ident, 1) + PAYLOAD
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        try:
            sock.sendto(packet, (address, 0))
        except OSError:
            return False  # no route: unreachable, as ping would say
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (source, _) = sock.recvfrom(2048)
            except TimeoutError:
                return False
            start = (data[0] & 0x0F) * 4  # past the IP header
            kind, _, _, reply_ident, _ = struct.unpack("!BBHHH", data[start : start + 8])
            if kind == ECHO_REPLY and reply_ident == ident and source == address:
                return True
    return False


def connect(address: str, port: int, timeout: float) -> str | None:
    """The line a TCP server at address:port sends, or None when no connection is made in time."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return sock.makefile("r").readline().strip() or None
    except OSError:
        return None


def serve(address: str, port: int) -> None:
    """Tell every client the address its connection came from: what this side of the network saw."""
    with socket.create_server((address, port)) as server:
        print("ready", flush=True)
        while True:
            conn, (peer, _) = server.accept()
            with conn:
                conn.sendall(f"{peer}\n".encode())


def listen(port: int, timeout: float) -> str | None:
    """The source address of the first UDP datagram to port, or None when none comes in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", port))  # noqa: S104 - a probe inside a throw-away namespace
        sock.settimeout(timeout)
        print("ready", flush=True)
        try:
            _, (source, _) = sock.recvfrom(2048)
        except TimeoutError:
            return None
        return source


def send(source: str, address: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(PAYLOAD, (address, port))


def main(argv: list[str]) -> int:
    mode, *args = argv
    if mode == "echo":
        return 0 if echo(args[0], float(args[1])) else 1
    if mode == "connect":
        line = connect(args[0], int(args[1]), float(args[2]))
        print(line or "")
        return 0 if line else 1
    if mode == "serve":
        serve(args[0], int(args[1]))
        return 0
    if mode == "listen":
        seen = listen(int(args[0]), float(args[1]))
        print(seen or "", flush=True)
        return 0 if seen else 1
    if mode == "send":
        send(args[0], args[1], int(args[2]))
        return 0
    print(f"netprobe: unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
