"""Proxmox SDN for tenants: the zone (``init``), a VNet ``vn<vlan>`` with a subnet per tenant.

Every change runs under Proxmox's SDN lock: the token from
``POST /cluster/sdn/lock`` goes with each write and with the single apply
(``PUT /cluster/sdn`` with ``release-lock=1``, which PVE does not default).
If anything fails before the apply, the pending changes are rolled back and the
lock released, so no half-made VNet is left pending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tenctl_core.access import acl_remove_step, acl_step
from tenctl_core.context import Context
from tenctl_core.errors import ProxmoxError, TenctlError
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
    return any(z.get("zone") == zone and z.get("state") != "deleted" for z in ctx.cached_get(ZONES, pending=1))


def refuse_pending_changes(ctx: Context) -> None:
    """Stop before any change when the SDN configuration holds changes someone else has not applied.

    Taking the SDN lock would refuse anyway, but only after the Proxmox access objects were made and
    had to be undone; the listings read for allocation show pending state at no extra request.
    """
    pending = [
        f"{kind} {item.get(key)} ({item['state']})"
        for kind, path, key in (("zone", ZONES, "zone"), ("VNet", VNETS, "vnet"))
        for item in ctx.cached_get(path, pending=1)
        if item.get("state")
    ]
    if pending:
        raise TenctlError(
            "the SDN configuration has pending changes that tenctl did not make: " + ", ".join(pending),
            hint="review them in the web UI (Datacenter > SDN) and apply or roll them back",
        )


class SdnLock:
    """Proxmox's cluster-wide SDN lock for one batch of changes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.token: str | None = None

    def acquire(self) -> str:
        try:
            self.token = str(self.ctx.proxmox.post("/cluster/sdn/lock"))
        except ProxmoxError as exc:
            if "pending" in exc.detail:
                raise TenctlError(
                    "the SDN configuration has pending changes that tenctl did not make, so it will not apply them",
                    hint="review them in the web UI (Datacenter > SDN) and apply or roll them back",
                ) from None
            if "lock" in exc.detail:
                raise TenctlError(
                    f"the Proxmox SDN lock is held by another client ({exc.detail.strip()})",
                    hint="retry when it is released; a crashed holder's lock never expires: "
                    "release it with `pvesh delete /cluster/sdn/lock --force 1`",
                ) from None
            raise
        return self.token

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

    def run(self, changes: Callable[[str], Any]) -> None:
        """Lock, make the changes with the token, apply once; roll back and release on failure."""
        token = self.acquire()
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
                alias=f"Network for {tenant.name}",
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
                    raise TenctlError(
                        f"VNet {tenant.vnet} (VLAN {tenant.vlan}) or subnet {tenant.subnet} was taken meanwhile: "
                        f"{exc.detail}",
                        hint="run the command again to allocate another VLAN",
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

    SdnLock(ctx).run(delete)
    tenant.forget_object(f"subnet:{sid}")
    tenant.forget_object(f"vnet:{tenant.vnet}")


def node_addresses(ctx: Context) -> Iterable[str]:
    """The IP addresses of the cluster's online nodes, for VXLAN peers."""
    for item in ctx.proxmox.get("/cluster/status"):
        if item.get("type") == "node" and item.get("online") and item.get("ip"):
            yield str(item["ip"])
