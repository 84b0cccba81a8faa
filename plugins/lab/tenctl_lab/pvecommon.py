"""Small PVE helpers the lab's access control and SDN share: booleans, ACL paths, root."""

from __future__ import annotations

import re

ROOT = "root@pam"

_NORMAL_PATH = re.compile(r"[A-Za-z0-9.\-_/]+")

# AccessControl.pm check_path: the paths an ACL entry may name.
_ACL_PATH = re.compile(
    r"""/
    |/access|/access/groups|/access/groups/[A-Za-z0-9._-]+|/access/realm|/access/realm/[A-Za-z0-9._-]+
    |/nodes|/nodes/[A-Za-z0-9._-]+
    |/pool|/pool/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+){0,2}
    |/sdn|/sdn/controllers|/sdn/controllers/[A-Za-z0-9_-]+|/sdn/dns|/sdn/dns/[A-Za-z0-9]+
    |/sdn/fabrics|/sdn/fabrics/[A-Za-z0-9]+|/sdn/ipams|/sdn/ipams/[A-Za-z0-9]+
    |/sdn/prefix-lists|/sdn/prefix-lists/[A-Za-z0-9]+|/sdn/route-maps|/sdn/route-maps/[A-Za-z0-9]+
    |/sdn/zones|/sdn/zones/[A-Za-z0-9._-]+|/sdn/zones/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+
    |/sdn/zones/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/[1-9][0-9]{0,3}
    |/storage|/storage/[A-Za-z0-9._-]+
    |/vms|/vms/[1-9][0-9]{2,}
    |/mapping|/mapping/[A-Za-z0-9._-]+|/mapping/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+""",
    re.VERBOSE,
)


def is_true(value) -> bool:
    """A PVE boolean as the schema check leaves it (1/0) or as a client sends it."""
    return str(value).lower() in ("1", "true", "yes", "on")


def normalize_path(path) -> str | None:
    """AccessControl.pm normalize_path: '//pool//x/' -> '/pool/x'; None for an empty path or one with
    characters outside letters, digits, '.', '-', '_' and '/'."""
    path = "" if path is None else str(path)
    if not path or path == "0":  # Perl's false values
        return None
    path = re.sub("/+", "/", path)
    path = path.removesuffix("/") or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path if _NORMAL_PATH.fullmatch(path) else None


def is_acl_path(path: str) -> bool:
    """AccessControl.pm check_path, for a normalised path."""
    return bool(_ACL_PATH.fullmatch(path))


def user_of(userid: str) -> str:
    """The user of a user or token id ('u@pve!ci' -> 'u@pve')."""
    return userid.partition("!")[0]
