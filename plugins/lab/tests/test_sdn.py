"""SDN zones, VNets and subnets: pending and running config, apply, rollback, the lock, and PVE's refusals."""

import pytest


@pytest.fixture
def zone(root):
    root.ok("POST", "/cluster/sdn/zones", zone="tenants", type="vlan", bridge="vmbr0")
    return "tenants"


def _ids(items, key):
    return sorted(item[key] for item in items)


def test_writes_are_pending_until_applied(root, zone):
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    root.ok(
        "POST",
        "/cluster/sdn/vnets/vn100/subnets",
        subnet="10.100.0.0/24",
        type="subnet",
        gateway="10.100.0.1",
    )
    assert _ids(root.ok("GET", "/cluster/sdn/vnets"), "vnet") == ["vn100"]
    assert root.ok("GET", "/cluster/sdn/vnets", running=1) == []
    pending = {v["vnet"]: v for v in root.ok("GET", "/cluster/sdn/vnets", pending=1)}
    assert pending["vn100"]["state"] == "new" and pending["vn100"]["pending"]["tag"] == 100

    root.ok("PUT", "/cluster/sdn")
    running = root.ok("GET", "/cluster/sdn/vnets", running=1)
    assert [(v["vnet"], v["tag"], v["zone"]) for v in running] == [("vn100", 100, "tenants")]
    assert "state" not in root.ok("GET", "/cluster/sdn/vnets", pending=1)[0]
    subnet = root.ok("GET", "/cluster/sdn/vnets/vn100/subnets/tenants-10.100.0.0-24", running=1)
    assert subnet["gateway"] == "10.100.0.1" and subnet["cidr"] == "10.100.0.0/24"

    root.ok("PUT", "/cluster/sdn/vnets/vn100", alias="tenant-x")
    changed = root.ok("GET", "/cluster/sdn/vnets/vn100", pending=1)
    assert changed["state"] == "changed" and changed["pending"] == {"alias": "tenant-x"}
    root.ok("DELETE", "/cluster/sdn/vnets/vn100/subnets/tenants-10.100.0.0-24")
    root.ok("DELETE", "/cluster/sdn/vnets/vn100")
    assert root.ok("GET", "/cluster/sdn/vnets", pending=1)[0]["state"] == "deleted"


def test_rollback_discards_pending_changes(root, zone):
    root.ok("PUT", "/cluster/sdn")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn200", zone=zone, tag=200)
    root.ok("POST", "/cluster/sdn/rollback")
    assert root.ok("GET", "/cluster/sdn/vnets") == []
    assert _ids(root.ok("GET", "/cluster/sdn/zones"), "zone") == ["tenants"]


def test_lock_token_guards_every_write_and_release_needs_to_be_explicit(lab, root, zone):
    status, message = root.error("POST", "/cluster/sdn/lock")
    assert status == 500 and "configuration has pending changes" in message
    root.ok("PUT", "/cluster/sdn")

    token = root.ok("POST", "/cluster/sdn/lock")
    assert lab.pve.sdn_lock["token"] == token and lab.pve.sdn_lock_age() >= 0
    assert "invalid lock token" in root.error("POST", "/cluster/sdn/lock", **{"allow-pending": 1})[1]
    # Without the token (or with a wrong one), writes, apply and unlock are refused.
    assert (
        "invalid lock token" in root.error("POST", "/cluster/sdn/vnets", vnet="vn300", zone=zone, tag=300)[1]
    )
    assert (
        root.error("POST", "/cluster/sdn/vnets", vnet="vn300", zone=zone, tag=300, **{"lock-token": "wrong"})[
            0
        ]
        == 500
    )
    assert root.error("PUT", "/cluster/sdn")[0] == 500
    assert root.error("DELETE", "/cluster/sdn/lock")[0] == 500

    root.ok("POST", "/cluster/sdn/vnets", vnet="vn300", zone=zone, tag=300, **{"lock-token": token})
    # Applying without release-lock=1 keeps the lock (PVE's documented default is not applied).
    root.ok("PUT", "/cluster/sdn", **{"lock-token": token})
    assert lab.pve.sdn_lock is not None
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn301", zone=zone, tag=301, **{"lock-token": token})
    root.ok("POST", "/cluster/sdn/rollback", **{"lock-token": token})
    root.ok("PUT", "/cluster/sdn", **{"lock-token": token, "release-lock": 1})
    assert lab.pve.sdn_lock is None and lab.pve.sdn_lock_age() is None
    assert _ids(root.ok("GET", "/cluster/sdn/vnets", running=1), "vnet") == ["vn300"]

    # Pending changes may be locked with allow-pending; force releases a lock without its token.
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn302", zone=zone, tag=302)
    token = root.ok("POST", "/cluster/sdn/lock", **{"allow-pending": 1})
    root.ok("DELETE", "/cluster/sdn/lock", force=1)
    token = root.ok("POST", "/cluster/sdn/lock", **{"allow-pending": 1})
    root.ok("DELETE", "/cluster/sdn/lock", **{"lock-token": token})
    assert lab.pve.sdn_lock is None


