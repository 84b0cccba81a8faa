"""The edge provider end to end against the lab's VyOS router, over SSH (netmiko) and the HTTPS API.

Every assertion reads the router's own committed configuration (``lab.vyos.running_commands()``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w

TRANSPORTS = ("ssh", "api")
WAN = ("--wan-ip", "203.0.113.2/24", "--wan-gw", "203.0.113.1")


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def edge_config(lab, transport: str, **extra) -> Path:
    """The lab's configuration with a [vyos] table that points at the lab's router."""
    return lab.edge_config(transport, **extra)


@pytest.fixture(params=TRANSPORTS)
def edge(request, lab):
    """An initialised lab whose router has tenctl's base configuration; yields (lab, run)."""
    config = edge_config(lab, request.param)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("vyos", "configure", *WAN, "--force"))
    return lab, run


def tenant_lines(lab, marker_tenant: str) -> list[str]:
    return [line for line in lab.vyos.running_commands() if f":{marker_tenant})" in line]


def test_a_tenants_edge_follows_its_life(edge):
    lab, run = edge
    router = lab.vyos
    router.configure(
        "set interfaces ethernet eth1 vif 101 address '192.168.99.1/24'",
        "set interfaces ethernet eth1 vif 101 description 'made by hand'",
        "set nat source rule 5 source address '192.168.99.0/24'",
        "set nat source rule 5 translation address 'masquerade'",
    )
    hand_made = [line for line in router.running_commands() if "vif 101" in line or "rule 5 " in line]
    ok(run("add", "-n", "acme"))
    running = router.running_commands()
    assert "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in running
    assert any(line.startswith("set interfaces ethernet eth1 vif 100 description 'Tenant acme (tenctl:") for line in running)
    for line in (
        "set nat source rule 1000 outbound-interface name 'eth0'",
        "set nat source rule 1000 source address '10.100.0.0/24'",
        "set nat source rule 1000 translation address 'masquerade'",
        "set firewall group network-group TENCTL-TENANTS network '10.100.0.0/24'",
    ):
        assert line in running, (line, running)
    assert router.saved_commands() == running  # committed and saved
    assert "set interfaces ethernet eth0 address 'dhcp'" not in running  # the WAN address replaced DHCP
    assert "set firewall global-options source-validation 'strict'" in running
    shown = json.loads(ok(run("vyos", "show", "-n", "acme", "--json")).stdout)
    assert shown["isolated"] is True and shown["cut"] is False
    assert sorted(shown["lines"]) == sorted(line for line in running if "vif 100 " in line or "rule 1000 " in line or "'10.100.0.0/24'" in line and "network-group" in line)
    assert "Isolated from other tenants: yes" in ok(run("vyos", "show", "-n", "acme")).stdout
    # The VLAN of the hand-made vif is in use for the allocator: beta gets 102.
    ok(run("add", "-n", "beta"))
    status = json.loads(ok(run("vyos", "status", "--json")).stdout)
    assert status["tenants_configured"] == 2 and status["isolation_problems"] == []

    ok(run("suspend", "-n", "acme", "--reason", "unpaid"))
    assert "set firewall group network-group TENCTL-SUSPENDED network '10.100.0.0/24'" in router.running_commands()
    ok(run("resume", "-n", "acme"))
    assert not [line for line in router.running_commands() if "TENCTL-SUSPENDED network" in line]

    ok(run("remove", "-n", "acme", "--force"))
    after = router.running_commands()
    assert not [line for line in after if "vif 100" in line or "rule 1000 " in line or "10.100.0.0/24" in line]
    assert [line for line in after if "vif 101" in line or "rule 5 " in line] == hand_made
    assert "set interfaces ethernet eth1 vif 102 address '10.100.1.1/24'" in after
    health = json.loads(run("health", "--json").stdout)
    drift = [c for c in health["checks"] if c["check"] == "drift"][0]
    assert drift["status"] == "pass", drift


