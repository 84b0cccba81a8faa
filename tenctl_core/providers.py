"""The base classes of the providers plugins register.

A provider is an object with a ``name`` (unique within its kind) and the
methods of its base class; a method left abstract makes the provider fail at
registration, naming the method. Providers that change the world state what a
tenant should have and read what it has: the engine (:mod:`tenctl_core.engine`)
turns the difference into :class:`tenctl_core.plan.Step` objects.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tenctl_core.ownership import Marker

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.plan import Step


@dataclass(frozen=True)
class AllocationRequest:
    """What an allocator is asked for: the configured ranges and what is taken."""

    vlan_ranges: tuple[tuple[int, int], ...]
    subnet_pool: ipaddress.IPv4Network
    prefix_length: int
    vlans_in_use: frozenset[int]
    subnets_in_use: tuple[ipaddress.IPv4Network, ...]
    vlan: int | None = None
    """A VLAN the user asked for (already checked to be in range and free)."""
    subnet: ipaddress.IPv4Network | None = None
    """A subnet the user asked for (already checked to be free)."""
    skip_vlans: frozenset[int] = frozenset()
    """VLANs lost to another allocator in a race: not to be offered again."""


@dataclass(frozen=True)
class Allocation:
    vlan: int
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The tenant's gateway: the first address of its subnet."""
        return self.subnet.network_address + 1


class VlanAllocator(ABC):
    """Chooses a tenant's VLAN and subnet."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def allocate(self, request: AllocationRequest) -> Allocation:
        """A free VLAN and subnet; raise :class:`tenctl_core.errors.AllocationError` when none is left."""


Key = tuple[str, str]
"""An object's identity within its provider: ``(kind, id)``, e.g. ``("pool", "tenant_acme")``."""


@dataclass(frozen=True)
class Resource:
    """One object a provider wants a tenant to have, with the attributes it should show."""

    kind: str
    id: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    """What the object must show; compared with the observed object's attributes of the same names."""
    create_only: Mapping[str, Any] = field(default_factory=dict)
    """Sent when the object is created and never compared (an initial password)."""
    parent: Key | None = None
    """For an object without a field for the marker: the owned object it hangs on."""
    label: str = ""
    """How to name the object in a plan, when ``<kind> <id>`` says it badly."""

    @property
    def key(self) -> Key:
        return (self.kind, self.id)

    def describe(self) -> str:
        return self.label or f"{self.kind} {self.id}"


@dataclass(frozen=True)
class Observed:
    """One object as the backend shows it now."""

    kind: str
    id: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    marker: Marker | None = None
    """The ownership marker the object carries, if any."""
    parent: Key | None = None
    legacy_owner: str | None = None
    """The tenant a tenctl 0.2 comment names; ``sync`` takes such objects over."""
    label: str = ""

    @property
    def key(self) -> Key:
        return (self.kind, self.id)

    def describe(self) -> str:
        return self.label or f"{self.kind} {self.id}"


CREATE, UPDATE, DELETE, ADOPT = "create", "update", "delete", "adopt"


@dataclass(frozen=True)
class Change:
    """One difference between intended and observed state, and what closes it."""

    op: str
    """``create``, ``update``, ``delete`` or ``adopt`` (mark a tenctl 0.2 object as ours)."""
    resource: Resource | None
    """The intended object (create, update, adopt)."""
    observed: Observed | None
    """The object as it is (update, delete, adopt)."""

    @property
    def key(self) -> Key:
        target = self.resource or self.observed
        assert target is not None
        return target.key

    def differences(self) -> dict[str, tuple[Any, Any]]:
        """attribute -> (observed, intended) for an update."""
        if self.resource is None or self.observed is None:
            return {}
        return {
            name: (self.observed.attrs.get(name), value)
            for name, value in self.resource.attrs.items()
            if not same_value(self.observed.attrs.get(name), value)
        }


