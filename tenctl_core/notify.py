"""Notifications: lifecycle events and watch crossings sent by email (SMTP) and to a webhook.

Core's second ``tenctl_tenant_event`` implementation (the first writes the audit trail). It reads the
``[notifications]`` table of the configuration: which commands and outcomes to send, the SMTP server and
the addresses, the webhook URL and the file holding the key its requests are signed with. A tenant's own
contact address (``add -e``) can be told of its tenant's welcome, suspension, resumption and removal.

What is sent is built from the event alone, which holds no secret; details whose key looks like a secret are
dropped all the same, every value is flattened to one line of printable text, and a message that would carry
the SMTP password or the webhook key is not sent at all. Mail is plain text.

A notification never changes the outcome of the command that raised it: each channel is given
``notifications.timeout`` seconds in all (it runs in a thread of its own), a failure is a warning on standard
error, and what became of each channel is noted in the event's details (``details.notifications``), which the
audit trail keeps.

Nothing here imports smtplib, ssl or http.client at import time: they come with the first notification.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tenctl_core import __version__, hookimpl, rules
from tenctl_core.errors import ConfigError, TenctlError
from tenctl_core.rules import rule

if TYPE_CHECKING:
    from tenctl_core.events import TenantEvent

OUTCOMES = ("success", "failure", "refused", "interrupted")
DEFAULT_COMMANDS = ("add", "modify", "suspend", "resume", "remove", "restore", "repair", "watch")
DEFAULT_OUTCOMES = ("success", "failure", "interrupted")
SMTP_SECURITY = ("starttls", "tls", "none")
SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}
TENANT_NOTICES = ("add", "suspend", "resume", "remove")
"""The commands whose success a tenant's own contact is told of (``notifications.notify_tenants``)."""
SIGNATURE_HEADER = "X-Tenctl-Signature"
TIMESTAMP_HEADER = "X-Tenctl-Timestamp"
DELIVERY_HEADER = "X-Tenctl-Delivery"
PAYLOAD_VERSION = 1
MAX_VALUE = 1000
"""Characters of one value in a notification at most (a long error message is cut)."""

EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
COMMAND_RE = re.compile(r"\*|[a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)?")
SMTP_USER_RE = re.compile(r"[\x21-\x7e]{1,256}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")


# ------------------------------------------------------------------------------------------ settings


def email_address(value: str) -> None:
    if len(value) > 254 or not EMAIL_RE.fullmatch(value):
        raise ValueError("is not an email address like ops@example.org")


def command_name(value: str) -> None:
    if not COMMAND_RE.fullmatch(value):
        raise ValueError("is not a command name (like add, suspend, lock release) or '*'")


def smtp_user(value: str) -> None:
    if not SMTP_USER_RE.fullmatch(value):
        raise ValueError("must be 1-256 printable characters without spaces")


