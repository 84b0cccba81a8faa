"""The engine: from what a tenant should have and what exists, the steps that close the difference.

Every command that changes tenants (add, modify, suspend, resume, remove, repair, sync) is the same
reconcile: each provider states the intended objects of a tenant, reads the observed ones (one batched
read per provider), and the difference becomes steps, run by :func:`tenctl_core.plan.apply_plan` with
undo (add, modify, suspend, resume) or forward only (remove, repair, sync).

Ownership rules, applied here and nowhere else:

* an object is ours when it carries this installation's marker for the tenant, or hangs on an object
  that does (an ACL entry on the tenant's group, a subnet on its VNet);
* an intended object that exists and is not ours is a conflict: it is never changed or deleted;
* an object of ours that is not intended is deleted when the tenant is going away, or with ``prune``;
  otherwise it is reported;
* with ``adopt`` (``tenctl sync``), an object tenctl 0.2 made for this tenant (its comment says so and
  the record lists it) is taken over: the marker is added.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tenctl_core.errors import ConflictError, PluginError
from tenctl_core.ownership import Marker
from tenctl_core.plan import Plan, Step
from tenctl_core.providers import ADOPT, CREATE, DELETE, UPDATE, Change, Key, Observed, Provider, Resource

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant


def order_providers(providers: Sequence[Provider]) -> list[Provider]:
    """The providers in their declared order (``runs_after``/``runs_before`` name providers or layers).

    Providers with no order between them keep a stable order by layer, then name. A cycle is a plugin
    error naming the providers in it.
    """
    by_name = {p.name: p for p in providers}

    def matching(ref: str) -> list[str]:
        return [p.name for p in providers if p.name == ref or p.layer == ref]

    before: dict[str, set[str]] = {p.name: set() for p in providers}  # name -> names that must run first
    for p in providers:
        for ref in p.runs_after:
            before[p.name].update(n for n in matching(ref) if n != p.name)
        for ref in p.runs_before:
            for n in matching(ref):
                if n != p.name:
                    before[n].add(p.name)
    ordered: list[Provider] = []
    placed: set[str] = set()
    pending = sorted(by_name, key=lambda n: (by_name[n].layer, n))
    while pending:
        ready = [n for n in pending if before[n] <= placed]
        if not ready:
            raise PluginError(
                "the providers declare an order with a cycle: " + ", ".join(sorted(pending)),
                hint="check their runs_after and runs_before",
            )
        ordered.append(by_name[ready[0]])
        placed.add(ready[0])
        pending.remove(ready[0])
    return ordered


def tenant_providers(ctx: Context) -> list[Provider]:
    """Every enabled provider of every kind, in declared order (cached for the command)."""
    cached = ctx.cache.get("providers")
    if cached is None:
        plugins = ctx.plugins
        candidates: list[Provider] = [
            *plugins.tenant_providers(),
            *plugins.network_provisioners(),
            *plugins.edge_backends(),
        ]
        cached = order_providers([p for p in candidates if p.enabled(ctx)])
        ctx.cache["providers"] = cached
    return list(cached)


def is_owned(observed: Observed, marker: Marker, index: dict[Key, Observed]) -> bool:
    """Ours for this tenant: our marker, or hanging on an object of ours."""
    if observed.marker is not None:
        return observed.marker == marker
    if observed.parent is not None:
        parent = index.get(observed.parent)
        return parent is not None and parent.key != observed.key and is_owned(parent, marker, index)
    return False


@dataclass
class ProviderDiff:
    """What one provider would change for one tenant, and what it found and left alone."""

    provider: Provider
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """Intended objects that exist and are not ours: never touched."""
    extras: list[Observed] = field(default_factory=list)
    """Objects of ours that are not intended, kept (no prune)."""
    legacy: list[Observed] = field(default_factory=list)
    """Objects tenctl 0.2 made for the tenant (no marker yet): ``sync`` takes them over."""


@dataclass
class TenantDiff:
    tenant: Tenant
    providers: list[ProviderDiff] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for d in self.providers for c in d.changes]

    @property
    def conflicts(self) -> list[str]:
        return [c for d in self.providers for c in d.conflicts]

    @property
    def legacy(self) -> list[str]:
        return [o.describe() for d in self.providers for o in d.legacy]

    @property
    def extras(self) -> list[str]:
        return [f"{o.describe()} ({d.provider.name})" for d in self.providers for o in d.extras]


def diff_provider(
    provider: Provider,
    tenant: Tenant,
    expected: list[Resource],
    observed: list[Observed],
    marker: Marker,
    *,
    present: bool,
    adopt: bool = False,
    prune: bool = False,
    revoked: frozenset[Key] = frozenset(),
    claimed_extras: bool = False,
) -> ProviderDiff:
    """The changes that take one provider's observed objects of a tenant to the intended ones.

    ``revoked``: keys of objects an older tenctl made that go without ``--prune`` (see
    :meth:`Provider.revoked`); when taking over (``adopt``), 0.2's unmarked ones too.
    ``claimed_extras``: objects taken over (see :data:`CLAIMS`) that are not intended are deleted too (the
    Bash tool's ACL entries on a tenant's pool)."""
    index = {o.key: o for o in observed}
    result = ProviderDiff(provider)
    intended = expected if present else []
    for resource in intended:
        found = index.get(resource.key)
        if found is None:
            result.changes.append(Change(CREATE, resource, None))
        elif is_owned(found, marker, index):
            change = Change(UPDATE, resource, found)
            if change.differences():
                result.changes.append(change)
        elif adopt and adoptable(found, tenant, index):
            result.changes.append(Change(ADOPT, resource, found))
        else:
            result.conflicts.append(not_ours(found, tenant))
            if adoptable(found, tenant, index):
                result.legacy.append(found)
    intended_keys = {r.key for r in intended}
    for resource in expected if not present else []:
        found = index.get(resource.key)
        if found is not None and not is_owned(found, marker, index):
            result.conflicts.append(not_ours(found, tenant))
            if adoptable(found, tenant, index):
                result.legacy.append(found)
    for found in reversed(observed):
        if found.key in intended_keys:
            continue
        if found.key in revoked and (
            is_owned(found, marker, index) or (adopt and adoptable(found, tenant, index))
        ):
            result.changes.append(Change(DELETE, None, found))
            continue
        if not is_owned(found, marker, index):
            if claimed_extras and adoptable(found, tenant, index):
                result.changes.append(Change(DELETE, None, found))  # taken over, and not intended
            continue
        if present and not prune:
            result.extras.append(found)
        else:
            result.changes.append(Change(DELETE, None, found))
    return result


def adoptable(found: Observed, tenant: Tenant, index: dict[Key, Observed]) -> bool:
    """Made by tenctl 0.2 for this tenant: its comment says so, or it hangs on such an object."""
    if found.marker is not None:
        return False
    if found.legacy_owner is not None:
        return found.legacy_owner == tenant.name
    parent = index.get(found.parent) if found.parent else None
    return parent is not None and adoptable(parent, tenant, index)


def not_ours(found: Observed, tenant: Tenant) -> str:
    owner = (
        f"it carries the marker of tenant {found.marker.tenant} of installation {found.marker.installation}"
        if found.marker
        else "it carries no tenctl marker"
    )
    return f"{found.describe()} exists but is not tenctl's for tenant {tenant.name} ({owner}): left alone"


CLAIMS = "claimed_objects"
"""``ctx.cache`` key: object key -> tenant name, for objects without a marker that a command may take over
for that tenant as it takes over tenctl 0.2's (``tenctl migrate --records``: what a Bash record names)."""