def same_value(observed: Any, intended: Any) -> bool:
    """Backends answer numbers as text and lists as comma-separated text: compare the meaning."""
    if isinstance(intended, bool):
        intended = int(intended)
    if isinstance(intended, (list, tuple, set, frozenset)):
        seen = observed.split(",") if isinstance(observed, str) else list(observed or [])
        return sorted(str(v) for v in seen if str(v)) == sorted(str(v) for v in intended)
    if intended in (None, ""):
        return observed in (None, "")
    return str(observed) == str(intended)


class Provider(ABC):
    """Builds one layer of every tenant: states the intent, reads the world, closes the difference.

    The engine asks :meth:`desired` for what a tenant should have (from its record and the
    configuration), :meth:`observe` for what exists (one batched read per command), and turns the
    difference into steps. :meth:`create`, :meth:`update` and :meth:`delete` change one object;
    :meth:`read` reads one object back, which is how a step whose answer was lost is settled. The
    engine never deletes or changes an object that lacks this installation's marker for the tenant.

    Order between providers is declared with :attr:`runs_after` and :attr:`runs_before`, each naming
    other providers or whole layers; creation follows that order and removal the reverse.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    layer: ClassVar[str] = "tenant"
    runs_after: ClassVar[tuple[str, ...]] = ()
    runs_before: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[Settings | None] = None
    """The configuration table this provider owns, with its schema (see :class:`Settings`)."""
    takeover_kinds: ClassVar[tuple[str, ...]] = ()
    """Kinds of intended object the Bash tenctl made for a tenant, without a marker, under the id tenctl
    gives it (a pool ``tenant_<n>``, a VNet ``vn<vlan>``): ``tenctl migrate --records`` takes such an object
    over, and what hangs on it. Objects of other kinds are never taken over."""

    def enabled(self, ctx: Context) -> bool:
        """Whether the configuration asks for this provider at all."""
        return True

    @abstractmethod
    def desired(self, ctx: Context, tenant: Tenant) -> list[Resource]:
        """What the tenant should have in this layer, in creation order."""

    @abstractmethod
    def observe(self, ctx: Context, tenants: Sequence[Tenant]) -> list[Observed]:
        """The objects of this layer that concern these tenants: a constant number of requests.

        Include every object at a key :meth:`desired` names, and every object carrying a tenctl
        marker; the engine sorts out which are whose.
        """

    def unobserved(self, tenants: Sequence[Tenant]) -> set[str]:
        """Kinds :meth:`observe` does not read for this many tenants (to keep its request count constant);
        the engine then compares nothing of those kinds."""
        return set()

    @abstractmethod
    def read(self, ctx: Context, key: Key) -> Observed | None:
        """One object as it is now, or None when it does not exist."""

    @abstractmethod
    def create(self, ctx: Context, resource: Resource, marker: Marker) -> None:
        """Create the object with the marker in its free-text field (or on its parent)."""

    @abstractmethod
    def update(self, ctx: Context, resource: Resource, observed: Observed, marker: Marker) -> None:
        """Make an existing object of ours show the resource's attributes (and the marker)."""

    @abstractmethod
    def delete(self, ctx: Context, observed: Observed) -> None:
        """Delete an object of ours; an object already gone is not an error."""

    def grants(self, ctx: Context, tenant: Tenant) -> list[tuple[str, str]]:
        """Proxmox permissions the tenant's group needs for this layer: ``(acl path, role)`` pairs.

        Core's access provider grants them (and nothing else) to the group, so a tenant's privileges
        are decided in one place and checked by ``tenctl health``.
        """
        return []

    def grant_privileges(self, ctx: Context) -> dict[str, frozenset[str]]:
        """The privileges each role named by :meth:`grants` is meant to give a tenant: role -> privileges.

        ``tenctl health`` reports a role that holds more (one edited by hand, a built-in role a new Proxmox
        release widened). A role :meth:`grants` names and this leaves out is checked only for privileges
        that change ACLs, users, pools or the cluster.
        """
        return {}

    def revoked(self, ctx: Context, tenant: Tenant) -> set[Key]:
        """Keys of objects of ours that must go even without ``--prune``, because keeping them would be
        wrong: a grant an older tenctl gave that a tenant must no longer hold, a state the tenant has
        left (a resumed tenant's suspension cut on the router). Every command that reconciles the tenant
        deletes them; when taking a tenant over, tenctl 0.2's unmarked ones too."""
        return set()

    def steps(self, ctx: Context, tenant: Tenant, changes: Sequence[Change]) -> list[Step]:
        """The steps that make the changes: by default one per change, in the order given.

        Override to batch changes (one SDN lock and apply for all of them, one router commit).
        """
        from tenctl_core.engine import change_step

        return [change_step(ctx, self, tenant, change) for change in changes]

    def recover(self, ctx: Context, tenant: Tenant) -> list[Step]:
        """Steps that end what a killed command of this provider left in flight (a lock it held)."""
        return []

    def init_steps(self, ctx: Context) -> list[Step]:
        """Steps that prepare the cluster for this layer (``tenctl init``); idempotent."""
        return []

    def prepare(self, ctx: Context, tenant: Tenant) -> None:
        """Fill this provider's part of a new tenant's record (``tenant.plugins[self.name]``) at ``add``,
        from the configuration and the command's options; called before :meth:`desired`."""
        return None

    def restore(self, ctx: Context, tenant: Tenant, saved: Mapping[str, Any]) -> None:
        """Fill this provider's part of a tenant's record at ``restore``, from ``saved``: the part the backup
        holds (empty when it holds none). Called instead of :meth:`prepare`, before :meth:`desired`.

        ``saved`` comes from an archive, which is untrusted: check every value with the rules the
        configuration's values follow and raise :class:`tenctl_core.errors.UsageError` for a bad one
        (nothing has changed yet). ``tenant`` already has the name, VLAN and subnet it is restored with,
        which may differ from the archive's (``--new-name``, ``--new-vlan``...): derive what depends on them
        again. Keep what the backend still allows and :meth:`Context.warn` about what it does not. By
        default the provider starts afresh, as :meth:`prepare` does for a new tenant.
        """
        self.prepare(ctx, tenant)

    def lock_status(self, ctx: Context) -> dict[str, Any]:
        """Locks this layer's backend holds for tenctl, for ``tenctl lock status`` (JSON keys and values;
        each value a dict with ``describe``, or None when free). Read without changing anything."""
        return {}

    def release_locks(self, ctx: Context) -> list[dict[str, Any]]:
        """Release what the options of ``tenctl lock release`` this provider registered ask for. One dict
        per lock released, for the audit trail: ``lock`` (its name) and what else is worth keeping (its
        age...); empty when none of its options was given or the lock was not held."""
        return []

    summary_labels: ClassVar[dict[str, str]] = {}
    """How ``tenctl show`` labels the keys of :meth:`summary`; ``show`` prints the keys named here."""

    def summary(self, ctx: Context, tenant: Tenant) -> dict[str, Any]:
        """What this layer adds to a tenant's description in ``list``, ``show`` and ``add`` (JSON keys)."""
        return {}


