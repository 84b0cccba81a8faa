"""Batches: one command that changes many tenants, with each backend's costly commit made once at the end.

``tenctl add --from-file`` and ``tenctl migrate --records`` run one plan per tenant, each with its own
undo, inside :func:`open_batch`. A provider whose backend commits many changes at once (the SDN apply of
Proxmox, say) asks :func:`current_batch` while it makes its steps: inside a batch its step only *stages*
the tenant's changes, and it registers a :class:`Finaliser` (once per batch, by name) that commits what
every tenant staged. Outside a batch nothing changes: the step commits at once, as before.

What happens when something fails:

* tenant k's plan fails: its own steps are undone (its staged changes included, under the batch's
  lock); tenants 1..k-1 stay whole, staged, and are committed at the end; the failure is reported and
  the batch goes on with tenant k+1;
* the command is killed: a tenant whose plan ended carries the ``core:batch:commit`` journal entry,
  written by the same record write that ends the plan (:func:`awaiting_commit`), until the commit is read
  back; ``tenctl repair`` completes it, and rolls back the tenant that was under way;
* the final commit fails: every finaliser's :meth:`Finaliser.abandon` discards what was staged, and
  :class:`BatchCommitFailed` names the tenants whose changes were not committed; the caller decides
  what becomes of them (``add`` removes them again, ``migrate`` leaves them for a re-run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tenctl_core.errors import TenctlError

if TYPE_CHECKING:
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant

BATCH = "batch"
"""``ctx.cache`` key of the batch under way."""


class Finaliser(Protocol):
    """What a provider registers to commit what its steps staged."""

    def finish(self) -> None:
        """Commit everything staged (one request where the backend allows it) and verify it."""

    def abandon(self) -> None:
        """Discard what was staged and not committed; best effort, never raises."""

    def tenants(self) -> list[str]:
        """The tenants with changes staged now."""


class BatchCommitFailed(TenctlError):
    """The commit at the end of a batch failed: what the tenants staged was discarded."""

    def __init__(self, provider: str, cause: BaseException, tenants: list[str]) -> None:
        self.provider = provider
        self.cause = cause
        self.tenants = tenants
        reason = str(cause) if isinstance(cause, TenctlError) else f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"the batch's {provider} commit failed ({reason}); the changes staged for "
            f"{', '.join(tenants) or 'no tenant'} were discarded",
            hint="fix the cause and run the command again: tenants already complete are skipped",
        )


@dataclass
class Batch:
    finalisers: dict[str, Finaliser] = field(default_factory=dict)
    committing: bool = False
    """The final commit has begun: a plan run from here on (a tenant removed again) waits for nothing."""

    def finaliser(self, name: str, make: Callable[[], Finaliser]) -> Finaliser:
        """The batch's finaliser called ``name``, made by ``make`` on first use."""
        if name not in self.finalisers:
            self.finalisers[name] = make()
        return self.finalisers[name]

    def finish(self) -> None:
        """Run every finaliser in the order they were registered; on a failure abandon the others."""
        self.committing = True
        pending = list(self.finalisers.items())
        while pending:
            name, finaliser = pending.pop(0)
            try:
                finaliser.finish()
            except BaseException as exc:
                staged = finaliser.tenants()
                finaliser.abandon()
                for _, other in pending:
                    other.abandon()
                raise BatchCommitFailed(name, exc, staged) from exc

    def abandon(self) -> None:
        for finaliser in self.finalisers.values():
            finaliser.abandon()


def current_batch(ctx: Context) -> Batch | None:
    """The batch under way, or None: a provider then commits each tenant's changes at once."""
    batch = ctx.cache.get(BATCH)
    return batch if isinstance(batch, Batch) else None


@contextmanager
def open_batch(ctx: Context) -> Iterator[Batch]:
    """A batch for the block; the caller calls :meth:`Batch.finish` at its end. Leaving the block by an
    exception (Ctrl-C included) discards whatever is still staged."""
    if current_batch(ctx) is not None:
        raise TenctlError("a batch is already under way in this command")
    batch = Batch()
    ctx.cache[BATCH] = batch
    try:
        yield batch
    except BaseException:
        batch.abandon()
        raise
    finally:
        ctx.cache.pop(BATCH, None)


BATCH_STEP = "core:batch:commit"


def awaiting_commit(ctx: Context) -> dict[str, str] | None:
    """The journal entry that ends a tenant's plan run inside a batch (None outside one).

    :func:`tenctl_core.operations.run_plan` writes it *instead of* an empty journal, in the same write of
    the record that ends the plan: there is no instant at which a tenant whose changes are staged, not
    committed, looks finished. Until :func:`note_committed` the tenant counts as unfinished: a command
    killed before the commit leaves it for ``tenctl repair`` (which ends the staged changes and builds what
    the tenant lacks), never for a command that would take the record's word that it is whole.
    """
    from tenctl_core.model import now_text

    batch = current_batch(ctx)
    if batch is None or batch.committing:
        return None
    return {
        "id": BATCH_STEP,
        "op": "batch",
        "layer": "record",
        "provider": "core",
        "action": "commit the batch's staged changes (one apply per backend)",
        "state": "applying",
        "time": now_text(),
        "node": ctx.node,
    }


def note_committed(ctx: Context, tenant: Tenant) -> None:
    if not ctx.store.exists(tenant.name):
        return
    tenant.journal[:] = [entry for entry in tenant.journal if entry.get("id") != BATCH_STEP]
    ctx.store.save(tenant)
