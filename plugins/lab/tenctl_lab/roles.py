"""Roles: PVE 9's built-in roles and the custom ones /access/roles creates, updates and deletes.

The built-in ("special") roles are made the way pve-access-control's src/PVE/AccessControl.pm
(create_roles) makes them: the privileges are sorted into categories, each split into what only root
should have, what an admin, a user and an auditor get. ``PVE<Category>Admin`` has the admin, user and
audit privileges of its category, ``PVE<Category>User`` (for categories with user privileges) the user
and audit ones, ``PVEAdmin`` the admin, user and audit privileges of every category except
Mapping.Modify, ``PVEAuditor`` every audit privilege. ``Administrator`` has them all, ``NoAccess`` none.

The endpoints follow src/PVE/API2/Role.pm; their permission rules (Sys.Modify on /access for writes)
come from the schema, through fakepve's generic checker.
"""

from __future__ import annotations

import copy

from fakepve.model import PveError
from fakepve.routing import StatefulRoutes, die, split_list

from .pvecommon import is_true

# AccessControl.pm $privgroups: category -> (root, admin, user, audit) privileges.
PRIVILEGE_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "VM": (
        (),
        (
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ),
        (
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ),
        ("VM.Audit", "VM.GuestAgent.Audit"),
    ),
    "Sys": (
        ("Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"),
        ("Sys.Console", "Sys.Syslog"),
        (),
        ("Sys.Audit",),
    ),
    "Datastore": (
        (),
        ("Datastore.Allocate", "Datastore.AllocateTemplate"),
        ("Datastore.AllocateSpace",),
        ("Datastore.Audit",),
    ),
    "SDN": ((), ("SDN.Allocate", "SDN.Audit"), ("SDN.Use",), ("SDN.Audit",)),
    "User": (("Realm.Allocate",), ("User.Modify", "Group.Allocate", "Realm.AllocateUser"), (), ()),
    "Pool": ((), ("Pool.Allocate",), ("Pool.Audit",), ("Pool.Audit",)),
    "Mapping": ((), ("Mapping.Modify",), ("Mapping.Use",), ("Mapping.Audit",)),
}

# Every privilege PVE knows: those of the categories, and Permissions.Modify (in none of them).
VALID_PRIVILEGES: frozenset[str] = frozenset(
    {"Permissions.Modify"}
    | {priv for groups in PRIVILEGE_GROUPS.values() for level in groups for priv in level}
)


def _builtin_roles() -> dict[str, frozenset[str]]:
    """The special roles, as AccessControl.pm create_roles builds them."""
    roles: dict[str, set[str]] = {"NoAccess": set(), "Administrator": set(VALID_PRIVILEGES)}
    admin, auditor = set(), set()
    for category, (_root, admin_privs, user_privs, audit_privs) in PRIVILEGE_GROUPS.items():
        roles[f"PVE{category}Admin"] = set(admin_privs + user_privs + audit_privs)
        admin.update(admin_privs + user_privs + audit_privs)
        if user_privs:
            roles[f"PVE{category}User"] = set(user_privs + audit_privs)
        auditor.update(audit_privs)
    # Only Administrator, root@pam and PVEMappingAdmin may modify mappings.
    admin.discard("Mapping.Modify")
    roles["PVEAdmin"] = admin
    roles["PVEAuditor"] = auditor
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"}
    return {name: frozenset(privs) for name, privs in roles.items()}


ROLES: dict[str, frozenset[str]] = _builtin_roles()
"""The built-in roles by name (PVE's $special_roles)."""


def role_is_special(roleid: str) -> bool:
    """AccessControl.pm role_is_special: a built-in role, which cannot be modified or deleted."""
    return roleid in ROLES


def _privs_param_error(privs) -> PveError | None:
    """The 400 PVE's schema check gives for an unknown privilege in `privs`: its format pve-priv-list
    checks each item with AccessControl.pm verify_privname ("invalid privilege '...'")."""
    for priv in split_list(privs):
        if priv not in VALID_PRIVILEGES:
            return PveError(
                400,
                "Parameter verification failed.",
                {"privs": f"invalid format - invalid privilege '{priv}'\n"},
            )
    return None


