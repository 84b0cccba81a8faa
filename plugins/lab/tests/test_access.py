"""Users, groups, ACL entries and tokens are kept and enforced, through real HTTPS."""


def test_created_user_logs_in_with_its_password_and_not_when_disabled(root, client):
    root.ok(
        "POST",
        "/access/users",
        userid="alice@pve",
        password="correct-horse",
        email="a@example.com",
        firstname="Alice",
    )
    assert client().login("alice@pve", "correct-horse").status_code == 200
    assert client().login("alice@pve", "wrong-password").status_code == 401

    root.ok("PUT", "/access/users/alice@pve", enable=0)
    assert client().login("alice@pve", "correct-horse").status_code == 401
    root.ok("PUT", "/access/users/alice@pve", enable=1)
    assert client().login("alice@pve", "correct-horse").status_code == 200

    user = root.ok("GET", "/access/users/alice@pve")
    assert user["email"] == "a@example.com" and user["firstname"] == "Alice" and user["enable"] == 1


def test_a_disabled_users_ticket_stops_working(root, client):
    root.ok("POST", "/access/users", userid="bob@pve", password="bob-password")
    bob = client()
    bob.login("bob@pve", "bob-password")
    assert bob.call("GET", "/version").status_code == 200
    root.ok("PUT", "/access/users/bob@pve", enable=0)
    assert bob.call("GET", "/version").status_code == 401


def test_duplicates_and_missing_objects_fail_as_pve_does(root):
    root.ok("POST", "/access/users", userid="carol@pve")
    assert root.error("POST", "/access/users", userid="carol@pve") == (
        500,
        "create user failed: user 'carol@pve' already exists",
    )
    root.ok("POST", "/access/groups", groupid="team")
    assert root.error("POST", "/access/groups", groupid="team") == (
        500,
        "create group failed: group 'team' already exists",
    )
    assert root.error("GET", "/access/users/nobody@pve")[0] == 500
    assert root.error("GET", "/access/groups/nogroup")[0] == 500
    # As root, deleting a user that does not exist succeeds (PVE does the same).
    root.ok("DELETE", "/access/users/nobody@pve")


def test_group_membership_is_shown_both_ways_and_append_adds(root):
    for group in ("g1", "g2"):
        root.ok("POST", "/access/groups", groupid=group)
    root.ok("POST", "/access/users", userid="dave@pve", groups="g1")
    root.ok("PUT", "/access/users/dave@pve", groups="g2", append=1)
    assert root.ok("GET", "/access/users/dave@pve")["groups"] == ["g1", "g2"]
    assert root.ok("GET", "/access/groups/g2")["members"] == ["dave@pve"]
    listing = {g["groupid"]: g for g in root.ok("GET", "/access/groups")}
    assert listing["g1"]["users"] == "dave@pve"

    root.ok("PUT", "/access/users/dave@pve", groups="g2")
    assert root.ok("GET", "/access/users/dave@pve")["groups"] == ["g2"]
    root.ok("DELETE", "/access/groups/g2")
    assert root.ok("GET", "/access/users/dave@pve")["groups"] == []


def test_tenant_admin_manages_its_pool_and_is_refused_on_another(root, client):
    for tenant in ("a", "b"):
        root.ok("POST", "/pools", poolid="tenant_" + tenant)
        root.ok("POST", "/access/groups", groupid="group_" + tenant)
        root.ok(
            "POST",
            "/access/users",
            userid=f"admin_{tenant}@pve",
            password="password-" + tenant,
            groups="group_" + tenant,
        )
        root.ok(
            "PUT",
            "/access/acl",
            path="/pool/tenant_" + tenant,
            roles="PVEPoolAdmin,PVEVMAdmin",
            groups="group_" + tenant,
        )
    admin_a = client()
    admin_a.login("admin_a@pve", "password-a")
    admin_a.ok("PUT", "/pools/tenant_a", comment="mine")
    status, message = admin_a.error("PUT", "/pools/tenant_b", comment="not mine")
    assert status == 403 and "/pool/tenant_b" in message
    assert [p["poolid"] for p in admin_a.ok("GET", "/pools")] == ["tenant_a"]
    perms = admin_a.ok("GET", "/access/permissions")
    assert set(perms) == {"/pool/tenant_a"} and perms["/pool/tenant_a"]["Pool.Allocate"] == 1

    acl = root.ok("GET", "/access/acl")
    assert {
        "path": "/pool/tenant_a",
        "type": "group",
        "ugid": "group_a",
        "roleid": "PVEPoolAdmin",
        "propagate": 1,
    } in acl

    # Removing the entry takes the right away.
    root.ok("PUT", "/access/acl", path="/pool/tenant_a", roles="PVEPoolAdmin", groups="group_a", delete=1)
    assert admin_a.error("PUT", "/pools/tenant_a", comment="again")[0] == 403