def is_loopback(hostname: str) -> bool:
    if hostname.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def webhook_url(value: str) -> None:
    """An https URL (http only to this machine's loopback), without credentials or a fragment. The rule's
    words never repeat the URL's path or query, which may hold a token."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL like https://hooks.example.org/tenctl")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials (the requests are signed with webhook_secret_file)")
    if parts.fragment:
        raise ValueError("must not have a fragment (#...)")
    rules.host(parts.hostname)
    try:
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise ValueError("has a port that is not a number between 1 and 65535") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"uses http to {parts.hostname}: the events would cross the network unencrypted; use https "
            "(http is allowed only to a loopback address)"
        )


@dataclass(frozen=True)
class NotificationSettings:
    """``[notifications]``: where events go. Nothing is sent until ``email_to``, ``notify_tenants`` or
    ``webhook_url`` is set."""

    email_to: tuple[str, ...] = field(default=(), metadata=rule(rules.each(email_address)))
    """The administrators' addresses: every event that passes ``commands`` and ``outcomes``."""
    email_from: str | None = field(default=None, metadata=rule(email_address))
    smtp_host: str | None = field(default=None, metadata=rule(rules.host))
    smtp_port: int = field(default=0, metadata=rule(rules.between(0, 65535)))
    """0: the port of ``smtp_security`` (587 starttls, 465 tls, 25 none)."""
    smtp_security: str = field(default="starttls", metadata=rule(rules.one_of(SMTP_SECURITY)))
    """``starttls`` (required, never skipped), ``tls`` (TLS from the first byte) or ``none`` (plain text)."""
    smtp_user: str | None = field(default=None, metadata=rule(smtp_user))
    smtp_password_file: str | None = field(default=None, metadata=rule(rules.path_text))
    webhook_url: str | None = field(default=None, metadata={**rule(webhook_url), "echo": False})
    webhook_secret_file: str | None = field(default=None, metadata=rule(rules.path_text))
    """The key of the HMAC-SHA256 signature of each request (required with ``webhook_url``)."""
    ca_file: str | None = field(default=None, metadata=rule(rules.ca_file))
    """CA certificates trusted for the SMTP server and the webhook instead of the system's."""
    proxy: str | None = field(default=None, metadata={**rule(rules.proxy_url), "echo": False})
    """An HTTP proxy the webhook is reached through (a CONNECT tunnel; TLS still runs to the receiver).
    None unless named here: the environment's proxy variables are ignored. Mail never uses it."""
    commands: tuple[str, ...] = field(default=DEFAULT_COMMANDS, metadata=rule(rules.each(command_name)))
    """The commands whose events are sent; ``*`` for all."""
    outcomes: tuple[str, ...] = field(
        default=DEFAULT_OUTCOMES, metadata=rule(rules.each(rules.one_of(OUTCOMES)))
    )
    notify_tenants: bool = False
    """Also mail a tenant's contact address (``add -e``) when its tenant is added, suspended, resumed or removed."""
    timeout: float = field(default=10.0, metadata=rule(rules.above(0, 120)))
    """Seconds each channel may take in all before the command goes on without it."""

    @property
    def enabled(self) -> bool:
        return bool(self.email_to or self.notify_tenants or self.webhook_url)

    @property
    def port(self) -> int:
        return self.smtp_port or SMTP_PORTS[self.smtp_security]

    def wants(self, event: TenantEvent) -> bool:
        command = "*" in self.commands or event.command in self.commands
        return command and event.outcome in self.outcomes


def check_notification_settings(settings: NotificationSettings, where: str) -> None:
    """The rules between keys of ``[notifications]`` (each key's own rule is checked as it is read)."""
    mails = bool(settings.email_to) or settings.notify_tenants
    if mails and not settings.smtp_host:
        wanted = "notifications.email_to" if settings.email_to else "notifications.notify_tenants"
        raise ConfigError(
            f"{where}: {wanted} is set but notifications.smtp_host is not: no server to send mail through"
        )
    if settings.smtp_host and not settings.email_from:
        raise ConfigError(f"{where}: notifications.smtp_host is set but notifications.email_from is not")
    if bool(settings.smtp_user) != bool(settings.smtp_password_file):
        raise ConfigError(
            f"{where}: set both notifications.smtp_user and notifications.smtp_password_file, or neither"
        )
    if (
        settings.smtp_user
        and settings.smtp_security == "none"
        and settings.smtp_host
        and not is_loopback(settings.smtp_host)
    ):
        raise ConfigError(
            f"{where}: notifications.smtp_security = 'none' with smtp_user: the SMTP password would cross the "
            f"network to {settings.smtp_host} unencrypted; use starttls or tls"
        )
    if settings.proxy:
        if not settings.webhook_url:
            raise ConfigError(
                f"{where}: notifications.proxy is set but notifications.webhook_url is not: the proxy carries "
                "the webhook only (mail goes to smtp_host directly)"
            )
        if urlsplit(settings.proxy).scheme != "http":
            raise ConfigError(
                f"{where}: notifications.proxy must use http:// (the tunnel to the webhook carries TLS end to "
                "end; TLS to the proxy itself is not supported)"
            )
        if urlsplit(settings.webhook_url).scheme != "https":
            raise ConfigError(
                f"{where}: notifications.proxy with an http webhook_url: the events would reach the proxy "
                "unencrypted, and the proxy's loopback is not this machine's; use https or leave proxy out"
            )
    if settings.webhook_url and not settings.webhook_secret_file:
        raise ConfigError(
            f"{where}: notifications.webhook_url is set but notifications.webhook_secret_file is not: "
            "every webhook request is signed"
        )


