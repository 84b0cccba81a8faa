"""``tenctl migrate --records DIR``: the Bash tool's tenant records become tenctl tenants.

Each ``<name>.conf`` is read as data by :mod:`tenctl_core.bashfile`, never sourced. Every record is checked
before the first request: a value that breaks a rule stops the command (exit 2) naming the file, line, value
and why. Records that cannot be mapped as a whole (the ``[]`` tenant of the Bash tool's bug, two records of
one name or one VLAN, a pool that is gone, no VLAN or subnet) are reported and skipped; the others become
tenants:

* the tenctl record is written first (the reservation, as ``add`` does), then one plan per tenant runs with
  undo: the objects a Bash record names (pool, group, admin user, VNet, and what hangs on them: ACL entries,
  subnet) are *taken over* (they get this installation's marker), the Bash tool's ACL entries that tenctl
  does not grant are deleted, and what is missing is created;
* the tenants run in one :mod:`batch <tenctl_core.batch>`, so the SDN is applied once for all of them.

This is the one command that takes over objects without a marker, and only those a record names: see
:data:`tenctl_core.engine.CLAIMS`. A tenant that already has a tenctl record is left alone, so a second run
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenctl_core.bashfile import BashFile, read_bash_file
from tenctl_core.context import Context
from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.model import ACTIVE, DATE_FORMAT, SUSPENDED, Tenant
from tenctl_core.naming import check_tenant_name, check_userid, same_name_in_other_case
from tenctl_core.plan import Plan
from tenctl_core.validation import TEXT_MAX, check_cidr, check_cpu, check_ram, check_storage, check_vlan

BASH_RECORDS = Path("/etc/pve/tenants")
"""Where the Bash tool kept its tenant records (``TENANT_CONFIG_DIR``)."""
FREE_TEXT_KEYS = ("SUSPEND_REASON",)
"""Keys whose value the Bash tool wrote between double quotes as typed: ``$(...)`` in them is text."""
FIELDS = (
    "TENANT_NAME",
    "VLAN_ID",
    "SUBNET",
    "CPU_LIMIT",
    "RAM_LIMIT",
    "STORAGE_LIMIT",
    "USERNAME",
    "POOL_ID",
    "GROUP_NAME",
    "CREATED_DATE",
    "TENANT_STATUS",
    "SUSPEND_REASON",
    "SUSPEND_DATE",
    "RESUME_DATE",
)
DOUBLE_QUOTED_RE = re.compile(
    r'[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<text>(?:[^"\\]|\\.)*)"[ \t]*'
)
BASH_ESCAPE_RE = re.compile(r'\\([$`"\\])')


class BadRecords(UsageError):
    """Values of the Bash tool's records that break tenctl's rules: nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} value(s) in the Bash tool's records break tenctl's rules: "
            + "; ".join(problems),
            hint="correct or remove those records (they are data: tenctl never runs them), then run again",
        )


@dataclass
class BashRecord:
    """One ``<name>.conf``: its values (key -> (value, line)) and what was noticed reading it."""

    path: Path
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        found = self.values.get(key)
        return found[0] if found else None

    def where(self, key: str) -> str:
        found = self.values.get(key)
        return f"{self.path}: line {found[1]}" if found else str(self.path)


@dataclass
class TenantReport:
    """What became of one record."""

    record: str
    tenant: str
    outcome: str = "pending"
    """``migrated``, ``already migrated``, ``skipped``, ``failed``, or in a dry run ``planned``."""
    taken_over: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    """Fields the record lacked, and where their value came from."""
    not_mapped: list[str] = field(default_factory=list)
    """Per field: what could not be carried over, and why."""
    notes: list[str] = field(default_factory=list)
    """What was noticed reading the record (a value taken literally, a line not read)."""
    reason: str = ""
    plan: Plan | None = None
    existing: bool = False
    """A tenctl record of the tenant exists (an earlier run): it is the tenant's intent now."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "tenant": self.tenant,
            "outcome": self.outcome,
            "taken_over": self.taken_over,
            "created": self.created,
            "removed": self.removed,
            "filled": self.filled,
            "not_mapped": self.not_mapped,
            "notes": self.notes,
            "reason": self.reason,
            "plan": self.plan.as_dict() if self.plan is not None else None,
        }


@dataclass
class RecordMigration:
    directory: Path
    tenants: list[TenantReport] = field(default_factory=list)
    batch_error: str = ""
    commits: list[str] = field(default_factory=list)
    """The backends committed once for the whole batch (``sdn-vnet``: one SDN apply)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": str(self.directory),
            "tenants": [t.as_dict() for t in self.tenants],
            "batch_error": self.batch_error or None,
            "commits": self.commits,
        }

    @property
    def failed(self) -> bool:
        return bool(self.batch_error) or any(t.outcome == "failed" for t in self.tenants)


