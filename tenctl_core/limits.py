"""A tenant's use of its limits, worked out from one ``/cluster/resources`` answer.

Proxmox has no pool quotas, so tenctl measures and enforces the limits itself:

* CPU cores and RAM count the guests that are **running** (what a start adds, and what the guard
  refuses beyond the limit); what the stopped guests are allocated is shown beside it.
* Storage counts the disks of **every** guest, running or not: a disk takes its space either way.
  Proxmox reports one disk per guest in ``/cluster/resources`` (``maxdisk``: the boot disk of a VM,
  the root disk of a container), so that is what is counted.

Each resource gets a status: ``OK``, ``WARNING`` at ``monitoring.warning_percent`` (80 %) of the
limit, ``CRITICAL`` at ``monitoring.critical_percent`` (90 %), ``OVER`` beyond the limit. The same
numbers feed ``usage``, ``list``/``show``, ``health``, ``watch`` and the guard.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core import hookimpl
from tenctl_core.guests import Guest, group_by_pool
from tenctl_core.providers import AuditCheck, CheckResult

if TYPE_CHECKING:
    from tenctl_core.config import MonitoringSettings
    from tenctl_core.context import Context
    from tenctl_core.model import Tenant
    from tenctl_core.registry import Registrar

PASS, WARN, FAIL = "pass", "warn", "fail"

OK, WARNING, CRITICAL, OVER = "OK", "WARNING", "CRITICAL", "OVER"
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2, OVER: 3}
MB = 1024**2
GB = 1024**3
RESOURCES = ("cpu", "ram", "storage")
UNITS = {"cpu": "cores", "ram": "MB", "storage": "GB"}
CACHE_NAME = "resources-cache.json"
CACHE_VERSION = 1


def status_of(counted: float, limit: float, warning: int = 80, critical: int = 90) -> str:
    if counted > limit:
        return OVER
    percent = 100 * counted / limit if limit else 0
    if percent >= critical:
        return CRITICAL
    if percent >= warning:
        return WARNING
    return OK


@dataclass(frozen=True)
class Measure:
    """One resource of one tenant, in the limit's unit (cores, MB, GB)."""

    resource: str
    limit: int
    counted: float
    """What is held against the limit: running guests for CPU and RAM, every guest for storage."""
    allocated: float
    """What every guest is allocated, running or not."""
    running: float
    """What the running guests are allocated."""
    used: float
    """What the guests use right now, as far as Proxmox reports it."""
    status: str

    @property
    def unit(self) -> str:
        return UNITS[self.resource]

    @property
    def percent(self) -> float:
        return round(100 * self.counted / self.limit, 1) if self.limit else 0.0

    @property
    def over_by(self) -> float:
        return max(0.0, self.counted - self.limit)

    def describe(self) -> str:
        """``cpu 12 of 8 cores (150.0 %, 4 over)``."""
        text = f"{self.resource} {fmt(self.counted)} of {self.limit} {self.unit} ({self.percent} %"
        return text + (f", {fmt(self.over_by)} over)" if self.over_by else ")")


def fmt(value: float) -> str:
    """A number without a useless fraction: 8, 1.5, 0.25."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


@dataclass(frozen=True)
class TenantUsage:
    tenant: Tenant
    guests: list[Guest]
    cpu: Measure
    ram: Measure
    storage: Measure

    @property
    def measures(self) -> tuple[Measure, Measure, Measure]:
        return (self.cpu, self.ram, self.storage)

    @property
    def overall_status(self) -> str:
        return max((m.status for m in self.measures), key=SEVERITY.__getitem__)

    @property
    def highest_percent(self) -> float:
        return max(m.percent for m in self.measures)

    @property
    def over(self) -> list[Measure]:
        return [m for m in self.measures if m.status == OVER]

    @property
    def running_count(self) -> int:
        return sum(g.status == "running" for g in self.guests)

    def as_dict(self) -> dict[str, Any]:
        """``tenctl usage --json``: the Bash tool's keys, then tenctl's."""
        cpu, ram, disk = self.measures
        return {
            "tenant_name": self.tenant.name,
            "pool_id": self.tenant.pool,
            "overall_status": self.overall_status,
            "vm_count": len(self.guests),
            "running_count": self.running_count,
            "resources": {
                "cpu": {
                    "allocated": cpu.allocated,
                    "limit": cpu.limit,
                    "percent": cpu.percent,
                    "status": cpu.status,
                    "running": cpu.running,
                    "used": round(cpu.used, 2),
                    "counted": "running",
                },
                "ram": {
                    "allocated_mb": ram.allocated,
                    "limit_mb": ram.limit,
                    "percent": ram.percent,
                    "status": ram.status,
                    "running_mb": ram.running,
                    "used_mb": round(ram.used),
                    "counted": "running",
                },
                "storage": {
                    "used_gb": disk.counted,
                    "limit_gb": disk.limit,
                    "percent": disk.percent,
                    "status": disk.status,
                    "written_gb": round(disk.used, 2),
                    "counted": "allocated",
                },
            },
            "highest_percent": self.highest_percent,
            "status": self.tenant.status,
            "vms": [
                {**g.as_dict(), "maxmem_mb": g.mem // MB, "maxdisk_gb": round(g.disk / GB, 2)}
                for g in self.guests
            ],
        }


def measure(tenant: Tenant, guests: list[Guest], monitoring: MonitoringSettings | None = None) -> TenantUsage:
    """The tenant's usage from its guests (those of its pool)."""
    warning, critical = (monitoring.warning_percent, monitoring.critical_percent) if monitoring else (80, 90)
    running = [g for g in guests if g.status == "running"]

    def make(resource: str, limit: int, allocated: float, run: float, used: float, counted: float) -> Measure:
        return Measure(resource, limit, counted, allocated, run, used, status_of(counted, limit, warning, critical))

    cpu_run = sum(g.cpu for g in running)
    ram_run = round(sum(g.mem for g in running) / MB)
    disk_all = round(sum(g.disk for g in guests) / GB, 2)
    return TenantUsage(
        tenant,
        guests,
        make("cpu", tenant.cpu_limit, sum(g.cpu for g in guests), cpu_run, sum(g.cpu_used for g in running), cpu_run),
        make(
            "ram",
            tenant.ram_limit,
            round(sum(g.mem for g in guests) / MB),
            ram_run,
            sum(g.mem_used for g in running) / MB,
            ram_run,
        ),
        make("storage", tenant.storage_limit, disk_all, disk_all, sum(g.disk_used for g in guests) / GB, disk_all),
    )


