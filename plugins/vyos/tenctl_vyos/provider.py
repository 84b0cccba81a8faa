"""The edge provider: a tenant's gateway vif, source NAT rule and place in the isolation groups.

Objects and ownership:

* ``vif``: ``interfaces ethernet <lan> vif <vlan>``; its description carries the marker;
* ``nat``: ``nat source rule <vlan*10>``; its description carries the marker;
* ``member`` / ``cut``: the tenant's subnet in TENCTL-TENANTS / TENCTL-SUSPENDED; owned through the vif
  whose address lies in that subnet.

Observed state is one read of the running configuration per command. A tenant's changes go to the
router as one batch (one commit), verified by reading the running configuration back before the
commit is confirmed.

A confirm window that is open is written in the tenant's record (``[plugins.vyos-edge] confirm_window``)
before ``commit-confirm`` and removed after ``confirm``. A command that loses its session or is killed in
between leaves it there: when the step is settled (the change is found on the router) or ``repair`` runs,
``confirm`` is sent, so that the router does not later roll back, behind the reconcile, what was kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tenctl_core.engine import all_shown
from tenctl_core.errors import TenctlError
from tenctl_core.model import SUSPENDED
from tenctl_core.ownership import Marker, parse_marker
from tenctl_core.plan import Step
from tenctl_core.providers import CREATE, DELETE, Change, EdgeBackend, Key, Observed, Resource
from tenctl_vyos.model import (
    CUT,
    MEMBER,
    NAT,
    SUSPENDED_GROUP,
    TENANTS_GROUP,
    VIF,
    RouterConfig,
    gateway_cidr,
    member_line,
    nat_lines,
    nat_path,
    nat_rule,
    subnet_of_address,
    vif_lines,
    vif_path,
)
from tenctl_vyos.settings import PROVIDER, SETTINGS, vyos_settings
from tenctl_vyos.transport import router

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant

GROUP_OF = {MEMBER: TENANTS_GROUP, CUT: SUSPENDED_GROUP}
WINDOW = "confirm_window"
"""Key of the tenant record's ``[plugins.vyos-edge]`` table: a confirm window tenctl may have left open."""


def note_window(ctx: Context, tenant: Tenant, minutes: int) -> None:
    """Keep in the record that a confirm window is open (until when), or that none is (minutes 0)."""
    section = tenant.plugins.setdefault(PROVIDER, {})
    if minutes:
        section[WINDOW] = {"until": round(time.time() + minutes * 60)}
    elif section.pop(WINDOW, None) is None:
        return
    if not section:
        tenant.plugins.pop(PROVIDER, None)
    if ctx.store.exists(tenant.name):
        ctx.store.save(tenant)


def close_window(ctx: Context, tenant: Tenant) -> None:
    """``confirm`` a window the record says may be open; a window already over needs nothing."""
    entry = tenant.plugins.get(PROVIDER, {}).get(WINDOW)
    if not entry:
        return
    if float(entry.get("until", 0)) > time.time():
        router(ctx, vyos_settings(ctx)).confirm()
    note_window(ctx, tenant, 0)


def running_config(ctx: Context, fresh: bool = False) -> RouterConfig:
    """The router's running configuration: read once per command (again with ``fresh``)."""
    key = "vyos:running"
    if fresh or key not in ctx.cache:
        ctx.cache[key] = RouterConfig(router(ctx, vyos_settings(ctx)).running())
    found: RouterConfig = ctx.cache[key]
    return found


def observed_objects(ctx: Context, config: RouterConfig) -> list[Observed]:
    settings = vyos_settings(ctx)
    found: list[Observed] = []
    vif_of_subnet: dict[str, str] = {}
    for vlan, attrs in config.vifs(settings.lan_interface).items():
        found.append(Observed(VIF, str(vlan), dict(attrs), parse_marker(attrs["description"])))
        for address in attrs["address"].split(","):
            subnet = subnet_of_address(address)
            if subnet:
                vif_of_subnet[subnet] = str(vlan)
    for number, attrs in config.nat_rules().items():
        found.append(Observed(NAT, str(number), dict(attrs), parse_marker(attrs["description"])))
    for kind, group in GROUP_OF.items():
        for subnet in config.group(group):
            parent = vif_of_subnet.get(subnet)
            found.append(Observed(kind, subnet, {}, parent=(VIF, parent) if parent else None))
    return found


