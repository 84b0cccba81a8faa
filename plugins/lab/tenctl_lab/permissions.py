"""Which privileges a user holds where, and the permission rules of PVE's API schema.

Follows pve-access-control's src/PVE/RPCEnvironment.pm: `permissions` (privileges on a path, each with
whether it was propagated there), `check_perm_modify`, and `exec_api2_perm_check` for the rule forms
fakepve's generic checker (fakepve/generic.py `_check`) does not know as PVE does: `and`/`or` with their
error behaviour, `perm-modify`, `userid-param` and `userid-group`. The `perm` form stays fakepve's.

The grants come from LabAccess.rebuild_grants: `self.acl` maps a user, group member or token to
``(path, privileges)`` pairs that propagate, `self.exact_grants` to those that do not. Simplification,
compared with PVE (AccessControl.pm `roles`): privileges from several entries add up, so a more specific
entry does not override a broader one and NoAccess takes nothing away.
"""

from __future__ import annotations

from fakepve.model import PveError
from fakepve.routing import split_list

from .pvecommon import ROOT, is_true, normalize_path, user_of
from .roles import VALID_PRIVILEGES


def refusal(why: str = "") -> PveError:
    """PVE's raise_perm_exc: 403, with the reason in parentheses when there is one."""
    return PveError(403, f"Permission check failed ({why})" if why else "Permission check failed")


def _covers(granted: str, path: str) -> bool:
    """An entry on `granted` that propagates reaches `path`."""
    return granted == "/" or path == granted or path.startswith(granted + "/")