class LabRoles(StatefulRoutes):
    """Mixin of FakePve: the role table (built-in and custom roles) and /access/roles."""

    def _init_roles(self) -> None:
        # roleid -> privileges; the built-ins first, custom roles join them (PVE's user.cfg `roles`).
        self.lab_roles: dict[str, frozenset[str]] = dict(ROLES)

    def role_privileges(self, roleid: str) -> frozenset[str]:
        """The privileges of a role (none for a role that does not exist)."""
        return self.lab_roles.get(roleid, frozenset())

    # ------------------------------------------------------------- routes

    def _routes_lab_roles(self):
        one = "/access/roles/{roleid}"
        return [
            ("GET", "/access/roles", self._lab_role_index),
            ("POST", "/access/roles", self._lab_role_create),
            ("GET", one, self._lab_role_read),
            ("PUT", one, self._lab_role_update),
            ("DELETE", one, self._lab_role_delete),
        ]

    async def _lab_role_index(self, v, user):
        """Role.pm index: every role with its privileges; special marks the built-in ones."""
        return [
            {"roleid": name, "privs": ",".join(sorted(privs)), "special": 1 if role_is_special(name) else 0}
            for name, privs in sorted(self.lab_roles.items())
        ]

    async def _lab_role_read(self, v, user):
        """Role.pm read_role: {privilege: 1} of the role."""
        roleid = v["roleid"]
        if roleid not in self.lab_roles:
            raise die(f"role '{roleid}' does not exist")
        return dict.fromkeys(sorted(self.lab_roles[roleid]), 1)

    async def _lab_role_create(self, v, user):
        """Role.pm create_role: not in the PVE namespace, not taken; the privileges must exist."""
        roleid = v["roleid"]
        error = _privs_param_error(v.get("privs"))
        if error:
            raise error
        if roleid.lower().startswith("pve"):
            raise PveError(
                400,
                "Parameter verification failed.",
                {"roleid": "cannot use role ID starting with the (case-insensitive) 'PVE' namespace"},
            )
        if roleid in self.lab_roles:
            raise die(f"create role failed: role '{roleid}' already exists")
        self.lab_roles[roleid] = frozenset(split_list(v.get("privs")))
        self.rebuild_grants()
        self.state_changed()

    async def _lab_role_update(self, v, user):
        """Role.pm update_role: built-in roles are refused; privs replace the role's privileges, or are
        added to them with append (the schema makes append require privs)."""
        roleid = v["roleid"]
        error = _privs_param_error(v.get("privs"))
        if error:
            raise error
        if role_is_special(roleid):
            raise die(f"auto-generated role '{roleid}' cannot be modified")
        if roleid not in self.lab_roles:
            raise die(f"update role failed: role '{roleid}' does not exist")
        privs = set(split_list(v.get("privs")))
        if is_true(v.get("append", 0)):
            privs |= self.lab_roles[roleid]
        self.lab_roles[roleid] = frozenset(privs)
        self.rebuild_grants()
        self.state_changed()

    async def _lab_role_delete(self, v, user):
        """Role.pm delete_role: built-in roles are refused; the role's ACL entries go with it.

        Role.pm itself leaves them in user.cfg ("fixme: delete role from acl?"), but the next read of
        user.cfg (AccessControl.pm parse_user_config, "ignore invalid acl role") drops every entry whose
        role no longer exists, and the next write loses them: from then on they neither show in
        GET /access/acl nor grant anything, and re-creating the role does not bring them back.
        """
        roleid = v["roleid"]
        if role_is_special(roleid):
            raise die(f"auto-generated role '{roleid}' cannot be deleted")
        if roleid not in self.lab_roles:
            raise die(f"delete role failed: role '{roleid}' does not exist")
        del self.lab_roles[roleid]
        self.lab_acl = [entry for entry in self.lab_acl if entry["roleid"] != roleid]
        self.rebuild_grants()
        self.state_changed()

    # ---------------------------------------------------------------- state

    def roles_state(self) -> dict:
        """The custom roles (PVE's user.cfg `role:` lines never hold the built-in ones)."""
        return {
            name: sorted(privs) for name, privs in sorted(self.lab_roles.items()) if not role_is_special(name)
        }

    def load_roles_state(self, state: dict) -> None:
        """Restore roles_state(); a custom role named like a built-in one is replaced by the built-in
        (userconfig_force_defaults), unknown privileges are ignored (parse_user_config)."""
        self.lab_roles = dict(ROLES)
        for name, privs in copy.deepcopy(state).items():
            if not role_is_special(name):
                self.lab_roles[name] = frozenset(p for p in privs if p in VALID_PRIVILEGES)
