"""Every request, the password login included, uses the configuration's trust and proxy and nothing from
the environment: REQUESTS_CA_BUNDLE cannot make a server trusted and HTTPS_PROXY cannot route the root
password through a proxy. A proxy is used only when ``proxmox.proxy`` names one.

The proxy here is a small CONNECT proxy run by the test that counts the tunnels it opens
(tenctl_lab.proxy, which test_notify_proxy.py uses too).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ok
from tenctl_lab.proxy import CountingProxy
from test_trust import config_with


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    server = CountingProxy()
    yield server
    server.close()


def password_config(lab, path, **proxmox):
    """The lab's configuration logging in with root's password (a ticket), no API token."""
    return config_with(
        lab, path, {"proxmox": proxmox}, drop=["proxmox.token_name", "proxmox.token_secret_file"]
    )


def test_the_environments_ca_bundle_does_not_make_a_server_trusted(cluster, tmp_path):
    """No ca_file: the system's trust store decides, so the lab's self-made CA, named only through
    REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE, is not trusted and root's password is never sent."""
    lab = cluster
    config = password_config(lab, tmp_path / "noca.toml")
    text = config.read_text()
    config.write_text("\n".join(line for line in text.splitlines() if not line.startswith("ca_file")) + "\n")
    assert "ca_file" not in config.read_text()
    mark = lab.mark()
    env = {"REQUESTS_CA_BUNDLE": str(lab.ca_file), "CURL_CA_BUNDLE": str(lab.ca_file)}
    result = lab.run("--config", str(config), "add", "-n", "acme", env=env)
    assert result.exit_code == 1 and "could not be verified" in result.stderr
    assert lab.requests_since(mark) == 0  # the login request never reached the server
    assert lab.password not in result.stderr + result.stdout


def test_proxies_from_the_environment_are_ignored(cluster, tmp_path, proxy):
    lab = cluster
    config = password_config(lab, tmp_path / "password.toml")
    env = {"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url, "ALL_PROXY": proxy.url, "NO_PROXY": ""}
    ok(lab.run("--config", str(config), "add", "-n", "acme", env=env))
    # With a token, the password change opens a ticket session: it ignores the proxy too.
    new = tmp_path / "new.password"
    new.write_text("acme-secret-2\n")
    ok(lab.run("modify", "-n", "acme", "--password-file", str(new), "--force", env=env))
    assert proxy.tunnels == []
    assert "tenant_acme" in lab.pve.pools


def test_a_configured_proxy_carries_every_request_the_login_included(cluster, tmp_path, proxy):
    lab = cluster
    config = password_config(lab, tmp_path / "proxied.toml", proxy=proxy.url)
    mark = lab.mark()
    ok(lab.run("--config", str(config), "add", "-n", "acme"))
    host = lab.url.removeprefix("https://")
    assert proxy.tunnels and set(proxy.tunnels) == {host}
    assert lab.requests_since(mark) >= 1


def test_a_proxy_url_with_credentials_is_refused(lab, tmp_path):
    config = password_config(lab, tmp_path / "cred.toml", proxy="http://user:pw@127.0.0.1:3128")
    mark = lab.mark()
    result = lab.run("--config", str(config), "config", "check")
    assert result.exit_code == 2 and "proxmox.proxy" in result.stderr and "pw@" not in result.stderr
    assert lab.requests_since(mark) == 0