def read_secrets(settings: NotificationSettings) -> Secrets:
    """The SMTP password and webhook key, from their files (mode 0600, as every secret file)."""
    from tenctl_core.config import read_secret_file

    password = (
        read_secret_file(Path(settings.smtp_password_file), "notifications.smtp_password_file")
        if settings.smtp_password_file
        else None
    )
    key = (
        read_secret_file(Path(settings.webhook_secret_file), "notifications.webhook_secret_file")
        if settings.webhook_secret_file
        else None
    )
    return Secrets(password, key)


@dataclass(frozen=True)
class Secrets:
    smtp_password: str | None = None
    webhook_key: str | None = None

    def values(self) -> list[str]:
        return [s for s in (self.smtp_password, self.webhook_key) if s]

    def redact(self, text: str) -> str:
        for secret in self.values():
            text = text.replace(secret, "[secret]")
        return text


# ------------------------------------------------------------------------------------------- content


def one_line(value: Any, limit: int = MAX_VALUE) -> str:
    """A value as one line of text: control characters (CR, LF, tabs...) shown as escapes, long text cut."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def public_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The details without any key that looks like a secret, at any depth (in lists too)."""
    return {str(key): _public(value) for key, value in details.items() if not rules.looks_secret(str(key))}


def _public(value: Any) -> Any:
    if isinstance(value, Mapping):
        return public_details(value)
    if isinstance(value, list | tuple):
        return [_public(item) for item in value]
    return value


@dataclass(frozen=True)
class Notice:
    """One notification: the mail's subject and text, and the webhook's JSON document."""

    subject: str
    text: str
    payload: dict[str, Any]


def notice_of(event: TenantEvent, test: bool = False) -> Notice:
    """What the administrators (and the webhook) are sent about an event."""
    data = event.as_dict()
    data["details"] = public_details({k: v for k, v in event.details.items() if k != "notifications"})
    tenant = one_line(event.tenant or "-", 64)
    subject = f"[tenctl] {one_line(event.command, 64)} {tenant}: {one_line(event.outcome, 16)}"
    if test:
        subject = "[tenctl] test notification"
    lines = [
        f"Command:  {one_line(event.command)}",
        f"Tenant:   {tenant}",
        f"Outcome:  {one_line(event.outcome)}",
        f"Node:     {one_line(event.node)}",
        f"User:     {one_line(event.operator)}",
        f"Time:     {one_line(event.time)}",
    ]
    if event.message:
        lines.append(f"Message:  {one_line(event.message)}")
    if data["details"]:
        lines.append("")
        lines.append("Details:")
        lines.extend(
            f"  {one_line(key, 64)}: {one_line(value)}" for key, value in sorted(data["details"].items())
        )
    lines += ["", f"-- tenctl {__version__} on {one_line(event.node, 64)}"]
    payload = {"version": PAYLOAD_VERSION, "test": test, "event": data}
    return Notice(subject, "\n".join(lines) + "\n", payload)


TENANT_WORDS = {
    "add": ("is ready", "Your tenant {tenant} has been created."),
    "suspend": (
        "is suspended",
        "Your tenant {tenant} has been suspended. Its users cannot log in until it is resumed.",
    ),
    "resume": ("is active again", "Your tenant {tenant} has been resumed. Its users can log in again."),
    "remove": ("has been removed", "Your tenant {tenant} and everything made for it have been removed."),
}


