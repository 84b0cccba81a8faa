"""The guard: admission control when a tenant's guest starts.

Proxmox VE runs a guest's hookscript at four points of its life (pve-guest-common
``src/PVE/GuestHelpers.pm`` ``exec_hookscript``): ``<script> <vmid> <phase>`` through
``PVE::Tools::run_command`` (pve-common ``src/PVE/Cmd.pm``), whose output goes to the task log and which
sets no time limit. Only ``pre-start`` may stop what happens: qemu-server (``src/PVE/QemuServer.pm``
``vm_start_nolock``) and pve-container (``src/PVE/LXC.pm`` ``vm_start``) call it with ``stop_on_error``, so
a non-zero exit fails the start task with ``hookscript error for <vmid> on pre-start: command '<script>
<vmid> pre-start' failed: exit code <n>``; ``post-start``, ``pre-stop`` and ``post-stop`` only warn. It
runs on the node that starts the guest, after pending changes were applied; on the target node of a live
migration too, with ``PVE_MIGRATED_FROM`` set to the source node.

tenctl's hookscript (:mod:`tenctl_core.hookscript`) runs ``python -m tenctl_core.guard VMID PHASE``
(:func:`main`), which answers as ``tenctl guard hook VMID PHASE`` does without the command line's start-up;
both ask :func:`admit`. At ``pre-start`` the guest's pool names its tenant; the tenant's use of its limits with the
guest running is worked out as ``tenctl usage`` does (:mod:`tenctl_core.limits`) and the start is refused,
with one sentence per limit it would break, when it does not fit, or when the tenant is suspended.

It must answer quickly whatever the API does (Proxmox waits for it as long as it takes): the reads run in
a thread that is given up after ``monitoring.guard_timeout`` seconds, or less when the guard itself was slow
to start, so that it answers within a second. Then the answer comes from the watcher's cache of
``/cluster/resources`` (``tenctl watch`` writes it into ``paths.state_dir`` at every poll), and failing
that ``monitoring.guard_unknown`` decides.

Proxmox fills ``/cluster/resources`` from the statistics each node broadcasts every few seconds
(pve-manager ``PVE/API2Tools.pm`` ``extract_vm_stats``), so a guest created or changed a moment ago may
show its former size there, or none. The guest being started is therefore measured from its own
configuration, read through the API in the same time budget.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core.errors import EXIT_USAGE, NotFoundError, TenctlError, UsageError
from tenctl_core.guests import Guest, group_by_pool
from tenctl_core.limits import GB, MB, cache_path, fmt, measure, read_cache, start_refusals
from tenctl_core.model import SUSPENDED
from tenctl_core.store import TenantStore

if TYPE_CHECKING:
    from tenctl_core.config import Config
    from tenctl_core.model import Tenant

PRE_START, POST_START, PRE_STOP, POST_STOP = "pre-start", "post-start", "pre-stop", "post-stop"
PHASES = (PRE_START, POST_START, PRE_STOP, POST_STOP)
MIGRATED_FROM_ENV = "PVE_MIGRATED_FROM"
POOL_PREFIX = "tenant_"
API, CACHE, NOTHING = "api", "cache", "nothing"


@dataclass
class Verdict:
    """What the guard says about one hookscript call."""

    allowed: bool
    reasons: list[str] = field(default_factory=list)
    """Why the start is refused: one sentence each (printed on standard error, exactly)."""
    notes: list[str] = field(default_factory=list)
    """What the guard found, for the task log (printed on standard output)."""
    source: str = ""
    """Where the figures came from: ``api``, ``cache``, ``nothing`` (or empty when nothing was read)."""
    tenant: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.allowed else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "notes": self.notes,
            "source": self.source,
            "tenant": self.tenant,
        }


def check_arguments(vmid: str, phase: str) -> tuple[int, str]:
    """The hookscript's arguments as Proxmox passes them; UsageError (exit 2) for anything else."""
    if not re.fullmatch(r"[1-9][0-9]{2,8}", vmid):
        raise UsageError(f"VMID must be a guest id (a number from 100), not {vmid!r}")
    if phase not in PHASES:
        raise UsageError(f"unknown phase {phase!r}: Proxmox calls a hookscript with {', '.join(PHASES)}")
    return int(vmid), phase


