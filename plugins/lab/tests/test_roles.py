"""Built-in and custom roles, as pve-access-control's Role.pm and AccessControl.pm keep them."""

import json

from tenctl_lab.pve import LabPve


def _roles(client):
    return {r["roleid"]: r for r in client.ok("GET", "/access/roles")}


def test_builtin_roles_are_pves(root):
    roles = _roles(root)
    assert all(r["special"] == 1 for r in roles.values())
    assert set(roles) >= {"Administrator", "NoAccess", "PVEAdmin", "PVEVMAdmin", "PVEPoolAdmin", "PVESDNUser"}
    assert roles["PVEPoolAdmin"]["privs"] == "Pool.Allocate,Pool.Audit"
    assert roles["NoAccess"]["privs"] == ""
    # AccessControl.pm create_roles: root-only privileges and Mapping.Modify are not PVEAdmin's; the guest
    # agent's file privileges are a user's.
    admin = set(roles["PVEAdmin"]["privs"].split(","))
    assert not admin & {
        "Sys.Incoming",
        "Sys.AccessNetwork",
        "Sys.Modify",
        "Mapping.Modify",
        "Permissions.Modify",
    }
    assert "VM.GuestAgent.FileRead" in roles["PVEVMUser"]["privs"].split(",")
    assert root.ok("GET", "/access/roles/PVESDNUser") == {"SDN.Audit": 1, "SDN.Use": 1}


def test_custom_role_create_read_update_delete(root):
    root.ok("POST", "/access/roles", roleid="TenantOps", privs="VM.Audit, VM.PowerMgmt;VM.Console")
    role = _roles(root)["TenantOps"]
    assert role == {"roleid": "TenantOps", "privs": "VM.Audit,VM.Console,VM.PowerMgmt", "special": 0}
    assert root.ok("GET", "/access/roles/TenantOps") == {"VM.Audit": 1, "VM.Console": 1, "VM.PowerMgmt": 1}

    root.ok("PUT", "/access/roles/TenantOps", privs="VM.Backup", append=1)
    assert set(root.ok("GET", "/access/roles/TenantOps")) == {
        "VM.Audit",
        "VM.Backup",
        "VM.Console",
        "VM.PowerMgmt",
    }
    root.ok("PUT", "/access/roles/TenantOps", privs="VM.Audit")
    assert root.ok("GET", "/access/roles/TenantOps") == {"VM.Audit": 1}
    # Without privs (and without append) the role is emptied.
    root.ok("PUT", "/access/roles/TenantOps")
    assert root.ok("GET", "/access/roles/TenantOps") == {}
    root.ok("POST", "/access/roles", roleid="Empty")
    assert _roles(root)["Empty"]["privs"] == ""

    root.ok("DELETE", "/access/roles/TenantOps")
    assert "TenantOps" not in _roles(root)
    assert root.error("GET", "/access/roles/TenantOps") == (500, "role 'TenantOps' does not exist")


def test_role_refusals_are_pves(root):
    answer = root.call("POST", "/access/roles", roleid="Bad", privs="VM.Audit,VM.Fly")
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"privs": "invalid format - invalid privilege 'VM.Fly'\n"}
    for reserved in ("PVEMine", "pveMine"):
        answer = root.call("POST", "/access/roles", roleid=reserved, privs="VM.Audit")
        assert answer.status_code == 400
        assert answer.json()["errors"] == {
            "roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"
        }
    assert root.error("POST", "/access/roles", roleid="Administrator") == (
        500,
        "create role failed: role 'Administrator' already exists",
    )
    root.ok("POST", "/access/roles", roleid="Mine", privs="VM.Audit")
    assert root.error("POST", "/access/roles", roleid="Mine") == (
        500,
        "create role failed: role 'Mine' already exists",
    )
    assert root.error("POST", "/access/roles", roleid="bad name")[0] == 400

    assert root.error("PUT", "/access/roles/PVEVMUser", privs="VM.Audit") == (
        500,
        "auto-generated role 'PVEVMUser' cannot be modified",
    )
    assert root.error("PUT", "/access/roles/Ghost", privs="VM.Audit") == (
        500,
        "update role failed: role 'Ghost' does not exist",
    )
    assert root.call("PUT", "/access/roles/Mine", append=1).status_code == 400  # append requires privs
    assert root.call("PUT", "/access/roles/Mine", privs="Nope").status_code == 400
    assert root.error("DELETE", "/access/roles/NoAccess") == (
        500,
        "auto-generated role 'NoAccess' cannot be deleted",
    )
    assert root.error("DELETE", "/access/roles/Ghost") == (
        500,
        "delete role failed: role 'Ghost' does not exist",
    )


