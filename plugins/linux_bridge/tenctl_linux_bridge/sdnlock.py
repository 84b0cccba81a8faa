"""Proxmox's SDN lock as a cluster node sees it: ``/etc/pve/sdn/.lock`` holds the token, its mtime the age.

Only on a node (or in the lab) is it visible; elsewhere it reads as not held.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenctl_core.locking import STALE_AFTER

SDN_LOCK_FILE = Path("sdn") / ".lock"
"""Where Proxmox keeps the SDN lock token, relative to /etc/pve."""


@dataclass(frozen=True)
class SdnLockInfo:
    """Proxmox's SDN lock as seen in the cluster file system (only on a node, or in the lab)."""

    path: Path
    age: float

    @property
    def stale(self) -> bool:
        return self.age > STALE_AFTER

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "age_seconds": round(self.age, 1), "stale": self.stale}


def read_sdn_lock(cluster_dir: str) -> SdnLockInfo | None:
    path = Path(cluster_dir) / SDN_LOCK_FILE
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return SdnLockInfo(path, max(0.0, time.time() - mtime))
