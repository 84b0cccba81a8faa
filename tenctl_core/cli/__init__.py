"""The ``tenctl`` command line (and its ``tenctl-<command>`` aliases): parsing and printing only.

Commands validate every value before the first request, print what happened, append one line per
command to the audit trail, and end with exit code 0 (success), 1 (failure), 2 (invalid usage
or input) or 130 (interrupted). The work itself is done by :mod:`tenctl_core.operations` and the engine.

* :mod:`tenctl_core.cli.app`: the application, ``main`` and the global options;
* :mod:`tenctl_core.cli.common`: what commands share, including :func:`~tenctl_core.cli.common.execute`
  (plan, dry run or confirmation, apply, audit) for plugin commands too;
* :mod:`tenctl_core.cli.commands`: the core commands;
* :mod:`tenctl_core.cli.lazy`: the group that loads plugin commands only when they run.
"""

from __future__ import annotations

from tenctl_core.cli.app import CORE_COMMANDS, main, make_app

__all__ = ["CORE_COMMANDS", "main", "make_app"]