# ------------------------------------------------------------------------------- reading


def read_record(path: Path) -> tuple[BashRecord, list[str]]:
    """The values of one record, and the problems that stop the migration (file, line, value, why)."""
    parsed: BashFile = read_bash_file(path)
    record = BashRecord(path, {k: (a.value, a.line) for k, a in parsed.assignments.items()})
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for refused in parsed.refused:
        text = lines[refused.line - 1] if refused.line == refused.last_line else ""
        literal = DOUBLE_QUOTED_RE.fullmatch(text)
        if refused.key in FREE_TEXT_KEYS and literal is not None:
            value = BASH_ESCAPE_RE.sub(r"\1", literal["text"])
            record.values[refused.key] = (value, refused.line)
            record.notes.append(
                f"{refused.key} (line {refused.line}) taken as literal text {value!r}: the Bash tool would have "
                f"run what it holds ({refused.reason})"
            )
            continue
        if refused.key in FIELDS:
            problems.append(f"{path}: {refused.where}: {refused.key}: {refused.reason}: its value is unknown")
        else:
            record.notes.append(f"{refused.where} not read: {refused.reason}")
    for key in sorted(set(record.values) - set(FIELDS)):
        record.notes.append(
            f"{key} (line {record.values[key][1]}) is not a field of a tenant record: ignored"
        )
    return record, problems


def read_records(directory: Path) -> tuple[list[BashRecord], list[str]]:
    if not directory.is_dir():
        raise UsageError(
            f"{directory} is not a directory of the Bash tool's records",
            hint="give the Bash tool's TENANT_CONFIG_DIR with --records (default /etc/pve/tenants)",
        )
    records: list[BashRecord] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.conf")):
        if path.name == "tenant.conf":
            continue  # the global configuration, when it was kept beside the records
        record, found = read_record(path)
        records.append(record)
        problems.extend(found)
    return records, problems


# ------------------------------------------------------------------------------- mapping


def check_value(record: BashRecord, key: str, check: Any, problems: list[str]) -> Any:
    """The checked value of key (None when absent or empty); a broken rule goes to problems."""
    raw = record.get(key)
    if raw is None or raw.strip() == "":
        return None
    try:
        return check(raw)
    except (UsageError, ValueError) as exc:
        why = exc.message if isinstance(exc, TenctlError) else str(exc)
        problems.append(f"{record.where(key)}: {key}={raw}: {why}")
        return None


def whole(check: Any) -> Any:
    def parse(text: str) -> Any:
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise UsageError(f"{text!r} is not a whole number")
        return check(int(text))

    return parse


def date(text: str) -> str:
    try:
        dt.datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        raise UsageError("not a date and time in the form YYYY-MM-DD HH:MM:SS") from None
    return text


