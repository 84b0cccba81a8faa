"""Helpers for the lab's own tests: a small PVE client over real HTTPS (no proxies, the lab's CA)."""

import pytest
import requests


class PveClient:
    """Speaks to the lab as a PVE client would: a token or a ticket login, form-encoded parameters."""

    def __init__(self, url, ca_file, token=None):
        self.base = url + "/api2/json"
        self.session = requests.Session()
        # REQUESTS_CA_BUNDLE would otherwise override verify= on this machine.
        self.session.trust_env = False
        self.session.verify = ca_file
        if token:
            self.session.headers["Authorization"] = "PVEAPIToken={}={}".format(*token)

    def login(self, username, password):
        answer = self.session.post(
            self.base + "/access/ticket", data={"username": username, "password": password}
        )
        if answer.status_code == 200:
            data = answer.json()["data"]
            self.session.cookies.set("PVEAuthCookie", data["ticket"])
            self.session.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]
        return answer

    def call(self, method, url_path, **params):
        kind = "params" if method == "GET" else "data"
        return self.session.request(method, self.base + url_path, **{kind: params})

    def ok(self, method, url_path, **params):
        answer = self.call(method, url_path, **params)
        assert answer.status_code == 200, (method, url_path, answer.status_code, answer.text)
        return answer.json()["data"]

    def error(self, method, url_path, **params):
        """(status, message) of a call expected to fail."""
        answer = self.call(method, url_path, **params)
        assert answer.status_code != 200, (method, url_path, answer.text)
        return answer.status_code, (answer.json().get("message") or "").strip()


@pytest.fixture
def root(lab):
    """The lab's root@pam API token as a client."""
    return PveClient(lab.url, str(lab.ca_file), (lab.token_id, lab.token_secret))


@pytest.fixture
def client(lab):
    """Make a client without credentials (log in with .login())."""
    return lambda: PveClient(lab.url, str(lab.ca_file))