def test_a_failed_commit_undoes_the_whole_add(edge):
    lab, run = edge
    before = lab.vyos.running_commands()
    lab.vyos.fail_next_commit("Commit failed: injected by the test")
    result = run("add", "-n", "acme")
    assert result.exit_code == 1 and "Commit failed" in result.stderr
    assert lab.vyos.running_commands() == before
    assert "tenant_acme" not in lab.pve.pools and "vn100" not in lab.pve.sdn_running["vnets"]


@pytest.mark.parametrize(
    "args",
    [
        ("add", "-n", "acme'; reboot"),
        ("add", "-n", "acme", "-i", "10.100.0.0/24'"),
        ("add", "-n", "acme", "-v", "1' ; delete"),
        ("add", "-n", "acme", "-e", "x@y.z'; reboot"),
        ("add", "-n", "acme", "-u", "bob'; reboot@pve"),
        ("add", "-n", "acme", "-c", "4; reboot"),
        ("add", "-n", "acme", "-i", "10.100.0.0/24\nset system"),
        ("add", "-n", "acme\nset interfaces"),
        ("modify", "-n", "acme", "--email", "a@b.c\ncommit"),
        ("suspend", "-n", "acme", "--reason", "x'; delete interfaces"),
    ],
)
def test_injection_attempts_are_refused_before_any_router_session(lab, args):
    config = edge_config(lab, "ssh")
    mark = lab.vyos.mark()
    result = lab.run("--config", str(config), *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert lab.vyos.log_lines(mark) == []


def test_config_refuses_a_vyos_table_that_cannot_work(lab, tmp_path):
    config = edge_config(lab, "ssh")
    data = tomllib.loads(config.read_text())
    data["vyos"].pop("password_file", None)
    config.write_text(tomli_w.dumps(data))
    result = lab.run("--config", str(config), "config", "check")
    assert result.exit_code == 2 and "password_file" in result.stderr


def test_health_sees_the_router_and_a_missing_isolation_rule(edge):
    lab, run = edge
    ok(run("add", "-n", "acme"))
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert checks["vyos-reachable"]["status"] == "pass"
    assert checks["vyos-isolation"]["status"] == "pass"
    assert checks["vyos-tenants"]["status"] == "pass"
    lab.vyos.configure("delete firewall ipv4 forward filter rule 30")
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert checks["vyos-isolation"]["status"] == "fail" and "rule 30" in json.dumps(checks["vyos-isolation"])
    ok(run("vyos", "configure", *WAN, "--force"))
    assert "set firewall ipv4 forward filter rule 30 action 'drop'" in lab.vyos.running_commands()


def edge_state(lab) -> tuple[bool, bool, bool]:
    """(record active, pool present, router shows the tenant's vif, NAT rule and group entry)."""
    records = lab.dir / "etc-pve" / "tenants" / "acme.toml"
    active = records.exists() and 'status = "active"' in records.read_text()
    running = lab.vyos.running_commands()
    on_router = [
        "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in running,
        "set nat source rule 1000 translation address 'masquerade'" in running,
        "set firewall group network-group TENCTL-TENANTS network '10.100.0.0/24'" in running,
    ]
    assert len(set(on_router)) == 1, running  # never half a tenant on the router
    return active, "tenant_acme" in lab.pve.pools, on_router[0]


def test_a_session_lost_at_any_command_of_add_converges_after_repair(lab):
    config = edge_config(lab, "ssh")

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("vyos", "configure", *WAN, "--force"))
    router = lab.vyos
    mark = router.mark()
    ok(run("add", "-n", "acme"))
    commands = len([line for line in router.log_lines(mark) if line.get("transport") == "ssh"])
    ok(run("remove", "-n", "acme", "--force"))
    assert commands > 5
    for k in range(1, commands + 1):
        router.drop_ssh_after(k, applied=True)
        run("add", "-n", "acme")
        router.clear_faults()
        ok(run("repair", "--all"))
        assert not router.commit_confirm_pending(), k  # no window left open to roll back behind repair
        active, pool, on_router = edge_state(lab)
        assert active == pool == on_router, (k, active, pool, on_router)
        if active:
            ok(run("remove", "-n", "acme", "--force"))
        assert edge_state(lab) == (False, False, False), k


