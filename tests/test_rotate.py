"""`tenctl rotate`: a tenant admin's password and tenctl's own API token, checked on the lab's Proxmox (the
logins and tokens it accepts), never on what tenctl says."""

from __future__ import annotations

import json
import os
import stat

import pytest
import requests
from conftest import audit_events, check_named, created_password, health_of, lab_snapshot, ok
from labclient import login


def trail_text(lab) -> str:
    return (lab.dir / "log" / "tenant-management.log").read_text(encoding="utf-8")


def request_log_text(lab) -> str:
    return lab.request_log.read_text(encoding="utf-8") if lab.request_log.exists() else ""


def new_password(stdout: str) -> str:
    marker = "(shown once, store it safely): "
    assert marker in stdout, stdout
    return stdout.split(marker, 1)[1].split()[0]


def token_works(lab, full_id: str, secret: str) -> bool:
    """A request to the lab with the token, as any API client would send it."""
    session = requests.Session()
    session.trust_env = False
    answer = session.get(
        f"{lab.pve.url}/api2/json/version",
        headers={"Authorization": f"PVEAPIToken={full_id}={secret}"},
        verify=str(lab.ca_file),
    )
    return answer.status_code == 200


def tenctl_reaches_proxmox(lab) -> None:
    """A command that needs the API (a dry run of `add` reads the cluster) works with the configured token."""
    mark = lab.mark()
    ok(lab.run("add", "-n", "probe", "--dry-run"))
    assert lab.requests_since(mark) > 0


# ------------------------------------------------------------------------------- tenant password


def test_rotate_gives_the_admin_a_new_password_shown_once(cluster):
    lab = cluster
    old = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    result = ok(lab.run("rotate", "-n", "acme"))
    new = new_password(result.stdout)
    assert new != old
    assert login(lab, "admin_acme@pve", new).logged_in
    assert not login(lab, "admin_acme@pve", old).logged_in
    [line] = [e for e in audit_events(lab) if e.get("command") == "rotate"]
    assert line["tenant"] == "acme" and line["outcome"] == "success"
    for secret in (old, new):
        assert secret not in trail_text(lab)
        assert secret not in result.stderr
        assert secret not in request_log_text(lab)
    assert old not in result.stdout


def test_rotate_writes_the_password_to_a_private_file(cluster, tmp_path):
    lab = cluster
    old = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "acme.pw"
    result = ok(lab.run("rotate", "-n", "acme", "--password-out", out))
    new = out.read_text().strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert new not in result.stdout + result.stderr + trail_text(lab)
    assert login(lab, "admin_acme@pve", new).logged_in
    assert not login(lab, "admin_acme@pve", old).logged_in
    assert [p.name for p in out.parent.iterdir()] == ["acme.pw"]  # no staging file left

    again = lab.run("rotate", "-n", "acme", "--password-out", out)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert login(lab, "admin_acme@pve", new).logged_in  # refused before any change

    os.chmod(out, 0o644)
    ok(lab.run("rotate", "-n", "acme", "--password-out", out, "--overwrite"))
    newer = out.read_text().strip()
    assert newer != new and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert login(lab, "admin_acme@pve", newer).logged_in
    assert not login(lab, "admin_acme@pve", new).logged_in


def test_a_refused_password_change_writes_no_file_and_keeps_the_old_password(cluster, tmp_path):
    lab = cluster
    password = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    lab.pve.fail("PUT", "/access/password", status=500, message="change password failed: simulated", times=1)
    out = tmp_path / "acme.pw"
    result = lab.run("rotate", "-n", "acme", "--password-out", out)
    assert result.exit_code == 1 and "simulated" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".*.rotating"))
    assert login(lab, "admin_acme@pve", password).logged_in
    [line] = [e for e in audit_events(lab) if e.get("command") == "rotate"]
    assert line["outcome"] == "failure"