def test_a_tenant_user_may_not_write_roles(root, client):
    root.ok("POST", "/pools", poolid="tenant_r")
    root.ok("POST", "/access/users", userid="tr@pve", password="tenant-r-pw")
    root.ok("PUT", "/access/acl", path="/pool/tenant_r", roles="PVEPoolAdmin,PVEVMAdmin", users="tr@pve")
    root.ok("POST", "/access/roles", roleid="Existing", privs="VM.Audit")
    tenant = client()
    tenant.login("tr@pve", "tenant-r-pw")
    # Reading is for everyone (Role.pm: user => 'all'); writing needs Sys.Modify on /access.
    assert "PVEAdmin" in _roles(tenant)
    assert tenant.error("POST", "/access/roles", roleid="Escalate", privs="Permissions.Modify") == (
        403,
        "Permission check failed (/access, Sys.Modify)",
    )
    assert tenant.error("PUT", "/access/roles/Existing", privs="Sys.Modify")[0] == 403
    assert tenant.error("DELETE", "/access/roles/Existing")[0] == 403
    assert "Escalate" not in _roles(root)


def test_custom_role_grants_its_privileges_and_deleting_it_drops_its_acl_entries(root, client):
    root.ok("POST", "/pools", poolid="tenant_c")
    root.ok("POST", "/access/users", userid="cu@pve", password="custom-pw-1")
    root.ok("POST", "/access/roles", roleid="PoolKeeper", privs="Pool.Audit")
    root.ok("PUT", "/access/acl", path="/pool/tenant_c", roles="PoolKeeper", users="cu@pve")
    user = client()
    user.login("cu@pve", "custom-pw-1")
    assert [p["poolid"] for p in user.ok("GET", "/pools")] == ["tenant_c"]
    assert user.error("PUT", "/pools/tenant_c", comment="x")[0] == 403
    # Changing the role changes what its entries grant.
    root.ok("PUT", "/access/roles/PoolKeeper", privs="Pool.Allocate", append=1)
    user.ok("PUT", "/pools/tenant_c", comment="x")

    root.ok("DELETE", "/access/roles/PoolKeeper")
    assert not [e for e in root.ok("GET", "/access/acl") if e["roleid"] == "PoolKeeper"]
    assert user.ok("GET", "/pools") == []
    # Re-creating the role does not bring the entries back (PVE dropped them from user.cfg).
    root.ok("POST", "/access/roles", roleid="PoolKeeper", privs="Pool.Audit")
    assert user.ok("GET", "/pools") == []


def test_custom_roles_survive_save_and_load_and_old_states_load(lab, root, tmp_path):
    root.ok("POST", "/pools", poolid="tenant_k")
    root.ok("POST", "/access/users", userid="ku@pve")
    root.ok("POST", "/access/roles", roleid="Keeper", privs="Pool.Audit,Pool.Allocate")
    root.ok("PUT", "/access/acl", path="/pool/tenant_k", roles="Keeper", users="ku@pve")
    saved = lab.pve.save(tmp_path / "state.json")
    state = json.loads(saved.read_text())
    assert state["access"]["roles"] == {"Keeper": ["Pool.Allocate", "Pool.Audit"]}

    again = LabPve()
    again.load(saved)
    assert again.lab_roles["Keeper"] == {"Pool.Allocate", "Pool.Audit"}
    assert again.allowed("ku@pve", "/pool/tenant_k", "Pool.Allocate")

    # A state written before custom roles existed has no "roles": it loads with the built-in ones.
    del state["access"]["roles"]
    state["access"]["acl"] = [e for e in state["access"]["acl"] if e["roleid"] != "Keeper"]
    state["access"]["acl"].append(
        {
            "path": "/pool/tenant_k",
            "type": "user",
            "ugid": "ku@pve",
            "roleid": "PVEPoolAdmin",
            "propagate": True,
        }
    )
    old = LabPve()
    old.load_state(state)
    assert "Keeper" not in old.lab_roles and "PVEVMAdmin" in old.lab_roles
    assert old.allowed("ku@pve", "/pool/tenant_k", "Pool.Allocate")
