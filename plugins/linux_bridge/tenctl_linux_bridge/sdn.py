"""Proxmox SDN for tenants: the zone (``init``), a VNet ``vn<vlan>`` with a subnet per tenant.

The VNet carries the ownership marker in its alias; the subnet is owned through its VNet. Every change
runs under Proxmox's SDN lock: the token from ``POST /cluster/sdn/lock`` goes with each write and with
the single apply (``PUT /cluster/sdn`` with ``release-lock=1``, which PVE does not default). The token is
written to the tenant's record before any change, so ``tenctl repair`` can release a lock a killed
command held. No command applies an SDN change it did not make: pending changes of anyone else stop it
before it changes anything.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tenctl_core.batch import current_batch
from tenctl_core.context import Context
from tenctl_core.errors import (
    AllocationLost,
    ProxmoxError,
    ProxmoxUnreachable,
    TenctlError,
    UsageError,
    is_missing,
)
from tenctl_core.model import Tenant
from tenctl_core.ownership import Marker, parse_marker
from tenctl_core.plan import Step
from tenctl_core.providers import CREATE, DELETE, Change, Key, NetworkProvisioner, Observed, Resource
from tenctl_linux_bridge.sdnlock import read_sdn_lock
from tenctl_linux_bridge.settings import (
    PROVIDER,
    RELEASE_OPTION,
    SETTINGS,
    UNTAGGED_ZONE_TYPES,
    check_zone,
    sdn_settings,
    vnet_id,
    vnet_of,
    zone_of,
)

SDN_ROLE = "PVESDNUser"
SDN_PRIVILEGES = frozenset({"SDN.Use", "SDN.Audit"})
"""What the SDN role gives a tenant on its VNet: attaching guests' NICs to it, and a look."""
VNETS = "/cluster/sdn/vnets"
ZONES = "/cluster/sdn/zones"
VNET, SUBNET = "vnet", "subnet"
RECORD_LOCK = "sdn_lock"
"""Key of the tenant record's ``[plugins.sdn-vnet]`` table that holds the SDN lock a command took."""


def subnet_id(zone: str, cidr: str) -> str:
    """The id Proxmox gives a subnet: ``<zone>-<network address>-<prefix length>``."""
    network, _, prefix = cidr.partition("/")
    return f"{zone}-{network}-{prefix}"


def vnet_alias(marker: Marker, tenant: Tenant) -> str:
    """``Network for <name> <subnet> (tenctl:...)``: the subnet in the alias lets every tenctl see it."""
    return marker.label(f"Network for {tenant.name} {tenant.subnet}")


ALIAS_SUBNET = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}/\d{1,2})")


def pending_view(item: dict[str, Any]) -> dict[str, Any]:
    """An SDN listing item as it will be after the next apply (PVE lists pending values under ``pending``)."""
    pending = item.get("pending") if isinstance(item.get("pending"), dict) else {}
    return {**item, **pending}


def alias_of(vnet: dict[str, Any]) -> str:
    return str(pending_view(vnet).get("alias") or "")


VNET_ID_RE = re.compile(r"vn(\d{1,4})")


def sdn_vlans_in_use(ctx: Context) -> list[int]:
    """Every VNet tag in every zone, running and pending, and every VLAN whose VNet id (``vn<vlan>``) is
    taken by a VNet of any zone: tenctl could not create that VNet."""
    tags: set[int] = set()
    for vnet in ctx.cached_get(VNETS, pending=1):
        for source in (vnet, vnet.get("pending") or {}):
            if isinstance(source, dict) and source.get("tag") not in (None, "", "deleted"):
                tags.add(int(source["tag"]))
        named = VNET_ID_RE.fullmatch(str(vnet.get("vnet") or ""))
        if named:
            tags.add(int(named.group(1)))
    return sorted(tags)


def sdn_subnets_in_use(ctx: Context) -> list[str]:
    """Every SDN subnet of every zone, running and pending.

    The VNets of this installation's tenants name their subnet in their alias and their records hold it;
    every other VNet (another installation's, a hand-made one, 0.2's) has its subnets read, one request
    per such VNet: only ``add`` asks, and only foreign VNets cost a request.
    """
    found = []
    ours = {vnet_of(t): t for t in ctx.tenants()}
    for vnet in ctx.cached_get(VNETS, pending=1):
        name = str(vnet.get("vnet"))
        match = ALIAS_SUBNET.search(alias_of(vnet))
        marker = parse_marker(alias_of(vnet))
        tenant = ours.get(name)
        if match:
            found.append(match.group(1))
        if tenant is not None and marker == ctx.marker(tenant):
            continue
        for sub in ctx.proxmox.get(f"{VNETS}/{name}/subnets", pending=1):
            cidr = subnet_cidr(sub)
            if cidr:
                found.append(cidr)
    return found