def test_rotate_refuses_a_symlink_and_changes_nothing(cluster, tmp_path):
    lab = cluster
    password = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "link.pw"
    link.symlink_to(target)
    before = lab_snapshot(lab)
    result = lab.run("rotate", "-n", "acme", "--password-out", link, "--overwrite")
    assert result.exit_code == 2 and "symbolic link" in result.stderr and str(link) in result.stderr
    assert target.read_text() == "keep\n"
    assert lab_snapshot(lab) == before
    assert login(lab, "admin_acme@pve", password).logged_in


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ((), "-n NAME"),
        (("-n", "acme", "--api-token"), "one of them"),
        (("-n", "Bad Name!"), "Bad Name!"),
        (("--api-token", "--password-out", "x"), "--password-out"),
        (("-n", "acme", "--overwrite"), "--overwrite"),
        (("-n", "acme", "--password-out", "/nonexistent-dir/pw"), "/nonexistent-dir"),
    ],
)
def test_rotate_bad_usage_is_refused_before_any_request(shared_cluster, args, word):
    lab = shared_cluster
    mark = lab.mark()
    result = lab.run("rotate", *args)
    assert result.exit_code == 2, result.stderr
    assert word in result.stderr
    assert lab.requests_since(mark) == 0


def test_rotate_dry_run_changes_nothing(cluster):
    lab = cluster
    password = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    before = lab_snapshot(lab)
    result = ok(lab.run("rotate", "-n", "acme", "--dry-run"))
    assert "admin_acme@pve" in result.stdout and "nothing was changed" in result.stdout
    assert lab_snapshot(lab) == before
    assert login(lab, "admin_acme@pve", password).logged_in


def test_rotate_of_an_unknown_tenant_fails(cluster):
    result = cluster.run("rotate", "-n", "ghost")
    assert result.exit_code == 1 and "ghost" in result.stderr


# ------------------------------------------------------------------------------------- API token


def token_file(lab):
    return lab.dir / "secrets" / "pve-token"


def test_api_token_rotation_swaps_token_and_file(cluster):
    lab = cluster
    pve = lab.pve
    old_secret = lab.token_secret
    # A privilege-separated token with an ACL entry of its own: both carry over to the new token.
    tenctl_reaches_proxmox(lab)
    pve.lab_tokens["root@pam!tenctl"].update(comment="tenctl on pve1")
    pve.lab_acl.append({"path": "/pool", "type": "token", "ugid": "root@pam!tenctl", "roleid": "PVEAuditor", "propagate": True})
    pve.rebuild_grants()
    result = ok(lab.run("rotate", "--api-token", "--json"))
    summary = json.loads(result.stdout)
    new_id = summary["new_token"]
    assert new_id.startswith("root@pam!tenctl-") and summary["token"] == "root@pam!tenctl"

    # The lab: the old token is gone and refused, the new one exists with the old one's settings and ACL.
    assert "root@pam!tenctl" not in pve.lab_tokens
    assert not token_works(lab, "root@pam!tenctl", old_secret)
    assert pve.lab_tokens[new_id]["comment"] == "tenctl on pve1"
    assert pve.lab_tokens[new_id]["privsep"] == 0
    assert {(e["path"], e["roleid"]) for e in pve.lab_acl if e["ugid"] == new_id} == {("/pool", "PVEAuditor")}

    # The file: name and secret together, 0600; the secret in it is the one Proxmox accepts.
    path = token_file(lab)
    name, _, secret = path.read_text().strip().partition("=")
    assert f"root@pam!{name}" == new_id and pve.apitokens[new_id] == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_works(lab, new_id, secret)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []

    # tenctl goes on working with it, and no secret was written anywhere it should not be.
    tenctl_reaches_proxmox(lab)
    for text in (result.stdout, result.stderr, trail_text(lab), request_log_text(lab)):
        assert old_secret not in text and secret not in text
    [line] = [e for e in audit_events(lab) if e.get("command") == "rotate"]
    assert line["outcome"] == "success" and line["details"]["new_token"] == new_id

    # A second rotation starts from the rotated one.
    second = json.loads(ok(lab.run("rotate", "--api-token", "--json")).stdout)
    assert second["token"] == new_id and new_id not in pve.lab_tokens
    tenctl_reaches_proxmox(lab)


