"""The switch provider: a tenant's VLAN, named for it, on every switch of its sites and on their trunks.

Objects and ownership: one ``vlan`` object per switch, id ``<switch>/<vlan>``, attributes ``name`` and
``trunks`` (the switch's trunk ports that carry it). Where the platform keeps a marker with the VLAN
(EOS's configuration comment, Junos's description) ownership is read from the switch; where it cannot
(IOS, NX-OS) a VLAN is the tenant's when its name is the tenant's and the tenant's record lists the switch.
VLANs and trunk members tenctl did not make are never removed: a removal takes the VLAN off the trunk
ports tenctl manages and deletes a VLAN that is ours.

Observed state is one read per switch per command, all switches at once. A tenant's changes are one
step: every switch concerned is changed in parallel (stage, commit with the commit timer, verify with
``get_vlans``, confirm); when one fails, the switches already changed in this step are changed back and
the step fails, so that the engine undoes the tenant's plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tenctl_core.engine import all_shown
from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.ownership import Marker, parse_marker
from tenctl_core.plan import Step
from tenctl_core.providers import CREATE, DELETE, Change, Key, NetworkProvisioner, Observed, Resource
from tenctl_switch_napalm.device import Switch, SwitchError, on_each
from tenctl_switch_napalm.settings import PROVIDER, SETTINGS, switch_settings
from tenctl_switch_napalm.templates import VlanIntent, template_for

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant

VLAN = "vlan"
SITES = "sites"
"""Key of the tenant record's ``[plugins.switch-vlans]`` table: the sites that carry its VLAN."""
SITE_OPTION = "switches.site"


def vlan_name(tenant: Tenant) -> str:
    """The VLAN's name on every switch: the tenant's name (unique, and valid on every platform shipped)."""
    return tenant.name


def switches(ctx: Context) -> dict[str, Switch]:
    """The command's switches (one connection each, opened on first use)."""
    key = "switches:devices"
    if key not in ctx.cache:
        settings = switch_settings(ctx)
        ctx.cache[key] = {
            spec.name: Switch(site, spec, settings.timeout) for site, spec in settings.switches()
        }
    found: dict[str, Switch] = ctx.cache[key]
    return found


def read_switch(switch: Switch) -> dict[str, Any]:
    """What one read of a switch gives: its VLANs and, where the platform keeps them, their markers."""
    template = template_for(switch.spec.driver)
    vlans = switch.vlans()
    markers = markers_in(switch.running_config()) if template.marker_in_config else {}
    return {"vlans": vlans, "markers": markers}


def markers_in(running: str) -> dict[int, Marker]:
    """The ownership marker of each VLAN section of a running configuration (``vlan N`` followed by its
    indented lines, the marker in a ``!!`` comment line or a description)."""
    found: dict[int, Marker] = {}
    current: int | None = None
    for line in running.splitlines():
        if not line[:1].isspace():
            words = line.split()
            current = int(words[1]) if len(words) == 2 and words[0] == "vlan" and words[1].isdigit() else None
            continue
        if current is not None:
            marker = parse_marker(line)
            if marker is not None:
                found[current] = marker
    return found


def state(ctx: Context, fresh: bool = False) -> dict[str, dict[str, Any] | BaseException]:
    """Every switch's read, in parallel, once per command (again with ``fresh``)."""
    key = "switches:state"
    if fresh or key not in ctx.cache:
        ctx.cache[key] = on_each(switches(ctx).values(), read_switch, switch_settings(ctx).concurrency)
    found: dict[str, dict[str, Any] | BaseException] = ctx.cache[key]
    return found


def default_sites(ctx: Context) -> list[str]:
    """Every site holding a node of the cluster (every site, for an inventory that names no nodes)."""
    nodes = {n["node"] for n in ctx.cached_get("/nodes")}
    return [s.name for s in switch_settings(ctx).sites if not s.nodes or nodes & set(s.nodes)]


def tenant_sites(ctx: Context, tenant: Tenant) -> list[str]:
    """The sites in the tenant's record; a tenant added before the switches were configured has none
    there and gets the default sites (``sync`` then puts its VLAN on their switches)."""
    section = tenant.plugins.get(PROVIDER, {})
    return list(section[SITES]) if SITES in section else default_sites(ctx)


def observed_on(
    ctx: Context, name: str, read: dict[str, Any], tenants: Sequence[Tenant]
) -> list[Observed]:
    """The VLANs of one switch as observed objects."""
    switch = switches(ctx)[name]
    template = template_for(switch.spec.driver)
    trunks = set(switch.spec.trunk_ports)
    found = []
    for vlan, attrs in sorted(read["vlans"].items()):
        marker = read["markers"].get(vlan)
        if not template.marker_in_config:
            marker = next(
                (
                    ctx.marker(t)
                    for t in tenants
                    if t.vlan == vlan and vlan_name(t) == attrs.get("name")
                    and switch.site.name in tenant_sites(ctx, t)
                ),
                None,
            )
        carried = sorted(trunks & {str(i) for i in attrs.get("interfaces", [])})
        found.append(
            Observed(
                VLAN,
                f"{name}/{vlan}",
                {"name": str(attrs.get("name", "")), "trunks": ",".join(carried)},
                marker,
                label=f"VLAN {vlan} on switch {name}",
            )
        )
    return found