# ------------------------------------------------------------------------------------------- reading


@dataclass
class ClusterView:
    """The guests as the guard could see them, and from where."""

    resources: list[dict[str, Any]] | None
    source: str
    why: str = ""
    """Why the API was not used (empty when it was)."""
    age: float = 0.0
    """Seconds since the cache was written (when the view is the cache)."""
    guest_config: dict[str, Any] | None = None
    """The configuration of the guest being started, when it could be read in time."""
    config_error: str = ""
    """Why it could not (empty when it was read, or is still on its way)."""


class ApiReads:
    """The guard's two requests, in a daemon thread: a hung API costs the guard its budget and no more.

    First ``/cluster/resources`` (every guest, their pools and sizes), then the configuration of the guest
    being started. Either may be given up on; the thread is left to die with the process.
    """

    def __init__(self, config: Config, vmid: int, budget: float) -> None:
        from tenctl_core.proxmox import ProxmoxClient

        # Each request (the login too) may wait no longer than the whole budget.
        settings = dataclasses.replace(config.proxmox, timeout=budget)
        self.client = ProxmoxClient(dataclasses.replace(config, proxmox=settings))
        self.vmid = vmid
        self.resources: list[dict[str, Any]] | None = None
        self.config: dict[str, Any] | None = None
        self.error = ""
        self.listed = threading.Event()
        self.finished = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="tenctl-guard-api", daemon=True).start()

    def _run(self) -> None:
        try:
            answer = self.client.get("/cluster/resources")
            self.resources = answer if isinstance(answer, list) else []
            self.listed.set()
            entry = find_guest(self.resources, self.vmid)
            if entry is not None and entry.get("node"):
                path = f"/nodes/{entry['node']}/{entry.get('type', 'qemu')}/{self.vmid}/config"
                found = self.client.get(path)
                self.config = found if isinstance(found, dict) else None
        except TenctlError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure of the API leaves the cache to answer
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.listed.set()
            self.finished.set()


ANSWER_WITHIN = 1.0
"""Seconds from the hookscript's start to the guard's answer."""
AFTER_API = 0.2
"""What the guard keeps for itself once the API is given up: reading the cache, judging, printing."""
LEAST_WAIT = 0.1


def started_ago() -> float:
    """Seconds since this process started (the hookscript's shell, which execs Python), from Linux's
    /proc; 0 where that cannot be read."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(after_name[19])  # field 22, starttime, in clock ticks since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def api_budget(guard_timeout: float, elapsed: float) -> float:
    """How long to wait for the API: ``monitoring.guard_timeout``, less when a slow start (a loaded node)
    would otherwise push the answer past a second; never under a tenth of a second."""
    return max(LEAST_WAIT, min(guard_timeout, ANSWER_WITHIN - AFTER_API - elapsed))


def read_cluster(config: Config, vmid: int) -> ClusterView:
    """The API's view within the budget (:func:`api_budget`), else the watcher's cache, else nothing."""
    budget = api_budget(config.monitoring.guard_timeout, started_ago())
    deadline = time.monotonic() + budget
    reads = ApiReads(config, vmid, budget)
    reads.start()
    reads.listed.wait(budget)
    if reads.resources is not None:
        reads.finished.wait(max(0.0, deadline - time.monotonic()))
        return ClusterView(reads.resources, API, guest_config=reads.config, config_error=reads.error)
    why = (
        f"the API failed: {reads.error}" if reads.error else f"the API did not answer within {fmt(budget)} s"
    )
    path = cache_path(Path(config.paths.state_dir))
    cached = read_cache(path)
    if cached is None:
        return ClusterView(None, NOTHING, why=f"{why} and there is no readable watcher cache at {path}")
    written, resources = cached
    return ClusterView(resources, CACHE, why=why, age=max(0.0, time.time() - written))


def find_guest(resources: list[dict[str, Any]], vmid: int) -> dict[str, Any] | None:
    for item in resources:
        if item.get("type") in ("qemu", "lxc") and str(item.get("vmid")) == str(vmid):
            return item
    return None


# ------------------------------------------------------------------- the guest's own configuration


SIZE = re.compile(r"(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)(?:,|$)")
SIZE_UNITS = {"": 1, "K": 1024, "M": MB, "G": GB, "T": 1024 * GB}
DISK_KEY = re.compile(r"(ide|sata|scsi|virtio)\d+")


def disk_bytes(value: Any) -> int | None:
    """The ``size=`` of a disk's property string in bytes (PVE writes ``32G``, ``512M``; bare is bytes)."""
    text = str(value)
    if "media=cdrom" in text:
        return None
    found = SIZE.search(text)
    return int(float(found.group(1)) * SIZE_UNITS[found.group(2)]) if found else None


