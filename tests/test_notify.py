"""Notifications through the real command line: what an SMTP server and a webhook receiver started by the
tests actually receive for add, modify, suspend, resume, remove, a watch crossing and a failure; that no
password or key is ever in it; and that a dead receiver costs a warning, never the command's outcome."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import audit_events, created_password, ok
from tenctl_lab.mailbox import SilentServer, SmtpServer, WebhookReceiver, closed_port
from test_trust import config_with

from tenctl_core.events import TenantEvent
from tenctl_core.notify import NotificationSettings, notify

ADMINS = ["noc@provider.example", "oncall@provider.example"]
CONTACT = "ops@acme.example"
SMTP_USER = "tenctl-mailer"


def write_secret(path: Path, value: str) -> str:
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    """The SMTP password and the webhook key, each in a 0600 file."""
    values = {
        "smtp_password": "Mail-pw-" + os.urandom(6).hex(),
        "webhook_key": "hook-key-" + os.urandom(8).hex(),
    }
    values["smtp_password_file"] = write_secret(tmp_path / "smtp-password", values["smtp_password"])
    values["webhook_secret_file"] = write_secret(tmp_path / "webhook-key", values["webhook_key"])
    return values


@pytest.fixture
def smtp(lab_pki: tuple[str, str], secrets: dict[str, str]) -> Iterator[SmtpServer]:
    """An SMTP server with STARTTLS (the lab's certificate) that requires the login SMTP_USER."""
    server = SmtpServer(*lab_pki, accounts={SMTP_USER: secrets["smtp_password"]})
    yield server
    server.close()


@pytest.fixture
def webhook(lab_pki: tuple[str, str]) -> Iterator[WebhookReceiver]:
    """An HTTPS webhook receiver with the lab's certificate."""
    receiver = WebhookReceiver(*lab_pki)
    yield receiver
    receiver.close()


def use_notifications(lab: Any, **keys: Any) -> None:
    """Rewrite the lab's configuration with a [notifications] table."""
    config_with(lab, lab.config, {"notifications": keys})


def full_settings(
    lab: Any, smtp: SmtpServer, webhook: WebhookReceiver, secrets: dict[str, str]
) -> dict[str, Any]:
    return {
        "email_to": ADMINS,
        "email_from": "tenctl@provider.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_user": SMTP_USER,
        "smtp_password_file": secrets["smtp_password_file"],
        "webhook_url": webhook.url,
        "webhook_secret_file": secrets["webhook_secret_file"],
        "ca_file": str(lab.ca_file),
        "timeout": 10.0,
    }


def verified(delivery: Any, key: str) -> dict[str, Any]:
    """The delivery's document, after checking its signature with the key as a receiver would."""
    timestamp = delivery.headers["x-tenctl-timestamp"]
    expected = (
        "sha256="
        + hmac.new(key.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256).hexdigest()
    )
    assert hmac.compare_digest(delivery.headers["x-tenctl-signature"], expected), delivery.headers
    assert abs(time.time() - int(timestamp)) < 300
    assert delivery.headers["content-type"] == "application/json"
    return delivery.document


def everything_received(smtp: SmtpServer | None, webhook: WebhookReceiver | None) -> str:
    mails = b"".join(m.data for m in smtp.mails.items).decode("utf-8", "replace") if smtp else ""
    hooks = b"".join(d.body for d in webhook.deliveries.items).decode() if webhook else ""
    return mails + hooks + json.dumps([d.headers for d in webhook.deliveries.items] if webhook else [])


# ----------------------------------------------------------------------------------------- lifecycle


def test_each_lifecycle_event_is_mailed_and_posted_signed_and_no_secret_leaves(
    cluster, smtp, webhook, secrets
):
    lab = cluster
    use_notifications(lab, **full_settings(lab, smtp, webhook, secrets), notify_tenants=True)

    added = ok(lab.run("add", "-n", "acme", "-c", "4", "-r", "8192", "-s", "100", "-e", CONTACT))
    password = created_password(added.stdout)
    ok(lab.run("modify", "-n", "acme", "-c", "6", "--force"))
    ok(lab.run("suspend", "-n", "acme", "--reason", "Invoice 42 unpaid", "--force"))
    ok(lab.run("resume", "-n", "acme", "--force"))
    ok(lab.run("remove", "-n", "acme", "--force"))
    assert "tenant_acme" not in lab.pve.pools

    # Administrators: one mail per command; the tenant's contact: welcome, suspension, resumption, removal.
    mails = smtp.mails.wait_for(9)
    to_admins = [m for m in mails if m.recipients == ADMINS]
    to_tenant = [m for m in mails if m.recipients == [CONTACT]]
    assert [m.message["Subject"] for m in to_admins] == [
        f"[tenctl] {command} acme: success" for command in ("add", "modify", "suspend", "resume", "remove")
    ]
    assert [m.message["Subject"] for m in to_tenant] == [
        "[tenctl] tenant acme is ready",
        "[tenctl] tenant acme is suspended",
        "[tenctl] tenant acme is active again",
        "[tenctl] tenant acme has been removed",
    ]
    for mail in mails:
        assert mail.tls and mail.login_over_tls and mail.login == (SMTP_USER, secrets["smtp_password"])
        assert mail.mail_from == "tenctl@provider.example"
        assert mail.message.get_content_type() == "text/plain"
        assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "Administrator: admin_acme@pve" in to_tenant[0].text
    assert "never sends it by email" in to_tenant[0].text
    assert "Reason: Invoice 42 unpaid" in to_tenant[1].text
    assert (
        "Details:\n  admin_user: admin_acme@pve\n  cpu: 4\n" in to_admins[0].text
        and "subnet: 10.100.0.0/24" in to_admins[0].text
    )

    # The webhook: the same five events, each signed with the key over timestamp and body.
    deliveries = webhook.deliveries.wait_for(5)
    documents = [verified(d, secrets["webhook_key"]) for d in deliveries]
    assert all(d.path == "/hooks/tenctl" for d in deliveries)
    assert len({d.headers["x-tenctl-delivery"] for d in deliveries}) == 5
    events = [doc["event"] for doc in documents]
    assert [(e["command"], e["tenant"], e["outcome"]) for e in events] == [
        (command, "acme", "success") for command in ("add", "modify", "suspend", "resume", "remove")
    ]
    assert events[0]["details"]["vlan"] == 100 and events[0]["details"]["admin_user"] == "admin_acme@pve"
    assert events[2]["details"]["reason"] == "Invoice 42 unpaid"
    assert documents[0]["version"] == 1 and documents[0]["test"] is False

    received = everything_received(smtp, webhook)
    for secret in (password, secrets["smtp_password"], secrets["webhook_key"]):
        assert secret not in received
    # The audit trail says what became of each channel, and holds no secret either.
    lines = [e for e in audit_events(lab) if e["tenant"] == "acme"]
    assert [e["details"]["notifications"] for e in lines if e["command"] in ("add", "suspend")] == [
        {"email": "sent", "tenant email": "sent", "webhook": "sent"}
    ] * 2
    assert lines[1]["details"]["notifications"] == {
        "email": "sent",
        "webhook": "sent",
    }  # modify: not the tenant
    trail = (lab.dir / "log" / "tenant-management.log").read_text()
    for secret in (password, secrets["smtp_password"], secrets["webhook_key"]):
        assert secret not in trail


def test_a_watch_crossing_and_a_failure_are_posted(cluster, tmp_path):
    lab = cluster
    receiver = WebhookReceiver()  # plain http: allowed to loopback only
    try:
        use_notifications(
            lab,
            webhook_url=receiver.url,
            webhook_secret_file=write_secret(tmp_path / "key", "watch-key-123"),
            commands=["watch", "add"],
            outcomes=["success", "failure"],
        )
        ok(lab.run("add", "-n", "alpha", "-c", "2", "-r", "1024", "-s", "10"))
        vm = lab.pve.add_vm(701, "big", node="pve1", status="running", config={"cores": 4, "memory": 512})
        lab.pve._pool_join("tenant_alpha", vm.vmid)
        ok(lab.run("watch", "--once"))
        lab.pve.fail("POST", "/pools", 500, "pool storage exploded", times=1)
        failed = lab.run("add", "-n", "beta", "-c", "2", "-r", "1024", "-s", "10")
        assert failed.exit_code == 1, failed.stderr

        documents = [verified(d, "watch-key-123") for d in receiver.deliveries.wait_for(3)]
        add, crossing, failure = (doc["event"] for doc in documents)
        assert (add["command"], add["tenant"], add["outcome"]) == ("add", "alpha", "success")
        assert (crossing["command"], crossing["tenant"]) == ("watch", "alpha")
        assert crossing["details"]["kind"] == "limit" and crossing["details"]["resource"] == "cpu"
        assert crossing["message"] == "tenant alpha: cpu OVER (4 of 2 cores, 2 over)"
        assert (failure["command"], failure["tenant"], failure["outcome"]) == ("add", "beta", "failure")
        assert "pool storage exploded" in failure["message"]
        # The crossing's own line in the audit trail notes the delivery.
        [line] = [e for e in audit_events(lab) if e["command"] == "watch" and "kind" in e["details"]]
        assert line["details"]["notifications"] == {"webhook": "sent"}
    finally:
        receiver.close()


def test_dead_receivers_cost_a_warning_and_the_command_still_succeeds(cluster, tmp_path):
    lab = cluster
    silent = SilentServer()
    try:
        use_notifications(
            lab,
            email_to=ADMINS,
            email_from="tenctl@provider.example",
            smtp_host="127.0.0.1",
            smtp_port=closed_port(),
            webhook_url=f"http://127.0.0.1:{silent.port}/hook",
            webhook_secret_file=write_secret(tmp_path / "key", "dead-key-456"),
            timeout=1.0,
        )
        result = ok(lab.run("add", "-n", "acme", "-c", "2", "-r", "1024", "-s", "10", timeout=60))
    finally:
        silent.close()
    assert "tenant_acme" in lab.pve.pools and "admin_acme@pve" in lab.pve.lab_users
    assert (
        f"warning: notification by email failed: 127.0.0.1:{lab_port(result)}: connection refused; "
        "the command's outcome is unchanged"
    ) in result.stderr
    assert "warning: notification by webhook failed: http://127.0.0.1:" in result.stderr
    assert "no answer within 1 s (notifications.timeout)" in result.stderr
    [line] = [e for e in audit_events(lab) if e["command"] == "add"]
    assert line["outcome"] == "success" and line["exit_code"] == 0
    assert line["details"]["notifications"]["email"].endswith("connection refused")
    assert "no answer within 1 s" in line["details"]["notifications"]["webhook"]


def lab_port(result: Any) -> str:
    """The SMTP port named in the warning (the test chose a port nothing listens on)."""
    return result.stderr.split("notification by email failed: 127.0.0.1:", 1)[1].split(":", 1)[0]


# ------------------------------------------------------------------------------------- notify test


def config_file(tmp_path: Path, notifications: dict[str, Any]) -> Path:
    """A configuration of its own (no lab: `notify test` and `config check` make no API request)."""
    import tomli_w

    paths = {f"{name}_dir": str(tmp_path / name) for name in ("log", "cluster", "tenants", "state")}
    path = tmp_path / "tenctl.toml"
    path.write_text(tomli_w.dumps({"paths": paths, "notifications": notifications}), encoding="utf-8")
    return path


def tenctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TENCTL_CONFIG=str(config), TENCTL_NODE="pve1")
    return subprocess.run(
        [sys.executable, "-m", "tenctl_core", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_notify_test_reaches_every_channel_and_fails_when_one_does(tmp_path, lab_pki, smtp, webhook, secrets):
    settings = {
        "email_to": ADMINS,
        "email_from": "tenctl@provider.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_user": SMTP_USER,
        "smtp_password_file": secrets["smtp_password_file"],
        "webhook_url": webhook.url,
        "webhook_secret_file": secrets["webhook_secret_file"],
        "ca_file": lab_pki[0],
    }
    done = tenctl(config_file(tmp_path, settings), "notify", "test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["email: sent", "webhook: sent"]
    [mail] = smtp.mails.wait_for(1)
    assert mail.message["Subject"] == "[tenctl] test notification" and mail.recipients == ADMINS
    [delivery] = webhook.deliveries.wait_for(1)
    document = verified(delivery, secrets["webhook_key"])
    assert document["test"] is True and document["event"]["command"] == "notify test"

    # Without the lab's CA the receiver's certificate is not trusted: TLS is verified by default.
    done = tenctl(config_file(tmp_path, _without(settings, "ca_file")), "notify", "test")
    assert done.returncode == 1
    assert "email: failed: the certificate of 127.0.0.1:" in done.stdout
    assert "webhook: failed: the certificate of https://127.0.0.1:" in done.stdout
    assert "error: the test notification failed on: email, webhook" in done.stderr
    assert len(smtp.mails.items) == 1 and len(webhook.deliveries.items) == 1

    # A receiver that answers with an error.
    webhook.status = 500
    done = tenctl(
        config_file(tmp_path, _without(settings, "email_to", "email_from", "smtp_host")), "notify", "test"
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"webhook: failed: https://127.0.0.1:{webhook.server_address[1]} answered 500 Internal Server Error"
    ]


def _without(settings: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in keys}


def test_notify_test_without_a_channel_is_a_usage_error(tmp_path):
    done = tenctl(config_file(tmp_path, {}), "notify", "test")
    assert done.returncode == 2
    assert "error: no notification channel is configured" in done.stderr


def test_starttls_is_never_skipped(tmp_path):
    plain = SmtpServer()  # offers no STARTTLS
    try:
        settings = {
            "email_to": ADMINS,
            "email_from": "t@provider.example",
            "smtp_host": "127.0.0.1",
            "smtp_port": plain.port,
        }
        done = tenctl(config_file(tmp_path, settings), "notify", "test")
    finally:
        plain.close()
    assert done.returncode == 1
    assert f"email: failed: 127.0.0.1:{plain.port} does not offer STARTTLS" in done.stdout
    assert plain.mails.items == []


def test_implicit_tls_and_a_refused_login_that_never_shows_the_password(tmp_path, lab_pki, secrets):
    server = SmtpServer(*lab_pki, accounts={SMTP_USER: secrets["smtp_password"]}, implicit_tls=True)
    try:
        settings = {
            "email_to": ADMINS,
            "email_from": "tenctl@provider.example",
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_security": "tls",
            "smtp_user": SMTP_USER,
            "smtp_password_file": secrets["smtp_password_file"],
            "ca_file": lab_pki[0],
        }
        done = tenctl(config_file(tmp_path, settings), "notify", "test")
        assert done.returncode == 0, done.stdout + done.stderr
        [mail] = server.mails.wait_for(1)
        assert mail.tls and mail.login == (SMTP_USER, secrets["smtp_password"])

        wrong = write_secret(tmp_path / "wrong-password", "Wrong-pw-" + os.urandom(6).hex())
        done = tenctl(config_file(tmp_path, {**settings, "smtp_password_file": wrong}), "notify", "test")
    finally:
        server.close()
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"email: failed: 127.0.0.1:{server.port} refused the login of {SMTP_USER} (535)"
    ]
    assert "Wrong-pw-" not in done.stdout + done.stderr and len(server.mails.items) == 1


def test_a_tenant_contact_is_told_even_when_the_administrators_filter_the_event_out(cluster, smtp, secrets):
    lab = cluster
    use_notifications(
        lab,
        email_to=ADMINS,
        email_from="tenctl@provider.example",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_user=SMTP_USER,
        smtp_password_file=secrets["smtp_password_file"],
        ca_file=str(lab.ca_file),
        commands=["remove"],
        notify_tenants=True,
    )
    ok(lab.run("add", "-n", "acme", "-c", "2", "-r", "1024", "-s", "10", "-e", CONTACT))
    ok(lab.run("add", "-n", "quiet", "-c", "2", "-r", "1024", "-s", "10"))  # no contact address
    ok(lab.run("remove", "-n", "acme", "--force"))
    welcome, *removal = smtp.mails.wait_for(3)
    assert (welcome.recipients, welcome.message["Subject"]) == ([CONTACT], "[tenctl] tenant acme is ready")
    assert sorted((tuple(m.recipients), m.message["Subject"]) for m in removal) == [
        (tuple(ADMINS), "[tenctl] remove acme: success"),
        ((CONTACT,), "[tenctl] tenant acme has been removed"),
    ]
    [line] = [e for e in audit_events(lab) if e["command"] == "remove"]
    assert line["details"]["email"] == CONTACT
    assert [e["details"].get("notifications") for e in audit_events(lab) if e["command"] == "add"] == [
        {"tenant email": "sent"},
        None,
    ]


# ------------------------------------------------------------------------------------ content, config


def test_a_line_break_in_event_text_adds_no_header_and_no_recipient(tmp_path):
    """A reason with CR/LF is refused by `suspend` itself; here the event is made directly (as a plugin
    command might) to prove the mail cannot be split whatever reaches it."""
    server = SmtpServer(auth_without_tls=True)
    try:
        settings = NotificationSettings(
            email_to=("noc@provider.example",),
            email_from="tenctl@provider.example",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_security="none",
        )
        event = TenantEvent(
            "suspend\r\nBcc: evil@attacker.example",
            "acme",
            "success",
            "pve1",
            "root",
            "suspended\r\nBcc: evil@attacker.example\r\n\r\nfake body",
            {
                "reason": "x\r\nReply-To: evil@attacker.example",
                "password": "must-not-leave",
                "steps": [{"step": "user", "token_secret": "nor-this-one"}],
            },
        )
        assert notify(settings, event) == {"email": "sent"}
        [mail] = server.mails.wait_for(1)
    finally:
        server.close()
    assert mail.recipients == ["noc@provider.example"]
    message = mail.message
    assert message["Bcc"] is None and message["Reply-To"] is None
    assert message["Subject"] == "[tenctl] suspend\\r\\nBcc: evil@attacker.example acme: success"
    assert "Message:  suspended\\r\\nBcc: evil@attacker.example\\r\\n\\r\\nfake body" in mail.text
    assert "must-not-leave" not in mail.data.decode()
    assert "nor-this-one" not in mail.data.decode() and "user" in mail.text  # dropped inside a list too


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"webhook_url": "http://hooks.example.org/x", "webhook_secret_file": "/k"},
            "notifications.webhook_url: uses http to hooks.example.org",
        ),
        (
            {"webhook_url": "https://u:p@hooks.example.org/x", "webhook_secret_file": "/k"},
            "notifications.webhook_url: must not hold credentials",
        ),
        (
            {"webhook_url": "https://hooks.example.org/x"},
            "notifications.webhook_url is set but notifications.webhook_secret_file is not",
        ),
        (
            {"email_to": ["not-an-address"]},
            "notifications.email_to = ['not-an-address']: item 'not-an-address' is not an email address",
        ),
        ({"email_to": ["a@b.example"]}, "notifications.email_to is set but notifications.smtp_host is not"),
        (
            {"email_to": ["a@b.example"], "smtp_host": "mx.example.org"},
            "notifications.smtp_host is set but notifications.email_from is not",
        ),
        ({"smtp_port": 70000}, "notifications.smtp_port = 70000: must be between 0 and 65535"),
        ({"smtp_security": "ssl"}, "notifications.smtp_security = 'ssl': must be one of"),
        ({"outcomes": ["success", "ok"]}, "notifications.outcomes = ['success', 'ok']"),
        (
            {
                "smtp_host": "mx.example.org",
                "email_from": "t@example.org",
                "smtp_security": "none",
                "smtp_user": "u",
                "smtp_password_file": "/p",
            },
            "the SMTP password would cross the network to mx.example.org unencrypted",
        ),
        ({"smtp_user": "u"}, "set both notifications.smtp_user and notifications.smtp_password_file"),
        ({"smtp_password": "x"}, "notifications.smtp_password: secrets do not go in the configuration file"),
        ({"timeout": 0}, "notifications.timeout = 0: must be greater than 0"),
    ],
)
def test_config_check_names_the_bad_notification_key(tmp_path, keys, expected):
    done = tenctl(config_file(tmp_path, keys), "config", "check")
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr


def test_config_check_refuses_a_secret_file_others_can_read(tmp_path):
    key = tmp_path / "key"
    key.write_text("k-789\n")
    key.chmod(0o644)
    config = config_file(
        tmp_path, {"webhook_url": "https://hooks.example.org/t0k3n", "webhook_secret_file": str(key)}
    )
    done = tenctl(config, "config", "check")
    assert done.returncode == 2
    expected = f"notifications.webhook_secret_file: {key} is readable or writable by others; chmod 600 {key}"
    assert expected in done.stderr
    key.chmod(0o600)
    done = tenctl(config, "config", "check")
    assert done.returncode == 0, done.stderr
    # `config show` hides the URL's path, where some services put a token.
    shown = tenctl(config, "config", "show")
    assert "https://hooks.example.org/..." in shown.stdout and "t0k3n" not in shown.stdout


def test_help_imports_no_mail_or_http_library():
    code = (
        "import sys\n"
        "from tenctl_core.cli import main\n"
        "try:\n    main(['tenctl', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED:' + ','.join(sorted(m for m in ('smtplib', 'http.client') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "notify" in done.stdout
    assert done.stdout.rstrip().endswith("LOADED:")
