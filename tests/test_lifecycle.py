"""The tenant lifecycle through the real command line, checked on the simulated cluster's state."""

from __future__ import annotations

import json
import stat
import tomllib

from conftest import created_password, installation_id, ok
from labclient import login


def acl_of(lab, group):
    return sorted(
        (e["path"], e["roleid"]) for e in lab.pve.lab_acl if e["type"] == "group" and e["ugid"] == group
    )


def add_guest(lab, vmid, name, pool, status="running", node="pve1"):
    vm = lab.pve.add_vm(vmid, name, node=node, status=status, config={"cores": 2, "memory": 2048})
    lab.pve._pool_join(pool, vmid)
    return vm


def test_init_creates_the_zone_and_is_idempotent(lab):
    result = ok(lab.run("init"))
    assert "create SDN vlan zone tenants" in result.stdout
    zone = lab.pve.sdn_running["zones"]["tenants"]
    assert zone["type"] == "vlan" and zone["bridge"] == "vmbr0"
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()
    mark = lab.mark()
    again = ok(lab.run("init"))
    assert "nothing to do" in again.stdout
    writes = [r for r in lab.requests_log_since(mark) if r["method"] != "GET"]
    assert writes == []


def test_init_vxlan_zone_uses_the_nodes_as_peers(lab):
    ok(lab.run("init", "-t", "vxlan", "-z", "tnx"))
    zone = lab.pve.sdn_running["zones"]["tnx"]
    assert zone["type"] == "vxlan"
    assert len(zone["peers"].split(",")) == 3


def test_add_builds_every_object_with_exact_acls(cluster):
    lab = cluster
    result = ok(lab.run("add", "-n", "acme", "-c", "4", "-r", "8192", "-s", "100", "-e", "ops@acme.example"))
    password = created_password(result.stdout)
    pve = lab.pve
    assert "tenant_acme" in pve.pools
    assert "group_acme" in pve.lab_groups
    user = pve.lab_users["admin_acme@pve"]
    assert user["groups"] == {"group_acme"} and user["email"] == "ops@acme.example" and user["enable"]
    assert acl_of(lab, "group_acme") == sorted(
        [
            ("/pool/tenant_acme", "TenctlTenant"),
            ("/sdn/zones/tenants/vn100", "PVESDNUser"),
            ("/storage/local-lvm", "PVEDatastoreUser"),
        ]
    )
    # Nothing is granted to the user directly: every right goes through the group.
    assert not [e for e in pve.lab_acl if e["type"] == "user"]
    vnet = pve.sdn_running["vnets"]["vn100"]
    assert (
        vnet["zone"] == "tenants"
        and int(vnet["tag"]) == 100
        and vnet["alias"] == f"Network for acme 10.100.0.0/24 (tenctl:{installation_id(lab)}:acme)"
    )
    marker = f"(tenctl:{installation_id(lab)}:acme)"
    assert pve.pool_info["tenant_acme"]["comment"].endswith(marker)
    assert pve.lab_groups["group_acme"]["comment"].endswith(marker)
    assert user["comment"].endswith(marker)
    subnet = pve.sdn_running["subnets"]["tenants-10.100.0.0-24"]
    assert subnet["gateway"] == "10.100.0.1" and subnet["vnet"] == "vn100"
    assert pve.sdn_lock is None and not pve.sdn_pending()
    record_path = lab.dir / "etc-pve" / "tenants" / "acme.toml"
    assert stat.S_IMODE(record_path.stat().st_mode) & 0o027 == 0
    record = tomllib.loads(record_path.read_text())
    assert record["status"] == "active" and record["vlan"] == 100 and record["cpu_limit"] == 4
    assert password not in record_path.read_text()
    assert password not in (lab.dir / "log" / "tenant-management.log").read_text()


def test_tenant_admin_manages_its_pool_and_is_refused_another(cluster):
    lab = cluster
    pw_a = created_password(ok(lab.run("add", "-n", "alpha")).stdout)
    ok(lab.run("add", "-n", "bravo"))
    admin = login(lab, "admin_alpha@pve", pw_a)
    assert admin.logged_in
    assert admin.status("POST", "/nodes/pve1/qemu", vmid=201, name="web", pool="tenant_alpha") == 200
    assert 201 in lab.pve.pools["tenant_alpha"]
    assert admin.status("POST", "/nodes/pve1/qemu", vmid=202, name="evil", pool="tenant_bravo") == 403
    assert admin.status("GET", "/pools/tenant_bravo") == 403
    assert admin.status("POST", "/access/users", userid="x@pve") == 403
    assert 202 not in lab.pve.pools.get("tenant_bravo", set())


