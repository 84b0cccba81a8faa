"""Second factors and realms are kept and enforced as PVE does (pve-access-control API2/TFA.pm, Domains.pm,
AccessControl.pm), through real HTTPS."""

import secrets
import time

from tenctl_lab.tfa import totp_code, totp_uri


def root_ticket(lab, client):
    """root@pam logged in with its password: TFA.pm refuses API tokens for changes."""
    session = client()
    assert session.login("root@pam", lab.password).status_code == 200
    return session


def test_entries_added_in_the_lab_are_listed_and_mark_the_user(lab, root):
    root.ok("POST", "/access/users", userid="alice@pve", password="alice-password")
    assert root.ok("GET", "/access/tfa") == []
    ident = lab.pve.add_tfa("alice@pve", "totp", description="phone")
    [listed] = root.ok("GET", "/access/tfa")
    assert listed["userid"] == "alice@pve"
    assert [(e["type"], e["id"], e["description"]) for e in listed["entries"]] == [("totp", ident, "phone")]
    assert root.ok("GET", "/access/tfa/alice@pve") == listed["entries"]
    assert root.ok("GET", f"/access/tfa/alice@pve/{ident}")["type"] == "totp"
    assert root.error("GET", "/access/tfa/alice@pve/nothing") == (404, "No such tfa entry 'nothing'")
    # TFA.pm set_user_tfa_enabled: user.cfg's keys becomes 'x'.
    assert root.ok("GET", "/access/users/alice@pve")["keys"] == "x"


def test_a_user_without_user_privileges_sees_only_its_own_entries(lab, root, client):
    for userid in ("alice@pve", "bob@pve"):
        root.ok("POST", "/access/users", userid=userid, password=userid + "-password")
        lab.pve.add_tfa(userid)
    alice = client()
    assert alice.login("alice@pve", "alice@pve-password").json()["data"]["NeedTFA"] == 1
    alice = client()
    data = alice.login("alice@pve", "alice@pve-password").json()["data"]
    code = lab.pve.tfa_code("alice@pve")
    answer = alice.session.post(
        alice.base + "/access/ticket",
        data={"username": "alice@pve", "password": f"totp:{code}", "tfa-challenge": data["ticket"]},
    )
    assert answer.status_code == 200, answer.text
    alice.session.cookies.set("PVEAuthCookie", answer.json()["data"]["ticket"])
    assert [u["userid"] for u in alice.ok("GET", "/access/tfa")] == ["alice@pve"]
    assert [u["userid"] for u in root.ok("GET", "/access/tfa")] == ["alice@pve", "bob@pve"]


def test_tokens_may_not_change_second_factors_and_users_confirm_with_their_password(lab, root, client):
    root.ok("POST", "/access/users", userid="carol@pve", password="carol-password")
    assert root.error("POST", "/access/tfa/carol@pve", type="recovery") == (
        403,
        "Permission check failed (API token not allowed)",
    )
    carol = client()
    carol.login("carol@pve", "carol-password")
    refused = carol.call("POST", "/access/tfa/carol@pve", type="recovery")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"password": "password is required to modify user"}
    keys = carol.ok("POST", "/access/tfa/carol@pve", type="recovery", password="carol-password")["recovery"]
    assert len(keys) == 10
    assert carol.error("POST", "/access/tfa/carol@pve", type="recovery", password="carol-password") == (
        500,
        "user already has recovery keys",
    )


def test_a_totp_entry_needs_a_current_code_for_its_secret(lab, root, client):
    root.ok("POST", "/access/users", userid="dave@pve", password="dave-password")
    admin = root_ticket(lab, client)
    secret = secrets.token_bytes(20)
    uri = totp_uri(secret)
    wrong = "000000" if totp_code(secret, time.time()) != "000000" else "111111"
    assert admin.error(
        "POST", "/access/tfa/dave@pve", type="totp", description="app", totp=uri, value=wrong
    ) == (
        500,
        "failed to verify TOTP challenge",
    )
    assert admin.error("POST", "/access/tfa/dave@pve", type="totp", description="app", totp=uri) == (
        500,
        "'totp' type requires both 'totp' and 'value' parameters",
    )
    added = admin.ok(
        "POST",
        "/access/tfa/dave@pve",
        type="totp",
        description="app",
        totp=uri,
        value=totp_code(secret, time.time()),
    )
    assert [e["id"] for e in root.ok("GET", "/access/tfa/dave@pve")] == [added["id"]]
    # Disabled, the entry is listed with enable 0; deleted, the user leaves the list and its keys mark goes.
    admin.ok("PUT", f"/access/tfa/dave@pve/{added['id']}", enable=0)
    assert root.ok("GET", "/access/tfa/dave@pve")[0]["enable"] == 0
    admin.ok("DELETE", f"/access/tfa/dave@pve/{added['id']}")
    assert root.ok("GET", "/access/tfa") == []
    assert "keys" not in root.ok("GET", "/access/users/dave@pve")
    assert admin.error("DELETE", f"/access/tfa/dave@pve/{added['id']}") == (500, "no such entry")


