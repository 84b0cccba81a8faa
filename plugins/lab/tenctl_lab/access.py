"""Stateful users, groups, ACL entries and API tokens for the lab's Proxmox.

fakepve checks these endpoints against the schema but forgets what they are
sent. This mixin keeps them, the way PVE's user.cfg does, and turns the ACL
entries into the privilege grants fakepve's permission checks read: roles are
expanded to their privileges and groups to their members, so a tenant admin
really is refused on another tenant's pool.

Simplifications, compared with PVE: privileges from several entries add up
(a more specific entry does not override a broader one, and ``NoAccess`` does
not take rights away); only the built-in roles exist (roles.py).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
import uuid

from fakepve.model import PveError
from fakepve.routing import StatefulRoutes, die, split_list

from .roles import ROLES

ROOT = "root@pam"

# Paths an ACL entry may name (PVE's check_path, written from its documentation).
_ACL_PATH = re.compile(
    r"/|/access(/groups(/[^/]+)?|/realm(/[^/]+)?)?|/nodes(/[^/]+)?|/pool(/[^/]+)*|/sdn(/zones(/[^/]+){0,3})?"
    r"|/storage(/[^/]+)?|/vms(/\d+)?|/mapping(/[^/]+){0,2}|/sdn/fabrics(/[^/]+)?"
)

USER_FIELDS = ("firstname", "lastname", "email", "comment", "keys", "expire")


def is_true(value) -> bool:
    """A PVE boolean as the schema check leaves it (1/0) or as a client sends it."""
    return str(value).lower() in ("1", "true", "yes", "on")


def _no_such_user(userid: str) -> PveError:
    return die(f"no such user ('{userid}')")


class LabAccess(StatefulRoutes):
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

    def _routes_lab_roles(self):
        return [
            ("GET", "/access/roles", self._lab_role_index),
            ("GET", "/access/roles/{roleid}", self._lab_role_read),
        ]

    async def _lab_role_index(self, v, user):
        return [
            {"roleid": name, "special": 1, "privs": ",".join(sorted(privs))}
            for name, privs in sorted(ROLES.items())
        ]

    async def _lab_role_read(self, v, user):
        if v["roleid"] not in ROLES:
            raise die("role '{}' does not exist".format(v["roleid"]))
        return dict.fromkeys(sorted(ROLES[v["roleid"]]), 1)

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
        from fakepve.server import (
            USER,
            params,  # late: fakepve.server imports the areas
        )

        userid = str((await params(request)).get("userid", ""))
        if (
            "!" not in (request[USER] or "")
            and userid
            and userid != self.user
            and userid not in self.lab_users
            and userid not in self.users
        ):
            # PVE checks the user exists before it changes anything.
            raise PveError(500, f"change password failed: no such user ('{userid}')")
        return await super()._password(request)

    # --------------------------------------------------------- permissions

    def grant(self, user, path, *privs):
        self.python_grants.setdefault(user, []).append((path.rstrip("/") or "/", set(privs)))
        self.rebuild_grants()

    def group_members(self, groupid: str) -> list[str]:
        return sorted(u for u, rec in self.lab_users.items() if groupid in rec["groups"])

    def rebuild_grants(self) -> None:
        """Turn the ACL entries into fakepve's grants: roles to privileges, groups to members."""
        grants = copy.deepcopy(self.python_grants)
        exact: dict[str, list] = {}
        for entry in self.lab_acl:
            privs = set(ROLES.get(entry["roleid"], ()))
            if entry["type"] == "group":
                targets = self.group_members(entry["ugid"])
            else:
                targets = [entry["ugid"]]
            table = grants if entry["propagate"] else exact
            for target in targets:
                table.setdefault(target, []).append((entry["path"], privs))
        self.acl = grants
        self.exact_grants = exact

    def _held_by(self, ugid: str, paths: list[str], priv: str) -> bool:
        for granted, privs in (self.acl or {}).get(ugid, []):
            if priv in privs and (
                granted == "/" or any(p == granted or p.startswith(granted + "/") for p in paths)
            ):
                return True
        return any(priv in privs and granted in paths for granted, privs in self.exact_grants.get(ugid, []))

    def _paths_for(self, path: str) -> list[str]:
        """The path and the pool paths that also govern it (guests and storages inherit their pool's ACL)."""
        paths = [path]
        parts = path.split("/")
        if path.startswith("/vms/") and len(parts) > 2 and parts[2].isdigit():
            vmid = int(parts[2])
            paths += ["/pool/" + name for name, ids in self.pools.items() if vmid in ids]
        elif path.startswith("/storage/") and len(parts) > 2:
            paths += ["/pool/" + name for name, meta in self.pool_info.items() if parts[2] in meta["storage"]]
        return paths

    def allowed(self, user, path, priv):
        if user.split("!")[0] == ROOT:
            return True
        path = path.rstrip("/") or "/"
        if path.startswith("/vms/") and not path.split("/")[2].isdigit():
            raise ValueError(path)
        paths = self._paths_for(path)
        owner = user.split("!")[0]
        if "!" not in user:
            return self._held_by(user, paths, priv)
        info = self.lab_tokens.get(user)
        if info is None:
            # A token set up from Python (pve.apitokens): fakepve's rule, the union of both.
            return self._held_by(user, paths, priv) or self._held_by(owner, paths, priv)
        if is_true(info.get("privsep", 1)):
            # A privilege-separated token holds what its own ACL and its user's both give.
            return self._held_by(user, paths, priv) and self._held_by(owner, paths, priv)
        return self._held_by(owner, paths, priv)

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
        out = []
        for e in sorted(self.lab_acl, key=lambda e: (e["path"], e["type"], e["ugid"], e["roleid"])):
            if not any(self.allowed(user, e["path"], p) for p in ("Sys.Audit", "Permissions.Modify")):
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
        fail = "ACL update failed: "
        path = "/" + "/".join(seg for seg in str(v["path"]).split("/") if seg)
        if not _ACL_PATH.fullmatch(path):
            raise die(fail + "invalid ACL path '{}'".format(v["path"]))
        roles = split_list(v["roles"])
        for role in roles:
            if role not in ROLES:
                raise die(fail + f"role '{role}' does not exist")
        wanted = []
        for kind, key in (("group", "groups"), ("user", "users"), ("token", "tokens")):
            for ugid in split_list(v.get(key)):
                if kind == "group" and ugid not in self.lab_groups:
                    raise die(fail + f"group '{ugid}' does not exist")
                if kind == "user" and ugid not in self.lab_users and ugid not in self.users:
                    raise die(fail + f"user '{ugid}' does not exist")
                if kind == "token" and ugid not in self.lab_tokens and ugid not in self.apitokens:
                    owner, _, name = ugid.partition("!")
                    raise die(fail + f"no such token '{name}' for user '{owner}'")
                if ugid.partition("!")[0] == ROOT:
                    continue  # PVE drops entries for root@pam without a word
                wanted.append((kind, ugid))
        if not wanted and not any(v.get(k) for k in ("groups", "users", "tokens")):
            raise die(fail + "either 'users', 'groups' or 'tokens' is required")
        propagate = is_true(v.get("propagate", 1))
        for kind, ugid in wanted:
            for role in roles:
                self.lab_acl = [
                    e
                    for e in self.lab_acl
                    if (e["path"], e["type"], e["ugid"], e["roleid"]) != (path, kind, ugid, role)
                ]
                if not is_true(v.get("delete", 0)):
                    self.lab_acl.append(
                        {"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate}
                    )
        self.rebuild_grants()
        self.state_changed()

    async def _pool_delete(self, v, user):
        # PVE drops the ACL entries of a deleted pool; keep the stateful ACL in step.
        await super()._pool_delete(v, user)
        self.lab_acl = [e for e in self.lab_acl if e["path"] != "/pool/" + v["poolid"]]
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
        """Users (with their passwords), groups, ACL and tokens (with their secrets) as JSON-ready data."""
        users = {}
        for userid, rec in self.lab_users.items():
            users[userid] = dict(rec, groups=sorted(rec["groups"]))
            if userid in self.users:
                users[userid]["password"] = self.users[userid]
        tokens = {tid: dict(info, secret=self.apitokens.get(tid)) for tid, info in self.lab_tokens.items()}
        return {
            "users": users,
            "groups": copy.deepcopy(self.lab_groups),
            "acl": copy.deepcopy(self.lab_acl),
            "tokens": tokens,
        }

    def load_access_state(self, state: dict) -> None:
        for userid, rec in state.get("users", {}).items():
            rec = dict(rec)
            password = rec.pop("password", None)
            rec["groups"] = set(rec.get("groups", ()))
            self.lab_users[userid] = rec
            if password is not None and userid != self.user:
                self.users[userid] = password
        self.lab_groups.update(copy.deepcopy(state.get("groups", {})))
        self.lab_acl = copy.deepcopy(state.get("acl", []))
        for tid, info in state.get("tokens", {}).items():
            info = dict(info)
            secret = info.pop("secret", None) or secrets.token_hex(16)
            self.lab_tokens[tid] = info
            self.apitokens[tid] = secret
        self.rebuild_grants()

    def state_changed(self) -> None:
        """Called after every change of state; LabPve saves its state file here."""