def subnet_cidr(item: dict[str, Any]) -> str | None:
    """The CIDR of a subnet listing item (``cidr``, or from its id ``<zone>-<address>-<prefix>``)."""
    if item.get("cidr"):
        return str(item["cidr"])
    parts = str(item.get("subnet") or item.get("id") or "").rsplit("-", 2)
    return f"{parts[1]}/{parts[2]}" if len(parts) == 3 else None


def zone_type(ctx: Context, zone: str) -> str:
    """The type of a zone: the configured one for the configured zone, else as Proxmox lists it."""
    sdn = sdn_settings(ctx)
    if zone == sdn.zone:
        return sdn.zone_type
    for item in ctx.cached_get(ZONES, pending=1):
        if item.get("zone") == zone:
            return str(pending_view(item).get("type") or "")
    return ""


def zone_exists(ctx: Context, zone: str) -> bool:
    """The zone is configured (applied or pending creation) and not pending deletion."""
    return any(
        z.get("zone") == zone and z.get("state") != "deleted" for z in ctx.cached_get(ZONES, pending=1)
    )


LEGACY_ALIAS = re.compile(r"Network for ([A-Za-z][A-Za-z0-9_-]*) \(\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}\)")
"""The alias tenctl 0.2 gave a tenant's VNet: ``sync`` takes such a VNet over for that tenant."""


def legacy_vnet_owner(alias: str) -> str | None:
    match = LEGACY_ALIAS.fullmatch(alias)
    return match.group(1) if match else None


def vnet_observed(item: dict[str, Any]) -> Observed:
    view = pending_view(item)
    alias = str(view.get("alias") or "")
    attrs = {
        "zone": view.get("zone"),
        "tag": view.get("tag"),
        "alias": alias,
        "state": item.get("state") or "",
    }
    return Observed(VNET, str(item["vnet"]), attrs, parse_marker(alias), legacy_owner=legacy_vnet_owner(alias))


def subnet_observed(vnet: str, item: dict[str, Any]) -> Observed:
    view = pending_view(item)
    sid = str(item.get("subnet") or item.get("id"))
    return Observed(
        SUBNET,
        f"{vnet}/{sid}",
        {"gateway": view.get("gateway"), "state": item.get("state") or ""},
        parent=(VNET, vnet),
    )


def tenant_of_vnet(vnet: dict[str, Any]) -> str | None:
    """The tenant a tenctl-made VNet belongs to, from its alias (marker or 0.2 form)."""
    alias = alias_of(vnet)
    marker = parse_marker(alias)
    return marker.tenant if marker else legacy_vnet_owner(alias)


# ------------------------------------------------------------------------------------- the lock


SDN_LOCK_WAIT = 30.0


class SdnLockBusy(TenctlError):
    """Another client (or an earlier command) holds the Proxmox SDN lock."""


def sdn_lock_held(ctx: Context, detail: str) -> TenctlError:
    """The error for an SDN lock that stayed held, with its age where the cluster file system shows it."""
    info = read_sdn_lock(ctx.config.paths.cluster_dir)
    if info is None:
        since = "for an unknown time (its age shows only on a cluster node)"
    else:
        since = f"for {info.age:.0f} s" + (" (STALE: its holder probably crashed)" if info.stale else "")
    return SdnLockBusy(
        f"the Proxmox SDN lock is held by another client {since} ({detail.strip()})",
        hint="retry when it is released; the SDN lock never expires, so if its holder crashed release it "
        "with `tenctl lock release --sdn --force` (or `pvesh delete /cluster/sdn/lock --force 1`)",
    )


def token_time(token: str) -> float | None:
    """The creation time (epoch seconds) of a UUIDv7 lock token, as PVE makes them; None otherwise."""
    try:
        value = uuid.UUID(token.strip())
    except ValueError:
        return None
    if value.version != 7:
        return None
    return (value.int >> 80) / 1000.0


def lock_token_on_node(ctx: Context) -> str | None:
    """The SDN lock token as /etc/pve/sdn/.lock holds it (on a cluster node only), or None."""
    try:
        return (Path(ctx.config.paths.cluster_dir) / "sdn" / ".lock").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def our_lost_token(ctx: Context, requested: float) -> str | None:
    """The token of a lock whose answer was lost: the lock held now was taken at or after our request.

    Only a node sees the token (in /etc/pve/sdn/.lock). PVE's tokens are UUIDv7, which carry their
    creation time; a lock taken after our request was taken by that request, since the lock was free
    when we asked (our request would have been refused otherwise) and nobody can take a held lock.
    """
    token = lock_token_on_node(ctx)
    if not token:
        return None
    made = token_time(token)
    return token if made is not None and made >= requested - 1.0 else None