def test_duplicate_tags_are_refused(root, zone):
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    status, message = root.error("POST", "/cluster/sdn/vnets", vnet="vn101", zone=zone, tag=100)
    assert status == 500 and "tag 100 already exist in vnet vn100" in message
    # Another VLAN zone may reuse the tag.
    root.ok("POST", "/cluster/sdn/zones", zone="other", type="vlan", bridge="vmbr1")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vo100", zone="other", tag=100)
    # VXLAN ids are unique across every vxlan zone.
    root.ok("POST", "/cluster/sdn/zones", zone="vx1", type="vxlan", peers="192.0.2.1,192.0.2.2")
    root.ok("POST", "/cluster/sdn/zones", zone="vx2", type="vxlan", peers="192.0.2.1,192.0.2.2")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vx500", zone="vx1", tag=500)
    assert (
        "already exist in vnet vx500"
        in root.error("POST", "/cluster/sdn/vnets", vnet="vy500", zone="vx2", tag=500)[1]
    )
    # Changing a tag onto a taken one is refused too.
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn102", zone=zone, tag=102)
    assert root.error("PUT", "/cluster/sdn/vnets/vn102", tag=100)[0] == 500


def test_pve_refusals(root, zone):
    assert root.error("POST", "/cluster/sdn/vnets", vnet="vn1", zone="nozone", tag=1) == (
        500,
        "create sdn vnet object failed: cannot lookup undefined type!",
    )
    assert root.error("POST", "/cluster/sdn/zones", zone="novlan", type="vlan")[0] == 400  # bridge missing
    assert root.error("POST", "/cluster/sdn/zones", zone="tenants", type="simple")[0] == 500
    assert root.error("POST", "/cluster/sdn/zones", zone="toolongid", type="simple")[0] == 400
    assert root.error("POST", "/cluster/sdn/vnets", vnet="vn9", zone=zone)[0] == 500  # no tag in a vlan zone
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    root.ok("POST", "/cluster/sdn/vnets/vn100/subnets", subnet="10.1.0.0/24", type="subnet")
    assert (
        "already defined"
        in root.error("POST", "/cluster/sdn/vnets/vn100/subnets", subnet="10.1.0.0/24", type="subnet")[1]
    )
    assert root.error("DELETE", "/cluster/sdn/vnets/vn100")[0] == 500  # it still has a subnet
    assert root.error("DELETE", "/cluster/sdn/zones/tenants")[0] == 500  # it still has a vnet
    # Reads of objects that do not exist fail instead of inventing data.
    assert root.error("GET", "/cluster/sdn/vnets/nope") == (500, "sdn vnet 'nope' does not exist")
    assert root.error("GET", "/cluster/sdn/zones/nope")[0] == 500
    assert root.error("GET", "/cluster/sdn/vnets/vn100/subnets/tenants-10.9.0.0-24")[0] == 500
    # The subnet id keeps host bits, as PVE does.
    root.ok("POST", "/cluster/sdn/vnets/vn100/subnets", subnet="10.2.0.5/24", type="subnet")
    assert "tenants-10.2.0.5-24" in _ids(root.ok("GET", "/cluster/sdn/vnets/vn100/subnets"), "subnet")