def observe(ctx: Context, tenants: Sequence[Tenant]) -> dict[str, list[Observed]]:
    """Every provider's observed objects for these tenants: one batched read per provider."""
    seen = {p.name: p.observe(ctx, tenants) for p in tenant_providers(ctx)}
    claims: dict[Key, str] = ctx.cache.get(CLAIMS) or {}
    if claims:
        seen = {
            name: [
                replace(o, legacy_owner=claims[o.key]) if o.marker is None and o.key in claims else o
                for o in objects
            ]
            for name, objects in seen.items()
        }
    return seen


def diff_tenant(
    ctx: Context,
    tenant: Tenant,
    *,
    present: bool,
    adopt: bool = False,
    prune: bool = False,
    observed: dict[str, list[Observed]] | None = None,
) -> TenantDiff:
    """The difference between the tenant's intended and observed objects in every layer."""
    marker = ctx.marker(tenant)
    seen = observed if observed is not None else observe(ctx, [tenant])
    result = TenantDiff(tenant)
    for provider in tenant_providers(ctx):
        skipped = provider.unobserved(ctx.tenants()) if observed is not None else set()
        expected = [r for r in provider.desired(ctx, tenant) if r.kind not in skipped]
        keys = {r.key for r in expected}
        everything = seen.get(provider.name, [])
        sorted_out = sorted_by_owner(ctx, everything, keep=observed is not None)
        index = sorted_out.index
        # Only the objects at an intended key or naming this tenant (by marker, 0.2 comment or parent) can
        # be its own: looking at those alone keeps `health` linear in the number of tenants.
        candidates = {o.key: o for o in sorted_out.owned_by.get(tenant.name, [])}
        candidates.update((key, index[key]) for key in keys if key in index)
        mine = [
            o
            for o in sorted(candidates.values(), key=lambda o: sorted_out.position[o.key])
            if o.key in keys or is_owned(o, marker, index) or legacy_for(o, tenant, index)
        ]
        revoked = frozenset(provider.revoked(ctx, tenant)) if present else frozenset()
        result.providers.append(
            diff_provider(
                provider,
                tenant,
                expected,
                mine,
                marker,
                present=present,
                adopt=adopt,
                prune=prune,
                revoked=revoked,
                claimed_extras=adopt and prune and bool(ctx.cache.get(CLAIMS)),
            )
        )
    return result