def usage_of(ctx: Context, tenants: list[Tenant], resources: list[dict[str, Any]] | None = None) -> list[TenantUsage]:
    """Every given tenant's usage, from one ``/cluster/resources`` read (or the given answer)."""
    answer = ctx.cached_get("/cluster/resources") if resources is None else resources
    pools = group_by_pool(answer)
    return [measure(t, pools.get(t.pool, []), ctx.config.monitoring) for t in tenants]


def start_refusals(usage: TenantUsage, guest: Guest) -> list[str]:
    """Why starting ``guest`` would take its tenant over a limit: one sentence per limit, empty if it fits.

    The guest's own allocation is added to what the tenant's running guests hold (unless it is counted
    already); storage is held by every guest, so a tenant over its storage limit starts nothing.
    """
    others = [g for g in usage.guests if g.vmid != guest.vmid]
    running = [g for g in others if g.status == "running"]
    cpu = sum(g.cpu for g in running) + guest.cpu
    ram = round((sum(g.mem for g in running) + guest.mem) / MB)
    disk = round((sum(g.disk for g in others) + guest.disk) / GB, 2)
    tenant = usage.tenant
    reasons = []
    for resource, after, limit, own in (
        ("cpu", cpu, tenant.cpu_limit, guest.cpu),
        ("ram", ram, tenant.ram_limit, round(guest.mem / MB)),
        ("storage", disk, tenant.storage_limit, round(guest.disk / GB, 2)),
    ):
        if after > limit:
            unit = UNITS[resource]
            held = "with its disks" if resource == "storage" else "running"
            reasons.append(
                f"{resource} limit of tenant {tenant.name} is {limit} {unit}: {held}, {guest.type} {guest.vmid} "
                f"({fmt(own)} {unit}) would bring it to {fmt(after)} {unit}, {fmt(after - limit)} {unit} over"
            )
    return reasons


# ---------------------------------------------------------------------------------------------- cache


def cache_path(ctx_or_dir: Context | Path) -> Path:
    if isinstance(ctx_or_dir, Path):
        return ctx_or_dir / CACHE_NAME
    return Path(ctx_or_dir.config.paths.state_dir) / CACHE_NAME


GUEST_KEYS = ("vmid", "name", "type", "status", "node", "pool", "maxcpu", "maxmem", "maxdisk", "template")


def write_cache(path: Path, resources: list[dict[str, Any]]) -> None:
    """Keep the guests of a ``/cluster/resources`` answer for the guard (atomic replace, mode 0640)."""
    guests = [
        {k: item[k] for k in GUEST_KEYS if k in item}
        for item in resources
        if item.get("type") in ("qemu", "lxc")
    ]
    data = {"version": CACHE_VERSION, "time": time.time(), "resources": guests}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, separators=(",", ":"))
    os.replace(tmp, path)


def read_cache(path: Path) -> tuple[float, list[dict[str, Any]]] | None:
    """(when it was written, the guests) of the cache, or None if it is missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return None
    resources, written = data.get("resources"), data.get("time")
    if not isinstance(resources, list) or not isinstance(written, int | float):
        return None
    return float(written), [r for r in resources if isinstance(r, dict)]


# ---------------------------------------------------------------------------------------------- health


class LimitsCheck(AuditCheck):
    name = "limits"
    description = (
        "no tenant's guests hold more than its CPU, RAM or storage limit (warns from "
        "monitoring.critical_percent on); one /cluster/resources read"
    )

    def run(self, ctx: Context) -> list[CheckResult]:
        from tenctl_core.model import ACTIVE, SUSPENDED

        tenants = [t for t in ctx.tenants() if t.status in (ACTIVE, SUSPENDED)]
        reports = usage_of(ctx, tenants)
        over = [r for r in reports if r.over]
        near = [r for r in reports if not r.over and r.overall_status == CRITICAL]
        if over:
            details = [
                f"tenant {r.tenant.name}: " + "; ".join(m.describe() for m in r.over) for r in over
            ]
            details += [f"tenant {r.tenant.name}: near its limits ({r.highest_percent} %)" for r in near]
            details.append(
                "tenctl never stops a guest: ask the tenant to stop or shrink guests, or raise the limit with "
                "`tenctl modify`; the guard refuses starts beyond a limit"
            )
            return [CheckResult(self.name, FAIL, f"{len(over)} tenant(s) over a limit", details)]
        if near:
            return [
                CheckResult(
                    self.name,
                    WARN,
                    f"{len(near)} tenant(s) at {ctx.config.monitoring.critical_percent} % of a limit or more",
                    [f"tenant {r.tenant.name}: {r.highest_percent} %" for r in near],
                )
            ]
        return [CheckResult(self.name, PASS, f"{len(reports)} tenant(s) within their limits")]


@hookimpl
def tenctl_register_audit_checks(register: Registrar[AuditCheck]) -> None:
    register(LimitsCheck())
