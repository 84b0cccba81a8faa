"""``tenctl add --from-file``: many tenants from one CSV or JSON file, in one batch.

Every row is checked before the first request (its fields by add's rules, names, VLANs and subnets against
the other rows, the configured ranges and the existing records); an error names the file, the line (CSV) or
item (JSON), the field and its value. The tenants are then added one by one, each with ``add``'s own undo,
inside a :mod:`batch <tenctl_core.batch>`: the SDN is applied once for all of them.

When tenant k of N fails, its own steps are undone and the others go on; the tenants added stay whole and
the failed ones are reported. When the batch's final commit fails, what was staged is discarded and every
tenant of the batch is removed again (the rows can then be given again as they are).
"""

from __future__ import annotations

import csv
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenctl_core.config import LimitDefaults
from tenctl_core.context import Context
from tenctl_core.errors import TenctlError, UsageError
from tenctl_core.naming import check_new_tenant_name, check_userid
from tenctl_core.operations import AddRequest, AddResult
from tenctl_core.plan import Plan
from tenctl_core.validation import check_cidr, check_cpu, check_email, check_ram, check_storage, check_vlan

COLUMNS = ("name", "cpu", "ram", "storage", "email", "vlan", "subnet", "user")
"""The fields of a row: ``tenctl add``'s options by their long names. Only ``name`` is required."""
MAX_ROWS = 1000


class BadTenantFile(UsageError):
    """Rows of a ``--from-file`` file that break add's rules: nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(problems)
            if len(problems) == 1
            else f"{len(problems)} problems:\n" + "\n".join(problems),
            hint="correct the file and run again; no tenant was added",
        )


def number(check: Callable[[int], int]) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
        ):
            raise UsageError("not a whole number")
        return check(int(value))

    return parse


def text(check: Callable[[str], Any]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise UsageError("not a text")
        check(value.strip())
        return value.strip()

    return parse


CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": text(check_new_tenant_name),
    "cpu": number(check_cpu),
    "ram": number(check_ram),
    "storage": number(check_storage),
    "email": text(check_email),
    "vlan": number(check_vlan),
    "subnet": text(check_cidr),
    "user": text(check_userid),
}


@dataclass
class TenantRow:
    """One row, checked: where it is, and the values it gives."""

    where: str
    values: dict[str, Any]

    def request(self, defaults: LimitDefaults) -> AddRequest:
        v = self.values
        return AddRequest(
            name=v["name"],
            cpu=v.get("cpu") or defaults.cpu,
            ram=v.get("ram") or defaults.ram_mb,
            storage=v.get("storage") or defaults.storage_gb,
            email=v.get("email") or "",
            vlan=v.get("vlan"),
            subnet=v.get("subnet"),
            admin_user=v.get("user"),
        )


def raw_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, fields) of every row; UsageError when the file cannot be read as CSV or JSON."""
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(content)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise UsageError(f"{path}: a JSON file of tenants is a list of objects, one per tenant")
        return [(f"{path}: item {n}", dict(item)) for n, item in enumerate(items, 1)]
    if path.suffix.lower() != ".csv":
        raise UsageError(f"{path}: give a .csv or a .json file of tenants")
    reader = csv.DictReader(content.splitlines())
    if reader.fieldnames is None:
        raise UsageError(f"{path}: empty: the first line names the columns ({', '.join(COLUMNS)})")
    rows = []
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        fields = {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}
        if extra:
            fields[""] = ",".join(extra)
        rows.append((f"{path}: line {reader.line_num}", fields))
    return rows


def read_tenant_file(path: Path) -> list[TenantRow]:
    """Every row of the file, checked against add's rules and the other rows (no request is made)."""
    problems: list[str] = []
    rows: list[TenantRow] = []
    raw = raw_rows(path)
    if not raw:
        raise UsageError(f"{path}: no tenant in it")
    if len(raw) > MAX_ROWS:
        raise UsageError(f"{path}: {len(raw)} tenants; at most {MAX_ROWS} in one file")
    for where, fields in raw:
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "":
                problems.append(f"{where}: more values than columns: {value!r}")
            elif key == "password":
                problems.append(
                    f"{where}: password: a file of tenants holds no passwords; they are generated "
                    "(use --password-out to have them written to a private file)"
                )
            elif key not in CHECKS:
                problems.append(f"{where}: {key}: unknown field (fields: {', '.join(COLUMNS)})")
            else:
                try:
                    values[key] = CHECKS[key](value)
                except UsageError as exc:
                    problems.append(f"{where}: {key}={value}: {exc.message}")
        if "name" not in fields:
            problems.append(f"{where}: name: missing (every tenant needs one)")
        rows.append(TenantRow(where, values))
    problems += clashes_between(rows)
    if problems:
        raise BadTenantFile(problems)
    return rows