def test_user_without_acl_may_do_nothing(root, client):
    root.ok("POST", "/access/users", userid="eve@pve", password="eve-password")
    eve = client()
    eve.login("eve@pve", "eve-password")
    assert eve.error("POST", "/pools", poolid="evil")[0] == 403
    assert eve.error("GET", "/access/users/eve@pve")[0] == 403


def test_bad_acl_requests_are_refused(root):
    root.ok("POST", "/access/groups", groupid="grp")
    assert root.error("PUT", "/access/acl", path="/pool/x", roles="NoSuchRole", groups="grp") == (
        500,
        "ACL update failed: role 'NoSuchRole' does not exist",
    )
    assert root.error("PUT", "/access/acl", path="/pool/x", roles="PVEAuditor", groups="nogroup")[0] == 500
    # ACL.pm raises these before it takes the user.cfg lock: parameter errors (AccessControl.pm check_path).
    answer = root.call("PUT", "/access/acl", path="/bogus/path", roles="PVEAuditor", groups="grp")
    assert answer.status_code == 400 and answer.json()["errors"] == {"path": "invalid ACL path '/bogus/path'"}
    answer = root.call("PUT", "/access/acl", path="/pool/x", roles="PVEAuditor")
    assert answer.status_code == 400 and set(answer.json()["errors"]) == {"users", "groups", "tokens"}
    # A VLAN below a VNet is a path (GuestHelpers.pm checks SDN.Use there); a tag of 0 is not.
    root.ok("PUT", "/access/acl", path="/sdn/zones/tenants/vn100/100", roles="PVESDNUser", groups="grp")
    assert (
        root.call("PUT", "/access/acl", path="/sdn/zones/z/v/0", roles="PVESDNUser", groups="grp").status_code
        == 400
    )
    # Entries for root@pam are dropped without a word; an ACL on a pool that does not exist is accepted.
    root.ok("PUT", "/access/acl", path="/pool/later", roles="PVEAuditor", users="root@pam", groups="grp")
    assert [e["ugid"] for e in root.ok("GET", "/access/acl") if e["path"] == "/pool/later"] == ["grp"]


def test_api_tokens_are_kept_usable_and_privilege_separated(lab, root):
    from conftest import PveClient

    root.ok("POST", "/pools", poolid="tenant_t")
    root.ok("POST", "/access/users", userid="tok@pve")
    root.ok("PUT", "/access/acl", path="/pool/tenant_t", roles="PVEPoolAdmin", users="tok@pve")
    made = root.ok("POST", "/access/users/tok@pve/token/ci", comment="for CI")
    assert made["full-tokenid"] == "tok@pve!ci" and made["info"]["privsep"] == 1
    assert root.error("POST", "/access/users/tok@pve/token/ci") == (500, "Token already exists.")
    assert root.ok("GET", "/access/users/tok@pve/token")[0]["tokenid"] == "ci"

    token = PveClient(lab.url, str(lab.ca_file), ("tok@pve!ci", made["value"]))
    # Privilege-separated: nothing until the token has its own ACL entry.
    assert token.error("PUT", "/pools/tenant_t", comment="x")[0] == 403
    root.ok("PUT", "/access/acl", path="/pool/tenant_t", roles="PVEPoolAdmin", tokens="tok@pve!ci")
    token.ok("PUT", "/pools/tenant_t", comment="x")

    root.ok("DELETE", "/access/users/tok@pve/token/ci")
    assert token.call("GET", "/version").status_code == 401