def test_the_second_factor_is_asked_at_login_and_a_recovery_key_works_once(lab, root, client):
    root.ok("POST", "/access/users", userid="erin@pve", password="erin-password")
    lab.pve.add_tfa("erin@pve", "recovery")
    key = lab.pve.lab_tfa["erin@pve"][0]["keys"][0]
    first = client()
    data = first.login("erin@pve", "erin-password").json()["data"]
    assert data["NeedTFA"] == 1
    # The first step's ticket opens nothing.
    first.session.cookies.set("PVEAuthCookie", data["ticket"])
    assert first.call("GET", "/version").status_code == 401

    def second(challenge, response):
        return first.session.post(
            first.base + "/access/ticket",
            data={"username": "erin@pve", "password": response, "tfa-challenge": challenge},
        )

    assert second(data["ticket"], f"recovery:{key}").status_code == 200
    again = client().login("erin@pve", "erin-password").json()["data"]["ticket"]
    assert second(again, f"recovery:{key}").status_code == 401


def test_a_realm_that_requires_tfa_turns_away_users_without_it(lab, root, client):
    root.ok("POST", "/access/users", userid="frank@pve", password="frank-password")
    assert client().login("frank@pve", "frank-password").status_code == 200
    root.ok("PUT", "/access/domains/pve", tfa="type=oath")
    realms = {r["realm"]: r for r in root.ok("GET", "/access/domains")}
    assert realms["pve"]["tfa"] == "oath" and "tfa" not in realms["pam"]
    assert root.ok("GET", "/access/domains/pve")["tfa"] == "type=oath"
    assert client().login("frank@pve", "frank-password").status_code == 401
    lab.pve.add_tfa("frank@pve")
    assert client().login("frank@pve", "frank-password").json()["data"]["NeedTFA"] == 1
    root.ok("PUT", "/access/domains/pve", delete="tfa")
    assert "tfa" not in {r["realm"]: r for r in root.ok("GET", "/access/domains")}["pve"]


def test_builtin_realms_refuse_other_options_and_come_back_when_deleted(lab, root):
    assert root.error("PUT", "/access/domains/pve", server1="ldap.example.com") == (
        500,
        "update auth server failed: unexpected property 'server1'",
    )
    assert root.error("POST", "/access/domains", realm="pve", type="pve") == (
        500,
        "add auth server failed: domain 'pve' already exists",
    )
    assert root.error("POST", "/access/domains", realm="other", type="pve") == (
        500,
        "add auth server failed: unable to create builtin type 'pve'",
    )
    refused = root.call("PUT", "/access/domains/pve", tfa="type=sms")
    assert refused.status_code == 400
    assert "'sms' does not have a value in the enumeration 'yubico, oath'" in refused.json()["errors"]["tfa"]
    root.ok("PUT", "/access/domains/pve", tfa="type=oath", comment="ours")
    root.ok("DELETE", "/access/domains/pve")
    assert root.ok("GET", "/access/domains/pve")["comment"] == "Proxmox VE authentication server"
    assert "tfa" not in root.ok("GET", "/access/domains/pve")


def test_deleting_a_user_deletes_its_second_factors_and_state_keeps_them(lab, root, tmp_path):
    from tenctl_lab.pve import LabPve

    root.ok("POST", "/access/users", userid="gina@pve")
    root.ok("POST", "/access/users", userid="hank@pve")
    lab.pve.add_tfa("gina@pve")
    lab.pve.add_tfa("hank@pve", "recovery")
    lab.pve.set_realm_tfa("pve", "type=oath")
    root.ok("DELETE", "/access/users/gina@pve")
    assert [u["userid"] for u in root.ok("GET", "/access/tfa")] == ["hank@pve"]
    copy = LabPve()
    copy.load_state(lab.pve.state())
    assert copy.lab_tfa.keys() == {"hank@pve"} and copy.lab_realms["pve"]["tfa"] == "type=oath"
    assert copy.lab_tfa["hank@pve"][0]["keys"] == lab.pve.lab_tfa["hank@pve"][0]["keys"]
