"""The Bash tool's SDN settings as the ``[sdn]`` table (for ``tenctl migrate``).

The Bash tool made its zone with the same three types tenctl offers (vlan, vxlan, simple), so every value
carries over; each is checked by the rule ``[sdn]`` applies when it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tenctl_core.errors import TenctlError
from tenctl_core.migration import MigratedSettings, whole_number
from tenctl_linux_bridge.settings import check_bridge, check_zone, check_zone_type

SECTION = "sdn"


def check_port(value: str) -> int:
    port = whole_number(value)
    if not 1 <= port <= 65535:
        raise ValueError("must be between 1 and 65535")
    return port


def checked(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """A check of ``init``'s options (UsageError) as a rule (ValueError with the reason)."""

    def rule(value: str) -> Any:
        try:
            return check(value)
        except TenctlError as exc:
            raise ValueError(exc.message) from None

    return rule


KEYS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("SDN_ZONE_NAME", "zone", checked(check_zone)),
    ("SDN_ZONE_TYPE", "zone_type", checked(check_zone_type)),
    ("NETWORK_BRIDGE", "bridge", checked(check_bridge)),
    ("VXLAN_PORT", "vxlan_port", check_port),
)
"""Bash key, ``[sdn]`` key, and the check that turns the text into the value."""


def migrate_bash_config(values: Mapping[str, str]) -> MigratedSettings | None:
    if not any(bash_key in values for bash_key, _, _ in KEYS):
        return None
    out = MigratedSettings()
    for bash_key, key, check in KEYS:
        text = values.get(bash_key)
        if text is None:
            continue
        if not text.strip():
            out.ignore(bash_key, f"empty: sdn.{key} keeps its default")
            continue
        try:
            value = check(text.strip())
        except ValueError as exc:
            out.refuse(bash_key, f"sdn.{key}: {exc}")
            continue
        out.put(bash_key, SECTION, key, value)
    if SECTION in out.tables:
        zone = out.tables[SECTION].get("zone", "tenants")
        out.actions.append(
            f"run `tenctl init`: it uses the SDN zone {zone} the Bash tool made, and makes it only if it is missing"
        )
    return out
