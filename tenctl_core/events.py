"""Lifecycle events handed to ``tenctl_tenant_event`` implementations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenctl_core.context import Context


@dataclass
class TenantEvent:
    """One command's outcome. Holds no secret: it is written to the audit trail as it is."""

    command: str
    tenant: str | None
    outcome: str
    """``success``, ``failure``, ``refused`` (the error's ``refusal`` is true: bad input, no room, a name
    taken...) or ``interrupted``."""
    node: str
    operator: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    ctx: Context | None = field(default=None, repr=False, compare=False)
    """The command's context (configuration, plugins); not part of the event's data."""
    ends_command: bool = field(default=False, repr=False, compare=False)
    """The event says how its command ended (``audited`` raises it), so it goes on the command's line in
    the audit trail; an event raised along the way (a crossing ``tenctl watch`` announces) gets a line of
    its own. Not part of the event's data."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "node": self.node,
            "user": self.operator,
            "command": self.command,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "message": self.message,
            "details": self.details,
        }
