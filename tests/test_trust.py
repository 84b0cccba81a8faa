"""Trust at the edges: the tenant role, guest NIC isolation, password changes by a non-root tenctl user,
the --password-out file, the Bash tool's names, subnets in use, zone types, allocation ratios.

Each test drives the real CLI against the lab and asserts on the lab's state or on what a tenant admin's
own login may do there.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
from conftest import check_named, health_of, ok, tenants_dir
from labclient import login

# ---------------------------------------------------------------------------------------- helpers


def config_with(lab, path, changes, drop=()):
    """The lab's configuration with tables updated (``{"sdn": {"zone": "x"}}``) and keys dropped
    (``["proxmox.token_name"]``), written to path."""
    import tomllib

    import tomli_w

    data = tomllib.loads(lab.config.read_text())
    for dotted in drop:
        table, _, key = dotted.partition(".")
        data.get(table, {}).pop(key, None)
    for table, values in changes.items():
        data.setdefault(table, {}).update(values)
    path.write_text(tomli_w.dumps(data))
    return path


# ----------------------------------------------------------------------------------------- the role


def add_with_password(lab, name, password, *options):
    """`tenctl [OPTIONS] add -n NAME --password-file F`: global options (--config) come first."""
    secret = lab.dir / f"{name}.password"
    secret.write_text(password + "\n")
    return ok(lab.run(*options, "add", "-n", name, "--password-file", str(secret)))


def create_vm(client, vmid, bridge, pool):
    return client.status("POST", "/nodes/pve1/qemu", vmid=vmid, pool=pool, net0=f"virtio,bridge={bridge}")


def create_ct(client, vmid, bridge, pool):
    return client.status(
        "POST",
        "/nodes/pve1/lxc",
        vmid=vmid,
        pool=pool,
        ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        rootfs="local-lvm:4",
        net0=f"name=eth0,bridge={bridge}",
    )


def test_init_makes_the_tenant_role_with_exactly_the_tenant_privileges(cluster):
    from tenctl_core.access import TENANT_PRIVILEGES

    privs = set(cluster.pve.lab_roles["TenctlTenant"])
    assert privs == set(TENANT_PRIVILEGES)
    assert not privs & {"Pool.Allocate", "Permissions.Modify", "User.Modify", "Group.Allocate", "Sys.Modify"}
    assert check_named(health_of(cluster), "tenant-role")[0]["status"] == "pass"


def test_a_tenant_admin_cannot_touch_acls_pools_or_other_networks(cluster, tmp_path):
    """Logged in as acme's admin: its own pool works; ACLs, the pool itself, beta's pool, beta's VNet and
    the plain bridge are refused, for VMs and containers, at create and at config change."""
    lab = cluster
    # Tenants may also read the templates on `local`.
    config = config_with(lab, tmp_path / "storages.toml", {"permissions": {"storages": ["local-lvm", "local"]}})
    add_with_password(lab, "acme", "acme-secret-1", "--config", str(config))
    add_with_password(lab, "beta", "beta-secret-1", "--config", str(config))
    acme = login(lab, "admin_acme@pve", "acme-secret-1")
    assert acme.logged_in
    before_acl = json.dumps(lab.pve.lab_acl, sort_keys=True)

    # ACLs of its own pool: Proxmox would accept these from a holder of Pool.Allocate (PVEPoolAdmin).
    # Refused with 403 (check_perm_modify) or 500 (the subset rule, raised under PVE's user.cfg lock).
    grant = {"path": "/pool/tenant_acme", "roles": "PVEVMAdmin", "users": "admin_beta@pve"}
    assert acme.status("PUT", "/access/acl", **grant) in (403, 500)
    assert acme.status("PUT", "/access/acl", **{**grant, "roles": "TenctlTenant"}) in (403, 500)
    assert acme.status("PUT", "/access/acl", **{**grant, "path": "/pool/tenant_beta"}) in (403, 500)
    assert json.dumps(lab.pve.lab_acl, sort_keys=True) == before_acl
    # The pool itself, and beta's.
    assert acme.status("DELETE", "/pools", poolid="tenant_acme") == 403
    assert acme.status("PUT", "/pools", poolid="tenant_beta", comment="mine") == 403
    assert "tenant_acme" in lab.pve.pools

    # Guest NICs: its own VNet only.
    assert create_vm(acme, 210, "vn100", "tenant_acme") == 200
    assert create_vm(acme, 211, "vn101", "tenant_acme") == 403
    assert create_vm(acme, 212, "vmbr0", "tenant_acme") == 403
    assert create_ct(acme, 220, "vn100", "tenant_acme") == 200
    assert create_ct(acme, 221, "vn101", "tenant_acme") == 403
    assert create_ct(acme, 222, "vmbr0", "tenant_acme") == 403
    for path in ("/nodes/pve1/qemu/210/config", "/nodes/pve1/lxc/220/config"):
        nic = "virtio,bridge={}" if "qemu" in path else "name=eth0,bridge={}"
        assert acme.status("PUT", path, net0=nic.format("vn101")) == 403
        assert acme.status("PUT", path, net0=nic.format("vmbr0")) == 403
        assert acme.status("PUT", path, net0=nic.format("vn100")) == 200
    assert {vm.vmid for vm in lab.pve.vms} >= {210}
    assert not {vm.vmid for vm in lab.pve.vms} & {211, 212}


def test_the_lab_shows_the_hole_the_role_closes(cluster):
    """With 0.2's grants (PVEPoolAdmin on the pool) Proxmox lets the tenant admin hand its pool out: the
    reason tenctl refuses that role."""
    lab = cluster
    add_with_password(lab, "acme", "acme-secret-1")
    add_with_password(lab, "beta", "beta-secret-1")
    lab.pve.lab_acl.append(
        {
            "path": "/pool/tenant_acme",
            "type": "group",
            "ugid": "group_acme",
            "roleid": "PVEPoolAdmin",
            "propagate": True,
        }
    )
    lab.pve.rebuild_grants()
    acme = login(lab, "admin_acme@pve", "acme-secret-1")
    assert (
        acme.status(
            "PUT", "/access/acl", path="/pool/tenant_acme", roles="TenctlTenant", users="admin_beta@pve"
        )
        == 200
    )
    # `sync` puts the group's grants back to what tenctl intends.
    ok(lab.run("sync", "--all"))
    roles = {
        e["roleid"] for e in lab.pve.lab_acl if e["ugid"] == "group_acme" and e["path"] == "/pool/tenant_acme"
    }
    assert roles == {"TenctlTenant"}


def test_config_refuses_a_builtin_role_that_can_change_acls(lab, tmp_path):
    config = config_with(lab, tmp_path / "pooladmin.toml", {"permissions": {"admin_role": "PVEPoolAdmin"}})
    mark = lab.mark()
    result = lab.run("--config", str(config), "config", "check")
    assert result.exit_code == 2 and "Pool.Allocate" in result.stderr and "Traceback" not in result.stderr
    assert lab.requests_since(mark) == 0


def test_health_finds_a_widened_role_and_init_restores_it(cluster):
    lab = cluster
    lab.pve.lab_roles["TenctlTenant"] = set(lab.pve.lab_roles["TenctlTenant"]) | {"Pool.Allocate"}
    check = check_named(health_of(lab), "tenant-role")[0]
    assert check["status"] == "fail" and "Pool.Allocate" in json.dumps(check)
    ok(lab.run("init"))
    assert "Pool.Allocate" not in lab.pve.lab_roles["TenctlTenant"]
    assert check_named(health_of(lab), "tenant-role")[0]["status"] == "pass"


def test_init_leaves_a_role_of_that_name_it_did_not_make(lab):
    lab.pve.lab_roles["TenctlTenant"] = {"VM.Audit"}
    result = lab.run("init")
    assert result.exit_code == 1 and "not made by tenctl" in result.stderr
    assert lab.pve.lab_roles["TenctlTenant"] == {"VM.Audit"}


def test_sync_makes_a_missing_role_and_moves_tenants_to_it(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    # As after an upgrade from 0.2: 0.2's grants, and no tenant role yet.
    lab.pve.lab_acl[:] = [e for e in lab.pve.lab_acl if e["roleid"] != "TenctlTenant"]
    for role in ("PVEPoolAdmin", "PVEVMAdmin"):
        lab.pve.lab_acl.append(
            {
                "path": "/pool/tenant_acme",
                "type": "group",
                "ugid": "group_acme",
                "roleid": role,
                "propagate": True,
            }
        )
    del lab.pve.lab_roles["TenctlTenant"]
    lab.pve.rebuild_grants()
    ok(lab.run("sync", "--all"))
    assert set(lab.pve.lab_roles["TenctlTenant"])
    roles = {
        e["roleid"] for e in lab.pve.lab_acl if e["ugid"] == "group_acme" and e["path"] == "/pool/tenant_acme"
    }
    assert roles == {"TenctlTenant"}


# ------------------------------------------------------------------------------ password handling


def test_a_non_root_tenctl_user_changes_a_tenant_password(cluster, tmp_path):
    """The setup the docs recommend: tenctl's own user, not root. Proxmox wants its password as
    confirmation-password on PUT /access/password; the lab refuses without it as PVE does."""
    lab = cluster
    add_with_password(lab, "acme", "acme-secret-1")
    lab.pve.lab_users["tenctl@pve"] = lab.pve._new_user_record()
    lab.pve.users["tenctl@pve"] = "tenctl-own-pass"
    lab.pve.lab_acl.append(
        {"path": "/", "type": "user", "ugid": "tenctl@pve", "roleid": "Administrator", "propagate": True}
    )
    lab.pve.rebuild_grants()
    own = tmp_path / "own.password"
    own.write_text("tenctl-own-pass\n")
    own.chmod(0o600)
    config = config_with(
        lab,
        tmp_path / "tenctl-user.toml",
        {"proxmox": {"user": "tenctl@pve", "password_file": str(own)}},
        drop=["proxmox.token_name", "proxmox.token_secret_file"],
    )
    new = tmp_path / "new.password"
    new.write_text("acme-secret-2\n")
    mark = lab.mark()
    ok(lab.run("--config", str(config), "modify", "-n", "acme", "--password-file", str(new), "--force"))
    assert any(
        line["path"].endswith("/access/password") and line["status"] == 200
        for line in lab.requests_log_since(mark)
    )
    assert login(lab, "admin_acme@pve", "acme-secret-2").logged_in
    assert not login(lab, "admin_acme@pve", "acme-secret-1").logged_in


def test_password_out_is_made_before_anything_changes(cluster, tmp_path):
    lab = cluster
    target = tmp_path / "acme.password"
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    mark = lab.mark()
    refused = lab.run("add", "-n", "acme", "--password-out", str(link))
    assert refused.exit_code == 2 and "exists" in refused.stderr
    assert not (tmp_path / "nowhere").exists() and "tenant_acme" not in lab.pve.pools
    assert lab.requests_since(mark) == 0
    # A failure during add removes the file it made; the cluster is left as it was.
    lab.pve.fault_on("POST", "/cluster/sdn/vnets", "fail")
    failed = lab.run("add", "-n", "acme", "--password-out", str(target))
    assert failed.exit_code == 1 and not target.exists() and "tenant_acme" not in lab.pve.pools
    lab.pve.clear_faults()
    ok(lab.run("add", "-n", "acme", "--password-out", str(target)))
    assert (target.stat().st_mode & 0o777) == 0o600
    assert login(lab, "admin_acme@pve", target.read_text().strip()).logged_in


# ------------------------------------------------------------------------------------------ names


def test_the_bash_tools_names_keep_working_and_case_twins_are_refused(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "Contoso_2"))
    assert "tenant_Contoso_2" in lab.pve.pools and "group_Contoso_2" in lab.pve.lab_groups
    shown = json.loads(ok(lab.run("show", "-n", "Contoso_2", "--json")).stdout)
    assert shown["tenant_name"] == "Contoso_2"
    mark = lab.mark()
    twin = lab.run("add", "-n", "contoso_2")
    assert twin.exit_code == 1 and "only in case" in twin.stderr
    assert "tenant_contoso_2" not in lab.pve.pools
    assert not [line for line in lab.requests_log_since(mark) if line["method"] != "GET"]
    ok(lab.run("remove", "-n", "Contoso_2", "--force"))
    assert "tenant_Contoso_2" not in lab.pve.pools


# --------------------------------------------------------------------------- VLANs and subnets


def foreign_vnet(lab, vnet, zone, tag, cidr):
    """A VNet and subnet made by hand in another zone, applied, with no tenctl alias."""
    pve = lab.pve
    network = ipaddress.IPv4Network(cidr)
    sid = f"{zone}-{network.network_address}-{network.prefixlen}"
    for state in (pve.sdn_config, pve.sdn_running):
        state["zones"].setdefault(zone, {"type": "vlan", "bridge": "vmbr1"})
        state["vnets"][vnet] = {"zone": zone, "tag": tag, "type": "vnet"}
        state["subnets"][sid] = {"vnet": vnet, "type": "subnet"}


def test_subnets_and_vnet_ids_of_every_zone_count_as_taken(cluster):
    lab = cluster
    foreign_vnet(lab, "lab7", "other", 7, "10.100.0.0/24")
    foreign_vnet(lab, "vn100", "other", 8, "192.168.50.0/24")
    mark = lab.mark()
    ok(lab.run("add", "-n", "acme"))
    record = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
    assert record["subnet"] == "10.100.1.0/24" and record["vlan_id"] == 101
    posts = [
        line
        for line in lab.requests_log_since(mark)
        if line["method"] == "POST" and line["path"].endswith("/vnets")
    ]
    assert len(posts) == 1  # no attempt wasted on a clash


def test_after_a_clash_the_retry_takes_a_new_vlan_and_subnet(cluster):
    lab = cluster
    lab.pve.fault_on("POST", "/cluster/sdn/vnets/vn100/subnets", "fail", status=500)
    lab.pve._matched_faults[-1] = (
        "POST",
        "/cluster/sdn/vnets/vn100/subnets",
        (
            "fail",
            500,
            "create sdn subnet object failed: sdn subnet object ID 'tenants-10.100.0.0-24' already defined",
        ),
    )
    mark = lab.mark()
    ok(lab.run("add", "-n", "acme"))
    record = json.loads(ok(lab.run("show", "-n", "acme", "--json")).stdout)
    assert record["vlan_id"] == 101 and record["subnet"] == "10.100.1.0/24"
    vnet_posts = [
        line
        for line in lab.requests_log_since(mark)
        if line["method"] == "POST" and line["path"].endswith("/sdn/vnets")
    ]
    assert len(vnet_posts) == 2  # one clash costs one extra attempt


def test_reserved_networks_are_skipped_and_refused(lab, tmp_path):
    config = config_with(
        lab, tmp_path / "reserved.toml", {"allocation": {"reserved": ["10.100.0.0/23", "192.168.0.0/16"]}}
    )
    ok(lab.run("--config", str(config), "init"))
    mark = lab.mark()
    refused = lab.run("--config", str(config), "add", "-n", "acme", "-i", "192.168.7.0/24")
    assert refused.exit_code == 2 and "reserved network 192.168.0.0/16" in refused.stderr
    assert lab.requests_since(mark) == 0
    ok(lab.run("--config", str(config), "add", "-n", "acme"))
    record = json.loads(ok(lab.run("--config", str(config), "show", "-n", "acme", "--json")).stdout)
    assert record["subnet"] == "10.100.2.0/24"


# ------------------------------------------------------------------------------------- zone types


@pytest.mark.parametrize(
    ("zone_args", "zone_fields", "vnet_tag"),
    [
        (("-t", "simple", "-z", "tsimple"), {"type": "simple"}, None),
        (
            ("-t", "qinq", "-z", "tqinq", "-b", "vmbr0", "--service-vlan", "50"),
            {"type": "qinq", "tag": 50},
            100,
        ),
        (("-t", "vxlan", "-z", "tvx", "-p", "192.0.2.1,192.0.2.2"), {"type": "vxlan"}, 100),
        (("-t", "vlan", "-z", "tvlan"), {"type": "vlan", "bridge": "vmbr0"}, 100),
    ],
    ids=["simple", "qinq", "vxlan", "vlan"],
)
def test_every_zone_type_works_end_to_end(lab, tmp_path, zone_args, zone_fields, vnet_tag):
    zone = zone_args[zone_args.index("-z") + 1]
    sdn = {"zone": zone, "zone_type": zone_args[1]}
    if zone_args[1] == "qinq":
        sdn["service_vlan"] = 50
    config = config_with(lab, tmp_path / "zone.toml", {"sdn": sdn})
    ok(lab.run("--config", str(config), "init", *zone_args))
    made = lab.pve.sdn_running["zones"][zone]
    assert {k: made.get(k) for k in zone_fields} == zone_fields
    ok(lab.run("--config", str(config), "add", "-n", "acme"))
    vnet = lab.pve.sdn_running["vnets"]["vn100"]
    assert vnet["zone"] == zone and (int(vnet["tag"]) if vnet.get("tag") is not None else None) == vnet_tag
    assert check_named(health_of(lab, env={"TENCTL_CONFIG": str(config)}), "drift")[0]["status"] == "pass"
    ok(lab.run("--config", str(config), "remove", "-n", "acme", "--force"))
    assert "vn100" not in lab.pve.sdn_running["vnets"]


# ---------------------------------------------------------------------------- pending and locks


def test_health_names_every_pending_sdn_change_and_lock_status_asks_the_api(cluster):
    lab = cluster
    ok(lab.run("add", "-n", "acme"))
    pve = lab.pve
    pve.sdn_config["subnets"]["tenants-10.200.0.0-24"] = {"vnet": "vn100", "type": "subnet"}
    pve.sdn_config["zones"]["zpend"] = {"type": "simple"}
    checks = health_of(lab)
    pending = check_named(checks, "sdn-pending")[0]
    text = json.dumps(pending)
    assert pending["status"] == "warn" and "10.200.0.0/24" in text and "zpend" in text
    del pve.sdn_config["subnets"]["tenants-10.200.0.0-24"]
    del pve.sdn_config["zones"]["zpend"]
    # The SDN lock as seen from a machine that is no cluster node (no /etc/pve): asked of the API.
    elsewhere = lab.dir / "elsewhere"
    config = config_with(
        lab,
        lab.dir / "offnode.toml",
        {"paths": {"cluster_dir": str(elsewhere), "tenants_dir": str(lab.dir / "etc-pve" / "tenants")}},
    )
    pve.sdn_lock = {"token": "someone-else", "created": 0.0, "user": "root@pam"}
    status = json.loads(ok(lab.run("--config", str(config), "lock", "status", "--json")).stdout)
    assert status["sdn_lock"] and status["sdn_lock"]["held"]
    assert pve.sdn_lock["token"] == "someone-else"
    pve.sdn_lock = None
    status = json.loads(ok(lab.run("--config", str(config), "lock", "status", "--json")).stdout)
    assert status["sdn_lock"] is None and pve.sdn_lock is None


# --------------------------------------------------------------------------------------- capacity


def test_allocation_ratios_let_cpu_be_overcommitted_and_are_named(lab, tmp_path):
    lab.pve.node_cores = 4  # 3 nodes: 12 cores, 80 % = 9
    ok(lab.run("init"))
    refused = lab.run("add", "-n", "acme", "-c", "20")
    assert refused.exit_code == 1 and "capacity.cpu_ratio 1" in refused.stderr
    config = config_with(lab, tmp_path / "ratio.toml", {"capacity": {"cpu_ratio": 4.0}})
    ok(lab.run("--config", str(config), "add", "-n", "acme", "-c", "20"))
    over = lab.run("--config", str(config), "add", "-n", "beta", "-c", "20")
    assert (
        over.exit_code == 1 and "capacity.cpu_ratio 4" in over.stderr and "tenant_beta" not in lab.pve.pools
    )


def test_storage_limits_are_checked_against_the_storages(lab, tmp_path):
    lab.pve.storage_size = 100 * 1024**3  # 100 GiB of local-lvm on each of the 3 nodes: 240 GB allowed
    ok(lab.run("init"))
    refused = lab.run("add", "-n", "acme", "-s", "500")
    assert (
        refused.exit_code == 1 and "storage" in refused.stderr and "capacity.storage_ratio" in refused.stderr
    )
    config = config_with(lab, tmp_path / "thin.toml", {"capacity": {"storage_ratio": 3.0}})
    ok(lab.run("--config", str(config), "add", "-n", "acme", "-s", "500"))


def test_records_directory_is_untouched_by_refused_adds(cluster):
    lab = cluster
    before = sorted(p.name for p in tenants_dir(lab).iterdir())
    assert lab.run("add", "-n", "acme", "-v", "5").exit_code == 2
    assert sorted(p.name for p in tenants_dir(lab).iterdir()) == before
