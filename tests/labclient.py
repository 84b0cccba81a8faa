"""A minimal Proxmox API client for tests: logs in as a tenant admin and checks what it may do.

It talks to the lab directly (not through tenctl) so that tests can prove what a tenant's
credentials really allow.
"""

from __future__ import annotations

from typing import Any

import requests


class TenantClient:
    def __init__(self, lab: Any, userid: str, password: str) -> None:
        self.base = f"{lab.pve.url}/api2/json"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(lab.ca_file)
        response = self.session.post(
            f"{self.base}/access/ticket", data={"username": userid, "password": password}
        )
        self.login_status = response.status_code
        if response.status_code == 200:
            data = response.json()["data"]
            self.session.cookies.set("PVEAuthCookie", data["ticket"])
            self.session.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]

    @property
    def logged_in(self) -> bool:
        return self.login_status == 200

    def status(self, method: str, api_path: str, /, **params: Any) -> int:
        if method in ("GET", "DELETE"):
            response = self.session.request(method, self.base + api_path, params=params)
        else:
            response = self.session.request(method, self.base + api_path, data=params)
        return response.status_code


def login(lab: Any, userid: str, password: str) -> TenantClient:
    return TenantClient(lab, userid, password)