def memory_mb(value: Any) -> int | None:
    """``memory`` of a VM is ``4096`` or, since PVE 8.1, a property string ``current=4096[,...]``."""
    text = str(value)
    found = re.fullmatch(r"(\d+)", text) or re.search(r"(?:^|,)current=(\d+)", text)
    return int(found.group(1)) if found else None


def boot_disk(config: dict[str, Any]) -> int | None:
    """Bytes of the disk Proxmox reports as ``maxdisk``: the first disk of the boot order
    (qemu-server ``src/PVE/QemuServer/Drive.pm`` ``bootdisk_size``), else the first disk there is."""
    boot = str(config.get("boot", ""))
    order = boot.removeprefix("order=").split(";") if boot.startswith("order=") else []
    if not order and config.get("bootdisk"):
        order = [str(config["bootdisk"])]
    order += sorted(key for key in config if DISK_KEY.fullmatch(key))
    for key in order:
        if DISK_KEY.fullmatch(key) and key in config:
            size = disk_bytes(config[key])
            if size is not None:
                return size
    return None


def sized_from_config(guest: Guest, config: dict[str, Any] | None) -> Guest:
    """The guest with the cores, memory and boot disk its configuration gives it now, where it says.

    For a VM (qemu-server ``vmstatus``): ``sockets`` x ``cores``, or ``vcpus`` when set; ``memory``;
    the boot disk. For a container: ``cores`` (else ``cpulimit``); ``memory``; ``rootfs``.
    """
    if not config:
        return guest
    cpu: int | None = None
    disk: int | None
    if guest.type == "lxc":
        raw = config.get("cores") or config.get("cpulimit")
        cpu = int(float(raw)) if raw else None
        disk = disk_bytes(config.get("rootfs", ""))
    else:
        if config.get("vcpus"):
            cpu = int(config["vcpus"])
        elif config.get("cores") or config.get("sockets"):
            cpu = int(config.get("sockets") or 1) * int(config.get("cores") or 1)
        disk = boot_disk(config)
    mem = memory_mb(config["memory"]) if config.get("memory") is not None else None
    return dataclasses.replace(
        guest,
        cpu=guest.cpu if cpu is None else cpu,
        mem=guest.mem if mem is None else mem * MB,
        disk=guest.disk if disk is None else disk,
    )


# ----------------------------------------------------------------------------------------- deciding


def passes(vmid: int, phase: str) -> Verdict:
    """Every phase but ``pre-start`` passes at once: it cannot stop anything, and reads nothing."""
    return Verdict(True, notes=[f"{phase} of guest {vmid}: nothing to check"])


