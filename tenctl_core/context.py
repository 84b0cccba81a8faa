"""What one command works with: configuration, plugins, records, the Proxmox session."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenctl_core.config import Config
from tenctl_core.errors import ConfigError, TenctlError
from tenctl_core.model import Tenant
from tenctl_core.ownership import Marker, read_installation
from tenctl_core.plugins import PluginSet
from tenctl_core.proxmox import ProxmoxClient
from tenctl_core.store import TenantStore

NODE_ENV = "TENCTL_NODE"


def node_name() -> str:
    """This node's name: ``TENCTL_NODE`` (the lab's simulated nodes), else the short host name."""
    return os.environ.get(NODE_ENV) or socket.gethostname().split(".")[0]


def operator_name() -> str:
    """Who runs the command: the user behind sudo when there is one."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


@dataclass
class Context:
    config: Config
    plugins: PluginSet
    command: str = ""
    dry_run: bool = False
    quiet: bool = False
    node: str = field(default_factory=node_name)
    operator: str = field(default_factory=operator_name)
    options: dict[str, Any] = field(default_factory=dict)
    """Values of the options plugins added to the command (see :class:`~tenctl_core.providers.CommandOption`)."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Answers read once per command and shared by core and plugins (see :meth:`cached_get`)."""
    initial_passwords: dict[str, str] = field(default_factory=dict)
    """tenant name -> the admin password ``add`` creates the user with (never written anywhere)."""
    tenant_scope: str | None = None
    """The one tenant ``health -n`` looks at (None: every tenant); see :meth:`scoped`."""
    _proxmox: ProxmoxClient | None = None

    @property
    def installation(self) -> str:
        """This installation's id (see :mod:`tenctl_core.ownership`); made by ``tenctl init``."""
        if "installation" not in self.cache:
            ident = read_installation(self.config.paths.tenants_dir)
            if ident is None:
                raise TenctlError(
                    f"{self.config.paths.tenants_dir} has no tenctl installation id yet",
                    hint="run `tenctl init` once (it also upgrades a tenctl 0.2 installation)",
                )
            self.cache["installation"] = ident
        return str(self.cache["installation"])

    def marker(self, tenant: Tenant) -> Marker:
        """The ownership marker of this installation for the tenant."""
        return Marker(self.installation, tenant.name)

    @property
    def store(self) -> TenantStore:
        return TenantStore(Path(self.config.paths.tenants_dir))

    @property
    def proxmox(self) -> ProxmoxClient:
        """The command's one Proxmox session, opened on first use."""
        if self._proxmox is None:
            self._proxmox = ProxmoxClient(self.config)
        return self._proxmox

    def tenants(self, refresh: bool = False) -> list[Tenant]:
        """Every tenant record, read once per command (``refresh`` re-reads, e.g. under the lock)."""
        if refresh or "tenants" not in self.cache:
            self.cache["tenants"] = self.store.all()
        return list(self.cache["tenants"])

    def scoped(self, tenants: Iterable[Tenant]) -> list[Tenant]:
        """The tenants a per-tenant check looks at: all of them, or the one of :attr:`tenant_scope`."""
        return [t for t in tenants if self.tenant_scope is None or t.name == self.tenant_scope]

    def ticket_session(self) -> ProxmoxClient:
        """A session logged in with the password, for what PVE refuses API tokens (password changes).

        With password authentication that is the command's one session; with a token it is a second
        session, opened only by the commands that change a password.
        """
        if not self.config.proxmox.uses_token:
            return self.proxmox
        if not (self.config.proxmox.password_file or self.config.proxmox.password_env):
            raise ConfigError(
                "Proxmox refuses password changes through an API token",
                hint=f"set proxmox.password_file (or password_env) for {self.config.proxmox.user} in the configuration",
            )
        if "ticket" not in self.cache:
            self.cache["ticket"] = ProxmoxClient(self.config, ticket=True)
        return self.cache["ticket"]

    def cached_get(self, path: str, **params: Any) -> Any:
        """GET once per command: core and plugins that need the same listing share one request."""
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        if key not in self.cache:
            self.cache[key] = self.proxmox.get(path, **params)
        return self.cache[key]

    def forget(self, path: str) -> None:
        """Drop cached answers under path after a change."""
        for key in [k for k in self.cache if k.startswith(path)]:
            del self.cache[key]

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self._proxmox is not None:
            self._proxmox.close()
        ticket = self.cache.get("ticket")
        if isinstance(ticket, ProxmoxClient):
            ticket.close()
