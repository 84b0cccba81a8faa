"""One Proxmox API session per command.

Authentication (API token or password ticket) comes from proxmoxer; requests
go through one ``requests.Session`` that sends JSON bodies (so a field can be
cleared) and reads PVE's error message from the JSON body, where the detail of
errors raised inside PVE's config locks lives. TLS is verified against the
configured CA file or the system store; the session ignores
``REQUESTS_CA_BUNDLE`` and proxies from the environment so that the configured
CA is the one used. Secrets never reach a log or an error message.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from tenctl_core.config import Config
from tenctl_core.errors import ConfigError, ProxmoxError, ProxmoxUnreachable, is_already_exists, is_missing

__all__ = ["ProxmoxClient", "is_already_exists", "is_missing"]

if TYPE_CHECKING:
    import requests  # imported when the first request is made: `tenctl --help` needs no HTTP client

# proxmoxer logs request bodies (passwords included) at INFO: keep it quiet whatever the root logger says.
logging.getLogger("proxmoxer").setLevel(logging.WARNING)

API_PREFIX = "/api2/json"


class ProxmoxClient:
    """A thin JSON client over one authenticated session; counts its requests."""

    def __init__(self, config: Config, ticket: bool = False) -> None:
        """``ticket``: log in with the password even when a token is configured (for /access/password)."""
        self.settings = config.proxmox
        self.ticket = ticket
        self.base_url = f"https://{_host(self.settings.host)}:{self.settings.port}{API_PREFIX}"
        self.verify: bool | str = self.settings.ca_file or True
        if not self.settings.verify_tls:
            logging.getLogger("tenctl").warning(
                "TLS verification of %s is turned off (proxmox.verify_tls = false)", self.settings.host
            )
            self.verify = False
        self.calls = 0
        self._config = config
        self._session: requests.Session | None = None

    def _open(self) -> requests.Session:
        if self._session is not None:
            return self._session
        import requests
        from proxmoxer.backends.https import ProxmoxHTTPApiTokenAuth, ProxmoxHTTPAuth

        px = self.settings
        session = requests.Session()
        session.trust_env = False
        session.verify = self.verify
        session.headers["Accept"] = "application/json"
        timeout = px.timeout
        try:
            if px.uses_token and not self.ticket:
                secret = self._config.read_secret("token")
                session.auth = ProxmoxHTTPApiTokenAuth(
                    px.user, px.token_name, secret, verify_ssl=self.verify, timeout=timeout
                )
            else:
                password = self._config.read_secret("password")
                if password is None:
                    raise ConfigError(
                        "no Proxmox credentials configured: set proxmox.token_name with "
                        "proxmox.token_secret_file (recommended) or proxmox.password_file"
                    )
                self.calls += 1
                auth = ProxmoxHTTPAuth(
                    px.user, password, base_url=self.base_url, verify_ssl=self.verify, timeout=timeout
                )
                session.auth = auth
                session.cookies.update(auth.get_cookies())
        except requests.exceptions.SSLError:
            raise ProxmoxUnreachable(_tls_message(px.host, px.port, px.ca_file)) from None
        except requests.exceptions.RequestException as exc:
            raise ProxmoxUnreachable(
                f"cannot reach Proxmox at {px.host}:{px.port}: {type(exc).__name__}"
            ) from None
        except Exception as exc:
            if type(exc).__name__ == "AuthenticationError":
                raise ProxmoxUnreachable(
                    f"Proxmox refused the login of {px.user}: check the password"
                ) from None
            raise
        self._session = session
        return session

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """Send one request; the answer's ``data``. ProxmoxError carries PVE's own message."""
        import requests

        session = self._open()
        url = self.base_url + path
        body = {k: v for k, v in (data or {}).items() if v is not None}
        self.calls += 1
        try:
            if method in ("GET", "DELETE"):
                # PVE reads the parameters of GET and DELETE from the query string.
                response = session.request(method, url, params=body or None, timeout=self.settings.timeout)
            else:
                response = session.request(
                    method,
                    url,
                    data=json.dumps(body) if body else None,
                    headers={"Content-Type": "application/json"} if body else None,
                    timeout=self.settings.timeout,
                )
        except requests.exceptions.SSLError:
            raise ProxmoxUnreachable(
                _tls_message(self.settings.host, self.settings.port, self.settings.ca_file)
            ) from None
        except requests.exceptions.RequestException as exc:
            raise ProxmoxUnreachable(
                f"lost the connection to Proxmox at {self.settings.host}:{self.settings.port} during "
                f"{method} {path}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise ProxmoxError(method, path, response.status_code, _error_detail(response))
        try:
            return response.json().get("data")
        except ValueError:
            raise ProxmoxError(method, path, response.status_code, "answer is not JSON") from None

    def get(self, path: str, /, **params: Any) -> Any:
        return self.request("GET", path, params)

    def post(self, path: str, /, **data: Any) -> Any:
        return self.request("POST", path, data)

    def put(self, path: str, /, **data: Any) -> Any:
        return self.request("PUT", path, data)

    def delete(self, path: str, /, **data: Any) -> Any:
        return self.request("DELETE", path, data)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _tls_message(host: str, port: int, ca_file: str | None) -> str:
    where = f"the CA file {ca_file}" if ca_file else "the system's trusted CAs"
    return (
        f"the TLS certificate of {host}:{port} could not be verified against {where}; "
        "set proxmox.ca_file to the cluster's CA (/etc/pve/pve-root-ca.pem on a node)"
    )


def _error_detail(response: requests.Response) -> str:
    """PVE's message: the JSON ``message`` plus per-field ``errors``; the reason line otherwise."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "error"
    message = str(body.get("message") or response.reason or "error").strip()
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        message += " " + "; ".join(f"{k}: {str(v).strip()}" for k, v in sorted(errors.items()))
    return message