def admit(config: Config, vmid: int, phase: str, environ: dict[str, str] | None = None) -> Verdict:
    """Whether Proxmox may go on with ``phase`` of guest ``vmid``; only ``pre-start`` is ever refused."""
    if phase != PRE_START:
        return passes(vmid, phase)
    migrated_from = (environ or {}).get(MIGRATED_FROM_ENV)
    if migrated_from:
        return Verdict(
            True,
            notes=[
                f"guest {vmid} arrives by live migration from {migrated_from}: it runs already, nothing is added"
            ],
        )
    view = read_cluster(config, vmid)
    source_note = describe_source(view)
    if view.resources is None:
        return unknown(config, vmid, view.why, NOTHING)
    entry = find_guest(view.resources, vmid)
    if entry is None:
        where = "the cluster's resources" if view.source == API else "the watcher's cache"
        return unknown(config, vmid, f"guest {vmid} is not in {where}{source_note}", view.source)
    guest = Guest.from_resource(entry)
    label = f"{guest.type} {vmid}"
    try:
        tenant, damaged = tenant_of_pool(TenantStore(Path(config.paths.tenants_dir)), guest.pool)
    except (TenctlError, OSError) as exc:
        return unknown(config, vmid, f"the tenant record cannot be read: {exc}", view.source)
    if tenant is None and damaged:
        return unknown(
            config,
            vmid,
            f"{label} is in pool {guest.pool} and some tenant records are damaged ({'; '.join(damaged)})",
            view.source,
        )
    if tenant is None:
        where = f"pool {guest.pool}" if guest.pool else "no pool"
        return Verdict(
            True,
            notes=[f"{label} is in {where}, no tenant's: start allowed{source_note}"],
            source=view.source,
        )
    if tenant.status == SUSPENDED:
        since = f" since {tenant.suspend_date}" if tenant.suspend_date else ""
        reason = f" ({tenant.suspend_reason})" if tenant.suspend_reason else ""
        return Verdict(
            False,
            reasons=[
                f"tenant {tenant.name} is suspended{since}{reason}: its guests may not start; "
                f"`tenctl resume -n {tenant.name}` lifts the suspension"
            ],
            source=view.source,
            tenant=tenant.name,
        )
    return judge(config, tenant, guest, view, source_note)


def tenant_of_pool(store: TenantStore, pool: str | None) -> tuple[Tenant | None, list[str]]:
    """The tenant whose pool this is, and the records that could not be read while looking.

    A tenant's pool is ``tenant_<name>`` (:mod:`tenctl_core.naming`), so its record is read alone; every
    record is read only when that one does not name the pool."""
    if not pool:
        return None, []
    name = pool.removeprefix(POOL_PREFIX)
    if name != pool:
        try:
            tenant = store.load(name)
        except (NotFoundError, UsageError):
            tenant = None
        if tenant is not None and tenant.pool == pool:
            return tenant, []
    tenants = store.all()
    return next((t for t in tenants if t.pool == pool), None), list(store.damaged)


def judge(config: Config, tenant: Tenant, guest: Guest, view: ClusterView, source_note: str) -> Verdict:
    assert view.resources is not None
    notes = []
    if view.source == API:
        if view.guest_config is None:
            why = f"was not read ({view.config_error})" if view.config_error else "was not read in time"
            notes.append(
                f"the configuration of {guest.type} {guest.vmid} {why}: its size is Proxmox's last report"
            )
        guest = sized_from_config(guest, view.guest_config)
    others = [g for g in group_by_pool(view.resources).get(tenant.pool, []) if g.vmid != guest.vmid]
    usage = measure(tenant, [*others, guest], config.monitoring)
    reasons = start_refusals(usage, guest)
    if reasons:
        if view.source == CACHE:
            notes.append(
                f"refused on figures from the watcher's cache, {fmt(round(view.age))} s old: {view.why}"
            )
        return Verdict(False, reasons=reasons, notes=notes, source=view.source, tenant=tenant.name)
    after = measure(tenant, [*others, dataclasses.replace(guest, status="running")], config.monitoring)
    figures = ", ".join(f"{m.resource} {fmt(m.counted)} of {m.limit} {m.unit}" for m in after.measures)
    notes.append(
        f"{guest.type} {guest.vmid} of tenant {tenant.name} may start; with it running: {figures}{source_note}"
    )
    return Verdict(True, notes=notes, source=view.source, tenant=tenant.name)


def describe_source(view: ClusterView) -> str:
    if view.source != CACHE:
        return ""
    return f" (from the watcher's cache, {fmt(round(view.age))} s old: {view.why})"