def test_sync_prune_deletes_an_orphans_router_objects_and_nothing_else(edge):
    """beta's record is deleted by hand: its objects become orphans. `sync --all --prune` deletes them on
    the router (and in Proxmox) and leaves acme, a hand-made vif and another installation's vif alone."""
    lab, run = edge
    router = lab.vyos
    ok(run("add", "-n", "acme"))
    ok(run("add", "-n", "beta"))
    router.configure(
        "set interfaces ethernet eth1 vif 300 address '192.168.30.1/24'",
        "set interfaces ethernet eth1 vif 300 description 'Tenant gamma (tenctl:other-installation:gamma)'",
        "set interfaces ethernet eth1 vif 301 address '192.168.31.1/24'",
        "set interfaces ethernet eth1 vif 301 description 'made by hand'",
    )
    (lab.dir / "etc-pve" / "tenants" / "beta.toml").unlink()
    health = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert health["vyos-tenants"]["status"] == "fail"
    assert "vif 101 belongs to tenant beta, which has no record" in health["vyos-tenants"]["details"]
    status = run("vyos", "status", "--json")
    assert status.exit_code == 1 and json.loads(status.stdout)["orphans"] == ["beta"], status

    before = router.running_commands()
    preview = json.loads(ok(run("sync", "--all", "--prune", "--dry-run", "--json")).stdout)
    assert [p["tenant"] for p in preview if p["steps"]] == ["beta"], preview
    assert router.running_commands() == before

    ok(run("sync", "--all", "--prune"))
    after = router.running_commands()
    assert not [line for line in after if "vif 101" in line or "rule 1010 " in line or "10.100.1.0/24" in line]
    assert [line for line in after if "vif 100" in line] == [line for line in before if "vif 100" in line]
    for vif in ("300", "301"):
        assert [line for line in after if f"vif {vif} " in line] == [line for line in before if f"vif {vif} " in line]
    assert "tenant_beta" not in lab.pve.pools and "tenant_acme" in lab.pve.pools
    assert router.saved_commands() == after
    checks = {c["check"]: c for c in json.loads(run("health", "--json").stdout)["checks"]}
    assert checks["vyos-tenants"]["status"] == "pass", checks["vyos-tenants"]


def test_a_dry_run_shows_the_router_diff_and_changes_nothing(edge):
    lab, run = edge
    before = lab.vyos.running_commands()
    mark = lab.vyos.mark()
    plan = json.loads(ok(run("add", "-n", "acme", "--dry-run", "--json")).stdout)
    [step] = [s for s in plan["steps"] if s["provider"] == "vyos-edge"]
    assert "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in step["diff"].splitlines()
    assert "set nat source rule 1000 source address '10.100.0.0/24'" in step["diff"].splitlines()
    text = ok(run("add", "-n", "acme", "--dry-run")).stdout
    assert "set firewall group network-group TENCTL-TENANTS network '10.100.0.0/24'" in text
    assert lab.vyos.running_commands() == before
    edits = ("configure", "commit", "save", "/configure", "/config-file")
    sent = [line.get("command") or line.get("endpoint") for line in lab.vyos.log_lines(mark)]
    assert sent and not [c for c in sent if str(c).startswith(edits)], sent  # read, never edited


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unknown_host_key_or_certificate_is_refused_before_any_change(lab, transport, tmp_path):
    """The router's SSH host key differs from known_hosts, or the API's certificate is not from the CA in
    ca_file: tenctl refuses to talk to it, says why, and nothing is changed anywhere."""
    if transport == "ssh":
        config = lab.edge_config("ssh")
        lab.vyos.serve_wrong_host_key()
    else:
        other_ca = tmp_path / "other-ca.pem"
        from fakepve.certs import make_cert

        certfile, _, _ = make_cert(str(tmp_path), hosts=("127.0.0.1",))
        other_ca.write_bytes(Path(certfile).read_bytes())
        config = lab.edge_config("api", ca_file=str(other_ca))
    try:
        assert lab.run("--config", str(config), "init").exit_code == 0
        before = lab.vyos.running_commands()
        result = lab.run("--config", str(config), "add", "-n", "acme")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert ("host key is not the known one" if transport == "ssh" else "could not be verified") in result.stderr
        assert "Traceback" not in result.stderr
        assert lab.vyos.running_commands() == before
        assert "tenant_acme" not in lab.pve.pools
        test = lab.run("--config", str(config), "vyos", "test")
        assert test.exit_code == 1 and ("host key" in test.stderr + test.stdout or "verified" in test.stderr + test.stdout)
    finally:
        lab.vyos.clear_faults()