class VyosEdge(EdgeBackend):
    name = PROVIDER
    description = "VyOS edge router: the tenant's gateway vif, source NAT and isolation groups (SSH or HTTPS API)"
    settings = SETTINGS
    summary_labels = {"edge_nat_rule": "Edge NAT rule"}
    takeover_kinds = (VIF, NAT)
    """The Bash tool made ``vif <vlan>`` and NAT rule ``<vlan>*10`` per tenant, as tenctl does."""

    def enabled(self, ctx: Context) -> bool:
        return vyos_settings(ctx).configured

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        settings = vyos_settings(ctx)
        marker = ctx.marker(tenant)
        label = marker.label(f"Tenant {tenant.name}")
        vlan = str(tenant.vlan)
        wanted = [
            Resource(VIF, vlan, {"address": gateway_cidr(tenant.gateway, tenant.subnet), "description": label}),
            Resource(
                NAT,
                str(nat_rule(tenant.vlan)),
                {
                    "description": label,
                    "outbound": settings.wan_interface,
                    "source": tenant.subnet,
                    "translation": "masquerade",
                },
            ),
            Resource(MEMBER, tenant.subnet, {}, parent=(VIF, vlan)),
        ]
        if tenant.status == SUSPENDED and settings.suspend_action == "cut":
            wanted.append(Resource(CUT, tenant.subnet, {}, parent=(VIF, vlan)))
        return wanted

    def revoked(self, ctx: Context, tenant: Tenant) -> set[Key]:
        """A resumed tenant's subnet leaves TENCTL-SUSPENDED at once (not only with ``--prune``)."""
        cut = any(r.kind == CUT for r in self.desired(ctx, tenant))
        return set() if cut else {(CUT, tenant.subnet)}

    def summary(self, ctx: Context, tenant: Tenant) -> dict[str, Any]:
        return {"edge_nat_rule": nat_rule(tenant.vlan)}

    def recover(self, ctx: Context, tenant: Tenant) -> list[Step]:
        if not tenant.plugins.get(PROVIDER, {}).get(WINDOW):
            return []
        return [
            Step(
                layer=self.layer,
                action="confirm the router's commit a killed command left in its confirm window (what runs "
                "stays; the reconcile that follows sets it right)",
                apply=lambda: close_window(ctx, tenant),
                provider=self.name,
                id=f"{self.name}:confirm-window",
                op="recover",
            )
        ]

    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        return observed_objects(ctx, running_config(ctx))

    def read(self, ctx: Context, key: Key) -> Observed | None:
        for found in observed_objects(ctx, running_config(ctx, fresh=True)):
            if found.key == key:
                return found
        return None

    # The engine calls these through `steps`: each returns the router lines of one change.

    def lines(self, ctx: Context, change: Change) -> list[str]:
        settings = vyos_settings(ctx)
        kind, ident = change.key
        if change.op == DELETE:
            if kind == VIF:
                return [f"delete {vif_path(settings.lan_interface, ident)}"]
            if kind == NAT:
                return [f"delete {nat_path(ident)}"]
            return [member_line("delete", GROUP_OF[kind], ident)]
        assert change.resource is not None
        before = None if change.op == CREATE else (change.observed.attrs if change.observed else None)
        attrs = change.resource.attrs
        if kind == VIF:
            return vif_lines(settings.lan_interface, int(ident), attrs, before)
        if kind == NAT:
            return nat_lines(int(ident), attrs, before)
        return [] if before is not None else [member_line("set", GROUP_OF[kind], ident)]

    def create(self, ctx: Context, resource: Resource, marker: Marker) -> None:
        self._send(ctx, self.lines(ctx, Change(CREATE, resource, None)))

    def update(self, ctx: Context, resource: Resource, observed: Observed, marker: Marker) -> None:
        self._send(ctx, self.lines(ctx, Change("update", resource, observed)))

    def delete(self, ctx: Context, observed: Observed) -> None:
        self._send(ctx, self.lines(ctx, Change(DELETE, None, observed)))

    def _send(
        self, ctx: Context, lines: list[str], verify: Any = None, confirm: bool = True, tenant: Tenant | None = None
    ) -> None:
        if not lines:
            return
        window = (lambda minutes: note_window(ctx, tenant, minutes)) if tenant is not None else None
        try:
            router(ctx, vyos_settings(ctx)).change(
                lines, verify or (lambda paths: None), confirm=confirm, window=window
            )
        finally:
            ctx.cache.pop("vyos:running", None)

    def steps(self, ctx: Context, tenant: Tenant, changes: Sequence[Change]) -> list[Step]:
        """All of the tenant's router changes in one commit, verified before it is confirmed."""
        batch = list(changes)
        lines = [line for change in batch for line in self.lines(ctx, change)]
        marker = ctx.marker(tenant)

        def shows(config: RouterConfig) -> bool:
            return all_shown(batch, {o.key: o for o in observed_objects(ctx, config)})

        def verify(paths: list[list[str]]) -> None:
            if not shows(RouterConfig(paths)):
                raise TenctlError(
                    f"the router's running configuration does not show tenant {tenant.name}'s changes after "
                    "the commit; it was not confirmed, so the router rolls it back"
                )

        def settle() -> bool | None:
            """Whether the change took effect; if it did, a window the lost session left open is closed, or
            the router would take back later what tenctl now counts as done."""
            took = shows(running_config(ctx, fresh=True))
            if took:
                close_window(ctx, tenant)
            return took

        def undo() -> None:
            config = running_config(ctx, fresh=True)
            index = {o.key: o for o in observed_objects(ctx, config)}
            back: list[str] = []
            for change in reversed(batch):
                found = index.get(change.key)
                if found is None:
                    continue
                owned = found.marker == marker or (
                    found.parent is not None and index.get(found.parent) is not None
                    and index[found.parent].marker == marker
                )
                if change.op == CREATE and owned:
                    back += self.lines(ctx, Change(DELETE, None, found))
                elif change.op != DELETE and change.observed is not None and change.resource is not None:
                    before = Resource(change.resource.kind, change.resource.id, dict(change.observed.attrs))
                    back += self.lines(ctx, Change("update", before, found))
            self._send(ctx, back, confirm=False)

        undoable = all(c.op != DELETE for c in batch)
        return [
            Step(
                layer=self.layer,
                action=f"router: {len(lines)} line(s) in one commit ({', '.join(f'{c.op} {c.key[0]} {c.key[1]}' for c in batch)})",
                apply=lambda: self._send(ctx, lines, verify, tenant=tenant),
                undo=undo if undoable else None,
                undo_action="take these router changes back (one commit)" if undoable else None,
                provider=self.name,
                diff="\n".join(lines),
                id=f"{self.name}:batch:{','.join(f'{c.op}:{c.key[0]}:{c.key[1]}' for c in batch)}",
                op="batch",
                settle=settle,
            )
        ]
