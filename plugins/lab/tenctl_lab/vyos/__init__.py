"""A simulated VyOS 1.4 router for the lab: one configuration model served over SSH (for netmiko's
`vyos` driver) and over VyOS's HTTPS API. Importing this package imports neither asyncssh nor aiohttp;
``VyosRouter.start()`` does."""

from .router import CommitFailed, ConfigSession, VyosRouter
from .tree import EditError

__all__ = ["CommitFailed", "ConfigSession", "EditError", "VyosRouter"]
