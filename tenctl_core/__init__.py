"""tenctl: turn a Proxmox VE cluster into a multi-tenant platform.

Plugins import :data:`hookimpl` from here to mark their hook implementations.
"""

import pluggy

__version__ = "0.2.0"

PROJECT_NAME = "tenctl"
"""The pluggy project name and the entry point group plugins register under."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@hookimpl def tenctl_...``."""

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]