def legacy_for(found: Observed, tenant: Tenant, index: dict[Key, Observed]) -> bool:
    return adoptable(found, tenant, index) and found.marker is None


@dataclass
class ObservedIndex:
    """One provider's observed objects indexed once per command: by key, by position, and by every tenant
    name an object or the objects it hangs on name (marker or tenctl 0.2 owner)."""

    objects: list[Observed]
    index: dict[Key, Observed]
    position: dict[Key, int]
    owned_by: dict[str, list[Observed]]


def sorted_by_owner(ctx: Context, objects: list[Observed], keep: bool) -> ObservedIndex:
    """The index of a listing; with ``keep``, made once and kept for the command (the list itself is the
    cache key): a listing of every tenant's objects that many tenants are compared with."""
    cache: list[ObservedIndex] = ctx.cache.setdefault("observed_indexes", []) if keep else []
    for known in cache:
        if known.objects is objects:
            return known
    index = {o.key: o for o in objects}
    owned_by: dict[str, list[Observed]] = {}
    for found in objects:
        for name in owner_names(found, index):
            owned_by.setdefault(name, []).append(found)
    made = ObservedIndex(objects, index, {o.key: n for n, o in enumerate(objects)}, owned_by)
    cache.append(made)
    return made


def owner_names(found: Observed, index: dict[Key, Observed], depth: int = 0) -> set[str]:
    """Every tenant name the object, or an object it hangs on, names."""
    names = {found.marker.tenant} if found.marker is not None else set()
    if found.legacy_owner is not None:
        names.add(found.legacy_owner)
    parent = index.get(found.parent) if found.parent is not None and found.parent != found.key else None
    if parent is not None and depth < 8:
        names |= owner_names(parent, index, depth + 1)
    return names


def reconcile_steps(ctx: Context, diff: TenantDiff, present: bool) -> list[Step]:
    """Steps for every provider: creation in provider order, removal in reverse."""
    ordered = diff.providers if present else list(reversed(diff.providers))
    steps: list[Step] = []
    for pd in ordered:
        if pd.changes:
            steps.extend(pd.provider.steps(ctx, diff.tenant, pd.changes))
    return steps


def refuse_conflicts(diff: TenantDiff) -> None:
    """Stop before any change when an intended object exists and is not ours."""
    if diff.conflicts:
        raise ConflictError(
            "; ".join(diff.conflicts),
            hint="tenctl never adopts or deletes what it did not create: remove or rename the object, or "
            "choose another tenant name",
        )


# ------------------------------------------------------------------- one step per change


def step_id(provider: Provider, op: str, key: Key) -> str:
    return f"{provider.name}:{op}:{key[0]}:{key[1]}"


def read_owned(ctx: Context, provider: Provider, key: Key, marker: Marker) -> Observed | None:
    """The object at key when it is ours (its parent read too when it is owned through it), else None."""
    found = provider.read(ctx, key)
    if found is None:
        return None
    if found.marker is None and found.parent is not None:
        # A parent found ours once in this command stays ours (its marker is never taken off; deleting
        # it takes its children with it), so a batch of ACL entries reads their group once.
        confirmed: set[tuple[Key, str]] = ctx.cache.setdefault("owned_parents", set())
        if (found.parent, str(marker)) in confirmed:
            return found
        parent = provider.read(ctx, found.parent)
        if parent is None or not is_owned(parent, marker, {parent.key: parent}):
            return None
        confirmed.add((parent.key, str(marker)))
        return found
    if not is_owned(found, marker, {found.key: found}):
        return None
    ctx.cache.setdefault("owned_parents", set()).add((found.key, str(marker)))
    return found