class SdnLock:
    """Proxmox's cluster-wide SDN lock for one batch of changes, journaled in the tenant's record."""

    def __init__(self, ctx: Context, tenant: Tenant | None = None) -> None:
        self.ctx = ctx
        self.tenant = tenant
        self.token: str | None = None

    def write_journal(self, entry: dict[str, Any] | None) -> None:
        tenant = self.tenant
        if tenant is None or not self.ctx.store.exists(tenant.name):
            return
        section = tenant.plugins.setdefault(PROVIDER, {})
        if entry is None:
            section.pop(RECORD_LOCK, None)
        else:
            section[RECORD_LOCK] = entry
        self.ctx.store.save(tenant)

    def acquire(self, allow_pending: bool = False, wait: bool = True) -> str:
        """Take the lock, waiting up to SDN_LOCK_WAIT seconds (or not at all) while another client holds it."""
        deadline = time.monotonic() + (SDN_LOCK_WAIT if wait else 0.0)
        delay = 0.1
        while True:
            requested = time.time()
            self.write_journal({"requested": requested})
            try:
                answer = self.ctx.proxmox.post(
                    "/cluster/sdn/lock", **{"allow-pending": 1 if allow_pending else None}
                )
                self.token = str(answer)
                self.write_journal({"requested": requested, "token": self.token})
                return self.token
            except ProxmoxUnreachable:
                # The request may have taken the lock and only its answer was lost.
                token = our_lost_token(self.ctx, requested)
                if token is None:
                    if Path(self.ctx.config.paths.cluster_dir, "sdn").is_dir():
                        self.write_journal(None)  # on a node the lock file shows it was not taken
                    raise
                self.token = token
                self.write_journal({"requested": requested, "token": token})
                return token
            except ProxmoxError as exc:
                self.write_journal(None)
                if "pending" in exc.detail:
                    raise PendingChanges() from None
                if "lock" not in exc.detail:
                    raise
                held = read_sdn_lock(self.ctx.config.paths.cluster_dir)
                if time.monotonic() >= deadline or (held is not None and held.stale):
                    raise sdn_lock_held(self.ctx, exc.detail) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def apply(self, verified: bool = False) -> None:
        """Apply and release. With ``verified`` the token stays journaled until the caller has read the
        changes back: an apply answered but not made leaves our lock held, and only the token ends it."""
        self.ctx.proxmox.put("/cluster/sdn", **{"lock-token": self.token, "release-lock": 1})
        self.token = None
        if not verified:
            self.write_journal(None)

    def release(self) -> None:
        """Give the lock back without applying (nothing was changed under it)."""
        if self.token is None:
            return
        self.ctx.proxmox.delete("/cluster/sdn/lock", **{"lock-token": self.token})
        self.token = None
        self.write_journal(None)

    def abandon(self) -> None:
        """Discard the pending changes made under our token and release it; best effort on a failure path."""
        if self.token is None:
            return
        try:
            self.discard(self.token)
        except TenctlError:
            pass  # the token stays journaled: the step's settle or `tenctl repair` ends it
        self.token = None

    def discard(self, token: str) -> bool:
        """End our lock `token` if it is still held: roll back what was made under it, release it.

        Returns True when our lock was held (and is now discarded), False when it was not (applied and
        released, or released by force): then nothing is touched.

        PVE checks a token only while a lock is held (pve-network, ``lock_sdn_config``): with no lock a
        rollback under an old token would discard anyone's pending changes. So the lock is taken first:
        when that succeeds no lock was held, and the new lock is given back at once. When it is refused
        as held, a rollback with our token succeeds only if the held lock is ours.
        """
        previous = dict(self.journaled())
        try:
            self.acquire(allow_pending=True, wait=False)
        except SdnLockBusy:
            self.write_journal(previous or None)
            try:
                self.ctx.proxmox.post("/cluster/sdn/rollback", **{"lock-token": token, "release-lock": 1})
            except ProxmoxError as exc:
                if "lock token" not in exc.detail:
                    raise
                self.write_journal(None)
                return False  # someone else holds the lock now: ours is gone
            self.write_journal(None)
            return True
        self.release()
        return False

    def journaled(self) -> dict[str, Any]:
        if self.tenant is None:
            return {}
        return dict(self.tenant.plugins.get(PROVIDER, {}).get(RECORD_LOCK) or {})