def unknown(config: Config, vmid: int, why: str, source: str) -> Verdict:
    """Neither the API nor the cache can tell: ``monitoring.guard_unknown`` decides."""
    policy = config.monitoring.guard_unknown
    if policy == "refuse":
        return Verdict(
            False,
            reasons=[
                f"cannot tell whether guest {vmid} may start: {why}; refused (monitoring.guard_unknown = refuse)"
            ],
            source=source,
        )
    return Verdict(
        True,
        notes=[
            f"cannot tell whether guest {vmid} may start: {why}; allowed (monitoring.guard_unknown = allow)"
        ],
        source=source,
    )


# ------------------------------------------------------------------------------------- answering


def answer(
    vmid_text: str,
    phase_text: str,
    environ: dict[str, str],
    config_file: str | None = None,
    profile: str | None = None,
    debug: bool = False,
) -> Verdict:
    """The verdict on a hookscript call; UsageError for arguments Proxmox never passes.

    Only ``pre-start`` reads the configuration. When that cannot be read there is no policy to apply but
    the default of ``monitoring.guard_unknown``: allow. A failure of the guard itself is judged by that
    policy too, unless ``debug``."""
    from tenctl_core.config import load_config

    vmid, phase = check_arguments(vmid_text, phase_text)
    if phase != PRE_START:
        return passes(vmid, phase)
    try:
        config = load_config(config_file, profile)
    except TenctlError as exc:
        return Verdict(
            True, notes=[f"the configuration cannot be read ({exc}): start allowed"], source=NOTHING
        )
    try:
        verdict = admit(config, vmid, phase, environ)
    except Exception as exc:  # noqa: BLE001 - the guard must answer; its policy decides on its own failure
        if debug:
            raise
        verdict = unknown(config, vmid, f"the guard failed: {type(exc).__name__}: {exc}", NOTHING)
    if not verdict.allowed:
        audit_refusal(config, vmid, verdict)
    return verdict


def audit_refusal(config: Config, vmid: int, verdict: Verdict) -> None:
    """A refused start is a line of the audit trail (command ``guard``, outcome ``refused``), so that
    ``tenctl audit -l warning`` shows it beside the commands. Writing it never changes the verdict."""
    from tenctl_core.audit import AuditLine, now_text, write_line
    from tenctl_core.context import node_name

    line = AuditLine(
        time=now_text(),
        node=node_name(),
        user="root",  # Proxmox runs hookscripts as root, whoever asked for the start
        command="guard",
        tenant=verdict.tenant,
        outcome="refused",
        exit_code=verdict.exit_code,
        duration=round(started_ago(), 3),
        changes=False,
        message="; ".join(verdict.reasons),
        details={"vmid": vmid, "phase": PRE_START, "source": verdict.source},
    )
    try:
        for problem in write_line(config, line):
            print(f"{NOTE_PREFIX}audit trail: {problem}")
    except Exception as exc:  # noqa: BLE001 - the audit trail never changes the guard's answer
        print(f"{NOTE_PREFIX}audit trail: {type(exc).__name__}: {exc}")


NOTE_PREFIX = "tenctl guard: "


def print_verdict(verdict: Verdict, as_json: bool = False) -> int:
    """Notes on standard output, refusals on standard error as they are (both reach the task log); the
    exit code."""
    if as_json:
        import json

        print(json.dumps(verdict.as_dict(), indent=2))
    else:
        for note in verdict.notes:
            print(NOTE_PREFIX + note)
        for reason in verdict.reasons:
            print(reason, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    return verdict.exit_code


def main(argv: list[str] | None = None) -> int:
    """``python -m tenctl_core.guard VMID PHASE``: what the hookscript runs, with the configuration its
    ``TENCTL_CONFIG`` (and ``TENCTL_PROFILE``) name. It answers as ``tenctl guard hook`` does, without the
    command line's start-up (typer, the plugins): a Proxmox start waits for it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("error: usage: python -m tenctl_core.guard VMID PHASE", file=sys.stderr)
        return EXIT_USAGE
    try:
        verdict = answer(args[0], args[1], dict(os.environ))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return print_verdict(verdict)


if __name__ == "__main__":
    raise SystemExit(main())
