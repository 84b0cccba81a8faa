"""SDN.Use on the bridges of guest network devices (pve-guest-common GuestHelpers.pm check_vnet_access)."""

import pytest

TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


def refused(zone, bridge):
    return (403, f"Permission check failed (/sdn/zones/{zone}/{bridge}, SDN.Use)")


@pytest.fixture
def tenant(root, client):
    """Zone tenants with VNets vn100 and vn101; ta@pve (logged in, returned) may manage VMs and containers
    in pool tenant_a, use the storages, and has PVESDNUser on /sdn/zones/tenants/vn100 only."""
    root.ok("POST", "/cluster/sdn/zones", zone="tenants", type="vlan", bridge="vmbr0")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone="tenants", tag=100)
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn101", zone="tenants", tag=101)
    root.ok("POST", "/pools", poolid="tenant_a")
    root.ok("POST", "/access/users", userid="ta@pve", password="tenant-a-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_a", roles="PVEPoolAdmin,PVEVMAdmin", users="ta@pve")
    for storage in ("local", "local-lvm"):
        root.ok("PUT", "/access/acl", path="/storage/" + storage, roles="PVEDatastoreUser", users="ta@pve")
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn100", roles="PVESDNUser", users="ta@pve")
    user = client()
    user.login("ta@pve", "tenant-a-pw")
    return user


def _vm(client, vmid, net, pool="tenant_a"):
    return client.call("POST", "/nodes/pve1/qemu", vmid=vmid, pool=pool, net0=net)


def _ct(client, vmid, net):
    return client.call(
        "POST",
        "/nodes/pve1/lxc",
        vmid=vmid,
        pool="tenant_a",
        ostemplate=TEMPLATE,
        rootfs="local-lvm:4",
        net0=net,
    )


def _failure(answer):
    return answer.status_code, answer.json().get("message", "").strip()


def test_vm_on_its_vnet_is_created_and_changed(lab, tenant):
    assert _vm(tenant, 200, "virtio,bridge=vn100").status_code == 200
    assert lab.pve.vm(200).config["net0"].endswith("bridge=vn100")
    tenant.ok("PUT", "/nodes/pve1/qemu/200/config", net0="virtio,bridge=vn100")
    tenant.ok("POST", "/nodes/pve1/qemu/200/config", net0="e1000,bridge=vn100")
    # A VLAN below its VNet: the entry on the VNet propagates to /sdn/zones/tenants/vn100/<tag>.
    tenant.ok("PUT", "/nodes/pve1/qemu/200/config", net1="virtio,bridge=vn100,tag=5,trunks=7;9-10")


def test_vm_on_another_bridge_is_refused_at_create_and_change(lab, tenant):
    assert _failure(_vm(tenant, 201, "virtio,bridge=vn101")) == refused("tenants", "vn101")
    assert _failure(_vm(tenant, 202, "virtio,bridge=vmbr0")) == refused("localnetwork", "vmbr0")
    assert lab.pve.vm(201) is None and lab.pve.vm(202) is None

    _vm(tenant, 200, "virtio,bridge=vn100")
    for method in ("PUT", "POST"):
        assert tenant.error(method, "/nodes/pve1/qemu/200/config", net0="virtio,bridge=vn101") == refused(
            "tenants", "vn101"
        )
        assert tenant.error(method, "/nodes/pve1/qemu/200/config", net1="virtio,bridge=vmbr0") == refused(
            "localnetwork", "vmbr0"
        )
    assert "bridge=vn100" in lab.pve.vm(200).config["net0"] and "net1" not in lab.pve.vm(200).config