LOCK_FREE, LOCK_HELD, LOCK_FREE_PENDING = "free", "held", "pending"


def probe_sdn_lock(ctx: Context) -> str:
    """Whether Proxmox's SDN lock is held, asked of the API so that the answer is right on every node.

    PVE has no call that reads the lock (pve-network API2/Network/SDN.pm offers take, release, apply and
    rollback). So the lock is taken without ``allow-pending`` and given back at once: PVE checks a held
    lock first ("invalid lock token"), then pending changes, so the answer also tells whether anything at
    all (zones, VNets, subnets...) is pending. Returns LOCK_FREE, LOCK_HELD or LOCK_FREE_PENDING.
    """
    try:
        token = ctx.proxmox.post("/cluster/sdn/lock")
    except ProxmoxError as exc:
        if "lock token" in exc.detail:
            return LOCK_HELD
        if "pending" in exc.detail:
            return LOCK_FREE_PENDING
        raise
    ctx.proxmox.delete("/cluster/sdn/lock", **{"lock-token": str(token)})
    return LOCK_FREE


class PendingChanges(TenctlError):
    def __init__(self, items: Sequence[str] = ()) -> None:
        listing = (": " + ", ".join(items)) if items else ""
        super().__init__(
            "the SDN configuration has pending changes that tenctl did not make" + listing,
            hint="review them in the web UI (Datacenter > SDN) and apply or roll them back; tenctl never "
            "applies changes it did not make",
        )


def foreign_pending(
    ctx: Context, tenant: Tenant | None, fresh: bool = False, subnets: bool = True
) -> list[str]:
    """Pending SDN changes (zones, VNets, subnets) that are not this tenant's own; every one for no
    tenant (``health``).

    Subnets are read per VNet, so they are looked at only when PVE refused the lock for pending changes
    (``subnets``); zones and VNets come from the listings the command has read anyway.
    """
    px = ctx.proxmox
    marker = ctx.marker(tenant) if tenant is not None else None
    get = px.get if fresh else ctx.cached_get
    found: list[str] = []
    for zone in get(ZONES, pending=1):
        if zone.get("state"):
            found.append(f"zone {zone.get('zone')} ({zone['state']})")
    for vnet in get(VNETS, pending=1):
        name = str(vnet.get("vnet"))
        mine = marker is not None and parse_marker(alias_of(vnet)) == marker
        if vnet.get("state") and not mine:
            found.append(f"VNet {name} ({vnet['state']})")
        if mine or not subnets:
            continue
        for sub in px.get(f"{VNETS}/{name}/subnets", pending=1):
            if sub.get("state"):
                found.append(f"subnet {subnet_cidr(sub)} of VNet {name} ({sub['state']})")
    return found


def take_lock(ctx: Context, tenant: Tenant | None, lock: SdnLock) -> None:
    """Take the SDN lock; pending changes that are all this tenant's own (a killed command's) are allowed."""
    try:
        lock.acquire()
    except PendingChanges:
        others = foreign_pending(ctx, tenant)
        if others:
            raise PendingChanges(others) from None
        lock.acquire(allow_pending=True)
        others = foreign_pending(ctx, tenant, fresh=True)
        if others:
            lock.release()
            raise PendingChanges(others) from None