def tenant_notice(event: TenantEvent) -> Notice:
    """What a tenant's own contact is told: never a password, and only facts about its own tenant."""
    tenant = one_line(event.tenant or "-", 64)
    headline, opening = TENANT_WORDS[event.command]
    details = event.details
    lines = [opening.format(tenant=tenant), ""]
    if event.command == "add":
        for label, key in (("Administrator", "admin_user"), ("VLAN", "vlan"), ("Subnet", "subnet")):
            if details.get(key) not in (None, ""):
                lines.append(f"{label}: {one_line(details[key])}")
        lines += [
            "",
            "Your administrator hands you the initial password separately: tenctl never sends it by email.",
        ]
    if event.command == "suspend" and details.get("reason"):
        lines.append(f"Reason: {one_line(details['reason'])}")
    lines += ["", f"-- tenctl {__version__}"]
    return Notice(f"[tenctl] tenant {tenant} {headline}", "\n".join(lines) + "\n", {})


# ------------------------------------------------------------------------------------------ delivery


class NotificationFailed(TenctlError):
    """A channel could not deliver a notification."""


def build_mail(settings: NotificationSettings, notice: Notice, recipients: Iterable[str], node: str) -> Any:
    """A plain-text message. Header values come from checked settings and one-line text; the email
    package refuses a header value with a line break, so nothing can add a header."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    assert settings.email_from is not None
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = notice.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("tenctl", domain=settings.email_from.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message["X-Tenctl-Node"] = one_line(node, 64)
    message.set_content(notice.text)
    return message


def send_mail(
    settings: NotificationSettings, secrets: Secrets, notice: Notice, recipients: list[str], node: str
) -> None:
    import smtplib
    import ssl

    host = settings.smtp_host
    assert host is not None
    message = build_mail(settings, notice, recipients, node)
    context = ssl.create_default_context(cafile=settings.ca_file)
    # A name of our own for EHLO: smtplib would otherwise ask the resolver for this host's FQDN.
    helo = re.sub(r"[^A-Za-z0-9.-]", "-", node) or "tenctl"
    try:
        client: smtplib.SMTP
        if settings.smtp_security == "tls":
            client = smtplib.SMTP_SSL(
                host, settings.port, local_hostname=helo, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, settings.port, local_hostname=helo, timeout=settings.timeout)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=context)  # never skipped: a server without it is a failure
            if settings.smtp_user:
                assert secrets.smtp_password is not None
                client.login(settings.smtp_user, secrets.smtp_password)
            client.send_message(message)
    except smtplib.SMTPNotSupportedError:
        raise NotificationFailed(
            f"{host}:{settings.port} does not offer STARTTLS (notifications.smtp_security = 'starttls')"
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NotificationFailed(
            f"{host}:{settings.port} refused the login of {settings.smtp_user} ({exc.smtp_code})"
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise NotificationFailed(
            f"{host}:{settings.port} answered {exc.smtp_code} {one_line(text, 200)}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotificationFailed(
            f"{host}:{settings.port} refused the recipients {', '.join(exc.recipients)}"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise NotificationFailed(
            f"the certificate of {host}:{settings.port} is not trusted ({exc.verify_message}); "
            "set notifications.ca_file to the CA that signed it"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise NotificationFailed(
            f"{host}:{settings.port}: {describe_os_error(exc, settings.timeout)}"
        ) from None


def signature(key: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with the webhook key over ``<timestamp>.<body>``."""
    mac = hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_target(url: str) -> str:
    """The URL without its path and query (which may hold a token), for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def send_webhook(settings: NotificationSettings, secrets: Secrets, notice: Notice) -> None:
    import http.client
    import ssl

    url = settings.webhook_url
    assert url is not None and secrets.webhook_key is not None
    parts = urlsplit(url)
    assert parts.hostname is not None
    target = webhook_target(url)
    body = json.dumps(notice.payload, sort_keys=True, ensure_ascii=True, default=str).encode("ascii")
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"tenctl/{__version__}",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secrets.webhook_key, timestamp, body),
        DELIVERY_HEADER: str(uuid.uuid4()),
    }
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https" and settings.proxy:
        connection = tunnelled(settings, parts.hostname, parts.port or 443)
    elif parts.scheme == "https":
        context = ssl.create_default_context(cafile=settings.ca_file)
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=settings.timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=settings.timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        status, reason = response.status, response.reason
    except ssl.SSLCertVerificationError as exc:
        raise NotificationFailed(
            f"the certificate of {target} is not trusted ({exc.verify_message}); set notifications.ca_file to "
            "the CA that signed it"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        refusal = str(exc).partition("Tunnel connection failed: ")[2]
        if settings.proxy and refusal:
            raise NotificationFailed(
                f"the proxy {settings.proxy} did not open a tunnel to {parts.hostname}:{parts.port or 443}: "
                f"it answered {one_line(refusal, 100)}"
            ) from None
        through = f" through the proxy {settings.proxy}" if settings.proxy else ""
        raise NotificationFailed(f"{target}{through}: {describe_os_error(exc, settings.timeout)}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:  # redirects are not followed: the body is signed for this receiver
        raise NotificationFailed(f"{target} answered {status} {one_line(reason, 100)}")


def tunnelled(settings: NotificationSettings, host: str, port: int) -> Any:
    """An HTTPS connection to ``host:port`` through ``notifications.proxy``: a plain TCP connection to the
    proxy, ``CONNECT host:port``, then TLS with the receiver inside the tunnel, its certificate verified
    against ``ca_file`` for ``host`` as without a proxy. The proxy sees the receiver's name and port, never
    the request. A proxy that cannot be reached is named as such (not the receiver)."""
    import http.client
    import socket
    import ssl

    assert settings.proxy is not None
    proxy = urlsplit(settings.proxy)
    assert proxy.hostname is not None
    context = ssl.create_default_context(cafile=settings.ca_file)
    connection = http.client.HTTPSConnection(
        proxy.hostname, proxy.port or 80, timeout=settings.timeout, context=context
    )
    connection.set_tunnel(host, port)

    def reach_proxy(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        try:
            return socket.create_connection(address, *args, **kwargs)
        except OSError as exc:
            raise NotificationFailed(
                f"the proxy {settings.proxy}: {describe_os_error(exc, settings.timeout)}"
            ) from None

    # http.client opens its socket through this attribute (set in HTTPConnection.__init__): only the
    # connection to the proxy goes through it, so its failure is the proxy's.
    connection._create_connection = reach_proxy  # type: ignore[attr-defined]
    return connection


def shown_webhook_url(url: str | None) -> str | None:
    """The URL as ``config show`` prints it: its path and query (which may hold a token) hidden."""
    if not url:
        return url
    parts = urlsplit(url)
    return webhook_target(url) + ("/..." if parts.path not in ("", "/") or parts.query else "/")


def describe_os_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s (notifications.timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return one_line(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__, 200)


def run_channels(channels: dict[str, Callable[[], None]], timeout: float) -> dict[str, str]:
    """Run each channel in a thread of its own, all at once; ``sent`` or ``failed: <why>`` for each.

    A channel still running after ``timeout`` seconds (plus a second of grace for its own socket timeout
    to fire) is reported as failed and left to end by itself: its thread is a daemon, so it never holds the
    process.
    """
    results: dict[str, str] = {}
    lock = threading.Lock()

    def runner(name: str, send: Callable[[], None]) -> None:
        try:
            send()
            outcome = "sent"
        except NotificationFailed as exc:
            outcome = f"failed: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a notification never changes the command's outcome
            outcome = f"failed: {type(exc).__name__}: {one_line(str(exc), 200)}"
        with lock:
            results[name] = outcome

    threads = [
        threading.Thread(target=runner, args=(name, send), name=f"tenctl-notify-{name}", daemon=True)
        for name, send in channels.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return {
            name: results.get(name, f"failed: no answer within {timeout:g} s (notifications.timeout)")
            for name in channels
        }


def carries_secret(notice: Notice, secrets: Secrets) -> bool:
    rendered = notice.subject + notice.text + json.dumps(notice.payload, default=str)
    return any(secret in rendered for secret in secrets.values())


def channels_for(
    settings: NotificationSettings,
    secrets: Secrets,
    event: TenantEvent,
    contact: str | None,
    test: bool = False,
) -> dict[str, Callable[[], None]]:
    """The sends an event makes: ``email`` (the administrators), ``tenant email`` (its contact), ``webhook``."""
    channels: dict[str, Callable[[], None]] = {}
    notice = notice_of(event, test)
    if carries_secret(notice, secrets):
        raise NotificationFailed("the notification would carry a configured secret: nothing was sent")
    if settings.email_to:
        recipients = list(settings.email_to)
        channels["email"] = lambda: send_mail(settings, secrets, notice, recipients, event.node)
    if contact:
        personal = tenant_notice(event)
        if not carries_secret(personal, secrets):
            channels["tenant email"] = lambda: send_mail(settings, secrets, personal, [contact], event.node)
    if settings.webhook_url:
        channels["webhook"] = lambda: send_webhook(settings, secrets, notice)
    return channels


def tenant_contact(settings: NotificationSettings, event: TenantEvent) -> str | None:
    """The tenant's own address when it is to be told of this event: a success of add, suspend, resume
    or remove, with ``notify_tenants`` on. The record gives it (remove's details, the record being gone)."""
    if not settings.notify_tenants or event.outcome != "success" or event.command not in TENANT_NOTICES:
        return None
    address = event.details.get("email") if event.command == "remove" else None
    if address is None and event.ctx is not None and event.tenant:
        try:
            address = event.ctx.store.load(event.tenant).email
        except TenctlError:
            return None
    if not isinstance(address, str) or not address:
        return None
    try:
        email_address(address)
    except ValueError:
        return None
    return address


def notify(settings: NotificationSettings, event: TenantEvent, test: bool = False) -> dict[str, str]:
    """Send one event to every configured channel; what became of each (``sent`` / ``failed: why``).

    Raises NotificationFailed when nothing can be sent at all (a secret file unreadable, a secret in the
    content)."""
    try:
        secrets = read_secrets(settings)
    except ConfigError as exc:
        raise NotificationFailed(exc.message) from None
    channels = channels_for(settings, secrets, event, None if test else tenant_contact(settings, event), test)
    results = run_channels(channels, settings.timeout)
    return {name: secrets.redact(outcome) for name, outcome in results.items()}


@hookimpl(tryfirst=True)
def tenctl_tenant_event(event: TenantEvent) -> None:
    """Core's notifier: the event goes to the channels of ``[notifications]`` that want it. Runs before the
    audit trail's listener, so the trail's line of the event says what became of each channel."""
    ctx = event.ctx
    if ctx is None:
        return
    settings: NotificationSettings = ctx.config.notifications
    if not settings.enabled:
        return
    if not settings.wants(event):
        if tenant_contact(settings, event) is None:
            return
        # The administrators do not want this one; the tenant's own contact does.
        settings = replace(settings, email_to=(), webhook_url=None, webhook_secret_file=None)
    try:
        results = notify(settings, event)
    except NotificationFailed as exc:
        results = {"all channels": f"failed: {exc.message}"}
    event.details["notifications"] = results
    for channel, outcome in results.items():
        if outcome != "sent":
            ctx.warn(f"notification by {channel} {outcome}; the command's outcome is unchanged")