def shows(found: Observed | None, resource: Resource) -> bool:
    return found is not None and not Change(UPDATE, resource, found).differences()


def all_shown(changes: Sequence[Change], index: Mapping[Key, Observed]) -> bool:
    """Whether the observed objects (by key) show every change: a deleted object gone, every other one
    there with the intended attributes. How a batched step verifies and settles itself."""
    for change in changes:
        found = index.get(change.key)
        if change.op == DELETE:
            if found is not None:
                return False
        elif change.resource is None or not shows(found, change.resource):
            return False
    return True


def change_step(ctx: Context, provider: Provider, tenant: Tenant, change: Change) -> Step:
    """The step that makes one change, with its verify, settle and undo, each reading the world."""
    marker = ctx.marker(tenant)
    if change.op == CREATE:
        assert change.resource is not None
        return create_step(ctx, provider, marker, change.resource, change.op)
    if change.op in (UPDATE, ADOPT):
        assert change.resource is not None and change.observed is not None
        return update_step(ctx, provider, marker, change)
    assert change.observed is not None
    return delete_step(ctx, provider, change.observed, change.op)


def create_step(ctx: Context, provider: Provider, marker: Marker, resource: Resource, op: str) -> Step:
    key, what = resource.key, resource.describe()

    def created() -> bool:
        return read_owned(ctx, provider, key, marker) is not None

    def verify_created() -> None:
        if not shows(read_owned(ctx, provider, key, marker), resource):
            raise ConflictError(f"{what} does not show what was just written to it")

    def undo_create() -> None:
        found = read_owned(ctx, provider, key, marker)
        if found is not None:
            provider.delete(ctx, found)

    return Step(
        layer=provider.layer,
        action=f"create {what}" + describe_attrs(resource),
        apply=lambda: provider.create(ctx, resource, marker),
        undo=undo_create,
        undo_action=f"delete {what}",
        provider=provider.name,
        id=step_id(provider, op, key),
        op=op,
        settle=created,
        verify=verify_created,
    )


def update_step(ctx: Context, provider: Provider, marker: Marker, change: Change) -> Step:
    resource, observed = change.resource, change.observed
    assert resource is not None and observed is not None
    key, what = resource.key, resource.describe()
    before = Resource(resource.kind, resource.id, {k: observed.attrs.get(k) for k in resource.attrs})
    words = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in change.differences().items())
    adopt = change.op == ADOPT

    def updated() -> bool:
        return shows(provider.read(ctx, key), resource)

    def verify_updated() -> None:
        if not updated():
            raise ConflictError(f"{what} does not show the change just written to it")

    def undo_update() -> None:
        found = read_owned(ctx, provider, key, marker)
        if found is not None and not adopt:
            provider.update(ctx, before, found, marker)

    return Step(
        layer=provider.layer,
        action=f"{'take over' if adopt else 'update'} {what}" + (f": {words}" if words else ""),
        apply=lambda: provider.update(ctx, resource, observed, marker),
        undo=undo_update,
        undo_action=f"leave {what} taken over" if adopt else f"restore {what}",
        provider=provider.name,
        id=step_id(provider, change.op, key),
        op=change.op,
        settle=updated,
        verify=verify_updated,
    )


def delete_step(ctx: Context, provider: Provider, observed: Observed, op: str) -> Step:
    key, what = observed.key, observed.describe()

    def gone() -> bool:
        return provider.read(ctx, key) is None

    def verify_gone() -> None:
        if not gone():
            raise ConflictError(f"{what} is still there after it was deleted")

    return Step(
        layer=provider.layer,
        action=f"delete {what}",
        apply=lambda: provider.delete(ctx, observed),
        provider=provider.name,
        id=step_id(provider, op, key),
        op=op,
        settle=gone,
        verify=verify_gone,
    )


def describe_attrs(resource: Resource) -> str:
    if resource.label:
        return ""
    shown = {k: v for k, v in resource.attrs.items() if k not in ("comment", "alias") and v not in (None, "")}
    if not shown:
        return ""
    return (
        " ("
        + ", ".join(
            f"{k} {', '.join(map(str, v)) if isinstance(v, list | tuple) else v}" for k, v in shown.items()
        )
        + ")"
    )


def make_plan(command: str, tenant: Tenant, steps: list[Step], diff: TenantDiff) -> Plan:
    plan = Plan(command, tenant.name, steps)
    plan.notes.extend(diff.conflicts)
    plan.notes.extend(f"not intended, kept (use --prune to delete): {extra}" for extra in diff.extras)
    return plan
