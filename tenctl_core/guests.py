"""A tenant's guests (VMs and containers), read from one ``/cluster/resources`` call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tenctl_core.context import Context
from tenctl_core.errors import TenctlError
from tenctl_core.plan import Step

TASK_TIMEOUT = 300.0
TASK_POLL = 0.2


@dataclass(frozen=True)
class Guest:
    vmid: int
    name: str
    type: str
    """``qemu`` or ``lxc``."""
    status: str
    node: str
    pool: str | None
    cpu: int
    """Cores allocated (``maxcpu``)."""
    mem: int
    """Bytes allocated (``maxmem``)."""
    disk: int
    """Bytes allocated (``maxdisk``: Proxmox reports the boot disk of a VM, the root disk of a container)."""
    cpu_used: float = 0.0
    """Cores busy now (``cpu``, a share of ``maxcpu``, times ``maxcpu``)."""
    mem_used: int = 0
    """Bytes of memory in use now (``mem``)."""
    disk_used: int = 0
    """Bytes written on the disk (``disk``; 0 for a VM without the guest agent)."""

    @classmethod
    def from_resource(cls, item: dict[str, Any]) -> Guest:
        return cls(
            vmid=int(item["vmid"]),
            name=str(item.get("name", "")),
            type=str(item.get("type", "qemu")),
            status=str(item.get("status", "unknown")),
            node=str(item.get("node", "")),
            pool=item.get("pool"),
            cpu=int(item.get("maxcpu", 0)),
            mem=int(item.get("maxmem", 0)),
            disk=int(item.get("maxdisk", 0)),
            cpu_used=float(item.get("cpu") or 0) * int(item.get("maxcpu", 0)),
            mem_used=int(item.get("mem") or 0),
            disk_used=int(item.get("disk") or 0),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "vmid": self.vmid,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "node": self.node,
            "cpu": self.cpu,
            "mem": self.mem,
        }

    @property
    def path(self) -> str:
        return f"/nodes/{self.node}/{self.type}/{self.vmid}"


def guests_by_pool(ctx: Context) -> dict[str, list[Guest]]:
    """Every guest of the cluster grouped by pool: one request, whatever the number of tenants."""
    # Unfiltered: the capacity check reads the nodes from the same answer.
    return group_by_pool(ctx.cached_get("/cluster/resources"))


def group_by_pool(resources: list[dict[str, Any]]) -> dict[str, list[Guest]]:
    """The guests of a ``/cluster/resources`` answer grouped by pool (templates left out)."""
    out: dict[str, list[Guest]] = {}
    for item in resources:
        if item.get("type") in ("qemu", "lxc") and item.get("pool") and not item.get("template"):
            guest = Guest.from_resource(item)
            out.setdefault(str(guest.pool), []).append(guest)
    for guests in out.values():
        guests.sort(key=lambda g: g.vmid)
    return out


def wait_task(ctx: Context, node: str, upid: Any) -> None:
    """Wait for a Proxmox task to end; TenctlError if it failed or took too long."""
    if not isinstance(upid, str) or not upid.startswith("UPID:"):
        return
    deadline = time.monotonic() + TASK_TIMEOUT
    while True:
        status = ctx.proxmox.get(f"/nodes/{node}/tasks/{upid}/status")
        if status.get("status") == "stopped":
            if status.get("exitstatus") not in ("OK", None) and not str(status.get("exitstatus")).startswith(
                "WARNINGS"
            ):
                raise TenctlError(f"Proxmox task {upid} failed: {status.get('exitstatus')}")
            return
        if time.monotonic() > deadline:
            raise TenctlError(f"Proxmox task {upid} did not finish within {TASK_TIMEOUT:.0f} s")
        time.sleep(TASK_POLL)


POWER_STATE = {"start": "running", "stop": "stopped"}


def power_step(ctx: Context, guest: Guest, action: str, undo_action: str) -> Step:
    """Start or stop a guest; the undo puts it back only if it is not already in its former state."""

    def run(verb: str) -> None:
        wait_task(ctx, guest.node, ctx.proxmox.post(f"{guest.path}/status/{verb}"))

    def undo() -> None:
        current = ctx.proxmox.get(f"{guest.path}/status/current")
        if current.get("status") != POWER_STATE[undo_action]:
            run(undo_action)

    def took_effect() -> bool | None:
        current = ctx.proxmox.get(f"{guest.path}/status/current")
        # A task still running may yet end in the new state: that cannot be told now.
        return True if current.get("status") == POWER_STATE[action] else None

    return Step(
        "guests",
        f"{action} {guest.type} {guest.vmid} ({guest.name}) on {guest.node}",
        lambda: run(action),
        undo,
        f"{undo_action} {guest.type} {guest.vmid}",
        id=f"core:{action}:guest:{guest.vmid}",
        op="power",
        settle=took_effect,
    )


def destroy_step(ctx: Context, guest: Guest) -> Step:
    def run() -> None:
        if guest.status == "running":
            wait_task(ctx, guest.node, ctx.proxmox.post(f"{guest.path}/status/stop"))
        wait_task(
            ctx, guest.node, ctx.proxmox.delete(guest.path, purge=1, **{"destroy-unreferenced-disks": 1})
        )

    return Step(
        "guests",
        f"stop and delete {guest.type} {guest.vmid} ({guest.name}) on {guest.node}",
        run,
        id=f"core:delete:guest:{guest.vmid}",
        op="delete",
    )
