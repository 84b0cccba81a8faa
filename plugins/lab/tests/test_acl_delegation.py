"""Who may edit ACL entries, and which, as PVE decides it (RPCEnvironment.pm check_perm_modify, ACL.pm)."""

import pytest

SUBSET = "ACL update failed: 400 Parameter verification failed.\nrole: Cannot add role '{}' - requires 'Permissions.Modify' or superset of privileges."
PROPAGATED = (
    "ACL update failed: 400 Parameter verification failed.\nrole: Cannot add role '{}' with propagation - "
    "requires 'Permissions.Modify' or propagated superset of privileges."
)


@pytest.fixture
def tenants(root, client):
    """Pools tenant_x and tenant_y; group_x holds PVEPoolAdmin and PVEVMAdmin on /pool/tenant_x and has the
    member admin_x@pve (logged in, returned); other@pve exists without rights; VM 100 is tenant_x's."""
    for tenant in ("x", "y"):
        root.ok("POST", "/pools", poolid="tenant_" + tenant)
    root.ok("POST", "/nodes/pve1/qemu", vmid=100, pool="tenant_x")
    root.ok("POST", "/access/groups", groupid="group_x")
    root.ok("POST", "/access/users", userid="admin_x@pve", password="admin-x-pw", groups="group_x")
    root.ok("POST", "/access/users", userid="other@pve", password="other-pw-1")
    root.ok("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEPoolAdmin,PVEVMAdmin", groups="group_x")
    admin = client()
    admin.login("admin_x@pve", "admin-x-pw")
    return admin


def _entries(client, path):
    return sorted(
        (e["ugid"], e["roleid"], e["propagate"]) for e in client.ok("GET", "/access/acl") if e["path"] == path
    )


def test_pool_admin_hands_out_its_own_rights_on_its_pool(root, tenants):
    admin = tenants
    # Pool.Allocate on the pool passes check_perm_modify, and PVEVMAdmin is within the caller's rights.
    admin.ok("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEVMAdmin", users="other@pve")
    assert ("other@pve", "PVEVMAdmin", 1) in _entries(root, "/pool/tenant_x")
    admin.ok("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEPoolUser", users="other@pve")
    # Removing is as allowed as adding.
    admin.ok("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEPoolUser", users="other@pve", delete=1)
    assert ("other@pve", "PVEPoolUser", 1) not in _entries(root, "/pool/tenant_x")


def test_pool_admin_may_not_hand_out_more_than_it_holds(root, tenants):
    admin = tenants
    for role in ("Administrator", "PVEAdmin", "PVEDatastoreAdmin"):
        assert admin.error("PUT", "/access/acl", path="/pool/tenant_x", roles=role, users="other@pve") == (
            500,
            SUBSET.format(role),
        )
    assert admin.error("PUT", "/access/acl", path="/pool/tenant_x", roles="NoAccess", users="other@pve") == (
        500,
        "ACL update failed: 400 Parameter verification failed.\nrole: Cannot add role 'NoAccess' - requires 'Permissions.Modify'",
    )
    # One refused role refuses the whole request: nothing was written.
    admin.error(
        "PUT", "/access/acl", path="/pool/tenant_x", roles="PVEVMUser,Administrator", users="other@pve"
    )
    assert not [e for e in _entries(root, "/pool/tenant_x") if e[0] == "other@pve"]


def test_pool_admin_may_not_edit_another_pool_or_global_paths(root, tenants):
    admin = tenants
    assert admin.error(
        "PUT", "/access/acl", path="/pool/tenant_y", roles="PVEVMAdmin", users="other@pve"
    ) == (
        403,
        "Permission check failed (/pool/tenant_y, Permissions.Modify|Pool.Allocate)",
    )
    assert admin.error("PUT", "/access/acl", path="/", roles="PVEVMAdmin", users="other@pve") == (
        403,
        "Permission check failed (/, Permissions.Modify)",
    )
    assert admin.error("PUT", "/access/acl", path="/vms/101", roles="PVEVMUser", users="other@pve")[0] == 403
    assert _entries(root, "/pool/tenant_y") == []