class LabPermissions:
    """Mixin of FakePve: privileges from the lab's ACL, and PVE's schema permission rules."""

    # --------------------------------------------------------- privileges

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

    def _privileges_of(self, ugid: str, paths: list[str]) -> dict[str, bool]:
        """{privilege: propagated} a user or token holds on paths[0], directly or through its pool.

        As RPCEnvironment.pm compile_acl_path flags them: True when an entry that propagates reaches the
        path, False when only an entry on the path itself with propagate=0 gives it, or the guest's or
        storage's pool does (pool-derived privileges never propagate).
        """
        path, pool_paths = paths[0], paths[1:]
        held: dict[str, bool] = {}
        for granted, privs in (self.acl or {}).get(ugid, []):
            if _covers(granted, path):
                held.update(dict.fromkeys(privs, True))
            elif any(_covers(granted, pool) for pool in pool_paths):
                for priv in privs:
                    held.setdefault(priv, False)
        for granted, privs in self.exact_grants.get(ugid, []):
            if granted in paths:
                for priv in privs:
                    held.setdefault(priv, False)
        return held

    def privileges(self, user: str, path: str) -> dict[str, bool]:
        """RPCEnvironment.pm permissions: {privilege: propagated} the user or token holds on path.

        root@pam holds every privilege. A privilege-separated token holds what both its own entries and
        its user's give (propagated only if both are); one without privilege separation what its user
        holds. A token defined from Python (pve.apitokens, no lab record) keeps fakepve's rule: both.
        """
        if user_of(user) == ROOT:
            return dict.fromkeys(VALID_PRIVILEGES, True)
        path = path.rstrip("/") or "/"
        if path.startswith("/vms/") and not path.split("/")[2].isdigit():
            raise ValueError(path)
        paths = self._paths_for(path)
        if "!" not in user:
            return self._privileges_of(user, paths)
        own, owner = self._privileges_of(user, paths), self._privileges_of(user_of(user), paths)
        info = self.lab_tokens.get(user)
        if info is None:
            return {p: own.get(p, False) or owner.get(p, False) for p in set(own) | set(owner)}
        if is_true(info.get("privsep", 1)):
            return {p: flag and owner[p] for p, flag in own.items() if p in owner}
        return owner

    def allowed(self, user, path, priv):
        return user_of(user) == ROOT or priv in self.privileges(user, path)

    def _check_any(self, user: str, path: str, privs: list[str], noerr: bool) -> bool:
        """RPCEnvironment.pm check_any: one of privs on path."""
        if any(self._has(user, path, priv) for priv in privs):
            return True
        if noerr:
            return False
        raise refusal("{}, {}".format(path, "|".join(privs)))

    def check_perm_modify(self, user: str, path: str, noerr: bool = False) -> bool:
        """RPCEnvironment.pm check_perm_modify: Permissions.Modify on the path, or the allocate privilege
        of the object it names (Datastore.Allocate on /storage/..., VM.Allocate on /vms/..., Pool.Allocate
        on /pool/...)."""
        privs = ["Permissions.Modify"]
        for prefix, priv in (
            ("/storage/", "Datastore.Allocate"),
            ("/vms/", "VM.Allocate"),
            ("/pool/", "Pool.Allocate"),
        ):
            if path.startswith(prefix) and len(path) > len(prefix):
                privs.append(priv)
        return self._check_any(user, path, privs, noerr)

    # --------------------------------------------------- schema permission rules

    def _check(self, user, check, values, declared=None):
        """fakepve's generic checker, answering as RPCEnvironment.pm exec_api2_perm_check does: a refusal
        raises PVE's error itself."""
        return self._pve_check(user, check, values, declared, noerr=False), ""

    def _pve_check(self, user, check, values, declared, noerr: bool) -> bool:
        """One rule of a method's `permissions`: True if it holds, False (noerr) or PVE's error if not."""
        form = check[0]
        if form == "and":
            # Each part is checked without noerr: the first that fails raises its own error.
            return all(self._pve_check(user, sub, values, declared, False) for sub in check[1:])
        if form == "or":
            # The parts are tried with noerr (an `and` inside still raises); none holding: no reason given.
            if any(self._pve_check(user, sub, values, declared, True) for sub in check[1:]):
                return True
            if noerr:
                return False
            raise refusal()
        if form == "perm-modify":
            path = normalize_path(str(check[1]).replace("{path}", str(values.get("path", ""))))
            # A path PVE cannot normalise fails the check with a result nobody reads: the method
            # refuses the path itself (ACL.pm "invalid ACL path").
            return True if path is None else self.check_perm_modify(user, path, noerr)
        if form == "userid-param":
            return self._check_userid_param(user, check[1], values, noerr)
        if form == "userid-group":
            options = dict(zip(check[2::2], check[3::2], strict=False))
            return self._check_userid_group(user, list(check[1]), values, options, noerr)
        ok, why = super()._check(user, check, values, declared)
        if ok or noerr:
            return ok
        raise refusal(why)

    def _user_exists(self, userid: str) -> bool:
        return userid in self.lab_users or userid in self.users

    def _check_user_exist(self, userid: str, noerr: bool) -> bool:
        """AccessControl.pm check_user_exist."""
        if self._user_exists(userid):
            return True
        if noerr:
            return False
        raise PveError(500, f"no such user ('{userid}')")

    def _check_userid_param(self, user: str, test: str, values: dict, noerr: bool) -> bool:
        """`userid-param`: `self` (the caller is that user: an API token never is), or Realm.AllocateUser
        on /access/realm/<the user's realm>."""
        userid = str(values.get("userid", ""))
        if test == "self":
            if not self._check_user_exist(userid, noerr):
                return False
            if user == userid:
                return True
            if noerr:
                return False
            raise refusal()
        realm = userid.rpartition("@")[2]
        return self._check_any(user, "/access/realm/" + realm, [test], noerr)

    def _check_userid_group(
        self, user: str, privs: list[str], values: dict, options: dict, noerr: bool
    ) -> bool:
        """`userid-group`: one of privs on /access/groups, or on the groups concerned.

        Without it on /access/groups, a `groups_param` method needs it on every group in `groups` (and
        there must be some), and a method on an existing user needs it on one of that user's groups.
        """
        userid = str(values.get("userid", ""))
        groups_param = options.get("groups_param")
        existing = groups_param != "create"
        if existing and not self._check_user_exist(userid, noerr):
            return False
        if self._check_any(user, "/access/groups", privs, True):
            return True
        mine = {g for g in self.lab_groups if self._check_any(user, "/access/groups/" + g, privs, True)}
        if groups_param:
            wanted = split_list(values.get("groups"))
            if not wanted:
                raise refusal("/access/groups, " + "|".join(privs))
            for group in wanted:
                if group not in mine:
                    raise refusal(f"/access/groups/{group}, " + "|".join(privs))
        if existing and not any(userid in self.group_members(g) for g in mine):
            if noerr:
                return False
            raise refusal()
        return True
