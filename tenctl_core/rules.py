"""The rules configuration values follow, for core's sections and plugins' alike.

A rule is a function of the value that returns nothing when the value is good and raises
:class:`ValueError` with the rule, in words, when it is not. A settings dataclass attaches a rule to a
field with ``field(default=..., metadata=rule(check))``; the configuration loader applies it after the
type check and reports ``<file>: <section>.<key> = <value>: <rule>`` with exit code 2. Plugins use the
same helpers for their own sections.

The identifier formats are Proxmox's own (pve-common ``JSONSchema.pm``: ``pve-storage-id``,
``pve-roleid``, ``pve-tokenid``), so that a value that passes here is one Proxmox accepts.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Rule = Callable[[Any], None]

STORAGE_ID_RE = re.compile(r"[a-z][a-z0-9_.-]*[a-z0-9]", re.IGNORECASE)
"""pve-storage-id."""
ROLE_ID_RE = re.compile(r"[A-Za-z0-9._-]+")
"""pve-roleid."""
TOKEN_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]+")
"""The token part of pve-tokenid."""
HOSTNAME_RE = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLUGIN_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*")

SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pass", "pw", "pwd", "secret", "token", "apikey", "credential", "credentials"}
)
SECRET_PAIRS = (("api", "key"), ("private", "key"), ("access", "key"))
NOT_A_SECRET_SUFFIXES = ("_file", "_env", "_name", "_id")
"""A key naming where a secret is (``password_file``, ``token_secret_env``) or what it is called
(``token_name``) holds no secret; any other key with a secret's word in it is refused."""

SPECIAL_NETWORKS = (
    (ipaddress.IPv4Network("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (ipaddress.IPv4Network("127.0.0.0/8"), "loopback"),
    (ipaddress.IPv4Network("169.254.0.0/16"), "link-local"),
    (ipaddress.IPv4Network("224.0.0.0/4"), "multicast"),
    (ipaddress.IPv4Network("240.0.0.0/4"), "reserved (240.0.0.0/4, with the broadcast address)"),
)
"""Address blocks no tenant network may use: they are not routable unicast space."""


def rule(check: Rule) -> dict[str, Rule]:
    """Field metadata attaching a rule: ``field(default=8, metadata=rule(between(1, 64)))``. Add
    ``"echo": False`` to the metadata of a key whose value must not be repeated in the error (a URL
    that may hold credentials)."""
    return {"check": check}


def tables(schema: type) -> dict[str, type]:
    """Field metadata for a list of tables (``[[section.key]]``), each parsed by the dataclass schema with
    its own fields' rules: ``field(default=(), metadata=tables(SiteSettings))``."""
    return {"tables": schema}


def looks_secret(key: str) -> bool:
    """True for a key that would hold a secret itself (``password``, ``api_key``) rather than name where
    one is kept (``password_file``)."""
    if key.lower().endswith(NOT_A_SECRET_SUFFIXES):
        return False
    words = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]
    pairs = set(zip(words, words[1:], strict=False))
    return bool(SECRET_WORDS & set(words)) or bool(pairs & set(SECRET_PAIRS))


def find_secrets(table: Any, prefix: str = "") -> Iterable[str]:
    """The dotted keys of a configuration (tables nested in any depth, lists of tables too) that look
    like secrets."""
    if isinstance(table, dict):
        for key, value in table.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if looks_secret(str(key)) and not isinstance(value, dict):
                yield dotted
            yield from find_secrets(value, dotted)
    elif isinstance(table, list):
        for index, item in enumerate(table):
            yield from find_secrets(item, f"{prefix}[{index}]")


# ------------------------------------------------------------------------------------------- numbers


def between(low: float, high: float, unit: str = "") -> Rule:
    def check(value: Any) -> None:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}{unit}")

    return check


def above(low: float, high: float) -> Rule:
    """A number greater than `low` (not equal) and at most `high`."""

    def check(value: Any) -> None:
        if not low < value <= high:
            raise ValueError(f"must be greater than {low} and at most {high}")

    return check


def one_of(choices: tuple[str, ...]) -> Rule:
    def check(value: Any) -> None:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(repr(c) for c in choices))

    return check