def staged_diffs(ctx: Context, texts: dict[str, str]) -> dict[str, str]:
    """For a dry run, each switch's own diff of its text (napalm's compare_config; the candidate is
    discarded); otherwise the texts themselves, which the step's apply stages and diffs again."""
    if not ctx.dry_run:
        return texts
    devices = switches(ctx)

    def compare(switch: Switch) -> str:
        try:
            return switch.stage(texts[switch.name]) or "(no change)"
        finally:
            switch.discard()

    results = on_each([devices[n] for n in texts], compare, switch_settings(ctx).concurrency)
    return {n: (f"(cannot diff: {r})" if isinstance(r, BaseException) else r) for n, r in results.items()}


class SwitchVlans(NetworkProvisioner):
    name = PROVIDER
    description = "Tenant VLANs pushed to the site's physical switches with napalm, in parallel, with rollback"
    settings = SETTINGS
    runs_before = ("sdn-vnet",)
    summary_labels = {"switch_sites": "Switch sites"}

    def enabled(self, ctx: Context) -> bool:
        return switch_settings(ctx).configured

    def prepare(self, ctx: Context, tenant: Tenant) -> None:
        """The tenant's sites: those given with ``add --site``, else every site holding a node of the cluster
        (or every site, when the inventory names no nodes)."""
        settings = switch_settings(ctx)
        chosen = ctx.options.get(SITE_OPTION)
        if chosen:
            unknown = sorted(set(chosen) - {s.name for s in settings.sites})
            if unknown:
                raise UsageError(
                    f"--site: no site {', '.join(unknown)} in the [switches] inventory "
                    f"(sites: {', '.join(s.name for s in settings.sites)})"
                )
            sites = list(chosen)
        else:
            sites = default_sites(ctx)
        tenant.plugins.setdefault(PROVIDER, {})[SITES] = sites

    def restore(self, ctx: Context, tenant: Tenant, saved: Mapping[str, Any]) -> None:
        """The sites the backup names (``restore --site`` chooses others); one the inventory no longer has
        is refused, naming it, before any change."""
        if ctx.options.get(SITE_OPTION) or SITES not in saved:
            self.prepare(ctx, tenant)
            return
        from tenctl_switch_napalm.settings import NAME_RE

        sites = saved[SITES]
        if not isinstance(sites, list) or not all(isinstance(s, str) and NAME_RE.fullmatch(s) for s in sites):
            raise UsageError(f"backup: [plugins.{PROVIDER}] {SITES} {sites!r} is not a list of site names")
        unknown = sorted(set(sites) - {s.name for s in switch_settings(ctx).sites})
        if unknown:
            raise UsageError(
                f"backup: tenant {tenant.name}'s VLAN was on site(s) {', '.join(unknown)}, which the [switches] "
                "inventory does not have",
                hint="choose the sites with --site",
            )
        tenant.plugins.setdefault(PROVIDER, {})[SITES] = list(sites)

    def summary(self, ctx: Context, tenant: Tenant) -> dict[str, Any]:
        return {"switch_sites": ", ".join(tenant_sites(ctx, tenant))}

    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        settings = switch_settings(ctx)
        wanted = []
        for site, spec in settings.switches():
            if site.name not in tenant_sites(ctx, tenant):
                continue
            trunks = ",".join(sorted(spec.trunk_ports))
            wanted.append(
                Resource(VLAN, f"{spec.name}/{tenant.vlan}", {"name": vlan_name(tenant), "trunks": trunks})
            )
        return wanted

    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        found: list[Observed] = []
        for name, read in state(ctx).items():
            if isinstance(read, BaseException):
                raise read if isinstance(read, TenctlError) else SwitchError(f"switch {name}: {read}")
            found += observed_on(ctx, name, read, tenants)
        return found

    def read(self, ctx: Context, key: Key) -> Observed | None:
        name, _, _ = key[1].partition("/")
        switch = switches(ctx).get(name)
        if switch is None:
            return None
        tenants = ctx.tenants()
        for found in observed_on(ctx, name, read_switch(switch), tenants):
            if found.key == key:
                return found
        return None

    # Changes go through steps(); these make one change each on its switch.

    def create(self, ctx: Context, resource: Resource, marker: Marker) -> None:
        raise TenctlError("switch VLANs change through the provider's batched step")

    def update(self, ctx: Context, resource: Resource, observed: Observed, marker: Marker) -> None:
        raise TenctlError("switch VLANs change through the provider's batched step")

    def delete(self, ctx: Context, observed: Observed) -> None:
        raise TenctlError("switch VLANs change through the provider's batched step")

    def text(self, ctx: Context, tenant: Tenant, change: Change, reverse: bool = False) -> tuple[str, str]:
        """(switch, configuration text) of one change, or of its reverse."""
        name, _, vlan = change.key[1].partition("/")
        switch = switches(ctx)[name]
        template = template_for(switch.spec.driver)
        intent = VlanIntent(
            vlan=int(vlan),
            name=vlan_name(tenant),
            marker=ctx.marker(tenant).text(),
            trunk_ports=tuple(switch.spec.trunk_ports),
        )
        adding = (change.op != DELETE) != reverse
        return name, template.add(intent) if adding else template.remove(intent)

    def steps(self, ctx: Context, tenant: Tenant, changes: Sequence[Change]) -> list[Step]:
        settings = switch_settings(ctx)
        batch = list(changes)
        texts: dict[str, str] = {}
        for change in batch:
            name, text = self.text(ctx, tenant, change)
            texts[name] = texts.get(name, "") + text
        back: dict[str, str] = {}
        for change in reversed(batch):
            if change.op == CREATE or change.op == DELETE:
                name, text = self.text(ctx, tenant, change, reverse=True)
                back[name] = back.get(name, "") + text

        def wanted_on(name: str) -> list[Change]:
            return [c for c in batch if c.key[1].startswith(f"{name}/")]

        def shows(name: str, read: dict[str, Any]) -> bool:
            index = {o.key: o for o in observed_on(ctx, name, read, [tenant, *ctx.tenants()])}
            return all_shown(wanted_on(name), index)

        def push(switch: Switch, text: str, verify: bool) -> None:
            diff = switch.stage(text)
            if not diff.strip():
                switch.discard()
                return
            try:
                switch.commit(settings.revert_in)
            except SwitchError:
                switch.discard()
                raise
            if verify and not shows(switch.name, read_switch(switch)):
                raise SwitchError(
                    f"switch {switch.name} does not show tenant {tenant.name}'s VLAN after the commit; it was "
                    "not confirmed, so the switch rolls it back"
                )
            switch.confirm()

        def progress(name: str, words: str) -> None:
            ctx.info(f"  switch {name}: {words}")  # stderr, one line per switch as it finishes

        def apply() -> None:
            devices = switches(ctx)

            def one(switch: Switch) -> None:
                push(switch, texts[switch.name], verify=True)
                progress(switch.name, "changed and verified")

            results = on_each([devices[n] for n in texts], one, settings.concurrency)
            failed = {n: r for n, r in results.items() if isinstance(r, BaseException)}
            if failed:
                # Every switch of the step goes back, the failed ones included: a commit whose answer was
                # lost may have happened. What the switch shows decides, not what tenctl was told.
                on_each([devices[n] for n in back], change_back, settings.concurrency)
                ctx.cache.pop("switches:state", None)
                raise SwitchError("; ".join(str(e) for e in failed.values()))
            ctx.cache.pop("switches:state", None)

        def change_back(switch: Switch) -> None:
            switch.discard()  # a session still pending (its commit timer running) is aborted: rolled back
            marker = ctx.marker(tenant)
            owned = {o.key for o in observed_on(ctx, switch.name, read_switch(switch), [tenant]) if o.marker == marker}
            if any(c.key in owned for c in wanted_on(switch.name) if c.op == CREATE):
                push(switch, back[switch.name], verify=False)
                progress(switch.name, "changed back")

        def settle() -> bool | None:
            reads = state(ctx, fresh=True)
            return all(
                not isinstance(reads.get(n), BaseException) and shows(n, reads[n])  # type: ignore[arg-type]
                for n in texts
            )

        def undo() -> None:
            devices = switches(ctx)
            reads = state(ctx, fresh=True)
            marker = ctx.marker(tenant)
            todo = {}
            for name, text in back.items():
                read = reads.get(name)
                if isinstance(read, BaseException):
                    raise read
                owned = {o.key for o in observed_on(ctx, name, read, [tenant]) if o.marker == marker}
                if any(c.key in owned for c in wanted_on(name) if c.op == CREATE):
                    todo[name] = text
            results = on_each([devices[n] for n in todo], lambda s: push(s, todo[s.name], verify=False),
                              settings.concurrency)
            errors = [r for r in results.values() if isinstance(r, BaseException)]
            ctx.cache.pop("switches:state", None)
            if errors:
                raise SwitchError("; ".join(str(e) for e in errors))

        undoable = all(c.op == CREATE for c in batch)
        diff = "\n".join(
            f"--- switch {name}\n{text.rstrip()}" for name, text in staged_diffs(ctx, texts).items()
        )
        return [
            Step(
                layer=self.layer,
                action=f"switches: tenant VLAN on {len(texts)} switch(es) in parallel "
                f"({', '.join(f'{c.op} {c.key[1]}' for c in batch)})",
                apply=apply,
                undo=undo if undoable else None,
                undo_action="take the VLAN off these switches again" if undoable else None,
                provider=self.name,
                diff=diff,
                id=f"{self.name}:batch:{','.join(f'{c.op}:{c.key[1]}' for c in batch)}",
                op="batch",
                settle=settle,
            )
        ]