def test_a_device_on_a_bridge_the_user_may_not_use_is_neither_replaced_nor_deleted(root, lab, tenant):
    _vm(tenant, 200, "virtio,bridge=vn100")
    root.ok("PUT", "/nodes/pve1/qemu/200/config", net1="virtio,bridge=vmbr0")
    # Qemu.pm update_vm_api checks the current value of a netN it deletes or replaces.
    assert tenant.error("PUT", "/nodes/pve1/qemu/200/config", delete="net1") == refused(
        "localnetwork", "vmbr0"
    )
    assert tenant.error("PUT", "/nodes/pve1/qemu/200/config", net1="virtio,bridge=vn100") == refused(
        "localnetwork", "vmbr0"
    )
    assert "bridge=vmbr0" in lab.pve.vm(200).config["net1"]
    # The asynchronous form fails in its task.
    upid = tenant.ok("POST", "/nodes/pve1/qemu/200/config", delete="net1")
    assert (
        lab.pve.tasks[upid]["exitstatus"]
        == "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    )
    assert "net1" in lab.pve.vm(200).config


def test_vlan_tags_and_trunks_need_their_own_paths(root, client, tenant):
    root.ok("POST", "/access/users", userid="vlan@pve", password="vlan-user-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_a", roles="PVEVMAdmin", users="vlan@pve")
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn101/7", roles="PVESDNUser", users="vlan@pve")
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn101/9", roles="PVESDNUser", users="vlan@pve")
    vlan = client()
    vlan.login("vlan@pve", "vlan-user-pw")
    assert _vm(vlan, 203, "virtio,bridge=vn101,tag=7").status_code == 200
    assert _failure(_vm(vlan, 204, "virtio,bridge=vn101,tag=8")) == refused("tenants", "vn101/8")
    assert _failure(_vm(vlan, 205, "virtio,bridge=vn101")) == refused("tenants", "vn101")
    assert _failure(_vm(vlan, 206, "virtio,bridge=vn101,trunks=7;9-10")) == refused("tenants", "vn101/10")
    assert _vm(vlan, 207, "virtio,bridge=vn101,trunks=7;9").status_code == 200


def test_clone_checks_the_sources_bridges(root, lab, tenant):
    root.ok("POST", "/nodes/pve1/qemu", vmid=300, pool="tenant_a", net0="virtio,bridge=vmbr0")
    assert tenant.error("POST", "/nodes/pve1/qemu/300/clone", newid=301, pool="tenant_a") == refused(
        "localnetwork", "vmbr0"
    )
    root.ok("PUT", "/nodes/pve1/qemu/300/config", net0="virtio,bridge=vn100")
    tenant.ok("POST", "/nodes/pve1/qemu/300/clone", newid=301, pool="tenant_a")
    assert lab.pve.vm(301) is not None


def test_container_on_its_vnet_is_created_and_changed(lab, tenant):
    assert _ct(tenant, 210, "name=eth0,bridge=vn100,ip=dhcp").status_code == 200
    tenant.ok("PUT", "/nodes/pve1/lxc/210/config", net0="name=eth0,bridge=vn100,ip=dhcp")


def test_container_on_another_bridge_is_refused_at_create_and_change(root, lab, tenant):
    assert _failure(_ct(tenant, 211, "name=eth0,bridge=vn101")) == refused("tenants", "vn101")
    assert _failure(_ct(tenant, 212, "name=eth0,bridge=vmbr0")) == refused("localnetwork", "vmbr0")
    _ct(tenant, 210, "name=eth0,bridge=vn100")
    assert tenant.error("PUT", "/nodes/pve1/lxc/210/config", net0="name=eth0,bridge=vn101") == refused(
        "tenants", "vn101"
    )
    assert tenant.error("PUT", "/nodes/pve1/lxc/210/config", net1="name=eth1,bridge=vmbr0") == refused(
        "localnetwork", "vmbr0"
    )
    # The old value counts too (LXC.pm check_ct_modify_config_perm).
    root.ok("PUT", "/nodes/pve1/lxc/210/config", net1="name=eth1,bridge=vmbr0")
    assert tenant.error("PUT", "/nodes/pve1/lxc/210/config", net1="name=eth1,bridge=vn100") == refused(
        "localnetwork", "vmbr0"
    )


def test_root_uses_any_bridge(root, lab, tenant):
    root.ok("POST", "/nodes/pve1/qemu", vmid=220, net0="virtio,bridge=vmbr0")
    root.ok("PUT", "/nodes/pve1/qemu/220/config", net1="virtio,bridge=vn101,tag=3")


def test_guest_privileges_are_checked_before_the_bridge(root, client, tenant):
    root.ok("POST", "/access/users", userid="nobody@pve", password="nobody-pw-1")
    nobody = client()
    nobody.login("nobody@pve", "nobody-pw-1")
    # Qemu.pm create_vm: VM.Allocate first (a refusal without a reason), then the bridges.
    assert _failure(_vm(nobody, 230, "virtio,bridge=vmbr0")) == (403, "Permission check failed")
    assert _failure(_vm(nobody, 230, "virtio,bridge=vmbr0", pool="nopool")) == (
        403,
        "Permission check failed (pool 'nopool' does not exist)",
    )