class Unimplemented:
    """Mixin for a provider registered under its final name before its backend exists.

    It reports itself disabled (so it is in no plan) and refuses every method; combine it with the
    provider's base class: ``class Placeholder(Unimplemented, EdgeBackend)``.
    """

    def enabled(self, ctx: Context) -> bool:
        return False

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self.name} is not implemented yet")  # type: ignore[attr-defined]

    desired = observe = read = create = update = delete = _refuse


class NetworkProvisioner(Provider):
    """A provider of the tenant's network (an SDN VNet, the VLAN on switches)."""

    layer: ClassVar[str] = "network"


class EdgeBackend(Provider):
    """An edge router: the tenant's gateway, source NAT and inter-tenant isolation."""

    layer: ClassVar[str] = "edge"
    runs_after: ClassVar[tuple[str, ...]] = ("network",)


@dataclass(frozen=True)
class Settings:
    """A configuration table a plugin owns: ``[<section>]`` checked against a frozen dataclass.

    Every key of the dataclass is typed by its default (bool, int, float, str, tuple of str); an
    unknown key, a key holding a secret, or a value of the wrong type is refused with the file and key
    named, exactly as core's own sections are. ``check`` receives the parsed settings and raises
    :class:`tenctl_core.errors.ConfigError` for a value out of range.
    """

    section: str
    """The top-level table, ``[<section>]``; it must not be one of core's."""
    schema: type
    check: Callable[[Any, str], None] | None = None
    """Called with the parsed settings and where they come from (the file names, for messages)."""