def test_password_change(lab, root, client):
    root.ok("POST", "/access/users", userid="frank@pve", password="first-password")
    # PVE refuses API tokens here: log in as root with the password.
    assert root.error("PUT", "/access/password", userid="frank@pve", password="second-password")[0] == 403
    root = client()
    root.login("root@pam", lab.password)
    root.ok("PUT", "/access/password", userid="frank@pve", password="second-password")
    assert client().login("frank@pve", "first-password").status_code == 401
    assert client().login("frank@pve", "second-password").status_code == 200
    assert root.error("PUT", "/access/password", userid="ghost@pve", password="whatever-pw")[0] == 500


def test_password_change_by_a_user_administrator_needs_its_own_password(lab, root, client):
    root.ok("POST", "/access/groups", groupid="staff")
    root.ok("POST", "/access/users", userid="target@pve", password="target-old-pw", groups="staff")
    root.ok("POST", "/access/users", userid="outsider@pve", password="outsider-pw")
    root.ok("POST", "/access/users", userid="helpdesk@pve", password="helpdesk-pw")
    # AccessControl.pm change_password: Realm.AllocateUser on the user's realm and User.Modify on one of
    # its groups (PVEUserAdmin has both).
    root.ok("PUT", "/access/acl", path="/access/realm/pve", roles="PVEUserAdmin", users="helpdesk@pve")
    root.ok("PUT", "/access/acl", path="/access/groups/staff", roles="PVEUserAdmin", users="helpdesk@pve")
    helpdesk = client()
    helpdesk.login("helpdesk@pve", "helpdesk-pw")

    answer = helpdesk.call("PUT", "/access/password", userid="target@pve", password="target-new-pw")
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"confirmation-password": "password is required to modify user"}
    wrong = {"confirmation-password": "not-my-password"}
    assert helpdesk.error(
        "PUT", "/access/password", userid="target@pve", password="target-new-pw", **wrong
    ) == (
        500,
        "invalid credentials",
    )
    assert client().login("target@pve", "target-old-pw").status_code == 200

    mine = {"confirmation-password": "helpdesk-pw"}
    helpdesk.ok("PUT", "/access/password", userid="target@pve", password="target-new-pw", **mine)
    assert client().login("target@pve", "target-old-pw").status_code == 401
    assert client().login("target@pve", "target-new-pw").status_code == 200

    # Not a member of a group the caller may modify; root@pam's password is root's alone.
    assert helpdesk.error(
        "PUT", "/access/password", userid="outsider@pve", password="outsider-new", **mine
    ) == (
        403,
        "Permission check failed",
    )
    assert (
        helpdesk.error("PUT", "/access/password", userid="root@pam", password="root-new-pw", **mine)[0] == 403
    )
    # Each user changes its own password, confirming it.
    outsider = client()
    outsider.login("outsider@pve", "outsider-pw")
    assert (
        outsider.call("PUT", "/access/password", userid="outsider@pve", password="outsider-new").status_code
        == 400
    )
    confirm = {"confirmation-password": "outsider-pw"}
    outsider.ok("PUT", "/access/password", userid="outsider@pve", password="outsider-new", **confirm)
    assert client().login("outsider@pve", "outsider-new").status_code == 200
    # root@pam confirms nothing.
    root_login = client()
    root_login.login("root@pam", lab.password)
    root_login.ok("PUT", "/access/password", userid="target@pve", password="target-third-pw")


def test_password_change_needs_the_realm_right_too(root, client):
    root.ok("POST", "/access/groups", groupid="staff")
    root.ok("POST", "/access/users", userid="member@pve", password="member-pw-1", groups="staff")
    root.ok("POST", "/access/users", userid="groupadmin@pve", password="group-admin-pw")
    root.ok("PUT", "/access/acl", path="/access/groups", roles="PVEUserAdmin", users="groupadmin@pve")
    groupadmin = client()
    groupadmin.login("groupadmin@pve", "group-admin-pw")
    mine = {"confirmation-password": "group-admin-pw"}
    assert groupadmin.error(
        "PUT", "/access/password", userid="member@pve", password="member-new-pw", **mine
    ) == (
        403,
        "Permission check failed (/access/realm/pve, Realm.AllocateUser)",
    )