def test_role_without_pool_allocate_may_not_edit_the_pools_acl(root, client, tenants):
    root.ok("POST", "/access/users", userid="user_x@pve", password="user-x-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEPoolUser,PVEVMAdmin", users="user_x@pve")
    user = client()
    user.login("user_x@pve", "user-x-pw")
    assert user.error("PUT", "/access/acl", path="/pool/tenant_x", roles="PVEVMUser", users="other@pve") == (
        403,
        "Permission check failed (/pool/tenant_x, Permissions.Modify|Pool.Allocate)",
    )
    # It may edit the entries of a guest of the pool (VM.Allocate through the pool), but only without
    # propagation: privileges from a pool never propagate.
    assert user.error("PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="other@pve") == (
        500,
        PROPAGATED.format("PVEVMUser"),
    )
    user.ok("PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="other@pve", propagate=0)
    assert _entries(root, "/vms/100") == [("other@pve", "PVEVMUser", 0)]


def test_entry_without_propagation_lets_hand_out_only_without_it(root, client, tenants):
    root.ok("POST", "/access/users", userid="flat@pve", password="flat-pw-11")
    root.ok("PUT", "/access/acl", path="/pool/tenant_y", roles="PVEPoolAdmin", users="flat@pve", propagate=0)
    flat = client()
    flat.login("flat@pve", "flat-pw-11")
    assert flat.error(
        "PUT", "/access/acl", path="/pool/tenant_y", roles="PVEPoolUser", users="other@pve"
    ) == (
        500,
        PROPAGATED.format("PVEPoolUser"),
    )
    flat.ok("PUT", "/access/acl", path="/pool/tenant_y", roles="PVEPoolUser", users="other@pve", propagate=0)


def test_permissions_modify_lifts_the_subset_rule(root, client, tenants):
    root.ok("POST", "/access/users", userid="acladmin@pve", password="acl-admin-pw")
    root.ok("POST", "/access/roles", roleid="AclEditor", privs="Permissions.Modify")
    root.ok("PUT", "/access/acl", path="/pool/tenant_y", roles="AclEditor", users="acladmin@pve")
    editor = client()
    editor.login("acladmin@pve", "acl-admin-pw")
    editor.ok("PUT", "/access/acl", path="/pool/tenant_y", roles="Administrator", users="other@pve")


def test_acl_listing_shows_what_the_caller_may_edit(root, client, tenants):
    admin = tenants
    root.ok("PUT", "/access/acl", path="/pool/tenant_y", roles="PVEAuditor", users="other@pve")
    root.ok("PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="other@pve", propagate=0)
    # check_perm_modify: Pool.Allocate on its pool, VM.Allocate (through the pool) on its guest.
    assert {e["path"] for e in admin.ok("GET", "/access/acl")} == {"/pool/tenant_x", "/vms/100"}
    # Sys.Audit on /access shows every entry.
    root.ok("POST", "/access/users", userid="auditor@pve", password="auditor-pw")
    root.ok("PUT", "/access/acl", path="/access", roles="PVEAuditor", users="auditor@pve", propagate=0)
    auditor = client()
    auditor.login("auditor@pve", "auditor-pw")
    assert {e["path"] for e in auditor.ok("GET", "/access/acl")} == {
        "/access",
        "/pool/tenant_x",
        "/pool/tenant_y",
        "/vms/100",
    }
    # Sys.Audit elsewhere does not.
    root.ok("POST", "/access/users", userid="nodes@pve", password="nodes-pw-1")
    root.ok("PUT", "/access/acl", path="/nodes", roles="PVEAuditor", users="nodes@pve")
    nodes = client()
    nodes.login("nodes@pve", "nodes-pw-1")
    assert nodes.ok("GET", "/access/acl") == []


def test_pool_admin_deletes_its_empty_pool_and_a_pool_user_may_not(root, client):
    for pool in ("tenant_e", "tenant_f"):
        root.ok("POST", "/pools", poolid=pool)
    root.ok("POST", "/access/users", userid="pa@pve", password="pool-admin-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_e", roles="PVEPoolAdmin,PVEVMAdmin", users="pa@pve")
    root.ok("POST", "/access/users", userid="pu@pve", password="pool-user-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_f", roles="PVEPoolUser,PVEVMAdmin", users="pu@pve")
    pool_admin, pool_user = client(), client()
    pool_admin.login("pa@pve", "pool-admin-pw")
    pool_user.login("pu@pve", "pool-user-pw")

    assert pool_user.error("DELETE", "/pools", poolid="tenant_f") == (
        403,
        "Permission check failed (/pool/tenant_f, Pool.Allocate)",
    )
    assert pool_admin.error("DELETE", "/pools", poolid="tenant_f")[0] == 403
    pool_admin.ok("DELETE", "/pools", poolid="tenant_e")
    assert "tenant_e" not in [p["poolid"] for p in root.ok("GET", "/pools")]
    # Its ACL entries went with it (AccessControl.pm delete_pool_acl).
    assert _entries(root, "/pool/tenant_e") == []


def test_a_pool_with_a_guest_is_not_deleted(root, tenants):
    admin = tenants
    assert admin.error("DELETE", "/pools", poolid="tenant_x") == (
        500,
        "delete pool failed: pool 'tenant_x' is not empty (contains VM 100)",
    )


def test_deleting_a_pool_drops_its_acl_subtree_but_a_nested_pool_keeps_its_entries(root):
    root.ok("POST", "/pools", poolid="top")
    root.ok("POST", "/pools", poolid="top/sub")
    root.ok("POST", "/access/users", userid="nest@pve")
    root.ok("PUT", "/access/acl", path="/pool/top", roles="PVEPoolUser", users="nest@pve")
    root.ok("PUT", "/access/acl", path="/pool/top/sub", roles="PVEPoolUser", users="nest@pve")
    # delete_pool_acl('top/sub') looks for a child 'top/sub' of /pool, which the ACL tree never has.
    root.ok("DELETE", "/pools", poolid="top/sub")
    assert _entries(root, "/pool/top/sub") == [("nest@pve", "PVEPoolUser", 1)]
    root.ok("DELETE", "/pools", poolid="top")
    assert _entries(root, "/pool/top") == [] and _entries(root, "/pool/top/sub") == []
