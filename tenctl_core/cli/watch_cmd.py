"""``tenctl watch`` (the monitor the ``tenctl-watcher`` service runs) and the drawing behind ``usage --plot``.

The work is in :mod:`tenctl_core.watch`; this module parses the options, prints each crossing (a line the
journal understands, or JSON) and hands it to the event hook, and ends on SIGTERM or SIGINT, giving the
announcer lock back.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tenctl_core.cli.common import emit, open_context, options, reported_errors
from tenctl_core.errors import EXIT_INTERRUPTED, UsageError

if TYPE_CHECKING:
    from tenctl_core.config import Config
    from tenctl_core.context import Context
    from tenctl_core.watch import Announce, Crossing

INTERVAL_RANGE = (1.0, 86400.0)

JOURNAL_PRIORITY = {"limit": 4, "threshold": 5, "recovery": 6}
"""sd-daemon priorities of the lines the journal reads: warning, notice, info."""


def watch(
    tctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Poll once, print the crossings and exit (a standby, announcing nothing, while another "
            "watcher holds the announcer lock).",
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            help="Seconds between polls (default: monitoring.interval, 60).",
            min=INTERVAL_RANGE[0],
            max=INTERVAL_RANGE[1],
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", "-j", help="Print each crossing as one line of JSON.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only crossings and errors.")] = False,
) -> None:
    """Follow every tenant's usage and announce each crossing of a threshold or a limit once (GET requests
    only: guests are never stopped, deleted or changed). One watcher of the cluster announces, the holder
    of the announcer lock; the others poll as standbys."""
    from tenctl_core.watch import Watcher

    debug = options(tctx).debug
    with reported_errors(debug):
        ctx = open_context(tctx, "watch")
        ctx.quiet = ctx.quiet or quiet
        watcher = None
        try:
            watcher = Watcher(ctx, debug=debug)
            announce = announcer(ctx, as_json)
            if once:
                poll = watcher.poll(announce)
                if poll.role.announcing:
                    ctx.info(f"{poll.tenants} tenant(s) polled, {len(poll.crossings)} crossing(s)")
                else:
                    ctx.info(f"{poll.tenants} tenant(s) polled; nothing announced here")
                return
            every = interval if interval is not None else ctx.config.monitoring.interval
            ctx.info(
                f"watching every {every:g} s (history {watcher.history_file}); "
                "guests are never stopped, deleted or changed"
            )
            received = run_until_signal(watcher, every, announce)
        finally:
            if watcher is not None:
                watcher.close()
            ctx.close()
    ctx.info(f"stopped ({signal.Signals(received).name})")
    if received == signal.SIGINT:
        raise typer.Exit(EXIT_INTERRUPTED)


def run_until_signal(watcher: Any, interval: float, announce: Announce) -> int:
    """Run the watcher until SIGTERM or SIGINT; returns the signal. The poll under way ends first (its
    history is written); a second signal ends the process at once."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(interval, stop, announce)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0]


def announcer(ctx: Context, as_json: bool) -> Announce:
    """Print a crossing on standard output and send it to every ``tenctl_tenant_event`` listener (core's
    appends it to the audit trail)."""
    journal = stdout_is_journal()

    def announce(crossing: Crossing) -> None:
        if as_json:
            import json

            print(json.dumps({**crossing.as_dict(), "node": ctx.node}, sort_keys=True), flush=True)
        elif journal:
            print(f"<{JOURNAL_PRIORITY[crossing.kind]}>{crossing.message}", flush=True)
        else:
            import datetime as dt

            moment = dt.datetime.fromtimestamp(crossing.time).astimezone().isoformat(timespec="seconds")
            print(f"{moment} {crossing.message}", flush=True)
        emit(ctx, "watch", crossing.tenant, "success", crossing.message, crossing.details())

    return announce


def stdout_is_journal() -> bool:
    """Standard output is systemd's journal stream (``JOURNAL_STREAM`` names its device and inode): lines
    then carry a ``<priority>`` prefix and no time (the journal adds its own)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in expected.split(":"))
        found = os.fstat(sys.stdout.fileno())
    except (ValueError, OSError):
        return False
    return (found.st_dev, found.st_ino) == (device, inode)


# --------------------------------------------------------------------------------------- usage --plot


def draw_usage_plot(tctx: typer.Context, path: Path, name: str | None) -> None:
    """``tenctl usage --plot FILE``: draw the watcher's history of this node (no API request)."""
    from tenctl_core.config import load_config

    with reported_errors(options(tctx).debug):
        opts = options(tctx)
        print(plot_usage(load_config(opts.config, opts.profile), path, [name] if name else None))


def plot_usage(config: Config, path: Path, names: list[str] | None) -> str:
    """Draw the history of the named tenants (every tenant in it when None) into path; what was written."""
    from tenctl_core.history import history_path, read_history
    from tenctl_core.plot import check_plot_path, plot_history

    check_plot_path(path)
    source = history_path(Path(config.paths.state_dir))
    history = read_history(source)
    if not history.tenants:
        raise UsageError(
            f"there is no usage history in {source} yet",
            hint="it is kept by `tenctl watch` (the tenctl-watcher service) on this node",
        )
    drawn = plot_history(history, names, path, config.monitoring)
    return f"wrote {path}: {drawn} tenant(s) from {source}"
