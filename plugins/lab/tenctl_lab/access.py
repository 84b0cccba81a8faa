"""Stateful users, groups, ACL entries and API tokens for the lab's Proxmox.

fakepve checks these endpoints against the schema but forgets what they are
sent. This mixin keeps them, the way PVE's user.cfg does, and turns the ACL
entries into the grants the lab's permission checks (permissions.py) read:
roles (roles.py, built-in and custom) are expanded to their privileges and
groups to their members, so a tenant admin really is refused on another
tenant's pool.

Simplification, compared with PVE: privileges from several entries add up
(a more specific entry does not override a broader one, and ``NoAccess`` does
not take rights away).
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid

from fakepve.model import PveError
from fakepve.routing import StatefulRoutes, die, split_list

from .permissions import LabPermissions, refusal
from .pvecommon import ROOT, is_acl_path, is_true, normalize_path
from .roles import LabRoles

USER_FIELDS = ("firstname", "lastname", "email", "comment", "keys", "expire")
ACL_UPDATE_FAIL = "ACL update failed: "


def _no_such_user(userid: str) -> PveError:
    return die(f"no such user ('{userid}')")


def _role_error(message: str) -> PveError:
    """A parameter error on `role` raised inside lock_user_config("...", "ACL update failed")."""
    return die(ACL_UPDATE_FAIL + "400 Parameter verification failed.\nrole: " + message)


def _set_acl_entry(
    acl: list[dict], path: str, kind: str, ugid: str, role: str, propagate: bool | None
) -> None:
    """Set (propagate True/False) or remove (None) the entry of role for ugid on path."""
    acl[:] = [e for e in acl if (e["path"], e["type"], e["ugid"], e["roleid"]) != (path, kind, ugid, role)]
    if propagate is not None:
        acl.append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})


class LabAccess(LabRoles, LabPermissions, StatefulRoutes):
    """Mixin of FakePve: /access/users, /access/groups, /access/acl, tokens, and the grants they make."""

    def _init_access(self) -> None:
        # userid -> {enable, expire, firstname, lastname, email, comment, keys, groups: set}
        self.lab_users: dict[str, dict] = {ROOT: self._new_user_record()}
        # groupid -> {comment}
        self.lab_groups: dict[str, dict] = {}
        # {path, type (user|group|token), ugid, roleid, propagate}
        self.lab_acl: list[dict] = []
        # 'user@realm!name' -> {comment, expire, privsep}; the secrets live in self.apitokens
        self.lab_tokens: dict[str, dict] = {}
        # Grants made from Python with grant(): kept across ACL rebuilds.
        self.python_grants: dict[str, list] = {}
        # Grants of entries with propagate=0: userid -> [(path, {privs})]
        self.exact_grants: dict[str, list] = {}
        # Checking starts at once: a user without ACL entries may do nothing.
        self.acl = {}
        self._init_roles()

    @staticmethod
    def _new_user_record(**fields) -> dict:
        record = {"enable": 1, "expire": 0, "groups": set()}
        record.update(fields)
        return record

    # ------------------------------------------------------------- routes

    def _routes_lab_users(self):
        users = "/access/users"
        one = users + "/{userid}"
        token = one + "/token/{tokenid}"
        return [
            ("GET", users, self._lab_user_index),
            ("POST", users, self._lab_user_create),
            ("GET", one, self._lab_user_read),
            ("PUT", one, self._lab_user_update),
            ("DELETE", one, self._lab_user_delete),
            ("GET", one + "/token", self._lab_token_index),
            ("GET", token, self._lab_token_read),
            ("POST", token, self._lab_token_create),
            ("PUT", token, self._lab_token_update),
            ("DELETE", token, self._lab_token_delete),
        ]

    def _routes_lab_groups(self):
        one = "/access/groups/{groupid}"
        return [
            ("GET", "/access/groups", self._lab_group_index),
            ("POST", "/access/groups", self._lab_group_create),
            ("GET", one, self._lab_group_read),
            ("PUT", one, self._lab_group_update),
            ("DELETE", one, self._lab_group_delete),
        ]

    def _routes_lab_acl(self):
        return [("GET", "/access/acl", self._lab_acl_read), ("PUT", "/access/acl", self._lab_acl_update)]

    # --------------------------------------------------------- login rules

    def user_active(self, userid: str) -> bool:
        """False for a user that is disabled or whose expiry date has passed."""
        record = self.lab_users.get(userid)
        if record is None:
            return True  # a login defined from Python (pve.users) has no record
        expire = int(record.get("expire") or 0)
        return is_true(record.get("enable", 1)) and not (expire and expire < time.time())

    def check_password(self, user, password):
        return self.user_active(user) and super().check_password(user, password)

    def _authenticate(self, request):
        who = super()._authenticate(request)
        if who is None:
            return who
        owner = who.split("!")[0]
        if not self.user_active(owner):
            raise PveError(401, "authentication failure")
        info = self.lab_tokens.get(who)
        if info is not None and int(info.get("expire") or 0) and int(info["expire"]) < time.time():
            raise PveError(401, "authentication failure")
        return who

    async def _password(self, request):
        """PUT /access/password, as pve-access-control's src/PVE/API2/AccessControl.pm change_password.

        API tokens are refused (allowtoken 0). The schema's rule lets a user change its own password, or
        another user's with Realm.AllocateUser on that user's realm and User.Modify on /access/groups or
        on one of its groups. Then RPCEnvironment.pm reauth_user_for_user_modification: the user must
        exist, only root@pam changes root@pam's password, and anyone but root@pam confirms with its own
        password (`confirmation-password`). Only root@pam changes another pam user's password.
        """
        from fakepve.routing import ok
        from fakepve.server import API, USER, params  # late: fakepve.server imports the areas

        user = request[USER]
        if "!" in user:
            raise refusal("API token not allowed")
        values = await params(request)
        # PVE checks the permissions on the parameters as sent, before the schema does.
        self.check_permissions(
            user, self.resolve(request, API).methods["PUT"].get("permissions"), dict(values)
        )
        values = self._verify(request, values)
        userid = values["userid"]
        self._check_user_exist(userid, noerr=False)
        if userid == ROOT and user != ROOT:
            raise refusal()
        if user != ROOT:
            self._confirm_own_password(user, values.get("confirmation-password"))
            if userid != user and userid.rpartition("@")[2] == "pam":
                raise refusal()
        if userid == self.user:
            self.password = values["password"]
        else:
            self.users[userid] = values["password"]
        return ok()

    def _confirm_own_password(self, user: str, password, param: str = "confirmation-password") -> None:
        """The caller's own password, checked as its realm's authenticate_user does (src/PVE/Auth/PVE.pm:
        "invalid credentials", or "no password set" for a user without one; PAM's own message). `param` is
        the parameter that carries it (TFA.pm's methods call it ``password``)."""
        if password is None:
            raise PveError(400, "Parameter verification failed.", {param: "password is required to modify user"})
        if self.check_password(user, password):
            return
        realm = user.rpartition("@")[2]
        if realm == "pve":
            raise die("invalid credentials" if user in self.users else "no password set")
        raise die("Authentication failure" if realm == "pam" else "authentication failure")

    # --------------------------------------------------------- permissions

    def grant(self, user, path, *privs):
        self.python_grants.setdefault(user, []).append((path.rstrip("/") or "/", set(privs)))
        self.rebuild_grants()

    def group_members(self, groupid: str) -> list[str]:
        return sorted(u for u, rec in self.lab_users.items() if groupid in rec["groups"])

    def rebuild_grants(self) -> None:
        """Turn the ACL entries into grants: roles to privileges, groups to members."""
        grants = copy.deepcopy(self.python_grants)
        exact: dict[str, list] = {}
        for entry in self.lab_acl:
            privs = set(self.role_privileges(entry["roleid"]))
            if entry["type"] == "group":
                targets = self.group_members(entry["ugid"])
            else:
                targets = [entry["ugid"]]
            table = grants if entry["propagate"] else exact
            for target in targets:
                table.setdefault(target, []).append((entry["path"], privs))
        self.acl = grants
        self.exact_grants = exact

    def _may_audit_users(self, user: str) -> bool:
        return any(self.allowed(user, "/access/groups", p) for p in ("User.Modify", "Sys.Audit"))

    # -------------------------------------------------------------- users

    def _user_view(self, userid: str, full: bool = False) -> dict:
        rec = self.lab_users[userid]
        view = {
            "userid": userid,
            "enable": 1 if is_true(rec.get("enable", 1)) else 0,
            "expire": int(rec.get("expire") or 0),
            "realm-type": userid.rpartition("@")[2],
        }
        view.update((k, rec[k]) for k in USER_FIELDS if k != "expire" and rec.get(k) not in (None, ""))
        if rec["groups"]:
            view["groups"] = ",".join(sorted(rec["groups"]))
        if full:
            view["tokens"] = [
                dict(self._token_view(tid), tokenid=tid.partition("!")[2])
                for tid in sorted(self.lab_tokens)
                if tid.partition("!")[0] == userid
            ]
        return view

    async def _lab_user_index(self, v, user):
        everyone = self._may_audit_users(user)
        out = []
        for userid in sorted(self.lab_users):
            if not everyone and userid != user.split("!")[0]:
                continue
            view = self._user_view(userid, is_true(v.get("full", 0)))
            if v.get("enabled") is not None and view["enable"] != (1 if is_true(v["enabled"]) else 0):
                continue
            out.append(view)
        return out

    def _check_groups(self, names, fail: str) -> set:
        groups = set(split_list(names))
        for group in sorted(groups):
            if group not in self.lab_groups:
                raise die(f"{fail}no such group '{group}'")
        return groups

    async def _lab_user_create(self, v, user):
        fail = "create user failed: "
        userid = v["userid"]
        if userid in self.lab_users:
            raise die(fail + f"user '{userid}' already exists")
        groups = self._check_groups(v.get("groups"), fail)
        record = self._new_user_record(groups=groups)
        record.update((k, v[k]) for k in USER_FIELDS if v.get(k) is not None)
        if v.get("enable") is not None:
            record["enable"] = 1 if is_true(v["enable"]) else 0
        self.lab_users[userid] = record
        if v.get("password"):
            self.users[userid] = v["password"]
        self.rebuild_grants()
        self.state_changed()

    async def _lab_user_read(self, v, user):
        userid = v["userid"]
        if userid not in self.lab_users:
            raise _no_such_user(userid)
        view = self._user_view(userid)
        view.pop("userid")
        view.pop("realm-type")
        view["groups"] = sorted(self.lab_users[userid]["groups"])
        view["tokens"] = {
            tid.partition("!")[2]: self._token_view(tid)
            for tid in sorted(self.lab_tokens)
            if tid.partition("!")[0] == userid
        }
        return view

    async def _lab_user_update(self, v, user):
        fail = "update user failed: "
        userid = v["userid"]
        if userid not in self.lab_users:
            raise die(fail + f"no such user ('{userid}')")
        record = self.lab_users[userid]
        if v.get("groups") is not None:
            groups = self._check_groups(v["groups"], fail)
            record["groups"] = (record["groups"] | groups) if is_true(v.get("append", 0)) else groups
        elif is_true(v.get("append", 0)):
            raise PveError(400, "Parameter verification failed.", {"append": "missing 'groups'"})
        record.update((k, v[k]) for k in USER_FIELDS if v.get(k) is not None)
        if v.get("enable") is not None:
            record["enable"] = 1 if is_true(v["enable"]) else 0
        self.rebuild_grants()
        self.state_changed()

    async def _lab_user_delete(self, v, user):
        userid = v["userid"]
        if userid == ROOT:
            raise die("delete user failed: can't delete the root@pam user")
        # PVE answers success for a user that does not exist (as root).
        self.lab_users.pop(userid, None)
        self.users.pop(userid, None)
        for tid in [t for t in self.lab_tokens if t.partition("!")[0] == userid]:
            self._forget_token(tid)
        self.lab_acl = [
            e
            for e in self.lab_acl
            if not (e["type"] in ("user", "token") and e["ugid"].partition("!")[0] == userid)
        ]
        self.rebuild_grants()
        self.state_changed()

    # -------------------------------------------------------------- groups

    async def _lab_group_index(self, v, user):
        everyone = self._may_audit_users(user)
        me = user.split("!")[0]
        out = []
        for groupid in sorted(self.lab_groups):
            members = self.group_members(groupid)
            if not everyone and me not in members:
                continue
            entry = {"groupid": groupid, "users": ",".join(members)}
            if self.lab_groups[groupid].get("comment"):
                entry["comment"] = self.lab_groups[groupid]["comment"]
            out.append(entry)
        return out

    async def _lab_group_create(self, v, user):
        groupid = v["groupid"]
        if groupid in self.lab_groups:
            raise die(f"create group failed: group '{groupid}' already exists")
        self.lab_groups[groupid] = {"comment": v.get("comment") or ""}
        self.state_changed()

    async def _lab_group_read(self, v, user):
        groupid = v["groupid"]
        if groupid not in self.lab_groups:
            raise die(f"group '{groupid}' does not exist")
        data = {"members": self.group_members(groupid)}
        if self.lab_groups[groupid].get("comment"):
            data["comment"] = self.lab_groups[groupid]["comment"]
        return data

    async def _lab_group_update(self, v, user):
        groupid = v["groupid"]
        if groupid not in self.lab_groups:
            raise die(f"update group failed: group '{groupid}' does not exist")
        if v.get("comment") is not None:
            self.lab_groups[groupid]["comment"] = v["comment"]
        self.state_changed()

    async def _lab_group_delete(self, v, user):
        groupid = v["groupid"]
        if groupid not in self.lab_groups:
            raise die(f"delete group failed: group '{groupid}' does not exist")
        del self.lab_groups[groupid]
        for record in self.lab_users.values():
            record["groups"].discard(groupid)
        self.lab_acl = [e for e in self.lab_acl if not (e["type"] == "group" and e["ugid"] == groupid)]
        self.rebuild_grants()
        self.state_changed()

    # ----------------------------------------------------------------- ACL

    async def _lab_acl_read(self, v, user):
        """ACL.pm read_acl: all entries for a caller with Sys.Audit on /access, else those on the paths
        where it may modify permissions (RPCEnvironment.pm check_perm_modify)."""
        audit = self.allowed(user, "/access", "Sys.Audit")
        out = []
        for e in sorted(self.lab_acl, key=lambda e: (e["path"], e["type"], e["ugid"], e["roleid"])):
            if not (audit or self.check_perm_modify(user, e["path"], noerr=True)):
                continue
            out.append(
                {
                    "path": e["path"],
                    "type": e["type"],
                    "ugid": e["ugid"],
                    "roleid": e["roleid"],
                    "propagate": 1 if e["propagate"] else 0,
                }
            )
        return out

    async def _lab_acl_update(self, v, user):
        """ACL.pm update_acl: add or remove entries of each role for the groups, users and tokens named.

        The schema's rule (`perm-modify`, see LabPermissions.check_perm_modify) let the caller in; one
        without Permissions.Modify on the path may only hand out roles within its own rights there (see
        _check_role_subset). Everything happens under PVE's user.cfg lock: the first error leaves the ACL
        as it was.
        """
        if not any(v.get(key) for key in ("users", "groups", "tokens")):
            raise PveError(
                400,
                "Parameter verification failed.",
                dict.fromkeys(
                    ("users", "groups", "tokens"), "either 'users', 'groups' or 'tokens' is required."
                ),
            )
        delete = is_true(v.get("delete", 0))
        path = normalize_path(v["path"])
        if path is None or not (delete or is_acl_path(path)):
            raise PveError(
                400, "Parameter verification failed.", {"path": "invalid ACL path '{}'".format(v["path"])}
            )
        propagate = is_true(v.get("propagate", 1))
        held = self._held_for_acl(user, path)
        acl = copy.deepcopy(self.lab_acl)
        for role in split_list(v["roles"]):
            if role not in self.lab_roles:
                raise die(ACL_UPDATE_FAIL + f"role '{role}' does not exist")
            if "Permissions.Modify" not in held:
                self._check_role_subset(held, role, propagate, delete)
            for kind, ugid in self._acl_members(v):
                _set_acl_entry(acl, path, kind, ugid, role, None if delete else propagate)
        self.lab_acl = acl
        self.rebuild_grants()
        self.state_changed()

    def _held_for_acl(self, user: str, path: str) -> dict[str, bool]:
        """The caller's privileges on the ACL path (none on a /vms path that names no guest)."""
        try:
            return self.privileges(user, path)
        except ValueError:
            return {}

    def _check_role_subset(self, held: dict[str, bool], role: str, propagate: bool, delete: bool) -> None:
        """ACL.pm update_acl without Permissions.Modify on the path (check_perm_modify let the caller in
        with Pool.Allocate, VM.Allocate or Datastore.Allocate): it may add or remove a role only if it holds
        each of its privileges on the path, and add it with propagation only if it holds them propagated.
        NoAccess needs Permissions.Modify.

        PVE raises these as parameter errors on `role`, but inside lock_user_config, which turns them into
        a plain error: HTTP 500 "ACL update failed: 400 Parameter verification failed." and the line
        "role: ..." (AccessControl.pm lock_user_config; PVE::Exception stringify).
        """
        verb = "remove" if delete else "add"
        for priv in sorted(self.role_privileges(role)):
            if priv not in held:
                raise _role_error(
                    f"Cannot {verb} role '{role}' - requires 'Permissions.Modify' or superset of privileges."
                )
            if propagate and not held[priv] and not delete:
                raise _role_error(
                    f"Cannot {verb} role '{role}' with propagation - requires 'Permissions.Modify' or "
                    "propagated superset of privileges."
                )
        if role == "NoAccess":
            raise _role_error(f"Cannot {verb} role '{role}' - requires 'Permissions.Modify'")

    def _acl_members(self, v) -> list[tuple[str, str]]:
        """(type, id) of the groups, users and tokens an ACL update names; each must exist."""
        members = []
        for group in split_list(v.get("groups")):
            if group not in self.lab_groups:
                raise die(ACL_UPDATE_FAIL + f"group '{group}' does not exist")
            members.append(("group", group))
        for userid in split_list(v.get("users")):
            if not self._user_exists(userid):
                raise die(ACL_UPDATE_FAIL + f"user '{userid}' does not exist")
            # PVE keeps no entries for root@pam (write_user_config leaves them out): it holds everything.
            if userid != ROOT:
                members.append(("user", userid))
        for tokenid in split_list(v.get("tokens")):
            owner, _, name = tokenid.partition("!")
            if not self._user_exists(owner):
                raise die(ACL_UPDATE_FAIL + f"no such user ('{owner}')")
            if tokenid not in self.lab_tokens and tokenid not in self.apitokens:
                raise die(ACL_UPDATE_FAIL + f"no such token '{name}' for user '{owner}'")
            members.append(("token", tokenid))
        return members

    async def _pool_delete(self, v, user):
        """Deleting a pool drops its ACL entries (pve-manager PVE/API2/Pool.pm delete_pool,
        AccessControl.pm delete_pool_acl): the whole /pool/<id> subtree for a top-level pool. For a
        nested pool ('a/b') delete_pool_acl looks for a child named 'a/b' of /pool, which the ACL tree
        (split at '/') never has: its entries stay."""
        await super()._pool_delete(v, user)
        poolid = v["poolid"]
        if "/" not in poolid:
            top = "/pool/" + poolid
            self.lab_acl = [
                e for e in self.lab_acl if not (e["path"] == top or e["path"].startswith(top + "/"))
            ]
        self.rebuild_grants()
        self.state_changed()

    # --------------------------------------------------------------- tokens

    def _token_view(self, tid: str) -> dict:
        info = self.lab_tokens[tid]
        view = {
            "privsep": 1 if is_true(info.get("privsep", 1)) else 0,
            "expire": int(info.get("expire") or 0),
        }
        if info.get("comment"):
            view["comment"] = info["comment"]
        return view

    def _forget_token(self, tid: str) -> None:
        self.lab_tokens.pop(tid, None)
        self.apitokens.pop(tid, None)

    def add_token(
        self, tokenid: str, secret: str | None = None, privsep: bool = True, comment: str = ""
    ) -> str:
        """Define an API token from Python ('user@realm!name'); returns its secret."""
        secret = secret or str(uuid.uuid4())
        self.lab_tokens[tokenid] = {"privsep": 1 if privsep else 0, "expire": 0, "comment": comment}
        self.apitokens[tokenid] = secret
        return secret

    def _token_id(self, v, must_exist: bool) -> str:
        userid = v["userid"]
        if userid not in self.lab_users:
            raise _no_such_user(userid)
        tid = "{}!{}".format(userid, v["tokenid"])
        if must_exist and tid not in self.lab_tokens:
            raise die("no such token '{}' for user '{}'".format(v["tokenid"], userid))
        return tid

    async def _lab_token_index(self, v, user):
        userid = v["userid"]
        if userid not in self.lab_users:
            raise _no_such_user(userid)
        return [
            dict(self._token_view(tid), tokenid=tid.partition("!")[2])
            for tid in sorted(self.lab_tokens)
            if tid.partition("!")[0] == userid
        ]

    async def _lab_token_read(self, v, user):
        return self._token_view(self._token_id(v, True))

    async def _lab_token_create(self, v, user):
        tid = self._token_id(v, False)
        if tid in self.lab_tokens:
            raise die("Token already exists.")
        secret = self.add_token(tid, privsep=is_true(v.get("privsep", 1)), comment=v.get("comment") or "")
        if v.get("expire") is not None:
            self.lab_tokens[tid]["expire"] = int(v["expire"])
        self.state_changed()
        return {"full-tokenid": tid, "info": self._token_view(tid), "value": secret}

    async def _lab_token_update(self, v, user):
        tid = self._token_id(v, True)
        info = self.lab_tokens[tid]
        for key in split_list(v.get("delete")):
            info.pop(key, None)
        for key in ("comment", "expire", "privsep"):
            if v.get(key) is not None:
                info[key] = v[key]
        data = dict(self._token_view(tid))
        if is_true(v.get("regenerate", 0)):
            self.apitokens[tid] = str(uuid.uuid4())
            data.update({"full-tokenid": tid, "value": self.apitokens[tid]})
        self.state_changed()
        return data

    async def _lab_token_delete(self, v, user):
        tid = self._token_id(v, True)
        self._forget_token(tid)
        self.lab_acl = [e for e in self.lab_acl if not (e["type"] == "token" and e["ugid"] == tid)]
        self.rebuild_grants()
        self.state_changed()

    # ---------------------------------------------------------------- state

    def access_state(self) -> dict:
        """Users (with their passwords), groups, custom roles, ACL and tokens (with their secrets) as
        JSON-ready data."""
        users = {}
        for userid, rec in self.lab_users.items():
            users[userid] = dict(rec, groups=sorted(rec["groups"]))
            if userid in self.users:
                users[userid]["password"] = self.users[userid]
        tokens = {tid: dict(info, secret=self.apitokens.get(tid)) for tid, info in self.lab_tokens.items()}
        return {
            "users": users,
            "groups": copy.deepcopy(self.lab_groups),
            "roles": self.roles_state(),
            "acl": copy.deepcopy(self.lab_acl),
            "tokens": tokens,
        }

    def load_access_state(self, state: dict) -> None:
        """Restore access_state(); a state written before custom roles existed has no "roles"."""
        for userid, rec in state.get("users", {}).items():
            rec = dict(rec)
            password = rec.pop("password", None)
            rec["groups"] = set(rec.get("groups", ()))
            self.lab_users[userid] = rec
            if password is not None and userid != self.user:
                self.users[userid] = password
        self.lab_groups.update(copy.deepcopy(state.get("groups", {})))
        self.load_roles_state(state.get("roles", {}))
        # As parse_user_config, ignore entries whose role does not exist.
        self.lab_acl = [e for e in copy.deepcopy(state.get("acl", [])) if e.get("roleid") in self.lab_roles]
        for tid, info in state.get("tokens", {}).items():
            info = dict(info)
            secret = info.pop("secret", None) or secrets.token_hex(16)
            self.lab_tokens[tid] = info
            self.apitokens[tid] = secret
        self.rebuild_grants()

    def state_changed(self) -> None:
        """Called after every change of state; LabPve saves its state file here."""
