"""Receivers for tenctl's notifications: a small SMTP server and an HTTP(S) webhook receiver, on loopback.

Both keep everything they receive (the SMTP server also the login, and whether it came over TLS) and let a
test wait, with a timeout, until a number of messages has arrived. The SMTP server speaks what a client
such as smtplib needs: EHLO/HELO, STARTTLS (when given a certificate), AUTH PLAIN and LOGIN (offered only
over TLS, as real servers do), MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP, QUIT. The stdlib's
``smtpd`` is gone since Python 3.12, hence this one.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


class Received:
    """A list that tests can wait on."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.changed = threading.Condition()

    def add(self, item: Any) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Any]:
        """The first `count` items, once they are there; AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.items) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} item(s), received {len(self.items)}"
                self.changed.wait(left)
            return list(self.items[:count])


@dataclass
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    recipients: list[str]
    data: bytes
    login: tuple[str, str] | None
    tls: bool
    login_over_tls: bool = False

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        """The plain-text body, with the wire's CRLF line ends as newlines."""
        return str(self.message.get_content()).replace("\r\n", "\n")


@dataclass
class SmtpSession:
    tls: bool = False
    login: tuple[str, str] | None = None
    login_over_tls: bool = False
    mail_from: str | None = None
    recipients: list[str] = field(default_factory=list)


class SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def read_line(self) -> str | None:
        raw = self.rfile.readline(4096)
        if not raw:
            return None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self) -> None:  # noqa: C901 - one branch per SMTP verb
        session = SmtpSession()
        if self.server.implicit_tls and self.server.tls_context is not None:
            try:
                self.connection = self.server.tls_context.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client did not trust the certificate
            self.rfile = self.connection.makefile("rb")
            self.wfile = self.connection.makefile("wb")
            session = SmtpSession(tls=True)
        self.reply("220 lab-smtp ESMTP ready")
        while True:
            line = self.read_line()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                session.mail_from, session.recipients = None, []
                if verb == "HELO":
                    self.reply("250 lab-smtp")
                    continue
                offers = ["250-lab-smtp", "250-8BITMIME", "250-SMTPUTF8"]
                if self.server.tls_context is not None and not session.tls and not self.server.implicit_tls:
                    offers.append("250-STARTTLS")
                if session.tls or self.server.auth_without_tls:
                    offers.append("250-AUTH PLAIN LOGIN")
                offers[-1] = "250 " + offers[-1][4:]
                for offer in offers:
                    self.reply(offer)
            elif verb == "STARTTLS" and self.server.tls_context is not None and not session.tls:
                self.reply("220 go ahead")
                try:
                    self.connection = self.server.tls_context.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client did not trust the certificate
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb")
                session = SmtpSession(tls=True)
            elif verb == "AUTH":
                if not (session.tls or self.server.auth_without_tls):
                    self.reply("538 encryption required")
                    continue
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self.reply("334 ")
                        initial = self.read_line() or ""
                    _, user, password = base64.b64decode(initial).decode("utf-8").split("\0")
                elif mechanism.upper() == "LOGIN":
                    if initial:
                        user = base64.b64decode(initial).decode("utf-8")
                    else:
                        self.reply("334 " + base64.b64encode(b"Username:").decode())
                        user = base64.b64decode(self.read_line() or "").decode("utf-8")
                    self.reply("334 " + base64.b64encode(b"Password:").decode())
                    password = base64.b64decode(self.read_line() or "").decode("utf-8")
                else:
                    self.reply("504 unknown mechanism")
                    continue
                if self.server.accounts.get(user) != password:
                    self.reply("535 authentication failed")
                    continue
                session.login, session.login_over_tls = (user, password), session.tls
                self.reply("235 authenticated")
            elif verb == "MAIL":
                if self.server.accounts and session.login is None:
                    self.reply("530 authentication required")
                    continue
                session.mail_from, session.recipients = arg.partition(":")[2].strip().strip("<>"), []
                self.reply("250 ok")
            elif verb == "RCPT":
                if session.mail_from is None:
                    self.reply("503 MAIL first")
                    continue
                session.recipients.append(arg.partition(":")[2].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "DATA":
                if not session.recipients:
                    self.reply("503 RCPT first")
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    raw = self.rfile.readline(65536)
                    if not raw or raw in (b".\r\n", b".\n"):
                        break
                    lines.append(raw[1:] if raw.startswith(b".") else raw)
                assert session.mail_from is not None
                self.server.mails.add(
                    Mail(
                        session.mail_from,
                        list(session.recipients),
                        b"".join(lines),
                        session.login,
                        session.tls,
                        session.login_over_tls,
                    )
                )
                session.mail_from, session.recipients = None, []
                self.reply("250 queued")
            elif verb == "RSET":
                session.mail_from, session.recipients = None, []
                self.reply("250 ok")
            elif verb == "NOOP":
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    """An SMTP server on loopback; ``mails`` holds what it accepted. ``certfile``/``keyfile`` turn STARTTLS
    on (or, with ``implicit_tls``, TLS from the first byte, as on port 465); ``accounts`` (user to password)
    require a login, offered only over TLS unless ``auth_without_tls``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        certfile: str | None = None,
        keyfile: str | None = None,
        accounts: dict[str, str] | None = None,
        auth_without_tls: bool = False,
        implicit_tls: bool = False,
    ) -> None:
        super().__init__((HOST, 0), SmtpHandler)
        self.implicit_tls = implicit_tls
        self.mails = Received()
        self.accounts = dict(accounts or {})
        self.auth_without_tls = auth_without_tls
        self.tls_context: ssl.SSLContext | None = None
        if certfile:
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(certfile, keyfile)
        self.thread = threading.Thread(target=self.serve_forever, name="lab-smtp", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(10)


@dataclass
class Delivery:
    """One request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> Any:
        return json.loads(self.body)


class WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.deliveries.add(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


class WebhookReceiver(ThreadingHTTPServer):
    """An HTTP (or, with a certificate, HTTPS) server on loopback that answers every POST with ``status``
    and keeps it in ``deliveries``."""

    daemon_threads = True

    def __init__(self, certfile: str | None = None, keyfile: str | None = None, status: int = 204) -> None:
        super().__init__((HOST, 0), WebhookHandler)
        self.deliveries = Received()
        self.status = status
        self.scheme = "http"
        if certfile:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certfile, keyfile)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.serve_forever, name="lab-webhook", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.server_address[1]}/hooks/tenctl"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class SilentServer:
    """Accepts connections and never answers: a receiver that hangs."""

    def __init__(self) -> None:
        import socket

        self.socket = socket.socket()
        self.socket.bind((HOST, 0))
        self.socket.listen(16)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def close(self) -> None:
        self.socket.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
