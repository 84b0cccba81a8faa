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
    assert root.error("PUT", "/access/acl", path="/bogus/path", roles="PVEAuditor", groups="grp")[0] == 500
    # Entries for root@pam are dropped without a word; an ACL on a pool that does not exist is accepted.
    root.ok("PUT", "/access/acl", path="/pool/later", roles="PVEAuditor", users="root@pam", groups="grp")
    assert [e["ugid"] for e in root.ok("GET", "/access/acl")] == ["grp"]


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