def test_tenant_sees_only_its_vnet(root, client, zone):
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn101", zone=zone, tag=101)
    root.ok("POST", "/access/users", userid="ta@pve", password="tenant-a-pw")
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn100", roles="PVESDNUser", users="ta@pve")
    tenant = client()
    tenant.login("ta@pve", "tenant-a-pw")
    assert _ids(tenant.ok("GET", "/cluster/sdn/vnets"), "vnet") == ["vn100"]
    assert tenant.error("POST", "/cluster/sdn/vnets", vnet="vn102", zone=zone, tag=102)[0] == 403
    assert tenant.error("DELETE", "/cluster/sdn/vnets/vn101")[0] == 403


def test_subnet_of_a_vnet_that_does_not_exist_fails_for_root_too(root, zone):
    # Subnets.pm $check_vnet_access looks the VNet up before anything else, outside the SDN lock.
    assert root.error("DELETE", "/cluster/sdn/vnets/nope/subnets/tenants-10.9.0.0-24") == (
        500,
        "sdn vnet 'nope' does not exist",
    )
    assert root.error("POST", "/cluster/sdn/vnets/nope/subnets", subnet="10.9.0.0/24", type="subnet") == (
        500,
        "sdn vnet 'nope' does not exist",
    )
    assert root.error("GET", "/cluster/sdn/vnets/nope/subnets") == (500, "sdn vnet 'nope' does not exist")
    assert root.error("PUT", "/cluster/sdn/vnets/nope/subnets/tenants-10.9.0.0-24", gateway="10.9.0.1") == (
        500,
        "sdn vnet 'nope' does not exist",
    )


def test_missing_subnet_of_an_existing_vnet_is_deleted_without_error_unless_pve_ipam(root, zone):
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    root.ok("DELETE", "/cluster/sdn/vnets/vn100/subnets/tenants-10.9.0.0-24")
    # With the built-in PVE IPAM, del_subnet is handed the missing subnet and fails.
    root.ok("POST", "/cluster/sdn/zones", zone="ipamz", type="simple", ipam="pve")
    root.ok("POST", "/cluster/sdn/vnets", vnet="vnipam", zone="ipamz")
    assert root.error("DELETE", "/cluster/sdn/vnets/vnipam/subnets/ipamz-10.9.0.0-24") == (
        500,
        "delete sdn subnet object failed: zone '' doesn't exist in IPAM DB",
    )


def test_subnets_need_rights_on_their_vnet(root, client, zone):
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn100", zone=zone, tag=100)
    root.ok("POST", "/cluster/sdn/vnets", vnet="vn101", zone=zone, tag=101)
    root.ok("POST", "/cluster/sdn/vnets/vn101/subnets", subnet="10.1.0.0/24", type="subnet")
    root.ok("POST", "/access/users", userid="sub@pve", password="subnet-pw")
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn100", roles="PVESDNUser", users="sub@pve")
    user = client()
    user.login("sub@pve", "subnet-pw")
    assert user.ok("GET", "/cluster/sdn/vnets/vn100/subnets") == []
    denied = (403, "Permission check failed (/sdn/zones/tenants/vn101, SDN.Audit|SDN.Allocate)")
    assert user.error("GET", "/cluster/sdn/vnets/vn101/subnets") == denied
    assert user.error("GET", "/cluster/sdn/vnets/vn101/subnets/tenants-10.1.0.0-24") == denied
    assert user.error("DELETE", "/cluster/sdn/vnets/vn101/subnets/tenants-10.1.0.0-24") == (
        403,
        "Permission check failed (/sdn/zones/tenants/vn101, SDN.Allocate)",
    )
