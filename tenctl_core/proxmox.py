"""One Proxmox API session per command.

Every request, the password login (``POST /access/ticket``) included, goes through one
``requests.Session`` whose trust is the configuration's alone: TLS is verified against
``proxmox.ca_file`` or the system store, and a proxy is used only when ``proxmox.proxy`` names one. The
session does not read the environment (``trust_env`` off), so ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``, ``HTTPS_PROXY`` and ``.netrc`` can neither redirect the root password nor make a
server trusted. API tokens are sent with proxmoxer's token header; the ticket is fetched here rather
than by proxmoxer, whose login request is made outside the session and honours the environment.

Bodies are sent as JSON (so a field can be cleared) and PVE's error message is read from the JSON body,
where the detail of errors raised inside PVE's config locks lives. Secrets never reach a log or an error
message.
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
        self._password: str | None = None
        self._config = config
        self._session: requests.Session | None = None

    def _open(self) -> requests.Session:
        if self._session is not None:
            return self._session
        import requests
        from proxmoxer.backends.https import ProxmoxHTTPApiTokenAuth

        px = self.settings
        session = requests.Session()
        session.trust_env = False
        session.verify = self.verify
        session.proxies = {"https": px.proxy, "http": px.proxy} if px.proxy else {}
        session.headers["Accept"] = "application/json"
        try:
            if px.uses_token and not self.ticket:
                token_name, secret = self._config.api_token()
                session.auth = ProxmoxHTTPApiTokenAuth(px.user, token_name, secret)
            else:
                password = self._config.read_secret("password")
                if password is None:
                    raise ConfigError(
                        "no Proxmox credentials configured: set proxmox.token_name with "
                        "proxmox.token_secret_file (recommended) or proxmox.password_file"
                    )
                session.auth = self._login(session, password)
        except requests.exceptions.SSLError:
            raise ProxmoxUnreachable(_tls_message(px.host, px.port, px.ca_file)) from None
        except requests.exceptions.RequestException as exc:
            raise ProxmoxUnreachable(
                f"cannot reach Proxmox at {px.host}:{px.port}: {type(exc).__name__}"
            ) from None
        self._session = session
        return session

    def _login(self, session: requests.Session, password: str) -> TicketAuth:
        """A ticket for the configured user, asked for through the session itself."""
        px = self.settings
        self.calls += 1
        response = session.post(
            self.base_url + "/access/ticket",
            data={"username": px.user, "password": password},
            timeout=px.timeout,
        )
        if response.status_code == 401:
            raise ProxmoxUnreachable(f"Proxmox refused the login of {px.user}: check the password")
        if response.status_code >= 400:
            raise ProxmoxError("POST", "/access/ticket", response.status_code, _error_detail(response))
        data = (response.json() or {}).get("data") or {}
        if data.get("NeedTFA"):
            raise ProxmoxUnreachable(
                f"{px.user} needs a second factor to log in, which tenctl cannot give",
                hint="use an API token (proxmox.token_name and proxmox.token_secret_file)",
            )
        self._password = password
        return TicketAuth(str(data["ticket"]), str(data["CSRFPreventionToken"]))

    def change_password(self, userid: str, password: str) -> None:
        """``PUT /access/password``. Proxmox asks every caller but root@pam for its own password
        (``confirmation-password``, pve-access-control API2/AccessControl.pm): the ticket session has it."""
        self._open()
        confirmation = None if self.settings.user == "root@pam" else self._password
        self.put("/access/password", userid=userid, password=password, **{"confirmation-password": confirmation})

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        """Send one request; the answer's ``data``. ProxmoxError carries PVE's own message."""
        session = self._open()
        body = {k: v for k, v in (data or {}).items() if v is not None}
        response = self._send(session, method, path, body)
        if response.status_code == 401 and isinstance(session.auth, TicketAuth) and self._password is not None:
            # The ticket expired (PVE's last two hours; a long `tenctl watch` outlives one): PVE refused the
            # request before acting on it, so log in again and send it once more.
            session.auth = self._login(session, self._password)
            response = self._send(session, method, path, body)
        if response.status_code >= 400:
            raise ProxmoxError(method, path, response.status_code, _error_detail(response))
        try:
            return response.json().get("data")
        except ValueError:
            raise ProxmoxError(method, path, response.status_code, "answer is not JSON") from None

    def _send(self, session: requests.Session, method: str, path: str, body: dict[str, Any]) -> requests.Response:
        import requests

        url = self.base_url + path
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
            where = f"Proxmox at {self.settings.host}:{self.settings.port}"
            raise ProxmoxUnreachable(
                f"cannot reach {where} ({method} {path}: {type(exc).__name__})"
                if never_connected(exc)
                else f"lost the connection to {where} during {method} {path}: {type(exc).__name__}"
            ) from None
        return response

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


class TicketAuth:
    """A requests auth hook sending PVE's ticket cookie, and its CSRF token on writes."""

    def __init__(self, ticket: str, csrf: str) -> None:
        self.ticket = ticket
        self.csrf = csrf

    def __call__(self, request: Any) -> Any:
        request.prepare_cookies({"PVEAuthCookie": self.ticket})
        if request.method not in ("GET", "HEAD"):
            request.headers["CSRFPreventionToken"] = self.csrf
        return request

    def __repr__(self) -> str:
        return "TicketAuth(<hidden>)"


def never_connected(exc: Exception) -> bool:
    """The request never reached Proxmox: the connection was refused or timed out (nothing was sent, so
    nothing can have been applied), as opposed to a connection lost after the request went out."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


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