def test_api_token_rotation_failure_leaves_the_old_token_and_file(cluster):
    lab = cluster
    pve = lab.pve
    path = token_file(lab)
    before = path.read_bytes()
    # The lab's Proxmox refuses the ACL copy: the rotation must not swap anything.
    pve.lab_acl.append({"path": "/", "type": "token", "ugid": "root@pam!tenctl", "roleid": "PVEAuditor", "propagate": True})
    pve.rebuild_grants()
    pve.fail("PUT", "/access/acl", status=500, message="ACL update failed: simulated", times=1)
    result = lab.run("rotate", "--api-token")
    assert result.exit_code == 1
    assert "unchanged" in result.stderr and "simulated" in result.stderr
    assert path.read_bytes() == before
    assert sorted(t for t in pve.lab_tokens if t.startswith("root@pam!")) == ["root@pam!tenctl"]
    assert token_works(lab, "root@pam!tenctl", lab.token_secret)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    tenctl_reaches_proxmox(lab)


def test_api_token_rotation_cleans_up_after_a_killed_run(cluster):
    """A run killed after it made its token (before it swapped the file) leaves that token behind: the
    next run shows it in --dry-run and deletes it first."""
    lab = cluster
    pve = lab.pve
    leftover = "root@pam!tenctl-20260101000000"
    leftover_secret = pve.add_token(leftover, privsep=False, comment="tenctl lab")
    (token_file(lab).parent / ".pve-token.rotating").write_text("half-written\n")
    dry = json.loads(ok(lab.run("rotate", "--api-token", "--dry-run", "--json")).stdout)
    assert dry["leftovers"] == [leftover]
    [found] = check_named(health_of(lab), "credentials")
    assert found["status"] == "warn" and any(leftover in d for d in found["details"])
    assert leftover in pve.lab_tokens
    ok(lab.run("rotate", "--api-token"))
    assert leftover not in pve.lab_tokens
    assert not token_works(lab, leftover, leftover_secret)
    [found] = check_named(health_of(lab), "credentials")
    assert found["status"] == "pass"
    assert [p.name for p in token_file(lab).parent.iterdir() if p.name.startswith(".")] == []
    tenctl_reaches_proxmox(lab)


def test_api_token_rotation_needs_a_secret_file(cluster, tmp_path):
    lab = cluster
    import tomllib

    import tomli_w

    data = tomllib.loads(lab.config.read_text())
    data["proxmox"].pop("token_secret_file")
    data["proxmox"]["token_secret_env"] = "LAB_TOKEN"
    config = tmp_path / "env.toml"
    config.write_text(tomli_w.dumps(data))
    mark = lab.mark()
    result = lab.run("rotate", "--api-token", env={"TENCTL_CONFIG": str(config), "LAB_TOKEN": lab.token_secret})
    assert result.exit_code == 2 and "LAB_TOKEN" in result.stderr and "token_secret_file" in result.stderr
    assert lab.requests_since(mark) == 0
    assert "root@pam!tenctl" in lab.pve.lab_tokens


def test_a_token_file_naming_a_foreign_token_is_refused(cluster):
    lab = cluster
    path = token_file(lab)
    path.write_text(f"other={lab.token_secret}\n")
    result = lab.run("add", "-n", "probe", "--dry-run")
    assert result.exit_code == 2, result.stderr
    assert "'other'" in result.stderr and "proxmox.token_name" in result.stderr
    assert lab.token_secret not in result.stderr
    checked = lab.run("config", "check")
    assert checked.exit_code == 2 and "'other'" in checked.stderr