def reason_text(text: str) -> str:
    """A suspension reason as the Bash tool stored it: kept literally (``$(...)`` is text in a tenctl record,
    which is data), only without control characters and not longer than tenctl's free texts."""
    if len(text) > TEXT_MAX:
        raise UsageError(f"longer than {TEXT_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError("it holds control characters")
    return text


def status(text: str) -> str:
    if text.upper() not in ("ACTIVE", "SUSPENDED"):
        raise UsageError("the Bash tool wrote ACTIVE or SUSPENDED")
    return SUSPENDED if text.upper() == "SUSPENDED" else ACTIVE


def object_id(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}", text):
        raise UsageError("not a valid Proxmox pool or group id (letters, digits, '.', '-', '_')")
    return text


def tenant_of(ctx: Context, record: BashRecord, report: TenantReport, problems: list[str]) -> Tenant | None:
    """The tenant a record describes, or None (skipped: report.reason says why; or a problem noted)."""
    name = report.tenant
    before = len(problems)
    vlan = check_value(record, "VLAN_ID", whole(check_vlan), problems)
    subnet = check_value(record, "SUBNET", lambda t: check_cidr(t, "SUBNET"), problems)
    cpu = check_value(record, "CPU_LIMIT", whole(check_cpu), problems)
    ram = check_value(record, "RAM_LIMIT", whole(check_ram), problems)
    storage = check_value(record, "STORAGE_LIMIT", whole(check_storage), problems)
    user = check_value(record, "USERNAME", check_userid, problems)
    pool = check_value(record, "POOL_ID", object_id, problems)
    group = check_value(record, "GROUP_NAME", object_id, problems)
    created = check_value(record, "CREATED_DATE", date, problems)
    state = check_value(record, "TENANT_STATUS", status, problems)
    reason = check_value(record, "SUSPEND_REASON", reason_text, problems)
    suspended = check_value(record, "SUSPEND_DATE", date, problems)
    resumed = check_value(record, "RESUME_DATE", date, problems)
    if len(problems) > before:
        return None
    defaults = ctx.config.defaults

    def filled(key: str, value: Any, source: str) -> Any:
        report.filled.append(f"{key} missing: {value} ({source})")
        return value

    if cpu is None:
        cpu = filled("CPU_LIMIT", defaults.cpu, "defaults.cpu")
    if ram is None:
        ram = filled("RAM_LIMIT", defaults.ram_mb, "defaults.ram_mb")
    if storage is None:
        storage = filled("STORAGE_LIMIT", defaults.storage_gb, "defaults.storage_gb")
    pool = pool or filled("POOL_ID", f"tenant_{name}", "the Bash tool's name for it")
    group = group or filled("GROUP_NAME", f"group_{name}", "the Bash tool's name for it")
    user = user or filled("USERNAME", f"admin_{name}@pve", "the Bash tool's name for it")
    if created is None:
        created = filled("CREATED_DATE", dt.datetime.now().strftime(DATE_FORMAT), "now")
    for key, value in (("VLAN_ID", vlan), ("SUBNET", subnet)):
        if value is None:
            report.not_mapped.append(f"{key}: missing from the record")
    if vlan is None or subnet is None:
        report.reason = "the record has no VLAN_ID or no SUBNET: add it to the record and run again"
        return None
    subnet = ipaddress.IPv4Network(str(subnet), strict=False)
    status_now = state or ACTIVE
    if state is None:
        filled("TENANT_STATUS", ACTIVE, "the Bash tool wrote it only after a suspend")
    return Tenant(
        name=name,
        pool=pool,
        group=group,
        admin_user=user,
        vlan=int(vlan),
        subnet=str(subnet),
        gateway=str(subnet.network_address + 1),
        cpu_limit=cpu,
        ram_limit=ram,
        storage_limit=storage,
        storages=list(ctx.config.permissions.storages),
        status=status_now,
        created_date=created,
        created_by=ctx.operator,
        created_on=ctx.node,
        suspend_reason=reason or "",
        suspend_date=suspended or "",
        resume_date=resumed or "",
    )


def plan_records(ctx: Context, directory: Path) -> tuple[RecordMigration, list[tuple[TenantReport, Tenant]]]:
    """Read and check every record (no request before all are checked); the tenants to migrate."""
    records, problems = read_records(directory)
    result = RecordMigration(directory)
    candidates: list[tuple[BashRecord, TenantReport]] = []
    for record in records:
        raw = record.get("TENANT_NAME")
        name = raw if raw is not None else record.path.stem
        report = TenantReport(str(record.path), name, notes=list(record.notes))
        result.tenants.append(report)
        if raw is None:
            report.filled.append(f"TENANT_NAME missing: {name} (the file name)")
        if name == "[]" or record.path.stem == "[]":
            report.outcome, report.reason = (
                "skipped",
                (
                    "the '[]' tenant the Bash tool's bug left behind: it never was a tenant, nothing is made for it"
                ),
            )
            continue
        try:
            check_tenant_name(name)
        except UsageError as exc:
            problems.append(f"{record.where('TENANT_NAME')}: TENANT_NAME={name}: {exc.message}")
            continue
        if raw is not None and raw != record.path.stem:
            report.not_mapped.append(
                f"TENANT_NAME: the record is named {record.path.name} but says {raw}: the tenant is {raw}, "
                "whose objects the Bash tool named after it"
            )
        candidates.append((record, report))
    planned: list[tuple[TenantReport, Tenant]] = []
    for record, report in candidates:
        tenant = tenant_of(ctx, record, report, problems)
        if tenant is None and not report.reason:
            continue  # a problem was noted
        if tenant is None:
            report.outcome = "skipped"
            continue
        planned.append((report, tenant))
    if problems:
        raise BadRecords(problems)
    return result, skip_clashes(ctx, planned)


def skip_clashes(
    ctx: Context, planned: list[tuple[TenantReport, Tenant]]
) -> list[tuple[TenantReport, Tenant]]:
    """Drop the tenants that cannot be told apart or whose pool is gone, each reported; one read of pools."""
    by_name: dict[str, list[TenantReport]] = {}
    by_vlan: dict[int, list[TenantReport]] = {}
    for report, tenant in planned:
        by_name.setdefault(tenant.name.casefold(), []).append(report)
        by_vlan.setdefault(tenant.vlan, []).append(report)
    pools = {str(p.get("poolid")) for p in ctx.cached_get("/pools")}
    existing = ctx.store.names()
    kept = []
    for report, tenant in planned:
        twins = [r.record for r in by_name[tenant.name.casefold()] if r is not report]
        sharing = [r.record for r in by_vlan[tenant.vlan] if r is not report]
        other_case = same_name_in_other_case(tenant.name, existing)
        if twins:
            report.reason = f"{', '.join(twins)} names the same tenant: remove the stale record and run again"
        elif sharing:
            report.reason = (
                f"VLAN {tenant.vlan} is also the VLAN of {', '.join(sharing)}: two tenants cannot share a VLAN; "
                "correct the stale record and run again"
            )
        elif ctx.store.exists(tenant.name):
            # Migrated before, perhaps not to the end (a failed apply, a killed run): reconciled again with
            # what the record names taken over; when nothing is left to do, nothing changes.
            report.existing = True
            kept.append((report, ctx.store.load(tenant.name)))
            continue
        elif other_case is not None:
            report.reason = f"the tenctl tenant {other_case} differs from it only in case"
        elif tenant.pool not in pools:
            report.reason = (
                f"its pool {tenant.pool} is gone: the record is stale (the tenant was removed by hand?); "
                f"delete the record, or create the tenant anew with `tenctl add`"
            )
        else:
            kept.append((report, tenant))
            continue
        report.outcome = "skipped"
    return kept


# ------------------------------------------------------------------------------- applying


def migrate_records(ctx: Context, directory: Path) -> RecordMigration:
    """Migrate every record of the directory (see the module's docstring); a dry run only plans."""
    from tenctl_core.batch import BatchCommitFailed, note_committed, open_batch
    from tenctl_core.engine import CLAIMS

    result, planned = plan_records(ctx, directory)
    ctx.installation  # noqa: B018 - `tenctl init` has run: it says so before any change
    for report, tenant in planned:
        if not report.existing:
            tenant.installation = ctx.installation
            for provider in _providers(ctx):
                provider.prepare(ctx, tenant)
    if not ctx.dry_run:
        planned = [(report, _recovered(ctx, report, tenant)) for report, tenant in planned]
    with open_batch(ctx) as batch:
        if ctx.dry_run:
            for report, tenant in planned:
                ctx.cache[CLAIMS] = claims_of(ctx, tenant)
                _plan_one(ctx, report, tenant)
            ctx.cache.pop(CLAIMS, None)
            result.commits = list(batch.finalisers)
            return result
        interrupted: KeyboardInterrupt | None = None
        committed: list[Tenant] = []
        for report, tenant in planned:
            try:
                _migrate_one(ctx, report, tenant, committed)
            except KeyboardInterrupt as exc:
                # That tenant was undone; the ones migrated are committed below, the rest not begun.
                interrupted = exc
                break
        result.commits = list(batch.finalisers)
        try:
            batch.finish()
            for tenant in committed:
                note_committed(ctx, tenant)
        except BatchCommitFailed as exc:
            result.batch_error = exc.message
            for report, _ in planned:
                if report.tenant in exc.tenants:
                    # Its record keeps the batch's journal entry: the next run takes it up again.
                    report.outcome = "failed"
                    report.reason = "its SDN changes were discarded with the batch's failed apply: run again"
        if interrupted is not None:
            done = ", ".join(t.tenant for t in result.tenants if t.outcome == "migrated") or "none"
            ctx.warn(f"interrupted: tenants migrated before the interrupt: {done}; run again for the others")
            raise interrupted
    return result


def _providers(ctx: Context) -> list[Any]:
    from tenctl_core.engine import tenant_providers

    return tenant_providers(ctx)


def claims_of(ctx: Context, tenant: Tenant) -> dict[tuple[str, str], str]:
    """The objects the Bash record names, which may be taken over for the tenant: each provider's intended
    objects of its :attr:`~tenctl_core.providers.Provider.takeover_kinds`."""
    claims: dict[tuple[str, str], str] = {}
    for provider in _providers(ctx):
        for resource in provider.desired(ctx, tenant):
            if resource.kind in provider.takeover_kinds and resource.parent is None:
                claims[resource.key] = tenant.name
    return claims


def _recovered(ctx: Context, report: TenantReport, tenant: Tenant) -> Tenant:
    """An earlier run's tenant after its providers ended what a killed command left in flight (a held SDN
    lock and the changes staged under it); a new tenant as it is."""
    from tenctl_core.operations import run_recovery, tenant_locked

    if not report.existing or not any(p.recover(ctx, tenant) for p in _providers(ctx)):
        return tenant
    with tenant_locked(ctx, tenant.name, "migrate"):
        return run_recovery(ctx, ctx.store.load(tenant.name), "migrate")[0]


def _plan_one(ctx: Context, report: TenantReport, tenant: Tenant) -> Plan | None:
    from tenctl_core.engine import diff_tenant, make_plan, reconcile_steps, refuse_conflicts
    from tenctl_core.operations import mark, record_step

    email = "" if report.existing else _user_email(ctx, tenant)
    if email:
        tenant.email = email
        report.filled.append(f"email: {email} (the Proxmox user {tenant.admin_user})")
    try:
        diff = diff_tenant(ctx, tenant, present=True, adopt=True, prune=True)
        refuse_conflicts(diff)
    except TenctlError as exc:
        report.outcome, report.reason = "skipped", exc.message
        return None
    plan = make_plan("migrate", tenant, reconcile_steps(ctx, diff, present=True), diff)
    if report.existing and not plan.steps and not tenant.journal:
        report.outcome, report.reason = (
            "already migrated",
            "its tenctl record exists and nothing is left to do",
        )
        return None
    final = tenant.status
    plan.add(record_step(f"mark tenant {tenant.name} {final}", lambda: mark(ctx, tenant, final)))
    report.plan = plan
    report.outcome = "planned"
    for pd in diff.providers:
        for change in pd.changes:
            what = (change.resource or change.observed).describe()  # type: ignore[union-attr]
            {"adopt": report.taken_over, "create": report.created, "delete": report.removed}.get(
                change.op, report.taken_over
            ).append(what)
            if change.op == "create" and change.key == ("user", tenant.admin_user):
                report.not_mapped.append(
                    f"USERNAME: the user {tenant.admin_user} was gone and is made again without a password: "
                    f"give it one with `tenctl modify -n {tenant.name} --password-file FILE`"
                )
    return plan


def _user_email(ctx: Context, tenant: Tenant) -> str:
    for user in ctx.cached_get("/access/users"):
        if user.get("userid") == tenant.admin_user:
            return str(user.get("email") or "")
    return ""


def _migrate_one(ctx: Context, report: TenantReport, tenant: Tenant, committed: list[Tenant]) -> None:
    """Migrate one tenant under its lock; a tenant whose plan ran goes to ``committed``, with the batch's
    commit journaled in its record by the write that ended the plan (see
    :func:`tenctl_core.batch.awaiting_commit`)."""
    from tenctl_core.engine import CLAIMS
    from tenctl_core.operations import AddResult, apply_add, run_plan, tenant_locked

    try:
        with tenant_locked(ctx, tenant.name, "migrate"):
            if report.existing:
                tenant = ctx.store.load(tenant.name)
            elif ctx.store.exists(tenant.name):
                report.outcome, report.reason = "skipped", "a tenctl record of this name appeared meanwhile"
                return
            ctx.cache[CLAIMS] = claims_of(ctx, tenant)
            try:
                plan = _plan_one(ctx, report, tenant)
                if plan is None:
                    return
                if report.existing:
                    run_plan(ctx, tenant, plan)
                else:
                    ctx.store.create(tenant)  # the reservation: from here the VLAN is seen as taken
                    apply_add(ctx, AddResult(tenant, plan))
            finally:
                ctx.cache.pop(CLAIMS, None)
                ctx.forget("/")
    except TenctlError as exc:
        report.outcome, report.reason = "failed", exc.message
        return
    report.outcome = "migrated"
    committed.append(tenant)