class SdnBatch:
    """The SDN changes of every tenant of a batch (``add --from-file``, ``migrate --records``): staged under
    one SDN lock, applied by one ``PUT /cluster/sdn`` at the end (see :mod:`tenctl_core.batch`).

    Each tenant's token is journaled in its record while its changes are staged, so that `tenctl repair`
    can discard them after a crash, as for one tenant's command.
    """

    def __init__(self, ctx: Context, provider: str) -> None:
        self.ctx = ctx
        self.provider = provider
        self.lock = SdnLock(ctx)
        self.staged: dict[str, tuple[Tenant, Callable[[], bool]]] = {}

    def tenants(self) -> list[str]:
        return list(self.staged)

    def step(
        self,
        provider: SdnProvisioner,
        tenant: Tenant,
        changes: list[Change],
        run: Callable[[str], None],
        undo: Callable[[str], None] | None,
        words: str,
    ) -> Step:
        from tenctl_core.engine import read_owned, shows

        ctx = self.ctx
        marker = ctx.marker(tenant)

        def shown(running: bool) -> bool:
            for change in changes:
                found = read_owned(ctx, provider, change.key, marker)
                if change.op == DELETE:
                    if found is not None and (running or found.attrs.get("state") != "deleted"):
                        return False
                    continue
                if found is not None and not running:
                    # Staged, not applied: PVE shows it pending ("new", "changed").
                    found = dataclasses.replace(found, attrs={**found.attrs, "state": ""})
                if change.resource is None or not shows(found, change.resource):
                    return False
            return True

        def stage() -> None:
            if self.lock.token is None:
                take_lock(ctx, tenant, self.lock)
            SdnLock(ctx, tenant).write_journal({"requested": time.time(), "token": self.lock.token})
            self.staged[tenant.name] = (tenant, lambda: shown(running=True))
            try:
                run(self.lock.token or "")
            except BaseException:
                # Half staged: take back what this tenant staged (the batch's lock stays for the others).
                if undo is not None:
                    undo(self.lock.token or "")
                self.forget(tenant)
                raise

        def verify() -> None:
            if not shown(running=False):
                raise TenctlError(f"SDN does not show the staged changes of tenant {tenant.name}")

        def unstage() -> None:
            # A staged object exists only in the SDN config files, not in .running-config; deleting it
            # leaves nothing pending (pve-network src/PVE/Network/SDN.pm, pending_config), so the batch's
            # apply commits the other tenants' changes alone.
            if undo is not None and self.lock.token is not None:
                undo(self.lock.token)
            self.forget(tenant)

        return Step(
            layer=provider.layer,
            action=f"{words}; stage them for the batch's one SDN apply",
            apply=stage,
            undo=unstage if undo is not None else None,
            undo_action="undo these staged SDN changes" if undo is not None else None,
            provider=provider.name,
            id=f"{provider.name}:batch:{','.join(f'{c.op}:{c.key[0]}:{c.key[1]}' for c in changes)}",
            op="batch",
            settle=lambda: shown(running=False),
            verify=verify,
        )

    def forget(self, tenant: Tenant) -> None:
        self.staged.pop(tenant.name, None)
        SdnLock(self.ctx, tenant).write_journal(None)

    def finish(self) -> None:
        """The one apply, then every staged tenant's changes read back as running."""
        if self.lock.token is None:
            return
        if not self.staged:
            self.lock.release()
            return
        self.lock.apply(verified=True)
        missing = [name for name, (_, applied) in self.staged.items() if not applied()]
        if missing:
            raise TenctlError(f"SDN does not show the changes of {', '.join(missing)} after the apply")
        for tenant, _ in list(self.staged.values()):
            self.forget(tenant)

    def abandon(self) -> None:
        self.lock.abandon()
        for tenant, _ in list(self.staged.values()):
            try:
                self.forget(tenant)
            except Exception:  # noqa: BLE001, S110 - best effort: `tenctl repair` reads the journal
                pass


def locked_batch(
    ctx: Context, tenant: Tenant | None, changes: Callable[[str], Any], verified: bool = False
) -> None:
    """Lock, make the changes with the token, apply once; discard them and release on failure.

    With ``verified`` the caller reads the changes back after the apply and clears the journaled token
    then (see :meth:`SdnLock.apply`).

    When PVE refuses the lock for pending changes and every one of them is this tenant's own (left by a
    killed command), the lock is taken with ``allow-pending`` and the check repeated under the lock, so
    nobody's changes but ours are ever applied.
    """
    lock = SdnLock(ctx, tenant)
    take_lock(ctx, tenant, lock)
    try:
        changes(lock.token or "")
    except BaseException:
        lock.abandon()
        raise
    try:
        lock.apply(verified)
    except ProxmoxUnreachable:
        # An apply whose answer is lost may have applied and released: then a rollback with our token
        # could discard someone else's later changes. The step's settle reads the outcome; the token stays
        # journaled for `tenctl repair` to release if it is still held.
        raise
    except BaseException:
        lock.abandon()  # PVE answered and refused the apply: the lock is still ours
        raise


# ------------------------------------------------------------------------------- the provider