def test_an_unreachable_api_fails_the_add_cleanly_and_vyos_status_says_so(lab):
    config = lab.edge_config("api")
    assert lab.run("--config", str(config), "init").exit_code == 0
    lab.vyos.api_unreachable()
    try:
        result = lab.run("--config", str(config), "add", "-n", "acme")
        assert result.exit_code == 1 and "VyOS API" in result.stderr and "Traceback" not in result.stderr
        assert "tenant_acme" not in lab.pve.pools
        status = lab.run("--config", str(config), "vyos", "status", "--json")
        assert status.exit_code == 1, (status.stdout, status.stderr)
    finally:
        lab.vyos.clear_faults()
    ok(lab.run("--config", str(config), "add", "-n", "acme"))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_turning_verification_off_is_explicit_and_said_at_every_session(lab, transport, tmp_path):
    """verify_host_key = false (SSH) or verify_tls = false (API): the command works against a key or a
    certificate tenctl cannot check, and says on stderr that it did not check it."""
    if transport == "ssh":
        config = lab.edge_config("ssh", verify_host_key=False)
        lab.vyos.serve_wrong_host_key()
        words = "host key of the VyOS router"
    else:
        config = lab.edge_config("api", verify_tls=False, ca_file=None)
        words = "TLS of the VyOS API"
    try:
        ok(lab.run("--config", str(config), "init"))
        result = ok(lab.run("--config", str(config), "add", "-n", "acme"))
        assert words in result.stderr and "not verified" in result.stderr, result.stderr
        assert "set interfaces ethernet eth1 vif 100 address '10.100.0.1/24'" in lab.vyos.running_commands()
    finally:
        lab.vyos.clear_faults()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_secret_may_come_from_an_environment_variable_and_never_shows(lab, transport):
    """password_env / api_key_env instead of the files; the secret is in no output, log or audit line."""
    info = lab.vyos_info
    secret = info["password"] if transport == "ssh" else info["api_key"]
    key = "password" if transport == "ssh" else "api_key"
    config = lab.edge_config(transport, **{f"{key}_file": None, f"{key}_env": "TENCTL_TEST_VYOS_SECRET"})
    env = {"TENCTL_TEST_VYOS_SECRET": secret}
    ok(lab.run("--config", str(config), "init", env=env))
    result = ok(lab.run("--config", str(config), "add", "-n", "acme", env=env))
    assert "set nat source rule 1000 translation address 'masquerade'" in lab.vyos.running_commands()
    missing = lab.run("--config", str(config), "vyos", "test")
    assert missing.exit_code != 0 and "TENCTL_TEST_VYOS_SECRET" in missing.stderr + missing.stdout
    trail = "".join(p.read_text() for p in (lab.dir).rglob("*.log")) + "".join(
        p.read_text() for p in (lab.dir).rglob("*.jsonl")
    )
    for text in (result.stdout, result.stderr, missing.stdout, missing.stderr, trail):
        assert secret not in text