def vlan_range(value: str) -> None:
    """``"low-high"`` (or a single ``"N"``) with 2 ≤ low ≤ high ≤ 4094: an item of ``allocation.vlan_ranges``."""
    low_text, dash, high_text = value.partition("-")
    try:
        low, high = int(low_text), int(high_text if dash else low_text)
    except ValueError:
        raise ValueError('is not a range like "100-199"') from None
    if not 2 <= low <= high <= 4094:
        raise ValueError("must lie within 2-4094, low to high")


# --------------------------------------------------------------------------------------- identifiers


def matching(pattern: re.Pattern[str], what: str) -> Rule:
    def check(value: Any) -> None:
        if not pattern.fullmatch(value):
            raise ValueError(f"is not {what}")

    return check


def each(check: Rule) -> Rule:
    def check_all(values: Any) -> None:
        for item in values:
            try:
                check(item)
            except ValueError as exc:
                raise ValueError(f"item {item!r} {exc}") from None

    return check_all


storage_id = matching(STORAGE_ID_RE, "a Proxmox storage id (a letter, then letters, digits, '.', '-', '_')")
role_id = matching(ROLE_ID_RE, "a Proxmox role id (letters, digits, '.', '-', '_')")
token_name = matching(TOKEN_NAME_RE, "a Proxmox API token name (a letter, then letters, digits, '.', '-', '_')")
env_name = matching(ENV_NAME_RE, "an environment variable name (letters, digits, '_', not starting with a digit)")
plugin_name = matching(PLUGIN_NAME_RE, "a plugin name (lower-case letters, digits, '-', '_')")


def host(value: str) -> None:
    """A host name or an IP address: nothing else reaches a URL."""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return
    except ValueError:
        pass
    if not HOSTNAME_RE.fullmatch(value):
        raise ValueError("is not a host name or an IP address")


def userid(value: str) -> None:
    from tenctl_core.errors import UsageError
    from tenctl_core.naming import check_userid

    try:
        check_userid(value)
    except UsageError as exc:
        raise ValueError(exc.message.partition(": ")[2] or exc.message) from None


# ------------------------------------------------------------------------------------- files and URLs


def path_text(value: str) -> None:
    if not value or "\0" in value or "\n" in value:
        raise ValueError("must be a non-empty path without line breaks")


def absolute_path(value: str) -> None:
    """Empty (the default is chosen) or an absolute path."""
    if value and (not value.startswith("/") or "\0" in value or "\n" in value):
        raise ValueError("must be an absolute path")


def ca_file(value: str) -> None:
    """A PEM file that exists and holds at least one certificate (a CA's, or a self-signed server's)."""
    path = Path(value)
    if not path.is_file():
        raise ValueError("names a file that does not exist")
    try:
        context = ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "it holds no PEM certificate"
        raise ValueError(f"is not a readable CA certificate file ({reason})") from None
    if not context.cert_store_stats().get("x509"):
        raise ValueError("holds no certificate")


def proxy_url(value: str) -> None:
    """``http://host:port`` or ``https://host:port``; credentials do not belong in the configuration."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL like http://proxy.example.org:3128")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials (a secret does not go in the configuration)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be scheme, host and port only")
    host(parts.hostname)


# ------------------------------------------------------------------------------------------ networks


def special_network(network: ipaddress.IPv4Network) -> str | None:
    """Why no tenant may use this network, or None when it is ordinary unicast space."""
    for block, name in SPECIAL_NETWORKS:
        if network.overlaps(block):
            return f"overlaps {name} addresses {block}"
    return None


def tenant_network(value: str) -> None:
    """An IPv4 network in CIDR form, with no host bits set, outside the special blocks."""
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"is not an IPv4 network in CIDR form ({exc})") from None
    if "/" not in value:
        raise ValueError("needs a prefix length, e.g. 10.100.0.0/16")
    reason = special_network(network)
    if reason:
        raise ValueError(reason)


def network(value: str) -> None:
    """An IPv4 network in CIDR form (a reserved range: special blocks are allowed)."""
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"is not an IPv4 network in CIDR form ({exc})") from None