class SdnProvisioner(NetworkProvisioner):
    name = PROVIDER
    description = "Proxmox SDN zone, one VNet and subnet per tenant"
    runs_after = ("proxmox-access",)
    settings = SETTINGS
    summary_labels = {"vnet": "VNet", "zone": "SDN zone"}
    takeover_kinds = (VNET,)

    def grants(self, ctx: Context, tenant: Tenant) -> list[tuple[str, str]]:
        return [(f"/sdn/zones/{zone_of(tenant)}/{vnet_of(tenant)}", SDN_ROLE)]

    def grant_privileges(self, ctx: Context) -> dict[str, frozenset[str]]:
        return {SDN_ROLE: SDN_PRIVILEGES}

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        marker = ctx.marker(tenant)
        zone, vnet = zone_of(tenant), vnet_of(tenant)
        sid = subnet_id(zone, tenant.subnet)
        tag = None if zone_type(ctx, zone) in UNTAGGED_ZONE_TYPES else tenant.vlan
        return [
            Resource(
                VNET,
                vnet,
                {"zone": zone, "tag": tag, "alias": vnet_alias(marker, tenant), "state": ""},
            ),
            Resource(
                SUBNET,
                f"{vnet}/{sid}",
                {"gateway": tenant.gateway, "state": ""},
                create_only={"subnet": tenant.subnet},
                parent=(VNET, vnet),
            ),
        ]

    def lock_status(self, ctx: Context) -> dict[str, Any]:
        """The SDN lock as the API shows it (see probe_sdn_lock); its age when this node can see its file."""
        if probe_sdn_lock(ctx) != LOCK_HELD:
            return {"sdn_lock": None}
        info = read_sdn_lock(ctx.config.paths.cluster_dir)
        if info is None:
            describe = "Proxmox SDN lock: held (its age shows only on a cluster node)"
            return {"sdn_lock": {"held": True, "age_seconds": None, "stale": None, "describe": describe}}
        state = "STALE" if info.stale else "held"
        describe = f"Proxmox SDN lock: {state} for {info.age:.0f} s ({info.path})"
        return {"sdn_lock": {"held": True, **info.as_dict(), "describe": describe}}

    def release_locks(self, ctx: Context) -> list[dict[str, Any]]:
        if not ctx.options.get(RELEASE_OPTION.key):
            return []
        info = read_sdn_lock(ctx.config.paths.cluster_dir)
        if info is None and Path(ctx.config.paths.cluster_dir, "sdn").is_dir():
            return []  # on a node, where the lock shows: not held
        ctx.proxmox.delete("/cluster/sdn/lock", force=1)
        return [{"lock": "sdn", "age_seconds": round(info.age) if info else None}]

    def prepare(self, ctx: Context, tenant: Tenant) -> None:
        tenant.section(PROVIDER).update(zone=sdn_settings(ctx).zone, vnet=vnet_id(tenant.vlan))

    def restore(self, ctx: Context, tenant: Tenant, saved: Mapping[str, Any]) -> None:
        """The backup's zone when it still exists here, else the configured one (with a warning); the VNet
        follows the VLAN the tenant is restored with. A lock token of the backup's is never taken over."""
        self.prepare(ctx, tenant)
        zone = saved.get("zone")
        if zone is None or zone == zone_of(tenant):
            return
        if not isinstance(zone, str):
            raise UsageError(f"backup: [plugins.{PROVIDER}] zone {zone!r} is not a zone name")
        try:
            check_zone(zone)
        except UsageError as exc:
            raise UsageError(f"backup: [plugins.{PROVIDER}] {exc}") from None
        if zone_exists(ctx, zone):
            tenant.section(PROVIDER)["zone"] = zone
        else:
            ctx.warn(f"the backup's SDN zone {zone} does not exist here: tenant {tenant.name} gets a VNet in zone {zone_of(tenant)}")

    def summary(self, ctx: Context, tenant: Tenant) -> dict[str, Any]:
        return {"vnet": vnet_of(tenant), "zone": zone_of(tenant)}

    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        vnets = [vnet_observed(v) for v in ctx.cached_get(VNETS, pending=1)]
        found = list(vnets)
        if len(tenants) == 1:
            # One tenant: its subnets too. For many (health), the VNet listing alone keeps the request
            # count constant; a subnet is then checked by `sync` and `repair`.
            # Its VNet by name, and any VNet carrying a marker for its name: a tenant whose record is gone
            # (`sync --all --prune` of an orphan) is known by its name only.
            [tenant] = tenants
            wanted = {vnet_of(tenant)} | {v.id for v in vnets if v.marker and v.marker.tenant == tenant.name}
            for vnet in sorted(wanted & {v.id for v in vnets}):
                found += [subnet_observed(vnet, s) for s in ctx.proxmox.get(f"{VNETS}/{vnet}/subnets", pending=1)]
        return found

    def unobserved(self, tenants: Sequence[Tenant]) -> set[str]:
        return set() if len(tenants) == 1 else {SUBNET}

    def read(self, ctx: Context, key: Key) -> Observed | None:
        kind, ident = key
        try:
            if kind == VNET:
                item = ctx.proxmox.get(f"{VNETS}/{ident}", pending=1)
                return vnet_observed({"vnet": ident, **(item or {})})
            vnet, _, sid = ident.partition("/")
            item = ctx.proxmox.get(f"{VNETS}/{vnet}/subnets/{sid}", pending=1)
            return subnet_observed(vnet, {"subnet": sid, **(item or {})})
        except ProxmoxError as exc:
            if is_missing(exc):
                return None
            raise

    def create(self, ctx: Context, resource: Resource, marker: Marker, token: str = "") -> None:
        px = ctx.proxmox
        lock = {"lock-token": token or None}
        attrs = resource.attrs
        try:
            if resource.kind == VNET:
                px.post(
                    VNETS,
                    vnet=resource.id,
                    zone=attrs["zone"],
                    tag=attrs["tag"],
                    alias=attrs["alias"],
                    **lock,
                )
            else:
                vnet = resource.id.partition("/")[0]
                px.post(
                    f"{VNETS}/{vnet}/subnets",
                    subnet=resource.create_only["subnet"],
                    type="subnet",
                    gateway=attrs["gateway"],
                    **lock,
                )
        except ProxmoxError as exc:
            if "already" in exc.detail:
                raise AllocationLost(
                    f"{resource.describe()} was taken by another client meanwhile: {exc.detail}"
                ) from None
            raise

    def update(
        self, ctx: Context, resource: Resource, observed: Observed, marker: Marker, token: str = ""
    ) -> None:
        lock = {"lock-token": token or None}
        changed = {
            k: v
            for k, v in resource.attrs.items()
            if k not in ("state", "zone") and str(observed.attrs.get(k)) != str(v)
        }
        if not changed:
            return  # only the pending state differs: the apply at the end of the batch settles it
        if resource.kind == VNET:
            ctx.proxmox.put(f"{VNETS}/{resource.id}", **changed, **lock)
        else:
            vnet, _, sid = resource.id.partition("/")
            ctx.proxmox.put(f"{VNETS}/{vnet}/subnets/{sid}", **changed, **lock)

    def delete(self, ctx: Context, observed: Observed, token: str = "") -> None:
        if observed.attrs.get("state") == "deleted":
            return  # its deletion is pending: the apply at the end of the batch makes it
        lock = {"lock-token": token or None}
        if observed.kind == VNET:
            path = f"{VNETS}/{observed.id}"
        else:
            vnet, _, sid = observed.id.partition("/")
            path = f"{VNETS}/{vnet}/subnets/{sid}"
        try:
            ctx.proxmox.delete(path, **lock)
        except ProxmoxError as exc:
            if not is_missing(exc):
                raise

    # ------------------------------------------------------------- one batch under the SDN lock

    def steps(self, ctx: Context, tenant: Tenant, changes: Sequence[Change]) -> list[Step]:
        from tenctl_core.engine import read_owned, shows

        zone = zone_of(tenant)
        if any(c.op == CREATE and c.key[0] == VNET for c in changes) and not zone_exists(ctx, zone):
            raise TenctlError(f"SDN zone {zone} does not exist", hint="run `tenctl init` first")
        if ctx.dry_run:
            # A dry run takes no lock, so it says here what the real run would stop at. The real run
            # does not refuse here: pending changes may be another client's, in flight under its lock;
            # it waits for that lock, and PVE then refuses it the lock only if changes stay pending.
            others = foreign_pending(ctx, tenant, subnets=False)
            if others:
                raise PendingChanges(others)
        marker = ctx.marker(tenant)
        batch = list(changes)

        def run(token: str) -> None:
            for change in batch:
                if change.op == CREATE:
                    assert change.resource is not None
                    self.create(ctx, change.resource, marker, token)
                elif change.op == DELETE:
                    assert change.observed is not None
                    self.delete(ctx, change.observed, token)
                else:
                    assert change.resource is not None and change.observed is not None
                    self.update(ctx, change.resource, change.observed, marker, token)

        def took_effect() -> bool:
            for change in batch:
                found = read_owned(ctx, self, change.key, marker)
                if change.op == DELETE:
                    if found is not None:
                        return False
                elif change.resource is None or not shows(found, change.resource):
                    return False
            return True

        def verify() -> None:
            if not took_effect():
                raise TenctlError(f"SDN does not show the changes of tenant {tenant.name} after the apply")
            SdnLock(ctx, tenant).write_journal(None)  # read back: the apply released our lock

        def settle() -> bool | None:
            """After a failure: applied, discarded with our lock, or (lock gone, changes pending) unknown."""
            lock = SdnLock(ctx, tenant)
            if took_effect():
                lock.write_journal(None)  # the apply released the lock with it
                return True
            token = lock.journaled().get("token")
            if not token:
                return False  # no lock taken, or ours already discarded by the failure path
            if lock.discard(str(token)):
                return False
            return None  # our lock is gone but the changes are not all running: undo reads the world

        def undo(token: str) -> None:
            for change in reversed(batch):
                found = read_owned(ctx, self, change.key, marker)
                if found is None:
                    continue
                if change.op == CREATE:
                    self.delete(ctx, found, token)
                elif change.op != DELETE and change.observed is not None and change.resource is not None:
                    before = Resource(change.resource.kind, change.resource.id, dict(change.observed.attrs))
                    self.update(ctx, before, found, marker, token)

        words = "; ".join(describe_change(c) for c in batch)
        undoable = all(c.op != DELETE for c in batch)
        bulk = current_batch(ctx)
        if bulk is not None:
            staged = bulk.finaliser(self.name, lambda: SdnBatch(ctx, self.name))
            assert isinstance(staged, SdnBatch)
            return [staged.step(self, tenant, batch, run, undo if undoable else None, words)]
        return [
            Step(
                layer=self.layer,
                action=f"{words}; apply SDN",
                apply=lambda: locked_batch(ctx, tenant, run, verified=True),
                undo=(lambda: locked_batch(ctx, tenant, undo)) if undoable else None,
                undo_action="undo these SDN changes and apply SDN" if undoable else None,
                provider=self.name,
                id=f"{self.name}:batch:{','.join(f'{c.op}:{c.key[0]}:{c.key[1]}' for c in batch)}",
                op="batch",
                settle=settle,
                verify=verify,
            )
        ]

    def recover(self, ctx: Context, tenant: Tenant) -> list[Step]:
        entry = tenant.plugins.get(PROVIDER, {}).get(RECORD_LOCK)
        if not entry:
            return []

        def release() -> None:
            token = entry.get("token") or our_lost_token(ctx, float(entry.get("requested", 0)))
            if token:
                SdnLock(ctx, tenant).discard(token)
            elif not Path(ctx.config.paths.cluster_dir, "sdn").is_dir():
                raise TenctlError(
                    "a killed command of this tenant may hold the Proxmox SDN lock, and only a cluster node "
                    "can tell whether it does",
                    hint="run `tenctl repair` on a cluster node, or check and `tenctl lock release --sdn --force`",
                )
            tenant.plugins.get(PROVIDER, {}).pop(RECORD_LOCK, None)
            if ctx.store.exists(tenant.name):
                ctx.store.save(tenant)

        return [
            Step(
                layer=self.layer,
                action="discard the changes a killed command of this tenant left under the SDN lock and "
                "release it (if it still holds it)",
                apply=release,
                provider=self.name,
                id=f"{self.name}:recover:lock:{tenant.name}",
                op="recover",
            )
        ]

    def init_steps(self, ctx: Context) -> list[Step]:
        sdn = sdn_settings(ctx)
        if zone_exists(ctx, sdn.zone):
            return []
        params: dict[str, Any] = {"zone": sdn.zone, "type": sdn.zone_type}
        if sdn.zone_type == "vlan":
            params["bridge"] = sdn.bridge
        elif sdn.zone_type == "qinq":
            if not sdn.service_vlan:
                raise UsageError(
                    "a qinq zone needs its service VLAN: give --service-vlan or set sdn.service_vlan"
                )
            params.update(bridge=sdn.bridge, tag=sdn.service_vlan)
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
                lambda: locked_batch(ctx, None, create),
                provider=self.name,
                id=f"{self.name}:create:zone:{sdn.zone}",
                op="create",
            )
        ]


def describe_change(change: Change) -> str:
    kind, ident = change.key
    if kind == SUBNET:
        ident = ident.partition("/")[2]
    if change.op == CREATE and change.resource is not None:
        attrs = change.resource.attrs
        if kind == VNET:
            tagged = f" (tag {attrs['tag']})" if attrs["tag"] is not None else ""
            return f"create VNet {ident}{tagged} in zone {attrs['zone']}"
        return f"create subnet {change.resource.create_only.get('subnet')} gateway {attrs['gateway']}"
    if change.op == DELETE:
        return f"delete {'VNet' if kind == VNET else 'subnet'} {ident}"
    return (
        f"{'take over' if change.op == 'adopt' else 'update'} {'VNet' if kind == VNET else 'subnet'} {ident}"
    )


def node_addresses(ctx: Context) -> Iterable[str]:
    """The IP addresses of the cluster's online nodes, for VXLAN peers."""
    for item in ctx.proxmox.get("/cluster/status"):
        if item.get("type") == "node" and item.get("online") and item.get("ip"):
            yield str(item["ip"])