def test_list_json_has_the_seed_keys_and_real_guest_counts(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("add", "-n", "beta"))
    add_guest(lab, 301, "db", "tenant_acme")
    add_guest(lab, 302, "app", "tenant_acme", status="stopped")
    rows = json.loads(ok(lab.run("list", "--json")).stdout)
    by_name = {row["tenant_name"]: row for row in rows}
    seed_keys = [
        "tenant_name",
        "pool_id",
        "group_name",
        "vlan_id",
        "subnet",
        "cpu_limit",
        "ram_limit",
        "storage_limit",
        "vm_count",
        "created_date",
        "vms",
    ]
    assert list(by_name["acme"])[: len(seed_keys)] == seed_keys
    assert by_name["acme"]["vm_count"] == 2 and by_name["beta"]["vm_count"] == 0
    assert isinstance(by_name["acme"]["vlan_id"], int)
    assert {vm["vmid"] for vm in by_name["acme"]["vms"]} == {301, 302}
    assert set(by_name["acme"]["vms"][0]) == {"vmid", "name", "type", "status", "node", "cpu", "mem"}
    table = ok(lab.run("list")).stdout
    assert "acme" in table and "beta" in table and "Pool ID" in table
    detailed = ok(lab.run("list", "-d", "-n", "acme")).stdout
    assert "db" in detailed and "301" in detailed
    show = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
    assert show["vm_count"] == 2


