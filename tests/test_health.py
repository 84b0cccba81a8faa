"""`tenctl health`: what it finds in the lab after changes made by hand, what `--fix` repairs (asserted on the
lab's state), `-n`, the exit codes and the JSON keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import requests
import tomli_w
from conftest import audit_events, check_named, ok, tenants_dir

from tenctl_core.access import TENANT_PRIVILEGES

INTENDED = {
    ("/pool/tenant_{}", "TenctlTenant"),
    ("/storage/local-lvm", "PVEDatastoreUser"),
    ("/sdn/zones/tenants/{vnet}", "PVESDNUser"),
}


class ByHand:
    """What an administrator does in the web UI or with pveum: API calls with root's token."""

    def __init__(self, lab: Any) -> None:
        self.base = f"{lab.pve.url}/api2/json"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(lab.ca_file)
        self.session.headers["Authorization"] = f"PVEAPIToken={lab.token_id}={lab.token_secret}"

    def __call__(self, method: str, api_path: str, /, **params: Any) -> Any:
        kind = "params" if method == "GET" else "data"
        answer = self.session.request(method, self.base + api_path, **{kind: params})
        assert answer.status_code == 200, (method, api_path, answer.status_code, answer.text)
        return answer.json()["data"]


def health(lab: Any, *args: str, **run: Any) -> tuple[int, dict[str, Any]]:
    result = lab.run("health", "--json", *args, **run)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stdout, result.stderr)
    return result.exit_code, json.loads(result.stdout)


def status_of(report: dict[str, Any], name: str) -> str:
    [check] = check_named(report, name)
    return str(check["status"])


def group_entries(lab: Any, group: str) -> set[tuple[str, str]]:
    return {(e["path"], e["roleid"]) for e in lab.pve.lab_acl if e["type"] == "group" and e["ugid"] == group}


def intended(tenant: str, vnet: str) -> set[tuple[str, str]]:
    return {(path.format(tenant, vnet=vnet), role) for path, role in INTENDED}


def vnet_of(lab: Any, tenant: str) -> str:
    return json.loads(ok(lab.run("show", "-n", tenant, "--json")).stdout)["vnet"]


# ------------------------------------------------------------------------------------------ ACLs


