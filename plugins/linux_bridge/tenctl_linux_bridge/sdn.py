"""Proxmox SDN for tenants: the zone (``init``), a VNet ``vn<vlan>`` with a subnet per tenant.

Every change runs under Proxmox's SDN lock: the token from
``POST /cluster/sdn/lock`` goes with each write and with the single apply
(``PUT /cluster/sdn`` with ``release-lock=1``, which PVE does not default).
If anything fails before the apply, the pending changes are rolled back and the
lock released, so no half-made VNet is left pending.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from tenctl_core.access import acl_remove_step, acl_step
from tenctl_core.context import Context
from tenctl_core.errors import AllocationLost, ProxmoxError, TenctlError
from tenctl_core.locking import read_sdn_lock
from tenctl_core.model import Tenant
from tenctl_core.naming import subnet_id
from tenctl_core.plan import Step
from tenctl_core.providers import NetworkProvisioner
from tenctl_core.proxmox import is_missing

PROVIDER = "sdn-vnet"
SDN_ROLE = ("PVESDNUser",)
VNETS = "/cluster/sdn/vnets"
ZONES = "/cluster/sdn/zones"


def sdn_vlans_in_use(ctx: Context) -> list[int]:
    """Every VNet tag in every zone, running and pending (PVE lists a pending value under ``pending``)."""
    tags: set[int] = set()
    for vnet in ctx.cached_get(VNETS, pending=1):
        for source in (vnet, vnet.get("pending") or {}):
            if isinstance(source, dict) and source.get("tag") not in (None, "", "deleted"):
                tags.add(int(source["tag"]))
    return sorted(tags)


def zone_exists(ctx: Context, zone: str) -> bool:
    """The zone is configured (applied or pending creation) and not pending deletion."""
    return any(
        z.get("zone") == zone and z.get("state") != "deleted" for z in ctx.cached_get(ZONES, pending=1)
    )


ALIAS_PREFIX = "Network for "
ALIAS_SUBNET = re.compile(r"\((\d{1,3}(?:\.\d{1,3}){3}/\d{1,2})\)$")


def vnet_alias(tenant: Tenant) -> str:
    """``Network for <name> (<subnet>)``: the subnet in the alias lets every tenctl see it in one listing."""
    return f"{ALIAS_PREFIX}{tenant.name} ({tenant.subnet})"


def alias_of(vnet: dict[str, Any]) -> str:
    pending = vnet.get("pending") if isinstance(vnet.get("pending"), dict) else {}
    return str(vnet.get("alias") or pending.get("alias") or "")


def sdn_subnets_in_use(ctx: Context) -> list[str]:
    """The subnets named in tenctl VNet aliases, in every zone: other tenctl installations' tenants included."""
    found = []
    for vnet in ctx.cached_get(VNETS, pending=1):
        match = ALIAS_SUBNET.search(alias_of(vnet))
        if match:
            found.append(match.group(1))
    return found


def tenant_of_vnet(vnet: dict[str, Any]) -> str | None:
    """The tenant a tenctl-made VNet belongs to, from its alias."""
    alias = alias_of(vnet)
    if not alias.startswith(ALIAS_PREFIX):
        return None
    return alias.removeprefix(ALIAS_PREFIX).split(" ", 1)[0]


def refuse_pending_changes(ctx: Context) -> None:
    """Stop before any change when the SDN configuration holds changes someone else has not applied.

    Taking the SDN lock would refuse anyway, but only after the Proxmox access objects were made and
    had to be undone; the listings read for allocation show pending state at no extra request. A
    pending tenctl VNet is another tenctl's change under way: its lock is waited for later.
    """
    pending = [
        f"{kind} {item.get(key)} ({item['state']})"
        for kind, path, key in (("zone", ZONES, "zone"), ("VNet", VNETS, "vnet"))
        for item in ctx.cached_get(path, pending=1)
        if item.get("state") and not (kind == "VNet" and tenant_of_vnet(item))
    ]
    if pending:
        raise TenctlError(
            "the SDN configuration has pending changes that tenctl did not make: " + ", ".join(pending),
            hint="review them in the web UI (Datacenter > SDN) and apply or roll them back",
        )


