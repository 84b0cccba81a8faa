"""PVE's built-in roles as privilege sets (PVE 9; fakepve itself knows only three of them)."""

from __future__ import annotations

from fakepve.shapes import PRIVILEGES


def _starting(*prefixes: str) -> tuple[str, ...]:
    return tuple(p for p in PRIVILEGES if p.startswith(prefixes))


_VM_ALL = _starting("VM.")
_SYSTEM = ("Sys.PowerMgmt", "Sys.Modify", "Realm.Allocate", "Permissions.Modify")

ROLES: dict[str, tuple[str, ...]] = {
    "Administrator": tuple(PRIVILEGES),
    "NoAccess": (),
    "PVEAdmin": tuple(p for p in PRIVILEGES if p not in _SYSTEM),
    "PVEAuditor": (
        "Datastore.Audit",
        "Mapping.Audit",
        "Pool.Audit",
        "SDN.Audit",
        "Sys.Audit",
        "VM.Audit",
        "VM.GuestAgent.Audit",
    ),
    "PVEDatastoreAdmin": _starting("Datastore."),
    "PVEDatastoreUser": ("Datastore.AllocateSpace", "Datastore.Audit"),
    "PVEMappingAdmin": ("Mapping.Audit", "Mapping.Modify", "Mapping.Use"),
    "PVEMappingUser": ("Mapping.Audit", "Mapping.Use"),
    "PVEPoolAdmin": ("Pool.Allocate", "Pool.Audit"),
    "PVEPoolUser": ("Pool.Audit",),
    "PVESDNAdmin": ("SDN.Allocate", "SDN.Audit", "SDN.Use"),
    "PVESDNUser": ("SDN.Audit", "SDN.Use"),
    "PVESysAdmin": ("Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Syslog"),
    "PVETemplateUser": ("VM.Audit", "VM.Clone"),
    "PVEUserAdmin": ("Group.Allocate", "Realm.AllocateUser", "User.Modify"),
    "PVEVMAdmin": _VM_ALL,
    "PVEVMUser": (
        "VM.Audit",
        "VM.Backup",
        "VM.Config.CDROM",
        "VM.Config.Cloudinit",
        "VM.Console",
        "VM.GuestAgent.Audit",
        "VM.PowerMgmt",
    ),
}
