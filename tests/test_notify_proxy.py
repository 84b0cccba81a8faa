"""The webhook through ``notifications.proxy``: a real CONNECT proxy started by the test (tenctl_lab.proxy)
and the lab's HTTPS webhook receiver (tenctl_lab.mailbox). What is checked is what the peers saw: the
receiver's signed request, the tunnels the proxy was asked for, the lab's tenants. The environment's proxy
variables choose nothing; TLS to the receiver is verified through the tunnel; a dead proxy costs a warning,
never the command's outcome."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import audit_events, ok
from tenctl_lab.mailbox import WebhookReceiver, closed_port
from tenctl_lab.proxy import CountingProxy
from test_notify import config_file, tenctl, use_notifications, verified, write_secret


@pytest.fixture
def webhook(lab_pki: tuple[str, str]) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(*lab_pki)
    yield receiver
    receiver.close()


@pytest.fixture
def proxies() -> Iterator[tuple[CountingProxy, CountingProxy]]:
    """The configured proxy, and a decoy that only the environment's proxy variables name."""
    proxy, decoy = CountingProxy(), CountingProxy()
    yield proxy, decoy
    proxy.close()
    decoy.close()


def receiver_address(webhook: WebhookReceiver) -> str:
    return f"127.0.0.1:{webhook.server_address[1]}"


def decoy_env(decoy: CountingProxy) -> dict[str, str]:
    url = decoy.url
    return {"HTTPS_PROXY": url, "https_proxy": url, "ALL_PROXY": url, "all_proxy": url, "NO_PROXY": ""}


def test_notify_test_goes_through_the_configured_proxy_only_with_tls_verified_to_the_receiver(
    tmp_path, lab_pki, webhook, proxies, monkeypatch
):
    proxy, decoy = proxies
    key = "hook-key-" + os.urandom(8).hex()
    settings: dict[str, Any] = {
        "webhook_url": webhook.url,
        "webhook_secret_file": write_secret(tmp_path / "webhook-key", key),
        "ca_file": lab_pki[0],
        "proxy": proxy.url,
    }
    for name, value in decoy_env(decoy).items():
        monkeypatch.setenv(name, value)  # `tenctl` below inherits them

    done = tenctl(config_file(tmp_path, settings), "notify", "test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["webhook: sent"]
    [delivery] = webhook.deliveries.wait_for(1)
    assert verified(delivery, key)["test"] is True and delivery.path == "/hooks/tenctl"
    assert proxy.tunnels == [receiver_address(webhook)]  # one CONNECT, to the receiver's host:port
    assert decoy.tunnels == []

    # The tunnel carries TLS from tenctl to the receiver: without the lab's CA its certificate is refused,
    # and the receiver gets nothing (the proxy opened the tunnel, nothing more).
    done = tenctl(
        config_file(tmp_path, {k: v for k, v in settings.items() if k != "ca_file"}), "notify", "test"
    )
    assert done.returncode == 1
    assert (
        f"webhook: failed: the certificate of https://{receiver_address(webhook)} is not trusted"
        in done.stdout
    )
    assert len(webhook.deliveries.items) == 1
    assert proxy.tunnels == [receiver_address(webhook)] * 2

    # Without notifications.proxy the webhook is reached directly, whatever the environment says.
    done = tenctl(
        config_file(tmp_path, {k: v for k, v in settings.items() if k != "proxy"}), "notify", "test"
    )
    assert done.returncode == 0, done.stderr
    assert len(webhook.deliveries.wait_for(2)) == 2
    assert decoy.tunnels == [] and len(proxy.tunnels) == 2


def test_a_lifecycle_event_is_posted_through_the_proxy_and_a_dead_proxy_costs_a_warning(
    cluster, tmp_path, webhook, proxies
):
    lab = cluster
    proxy, _ = proxies
    key = "hook-key-" + os.urandom(8).hex()
    keys = {
        "webhook_url": webhook.url,
        "webhook_secret_file": write_secret(tmp_path / "webhook-key", key),
        "ca_file": str(lab.ca_file),
        "proxy": proxy.url,
        "timeout": 5.0,
    }
    use_notifications(lab, **keys)
    ok(lab.run("add", "-n", "acme", "-c", "2", "-r", "1024", "-s", "10"))
    [delivery] = webhook.deliveries.wait_for(1)
    event = verified(delivery, key)["event"]
    assert (event["command"], event["tenant"], event["outcome"]) == ("add", "acme", "success")
    assert proxy.tunnels == [receiver_address(webhook)]
    assert "tenant_acme" in lab.pve.pools and lab.pve.lab_users["admin_acme@pve"]["enable"]

    dead = closed_port()
    use_notifications(lab, **{**keys, "proxy": f"http://127.0.0.1:{dead}"})
    result = ok(lab.run("suspend", "-n", "acme", "--reason", "unpaid", "--force"))
    assert not lab.pve.lab_users["admin_acme@pve"]["enable"]  # the suspension was done all the same
    assert (
        f"warning: notification by webhook failed: the proxy http://127.0.0.1:{dead}: connection refused; "
        "the command's outcome is unchanged"
    ) in result.stderr
    assert len(webhook.deliveries.items) == 1 and len(proxy.tunnels) == 1
    [line] = [e for e in audit_events(lab) if e["command"] == "suspend"]
    assert line["details"]["notifications"] == {
        "webhook": f"failed: the proxy http://127.0.0.1:{dead}: connection refused"
    }


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"proxy": "http://user:pr0xy-pw@proxy.example.org:3128"},
            "notifications.proxy: must not hold credentials (a secret does not go in the configuration)",
        ),
        ({"proxy": "socks5://proxy.example.org:1080"}, "notifications.proxy: must be a URL like"),
        (
            {"proxy": "http://proxy.example.org:3128/path"},
            "notifications.proxy: must be scheme, host and port only",
        ),
        (
            {"proxy": "https://proxy.example.org:3128"},
            "notifications.proxy must use http:// (the tunnel to the webhook carries TLS end to end",
        ),
        (
            {"proxy": "http://proxy.example.org:3128", "webhook_url": None},
            "notifications.proxy is set but notifications.webhook_url is not: the proxy carries the webhook only",
        ),
        (
            {"proxy": "http://proxy.example.org:3128", "webhook_url": "http://127.0.0.1:9/hook"},
            "notifications.proxy with an http webhook_url: the events would reach the proxy unencrypted",
        ),
    ],
)
def test_config_check_refuses_a_bad_proxy_without_repeating_it(tmp_path, keys, expected):
    settings = {"webhook_url": "https://hooks.example.org/t0k3n", "webhook_secret_file": "/k", **keys}
    done = tenctl(
        config_file(tmp_path, {k: v for k, v in settings.items() if v is not None}), "config", "check"
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "pr0xy-pw" not in done.stderr + done.stdout and "t0k3n" not in done.stderr


def test_config_show_names_the_proxy(tmp_path: Path):
    key = write_secret(tmp_path / "k", "k-1")
    settings = {
        "webhook_url": "https://hooks.example.org/x",
        "webhook_secret_file": key,
        "proxy": "http://px.example.org:3128",
    }
    done = tenctl(config_file(tmp_path, settings), "config", "show")
    assert done.returncode == 0, done.stderr
    assert "http://px.example.org:3128" in done.stdout
