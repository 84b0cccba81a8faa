"""``tenctl init``: prepare the cluster for tenants. Running it again changes nothing."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenctl_core.context import Context
from tenctl_core.errors import UsageError
from tenctl_core.operations import providers
from tenctl_core.ownership import ensure_installation, read_installation
from tenctl_core.plan import Plan, Step, apply_plan

ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{1,7}")
BRIDGE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
ZONE_TYPES = ("vlan", "vxlan", "simple")


@dataclass(frozen=True)
class InitRequest:
    zone_type: str | None
    zone: str | None
    bridge: str | None
    peers: tuple[str, ...] | None

    @classmethod
    def checked(
        cls, zone_type: str | None, zone: str | None, bridge: str | None, peers: str | None
    ) -> InitRequest:
        if zone_type is not None and zone_type not in ZONE_TYPES:
            raise UsageError(f"zone type {zone_type!r} must be one of {', '.join(ZONE_TYPES)}")
        if zone is not None and not ZONE_RE.fullmatch(zone):
            raise UsageError(f"zone name {zone!r} must be 2-8 letters or digits, starting with a letter")
        if bridge is not None and not BRIDGE_RE.fullmatch(bridge):
            raise UsageError(f"bridge {bridge!r} is not a valid interface name")
        peer_list = None
        if peers is not None:
            peer_list = tuple(p.strip() for p in peers.split(",") if p.strip())
            for peer in peer_list:
                try:
                    ipaddress.ip_address(peer)
                except ValueError:
                    raise UsageError(f"VXLAN peer {peer!r} is not an IP address") from None
        return cls(zone_type, zone, bridge, peer_list)


def with_overrides(ctx: Context, request: InitRequest) -> Context:
    """The context with the SDN settings the command line overrides."""
    sdn = ctx.config.sdn
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("zone_type", request.zone_type),
            ("zone", request.zone),
            ("bridge", request.bridge),
            ("peers", request.peers),
        )
        if value is not None
    }
    if not changes:
        return ctx
    config = dataclasses.replace(ctx.config, sdn=dataclasses.replace(sdn, **changes))
    return dataclasses.replace(ctx, config=config)


def plan_init(ctx: Context, request: InitRequest) -> Plan:
    ctx = with_overrides(ctx, request)
    sdn = ctx.config.sdn
    plan = Plan("init", sdn.zone)
    for label, directory in (("tenants", ctx.config.paths.tenants_dir), ("log", ctx.config.paths.log_dir)):
        path = Path(directory)
        if path.is_dir():
            plan.notes.append(f"{label} directory {path} exists")
        else:
            plan.add(
                Step(
                    "host",
                    f"create {label} directory {path}",
                    functools.partial(path.mkdir, parents=True, exist_ok=True, mode=0o750),
                )
            )
    if read_installation(ctx.config.paths.tenants_dir) is None:
        tenants_dir = ctx.config.paths.tenants_dir
        plan.add(
            Step(
                "host",
                f"make this installation's id in {tenants_dir} (it goes in the marker of every object tenctl creates)",
                functools.partial(ensure_installation, tenants_dir),
                id="core:create:installation:id",
                op="create",
            )
        )
    for provider in providers(ctx):
        plan.add(*provider.init_steps(ctx))
    firewall = ctx.proxmox.get("/cluster/firewall/options")
    if firewall and int(firewall.get("enable", 0) or 0):
        plan.notes.append(
            "warning: the datacenter firewall is enabled; allow the tenants' traffic in its rules"
        )
    if not plan.steps:
        plan.notes.append("nothing to do: the cluster is ready for tenants")
    return plan


def apply_init(ctx: Context, plan: Plan) -> None:
    apply_plan(plan)