def test_modify_keeps_every_other_field(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme", "-e", "a@acme.example"))
    ok(lab.run("suspend", "-n", "acme", "--reason", "late payment"))
    path = lab.dir / "etc-pve" / "tenants" / "acme.toml"
    before = tomllib.loads(path.read_text())
    ok(
        lab.run(
            "modify",
            "-n",
            "acme",
            "-c",
            "2",
            "-r",
            "1024",
            "-s",
            "50",
            "--email",
            "b@acme.example",
            "--force",
        )
    )
    after = tomllib.loads(path.read_text())
    assert (after["cpu_limit"], after["ram_limit"], after["storage_limit"], after["email"]) == (
        2,
        1024,
        50,
        "b@acme.example",
    )
    for key in (
        "created_date",
        "suspend_reason",
        "suspend_date",
        "status",
        "vlan",
        "subnet",
        "created_objects",
    ):
        assert after[key] == before[key], key
    assert lab.pve.lab_users["admin_acme@pve"]["email"] == "b@acme.example"


def test_modify_password_from_file(cluster, tmp_path):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    secret = tmp_path / "pw"
    secret.write_text("n3w-Passw0rd-long\n")
    ok(lab.run("modify", "-n", "acme", "--password-file", str(secret), "--force"))
    assert login(lab, "admin_acme@pve", "n3w-Passw0rd-long").logged_in
    assert "n3w-Passw0rd-long" not in (lab.dir / "log" / "tenant-management.log").read_text()


def test_modify_without_force_needs_a_terminal(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    result = lab.run("modify", "-n", "acme", "-c", "3")
    assert result.exit_code == 2 and "--force" in result.stderr
    assert tomllib.loads((lab.dir / "etc-pve" / "tenants" / "acme.toml").read_text())["cpu_limit"] == 8


def test_suspend_and_resume(cluster):
    lab = cluster
    password = created_password(ok(lab.run("add", "-n", "acme")).stdout)
    add_guest(lab, 401, "web", "tenant_acme", status="running")
    ok(lab.run("suspend", "-n", "acme", "--reason", "abuse report 42", "--stop-vms"))
    assert not lab.pve.lab_users["admin_acme@pve"]["enable"]
    assert not login(lab, "admin_acme@pve", password).logged_in
    assert lab.pve.vm(401).status == "stopped"
    row = json.loads(ok(lab.run("list", "--json")).stdout)[0]
    assert row["status"] == "suspended" and row["suspend_reason"] == "abuse report 42"
    assert "SUSPENDED" in ok(lab.run("list")).stdout
    again = ok(lab.run("suspend", "-n", "acme"))
    assert "already suspended" in again.stdout
    ok(lab.run("resume", "-n", "acme", "--start-vms"))
    assert lab.pve.lab_users["admin_acme@pve"]["enable"]
    assert login(lab, "admin_acme@pve", password).logged_in
    assert lab.pve.vm(401).status == "running"
    row = json.loads(ok(lab.run("list", "--json")).stdout)[0]
    assert row["status"] == "active" and row["resume_date"]


def test_remove_refuses_with_guests_then_purges_them(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    add_guest(lab, 501, "web", "tenant_acme")
    refused = lab.run("remove", "-n", "acme", "-f")
    assert refused.exit_code == 1 and "501" in refused.stderr and "--purge-guests" in refused.stderr
    assert "tenant_acme" in lab.pve.pools
    ok(lab.run("remove", "-n", "acme", "-f", "--purge-guests"))
    assert not [vm for vm in lab.pve.vms if vm.vmid == 501]


def test_remove_leaves_nothing_behind(cluster):
    lab = cluster
    before = {
        "pools": set(lab.pve.pools),
        "groups": set(lab.pve.lab_groups),
        "users": set(lab.pve.lab_users),
        "acl": len(lab.pve.lab_acl),
    }
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("remove", "-n", "acme", "-f"))
    assert set(lab.pve.pools) == before["pools"]
    assert set(lab.pve.lab_groups) == before["groups"]
    assert set(lab.pve.lab_users) == before["users"]
    assert len(lab.pve.lab_acl) == before["acl"]
    assert lab.pve.sdn_running["vnets"] == {} and lab.pve.sdn_running["subnets"] == {}
    assert lab.pve.sdn_lock is None and not lab.pve.sdn_pending()
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()
    assert json.loads(ok(lab.run("list", "--json")).stdout) == []


def test_remove_keeps_objects_tenctl_did_not_create(cluster):
    lab = cluster
    lab.pve.lab_groups["group_acme"] = {"comment": "made by hand"}
    result = lab.run("add", "-n", "acme")
    assert result.exit_code == 1 and "group group_acme exists but is not tenctl's" in result.stderr
    assert lab.pve.lab_groups["group_acme"]["comment"] == "made by hand"
    assert "tenant_acme" not in lab.pve.pools and "admin_acme@pve" not in lab.pve.lab_users
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()


def test_add_existing_tenant_is_an_error(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    again = lab.run("add", "-n", "acme")
    assert again.exit_code == 1 and "acme" in again.stderr and "already exists" in again.stderr


def test_manual_vlan_and_subnet(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme", "--vlan", "250", "--subnet", "10.100.50.0/24"))
    assert int(lab.pve.sdn_running["vnets"]["vn250"]["tag"]) == 250
    assert "tenants-10.100.50.0-24" in lab.pve.sdn_running["subnets"]
    taken = lab.run("add", "-n", "beta", "--vlan", "250")
    assert taken.exit_code == 1 and "VLAN 250 is already in use" in taken.stderr
    overlap = lab.run("add", "-n", "gamma", "--subnet", "10.100.50.128/25")
    assert overlap.exit_code == 1 and "overlaps tenant acme" in overlap.stderr


def test_dry_run_changes_nothing(cluster):
    from conftest import lab_snapshot

    lab = cluster
    before = lab_snapshot(lab)
    result = ok(lab.run("add", "-n", "acme", "--dry-run", "--json"))
    plan = json.loads(result.stdout)
    actions = [s["action"] for s in plan["steps"]]
    assert plan["dry_run"] is True and any("create pool tenant_acme" in a for a in actions)
    assert any(s["provider"] == "sdn-vnet" and s["layer"] == "network" for s in plan["steps"])
    assert lab_snapshot(lab) == before
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()
    text = ok(lab.run("add", "-n", "acme", "--dry-run")).stdout
    assert "Dry run: nothing was changed." in text


def test_audit_trail_has_one_line_per_command(cluster):
    lab = cluster
    log = lab.dir / "log" / "tenant-management.log"
    start = len(log.read_text().splitlines()) if log.exists() else 0
    ok(lab.run("add", "-n", "acme"))
    ok(lab.run("list", "-n", "acme"))
    ok(lab.run("suspend", "-n", "acme"))
    lab.run("add", "-n", "acme")
    lines = [json.loads(line) for line in log.read_text().splitlines()[start:]]
    assert [(e["command"], e["outcome"]) for e in lines] == [
        ("add", "success"),
        ("list", "success"),
        ("suspend", "success"),
        ("add", "refused"),  # the tenant exists: declined, nothing changed
    ]
    assert all(e["node"] == "pve1" and e["tenant"] == "acme" and e["user"] and e["time"] for e in lines)


def test_tenctl_command_aliases(cluster, tmp_path):
    import os
    import subprocess
    import sys

    lab = cluster
    alias = tmp_path / "tenctl-list"
    alias.write_text(f"#!{sys.executable}\nimport sys\nfrom tenctl_core.cli import main\nmain()\n")
    alias.chmod(0o755)
    result = subprocess.run(
        [str(alias), "--json"],
        env={**lab.env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_generated_password_written_to_a_private_file(cluster, tmp_path):
    lab = cluster
    out = tmp_path / "acme.pw"
    result = ok(lab.run("add", "-n", "acme", "--password-out", str(out)))
    password = out.read_text().strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert password not in result.stdout and password not in result.stderr
    assert login(lab, "admin_acme@pve", password).logged_in
    again = lab.run("add", "-n", "beta", "--password-out", str(out))
    assert again.exit_code == 2 and "exists" in again.stderr


def test_show_and_list_print_what_each_layer_adds(cluster):
    """The SDN provider's summary: `vnet` and `zone` in JSON (0.2's keys), labelled in `show`."""
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    shown = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
    assert (shown["vnet"], shown["zone"]) == ("vn100", "tenants")
    [listed] = json.loads(ok(lab.run("list", "--json")).stdout)
    assert (listed["vnet"], listed["zone"]) == ("vn100", "tenants")
    text = ok(lab.run("show", "-n", "acme")).stdout
    assert "VNet:" in text and "vn100" in text and "SDN zone:" in text