@dataclass(frozen=True)
class CommandOption:
    """An option a plugin adds to a core command (``tenctl init --zone``, ``tenctl add --site``).

    The value reaches providers as ``ctx.options[key]`` (``None`` when not given). ``check`` turns the
    text given into the value, raising :class:`tenctl_core.errors.UsageError` (exit 2, before any
    request) when it is wrong. ``flag`` is a boolean switch with no value.
    """

    command: str
    """The core command it extends: ``init``, ``add``, ``modify``..."""
    flags: tuple[str, ...]
    """``("--zone", "-z")``: the long form first."""
    key: str
    """Where the value goes: ``ctx.options[key]``; namespace it (``sdn.zone``)."""
    help: str
    check: Callable[[str], Any] | None = None
    flag: bool = False

    @property
    def name(self) -> str:
        return f"{self.command} {self.flags[0]}"


REPAIR, SYNC, REVOKE_GRANTS, RESTORE_ROLE, RELEASE_DEAD_LOCKS = (
    "repair",
    "sync",
    "revoke-grants",
    "restore-role",
    "release-dead-locks",
)
"""The repairs ``tenctl health --fix`` knows (:attr:`Remedy.action`): ``repair`` and ``sync`` the tenants
named, ``revoke-grants`` (delete the ACL entries of the tenants' groups and users that their records do not
ask for), ``restore-role`` (give the tenant role tenctl made its privileges back), ``release-dead-locks``
(tenctl locks whose holder ran on this node and is gone)."""


@dataclass(frozen=True)
class Remedy:
    """How a finding is put right: the command an operator runs, and the repair ``health --fix`` may make
    itself (``action``, one of :data:`REPAIR`...; empty when only a person should decide)."""

    command: str
    action: str = ""
    tenants: tuple[str, ...] = ()
    """The tenants the action concerns (``repair``, ``sync``, ``revoke-grants``)."""


@dataclass
class CheckResult:
    """The outcome of one health check."""

    check: str
    status: str
    """``pass``, ``warn`` or ``fail``."""
    message: str
    details: list[str] = field(default_factory=list)
    remedies: list[Remedy] = field(default_factory=list)
    """How to put the finding right (see :class:`Remedy`); not part of the JSON of a check."""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message, "details": self.details}


class AuditCheck(ABC):
    """A check ``tenctl health`` runs.

    A check that looks at tenants one by one takes them from ``ctx.scoped(...)``: ``health -n NAME`` then
    limits it to that tenant. What a check finds about the cluster as a whole (an object of a tenant that
    has no record, a lock, a role) it reports whatever the scope.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: Context) -> list[CheckResult]:
        """Results of the check; never raises for a finding, only for a failure to look."""


class BackupFormat(ABC):
    """A named archive format for tenant backups: files in, files out.

    ``tenctl backup --format NAME`` picks one by ``name``; ``tenctl restore`` recognises it by
    ``extension`` (the end of the file's name, ``.tar.gz``). A format stores the members as they are; the
    manifest, the checksums and the checks of every value are core's (:mod:`tenctl_core.archive`).
    """

    name: ClassVar[str]
    extension: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def write(self, path: Path, members: dict[str, bytes]) -> None:
        """Write the members (archive name -> content) to path."""

    @abstractmethod
    def read(self, path: Path) -> dict[str, bytes]:
        """The members of the archive at path, read into memory (never extracted to disk).

        The archive is untrusted: raise :class:`tenctl_core.errors.ArchiveError` for one that is corrupt, or
        holds a member that is not a regular file, has an unsafe name, appears twice, or is too big (see
        :class:`tenctl_core.backup.MemberLimits`, which core's formats use).
        """
