"""The audit trail: one JSON line per mutating command, appended by core's event hook.

The file is ``<paths.log_dir>/tenant-management.log`` (``/var/log/tenctl`` on a
node, rotated by ``/etc/logrotate.d/tenctl``). Lines are written with a single
``write`` on a file opened for appending, so lines from concurrent commands do
not interleave. Events hold no secrets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tenctl_core import hookimpl
from tenctl_core.events import TenantEvent

FILE_MODE = 0o640


def outcome_of(exc: BaseException) -> str:
    """How a command that ended with this exception is recorded: ``interrupted`` for Ctrl-C, ``refused``
    for an error that declines the request (``TenctlError.refusal``), else ``failure``."""
    from tenctl_core.errors import TenctlError

    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TenctlError) and exc.refusal:
        return "refused"
    return "failure"


def append_event(log_file: Path, event: TenantEvent) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    line = json.dumps(event.as_dict(), sort_keys=True, ensure_ascii=True) + "\n"
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@hookimpl
def tenctl_tenant_event(event: TenantEvent) -> None:
    """Core's listener: append the event to the audit trail."""
    if event.ctx is not None:
        append_event(event.ctx.config.paths.audit_log, event)