def test_acl_drift_is_found_and_health_fix_puts_back_only_what_tenctl_grants(cluster):
    lab = cluster
    for name in ("acme", "beta"):
        ok(lab.run("add", "-n", name))
    vnets = {name: vnet_of(lab, name) for name in ("acme", "beta")}
    pve = ByHand(lab)
    # By hand: one entry of acme's taken away, broader ones granted to its group, its admin user and to
    # beta's group on acme's pool, a privilege added to the tenant role; and an operators' group of the
    # administrator's own, which tenctl must leave alone.
    pve(
        "PUT",
        "/access/acl",
        path="/storage/local-lvm",
        roles="PVEDatastoreUser",
        groups="group_acme",
        delete=1,
    )
    pve("PUT", "/access/acl", path="/", roles="PVEAdmin", groups="group_acme")
    pve("PUT", "/access/acl", path="/vms", roles="PVEVMAdmin", users="admin_acme@pve", propagate=0)
    pve("PUT", "/access/acl", path="/pool/tenant_acme", roles="TenctlTenant", groups="group_beta")
    pve("PUT", "/access/roles/TenctlTenant", privs="Sys.Modify", append=1)
    pve("POST", "/access/groups", groupid="ops")
    pve("PUT", "/access/acl", path="/", roles="PVEAdmin", groups="ops")

    code, report = health(lab)
    assert code == 1 and report["summary"]["status"] == "fail"
    [acls] = check_named(report, "acls")
    text = "\n".join(acls["details"])
    assert acls["status"] == "fail"
    assert "tenant acme: group group_acme lacks PVEDatastoreUser on /storage/local-lvm" in text
    assert "tenant acme: group group_acme holds PVEAdmin on /, beyond its tenant's objects" in text
    assert "user admin_acme@pve holds PVEVMAdmin on /vms (not propagating)" in text
    assert "tenant beta: group group_beta holds TenctlTenant on /pool/tenant_acme" in text
    assert "ops" not in text
    [role] = check_named(report, "tenant-role")
    assert role["status"] == "fail" and "Sys.Modify" in role["message"]

    mark = len(audit_events(lab))
    result = lab.run("health", "--fix", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    fixed = json.loads(result.stdout)
    assert fixed["summary"]["failed"] == 0, fixed
    assert fixed["fix"]["before"]["failed"] >= 2
    done = [line for action in fixed["fix"]["applied"] for line in action["done"]]
    assert "delete ACL PVEAdmin on / for group group_acme" in done
    assert "delete ACL PVEVMAdmin on /vms for user admin_acme@pve" in done
    assert "delete ACL TenctlTenant on /pool/tenant_acme for group group_beta" in done
    assert not [a for a in fixed["fix"]["applied"] if a["error"]]

    # The lab: each tenant group holds exactly its grants, no tenant user holds anything, the role is
    # tenctl's again, and the administrator's own group kept its entry.
    for name in ("acme", "beta"):
        assert group_entries(lab, f"group_{name}") == intended(name, vnets[name]), name
    assert not [e for e in lab.pve.lab_acl if e["type"] == "user"]
    assert set(lab.pve.lab_roles["TenctlTenant"]) == set(TENANT_PRIVILEGES)
    assert group_entries(lab, "ops") == {("/", "PVEAdmin")}
    assert "ops" in lab.pve.lab_groups

    events = audit_events(lab)[mark:]
    # One audit line for the command, with what the fix did for each tenant.
    [fix] = [e for e in events if "fixed" in e["details"]]
    assert (fix["command"], fix["outcome"], fix["changes"]) == ("health", "success", True)
    assert set(fix["details"]["tenants"]) >= {"acme", "beta"}


def test_health_fix_as_text_says_what_it_removed_and_what_is_left(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    pve = ByHand(lab)
    pve("PUT", "/access/acl", path="/access", roles="PVEUserAdmin", groups="group_acme")
    text = ok(lab.run("health", "--fix")).stdout
    assert "✗ acls:" in text
    assert "revoke-grants acme: delete ACL PVEUserAdmin on /access for group group_acme" in text
    after = text.split("After fixing:", 1)[1]
    assert "✓ acls:" in after and "0 failed" in after
    # What only a person can do stays listed, with the command.
    assert "Left to do by hand:" in after and "pveum realm modify pve --tfa type=oath" in after
    assert group_entries(lab, "group_acme") == intended("acme", vnet_of(lab, "acme"))


# ------------------------------------------------------------------------------------------- TFA


def test_tenant_users_without_a_second_factor_are_named_until_they_have_one(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    code, report = health(lab)
    [tfa] = check_named(report, "tfa")
    assert code == 0 and tfa["status"] == "warn"
    assert "admin_acme@pve (tenant acme) has no second factor" in tfa["details"]
    assert any("pveum realm modify pve --tfa type=oath" in d for d in tfa["details"])

    # Recovery keys alone stand in for a lost factor: not enough.
    lab.pve.add_tfa("admin_acme@pve", "recovery")
    assert status_of(health(lab)[1], "tfa") == "warn"
    lab.pve.add_tfa("admin_acme@pve", "totp")
    code, report = health(lab)
    assert status_of(report, "tfa") == "pass" and code == 0

    # A realm that requires a second factor: a new tenant's admin cannot log in until it has one.
    lab.pve.set_realm_tfa("pve", "type=oath")
    ok(lab.run("add", "-n", "beta"))
    [tfa] = check_named(health(lab)[1], "tfa")
    assert tfa["status"] == "warn" and "cannot log in" in tfa["message"]
    assert any("admin_beta@pve (tenant beta) cannot log in: realm pve requires" in d for d in tfa["details"])


# ------------------------------------------------------------------------------- node versions


def versions_file(lab: Any, node: str) -> Path:
    return lab.dir / "etc-pve" / "tenctl" / "versions" / f"{node}.json"


def test_nodes_running_different_tenctl_versions_are_named(cluster):
    lab = cluster
    ok(lab.run("list"))
    mine = json.loads(versions_file(lab, "pve1").read_text())
    assert mine["node"] == "pve1" and mine["tenctl"]
    before = versions_file(lab, "pve1").stat().st_mtime_ns
    time.sleep(0.05)
    ok(lab.run("list"))
    assert versions_file(lab, "pve1").stat().st_mtime_ns == before, "written although nothing changed"

    ok(lab.run("list", node="pve2"))
    code, report = health(lab)
    assert (
        status_of(report, "tenctl-versions") == "pass"
        and "2 node(s)" in check_named(report, "tenctl-versions")[0]["message"]
    )

    # pve2 still runs an older release.
    older = json.loads(versions_file(lab, "pve2").read_text())
    older["tenctl"] = "0.1.9"
    versions_file(lab, "pve2").write_text(json.dumps(older))
    [check] = check_named(health(lab)[1], "tenctl-versions")
    assert check["status"] == "warn" and "pve2" in check["message"]
    assert any(d.startswith("pve2: tenctl 0.1.9") for d in check["details"])

    # Upgraded: its next command notes the version it runs.
    ok(lab.run("list", node="pve2"))
    assert status_of(health(lab)[1], "tenctl-versions") == "pass"


# ------------------------------------------------------------------------------------------ -n


def test_name_limits_the_per_tenant_checks_and_the_fix(cluster):
    lab = cluster
    for name in ("acme", "beta"):
        ok(lab.run("add", "-n", name))
    pve = ByHand(lab)
    pve("DELETE", "/pools", poolid="tenant_beta")

    code, report = health(lab, "-n", "acme")
    assert code == 0 and status_of(report, "drift") == "pass" and status_of(report, "orphans") == "pass"
    [tfa] = check_named(report, "tfa")
    assert "admin_beta@pve" not in json.dumps(tfa)
    # Checks of the cluster as a whole still run.
    assert {"cluster", "tenant-role", "locks", "sdn-lock"} <= {c["check"] for c in report["checks"]}

    code, report = health(lab, "-n", "beta")
    assert code == 1 and status_of(report, "drift") == "fail"
    assert "tenant beta: pool tenant_beta is missing" in check_named(report, "orphans")[0]["details"]

    unknown = lab.run("health", "-n", "nobody")
    assert unknown.exit_code == 1 and "tenant 'nobody' does not exist" in unknown.stderr

    # A fix limited to acme leaves beta as it is; limited to beta, it repairs beta.
    ok(lab.run("health", "-n", "acme", "--fix"))
    assert "tenant_beta" not in lab.pve.pools
    result = lab.run("health", "-n", "beta", "--fix", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "tenant_beta" in lab.pve.pools
    assert [e["tenant"] for e in audit_events(lab) if "fixed" in e["details"]] == ["acme", "beta"]


# ---------------------------------------------------------------------------- locks and journals


def plant_lock(lab: Any, tenant: str, node: str, age: float, pid: int) -> Path:
    path = lab.dir / "etc-pve" / "priv" / "lock" / f"tenctl-tenant-{tenant}"
    path.mkdir(parents=True)
    holder = {
        "node": node,
        "pid": pid,
        "command": f"modify {tenant}",
        "operator": "alice",
        "time": time.time() - age,
    }
    (path / "holder.json").write_text(json.dumps(holder))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def test_fix_releases_dead_locks_repairs_journals_and_lists_the_rest(cluster):
    lab = cluster
    for name in ("acme", "beta", "gamma"):
        ok(lab.run("add", "-n", name))
    dead = plant_lock(lab, "acme", "pve1", age=5, pid=dead_pid())
    stale = plant_lock(lab, "beta", "pve2", age=300, pid=4242)
    # gamma's last command died after its first step: the record keeps the journal.
    from tenctl_core.store import TenantStore

    store = TenantStore(tenants_dir(lab))
    gamma = store.load("gamma")
    gamma.journal = [
        {
            "id": "core:record:x",
            "op": "record",
            "layer": "record",
            "provider": "core",
            "action": "update record",
            "state": "applying",
            "time": "2025-01-01 00:00:00",
            "node": "pve1",
        }
    ]
    store.save(gamma)

    code, report = health(lab)
    assert code == 1 and status_of(report, "locks") == "fail"
    assert "gamma" in json.dumps(check_named(report, "unfinished-operations"))

    result = lab.run("health", "--fix", "--json")
    assert result.exit_code == 1, result.stdout + result.stderr  # the stale lock of pve2 stays
    fixed = json.loads(result.stdout)
    assert not dead.exists(), "a lock whose holder is gone on this node is released"
    assert stale.exists(), "a lock taken on another node is never broken by --fix"
    assert not store.load("gamma").journal
    [left] = [m for m in fixed["fix"]["manual"] if m["check"] == "locks"]
    assert any("tenctl lock release --force --tenant beta" in c for c in left["commands"])
    assert not check_named(fixed, "unfinished-operations")
    assert [e["tenant"] for e in audit_events(lab) if e["command"] == "lock break"] == ["acme"]


# -------------------------------------------------------------------------- exit codes and JSON


def test_exit_codes_and_json_keys(cluster, tmp_path):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    code, report = health(lab)
    assert code == 0 and report["summary"]["status"] == "warn"  # the TFA warning: exit 0
    assert set(report) == {"summary", "checks", "timestamp"}
    assert set(report["summary"]) == {"total_checks", "passed", "failed", "warnings", "status"}
    assert report["summary"]["total_checks"] == len(report["checks"])
    for check in report["checks"]:
        assert set(check) == {"check", "status", "message", "details"}, check
        assert check["status"] in ("pass", "warn", "fail")

    lab.pve.lab_roles["TenctlTenant"] = set(lab.pve.lab_roles["TenctlTenant"]) | {"Permissions.Modify"}
    code, report = health(lab)
    assert code == 1 and report["summary"]["failed"] >= 1

    # Proxmox cannot be reached: a port nobody listens on.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    document = tomllib.loads(lab.config.read_text())
    document["proxmox"]["port"] = closed
    config = tmp_path / "closed.toml"
    config.write_text(tomli_w.dumps(document))
    result = lab.run("--config", str(config), "health", "--json")
    assert result.exit_code == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["status"] == "fail"
    assert any("cannot reach Proxmox" in c["message"] for c in report["checks"]), report
    text = lab.run("--config", str(config), "health")
    assert text.exit_code == 2 and "✗ proxmox-api: cannot reach Proxmox" in text.stdout
    # --fix changes nothing when Proxmox cannot be reached.
    assert lab.run("--config", str(config), "health", "--fix").exit_code == 2


def test_a_repair_that_fails_does_not_stop_the_others_and_is_audited_as_a_failure(cluster):
    lab = cluster
    for name in ("acme", "beta"):
        ok(lab.run("add", "-n", name))
    pve = ByHand(lab)
    for name in ("acme", "beta"):
        pve("DELETE", "/pools", poolid=f"tenant_{name}")
    lab.pve.fault_on("POST", "/pools", "fail", status=500, message="create pool failed: lab fault")

    result = lab.run("health", "--fix", "--json")
    assert result.exit_code == 1, result.stdout + result.stderr
    fixed = json.loads(result.stdout)
    errors = {a["tenant"]: a["error"] for a in fixed["fix"]["applied"] if a["action"] == "sync"}
    assert "lab fault" in errors["acme"] and errors["beta"] is None
    assert "tenant_beta" in lab.pve.pools and "tenant_acme" not in lab.pve.pools
    assert "error: sync acme:" in result.stderr
    [event] = [e for e in audit_events(lab) if "fixed" in e["details"]]
    assert event["outcome"] == "failure" and "acme" in json.dumps(event["details"]["failed"])
