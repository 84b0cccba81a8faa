"""Checks of every value a user gives, made before the first request.

Each function returns the value in its normalised form or raises
:class:`tenctl_core.errors.UsageError` saying which value is wrong and why.
Free text that reaches Proxmox, a router or a switch is limited to printable
characters without quotes, shell or configuration metacharacters.
"""

from __future__ import annotations

import ipaddress
import re

from tenctl_core.errors import UsageError

VLAN_MIN, VLAN_MAX = 1, 4094
CPU_MIN, CPU_MAX = 1, 4096
RAM_MIN_MB, RAM_MAX_MB = 512, 64 * 1024 * 1024
STORAGE_MIN_GB, STORAGE_MAX_GB = 1, 1024 * 1024
TEXT_MAX = 200
EMAIL_MAX = 254

EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
# Letters, digits, spaces and a little punctuation: nothing a shell, VyOS or a switch CLI treats specially.
TEXT_RE = re.compile(r"[A-Za-z0-9 .,:()_+@/-]*")


def check_int(what: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UsageError(f"{what} {value} is out of range ({low}-{high})")
    return value


def check_vlan(value: int) -> int:
    return check_int("VLAN", value, VLAN_MIN, VLAN_MAX)


def check_cpu(value: int) -> int:
    return check_int("CPU limit (cores)", value, CPU_MIN, CPU_MAX)


def check_ram(value: int) -> int:
    return check_int("RAM limit (MB)", value, RAM_MIN_MB, RAM_MAX_MB)


def check_storage(value: int) -> int:
    return check_int("storage limit (GB)", value, STORAGE_MIN_GB, STORAGE_MAX_GB)


def check_email(value: str) -> str:
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value):
        raise UsageError(f"email {value!r} is not a valid address (expected name@example.org)")
    return value


def check_text(what: str, value: str, max_length: int = TEXT_MAX) -> str:
    """Free text (a suspension reason, a comment): printable ASCII without quotes or metacharacters."""
    if len(value) > max_length:
        raise UsageError(f"{what} is too long ({len(value)} > {max_length} characters)")
    if not TEXT_RE.fullmatch(value):
        bad = sorted({c for c in value if not TEXT_RE.fullmatch(c)})
        shown = ", ".join(repr(c) for c in bad)
        raise UsageError(
            f"{what} contains characters that are not allowed: {shown} "
            "(use letters, digits, spaces and . , : ( ) _ + @ / -)"
        )
    return value


def check_cidr(value: str, what: str = "subnet") -> ipaddress.IPv4Network:
    """An IPv4 network in CIDR form; host bits set are refused rather than silently dropped."""
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise UsageError(f"{what} {value!r} is not a valid IPv4 network in CIDR form ({exc})") from None
    if "/" not in value:
        raise UsageError(f"{what} {value!r} needs a prefix length, e.g. {value}/24")
    if network.prefixlen > 30:
        raise UsageError(f"{what} {value} is too small for a tenant: the prefix length must be 30 or less")
    from tenctl_core.rules import special_network

    reason = special_network(network)
    if reason:
        raise UsageError(f"{what} {value} is no tenant network: it {reason}")
    return network


def check_password(value: str) -> str:
    """A password Proxmox accepts: 8-64 characters, no line breaks."""
    if not 8 <= len(value) <= 64:
        raise UsageError("password must be 8 to 64 characters long")
    if any(c in value for c in "\r\n\0"):
        raise UsageError("password must not contain line breaks or NUL characters")
    return value