SDN_LOCK_WAIT = 30.0


def sdn_lock_held(ctx: Context, detail: str) -> TenctlError:
    """The error for an SDN lock that stayed held, with its age where the cluster file system shows it."""
    info = read_sdn_lock(ctx.config.paths.cluster_dir)
    if info is None:
        since = "for an unknown time (its age shows only on a cluster node)"
    else:
        since = f"for {info.age:.0f} s" + (" (STALE: its holder probably crashed)" if info.stale else "")
    return TenctlError(
        f"the Proxmox SDN lock is held by another client {since} ({detail.strip()})",
        hint="retry when it is released; the SDN lock never expires, so if its holder crashed release it "
        "with `tenctl lock release --sdn --force` (or `pvesh delete /cluster/sdn/lock --force 1`)",
    )


class SdnLock:
    """Proxmox's cluster-wide SDN lock for one batch of changes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.token: str | None = None

    def acquire(self, allow_pending: bool = False) -> str:
        """Take the lock, waiting up to SDN_LOCK_WAIT seconds while another client holds it."""
        deadline = time.monotonic() + SDN_LOCK_WAIT
        delay = 0.1
        while True:
            try:
                self.token = str(
                    self.ctx.proxmox.post(
                        "/cluster/sdn/lock", **{"allow-pending": 1 if allow_pending else None}
                    )
                )
                return self.token
            except ProxmoxError as exc:
                if "pending" in exc.detail:
                    raise TenctlError(
                        "the SDN configuration has pending changes that tenctl did not make, so it will not "
                        "apply them",
                        hint="review them in the web UI (Datacenter > SDN) and apply or roll them back",
                    ) from None
                if "lock" not in exc.detail:
                    raise
                held = read_sdn_lock(self.ctx.config.paths.cluster_dir)
                if time.monotonic() >= deadline or (held is not None and held.stale):
                    raise sdn_lock_held(self.ctx, exc.detail) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def apply(self) -> None:
        self.ctx.proxmox.put("/cluster/sdn", **{"lock-token": self.token, "release-lock": 1})
        self.token = None

    def abandon(self) -> None:
        """Discard pending changes and release the lock; best effort on a failure path."""
        if self.token is None:
            return
        try:
            self.ctx.proxmox.post("/cluster/sdn/rollback", **{"lock-token": self.token, "release-lock": 1})
        except TenctlError:
            try:
                self.ctx.proxmox.delete("/cluster/sdn/lock", **{"lock-token": self.token})
            except TenctlError:
                pass
        self.token = None

    def run(self, changes: Callable[[str], Any], allow_pending: bool = False) -> None:
        """Lock, make the changes with the token, apply once; roll back and release on failure."""
        token = self.acquire(allow_pending)
        try:
            changes(token)
            self.apply()
        except BaseException:
            self.abandon()
            raise


class SdnProvisioner(NetworkProvisioner):
    name = PROVIDER
    description = "Proxmox SDN zone, one VNet and subnet per tenant"
    layer = "sdn"

    def plan_init(self, ctx: Context) -> list[Step]:
        sdn = ctx.config.sdn
        if zone_exists(ctx, sdn.zone):
            return []
        params: dict[str, Any] = {"zone": sdn.zone, "type": sdn.zone_type}
        if sdn.zone_type == "vlan":
            params["bridge"] = sdn.bridge
        elif sdn.zone_type == "vxlan":
            peers = sdn.peers or tuple(node_addresses(ctx))
            params["peers"] = ",".join(peers)
            params["vxlan-port"] = sdn.vxlan_port
        px = ctx.proxmox

        def create(token: str) -> None:
            px.post(ZONES, **params, **{"lock-token": token})

        return [
            Step(
                self.layer,
                f"create SDN {sdn.zone_type} zone {sdn.zone} and apply SDN",
                lambda: SdnLock(ctx).run(create),
                provider=self.name,
            )
        ]

    def plan_add(self, ctx: Context, tenant: Tenant) -> list[Step]:
        if not zone_exists(ctx, tenant.zone):
            raise TenctlError(f"SDN zone {tenant.zone} does not exist", hint="run `tenctl init` first")
        refuse_pending_changes(ctx)
        px = ctx.proxmox
        sid = subnet_id(tenant.zone, tenant.subnet)

        def create(token: str) -> None:
            px.post(
                VNETS,
                vnet=tenant.vnet,
                zone=tenant.zone,
                tag=tenant.vlan,
                alias=vnet_alias(tenant),
                **{"lock-token": token},
            )
            px.post(
                f"{VNETS}/{tenant.vnet}/subnets",
                subnet=tenant.subnet,
                type="subnet",
                gateway=tenant.gateway,
                **{"lock-token": token},
            )

        def apply() -> None:
            try:
                SdnLock(ctx).run(create)
            except ProxmoxError as exc:
                if "already" in exc.detail:
                    raise AllocationLost(
                        f"VNet {tenant.vnet} (VLAN {tenant.vlan}) or subnet {tenant.subnet} was taken by another "
                        f"client meanwhile: {exc.detail}"
                    ) from None
                raise
            tenant.note_object(f"vnet:{tenant.vnet}")
            tenant.note_object(f"subnet:{sid}")

        def undo() -> None:
            delete_vnet(ctx, tenant)

        return [
            Step(
                self.layer,
                f"create VNet {tenant.vnet} (tag {tenant.vlan}) with subnet {tenant.subnet} "
                f"gateway {tenant.gateway} in zone {tenant.zone}, apply SDN",
                apply,
                undo,
                f"delete VNet {tenant.vnet} and its subnet, apply SDN",
                provider=self.name,
                ref=f"vnet:{tenant.vnet}",
            ),
            acl_step(ctx, tenant, f"/sdn/zones/{tenant.zone}/{tenant.vnet}", SDN_ROLE, provider=self.name),
        ]

    def plan_remove(self, ctx: Context, tenant: Tenant) -> list[Step]:
        steps = [
            acl_remove_step(ctx, tenant, ref, provider=self.name)
            for ref in list(tenant.created_objects)
            if ref.startswith("acl:/sdn/")
        ]
        if tenant.has_object(f"vnet:{tenant.vnet}"):
            steps.append(
                Step(
                    self.layer,
                    f"delete VNet {tenant.vnet} and subnet {tenant.subnet}, apply SDN",
                    lambda: delete_vnet(ctx, tenant),
                    provider=self.name,
                )
            )
        return steps


def delete_vnet(ctx: Context, tenant: Tenant) -> None:
    """Delete the tenant's subnet and VNet under the SDN lock; what is already gone is skipped."""
    px = ctx.proxmox
    sid = subnet_id(tenant.zone, tenant.subnet)

    def delete(token: str) -> None:
        for path in (f"{VNETS}/{tenant.vnet}/subnets/{sid}", f"{VNETS}/{tenant.vnet}"):
            try:
                px.delete(path, **{"lock-token": token})
            except ProxmoxError as exc:
                if not is_missing(exc):
                    raise

    # A crashed tenctl may have left this tenant's VNet pending: that is the one pending change allowed.
    refuse_pending_changes(ctx)
    SdnLock(ctx).run(delete, allow_pending=True)
    tenant.forget_object(f"subnet:{sid}")
    tenant.forget_object(f"vnet:{tenant.vnet}")


def node_addresses(ctx: Context) -> Iterable[str]:
    """The IP addresses of the cluster's online nodes, for VXLAN peers."""
    for item in ctx.proxmox.get("/cluster/status"):
        if item.get("type") == "node" and item.get("online") and item.get("ip"):
            yield str(item["ip"])