def clashes_between(rows: list[TenantRow]) -> list[str]:
    problems = []
    seen_names: dict[str, str] = {}
    seen_vlans: dict[int, str] = {}
    seen_subnets: list[tuple[ipaddress.IPv4Network, str]] = []
    for row in rows:
        name, vlan, subnet = (row.values.get(k) for k in ("name", "vlan", "subnet"))
        if name is not None:
            first = seen_names.setdefault(name.casefold(), row.where)
            if first != row.where:
                problems.append(f"{row.where}: name={name}: the same tenant as {first}")
        if vlan is not None:
            first = seen_vlans.setdefault(vlan, row.where)
            if first != row.where:
                problems.append(f"{row.where}: vlan={vlan}: also the VLAN of {first}")
        if subnet is not None:
            network = ipaddress.IPv4Network(subnet, strict=False)
            for other, where in seen_subnets:
                if other.overlaps(network):
                    problems.append(f"{row.where}: subnet={subnet}: overlaps {other} of {where}")
            seen_subnets.append((network, row.where))
    return problems


def check_against_cluster_config(ctx: Context, requests: list[AddRequest], rows: list[str]) -> None:
    """The checks that need the configuration and the records, still before any request."""
    from tenctl_core.naming import same_name_in_other_case
    from tenctl_core.operations import check_requested_network

    problems = []
    names = ctx.store.names()
    for where, request in zip(rows, requests, strict=True):
        try:
            check_requested_network(ctx, request)
        except UsageError as exc:
            problems.append(f"{where}: {exc.message}")
        other = same_name_in_other_case(request.name, names)
        if request.name in names or other is not None:
            problems.append(f"{where}: name={request.name}: tenant {other or request.name} exists already")
    if problems:
        raise BadTenantFile(problems)


@dataclass
class BulkResult:
    added: list[AddResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    """Dry run: each tenant's plan."""
    batch_error: str = ""
    commits: list[str] = field(default_factory=list)
    """The backends committed once for the whole batch (``sdn-vnet``: one SDN apply)."""

    def as_dict(self, show_passwords: bool, dry_run: bool) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "added": [
                {
                    "tenant_name": r.tenant.name,
                    "admin_user": r.tenant.admin_user,
                    "vlan_id": r.tenant.vlan,
                    "subnet": r.tenant.subnet,
                    **({"password": r.password} if show_passwords and r.password else {}),
                }
                for r in self.added
            ],
            "failed": [{"tenant_name": name, "error": reason} for name, reason in self.failed],
            "plans": [p.as_dict() for p in self.plans],
            "batch_error": self.batch_error or None,
            "commits": self.commits,
        }


def add_many(ctx: Context, requests: list[AddRequest], where: list[str] | None = None) -> BulkResult:
    """Add the tenants in one batch (see the module's docstring); a dry run plans each one."""
    from tenctl_core.batch import BatchCommitFailed, note_committed, open_batch
    from tenctl_core.operations import add_tenant, plan_add

    check_against_cluster_config(ctx, requests, where or [f"tenant {r.name}" for r in requests])
    result = BulkResult()
    with open_batch(ctx) as batch:
        if ctx.dry_run:
            vlans: set[int] = set()
            subnets: set[ipaddress.IPv4Network] = set()
            for request in requests:
                planned = plan_add(ctx, request, frozenset(vlans), frozenset(subnets))
                vlans.add(planned.tenant.vlan)
                subnets.add(ipaddress.IPv4Network(planned.tenant.subnet))
                result.plans.append(planned.plan)
            result.commits = list(batch.finalisers)
            return result
        interrupted: KeyboardInterrupt | None = None
        for request in requests:
            try:
                added = add_tenant(ctx, request)  # its record journals the wait for the commit
                result.added.append(added)
            except TenctlError as exc:
                result.failed.append((request.name, str(exc)))
            except KeyboardInterrupt as exc:
                # The tenant under way was undone; the ones added are committed below, the rest not begun.
                interrupted = exc
                break
        result.commits = list(batch.finalisers)
        try:
            batch.finish()
            for added in result.added:
                note_committed(ctx, added.tenant)
        except BatchCommitFailed as exc:
            result.batch_error = str(exc)
            for added in list(result.added):
                result.added.remove(added)
                try:
                    remove_again(ctx, added)
                except TenctlError as failure:
                    result.failed.append(
                        (
                            added.tenant.name,
                            f"the batch's SDN apply failed, and removing it again failed too: {failure}",
                        )
                    )
                    continue
                result.failed.append((added.tenant.name, "removed again: the batch's SDN apply failed"))
        if interrupted is not None:
            done = ", ".join(r.tenant.name for r in result.added) or "none"
            ctx.warn(f"interrupted: tenants added before the interrupt: {done}; the others were not added")
            raise interrupted
    return result


def remove_again(ctx: Context, added: AddResult) -> None:
    """Remove a tenant of a batch whose commit failed: everything with its marker, then its record."""
    from tenctl_core.operations import plan_teardown, run_forward, tenant_locked

    ctx.forget("/")
    with tenant_locked(ctx, added.tenant.name, "add"):
        tenant = ctx.store.load(added.tenant.name)
        run_forward(ctx, tenant, plan_teardown(ctx, tenant, command="add"), "remove")
