"""What commands print: rich tables for people, JSON for scripts, from the same data."""

from __future__ import annotations

import json
import sys
from typing import Any

from tenctl_core.guests import Guest
from tenctl_core.model import Tenant


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def console() -> Any:
    import shutil

    from rich.console import Console

    # Piped output is not cut to 80 columns: a table row stays on one line for grep and less.
    width = None if sys.stdout.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)
    return Console(highlight=False, soft_wrap=False, width=width)


def tenant_row(tenant: Tenant, guests: list[Guest], layers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tenant as ``tenctl list --json`` shows it: the Bash tool's keys, then tenctl's own, then what
    the providers add (``layers``, from each provider's ``summary``)."""
    return {
        "tenant_name": tenant.name,
        "pool_id": tenant.pool,
        "group_name": tenant.group,
        "vlan_id": tenant.vlan,
        "subnet": tenant.subnet,
        "cpu_limit": tenant.cpu_limit,
        "ram_limit": tenant.ram_limit,
        "storage_limit": tenant.storage_limit,
        "vm_count": len(guests),
        "created_date": tenant.created_date,
        "vms": [g.as_dict() for g in guests],
        "status": tenant.status,
        "admin_user": tenant.admin_user,
        "email": tenant.email,
        "gateway": tenant.gateway,
        **(layers or {}),
        "suspend_reason": tenant.suspend_reason,
        "suspend_date": tenant.suspend_date,
        "resume_date": tenant.resume_date,
    }


def print_tenant_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=None, show_lines=False)
    for column in (
        "Tenant",
        "Pool ID",
        "Subnet",
        "VLAN",
        "CPU Limit",
        "RAM(MB)",
        "Storage(GB)",
        "VM Count",
        "Status",
        "Limits",
    ):
        table.add_column(
            column,
            justify="right"
            if column in ("VLAN", "CPU Limit", "RAM(MB)", "Storage(GB)", "VM Count")
            else "left",
        )
    for row in rows:
        table.add_row(
            row["tenant_name"],
            row["pool_id"],
            row["subnet"],
            str(row["vlan_id"]),
            str(row["cpu_limit"]),
            str(row["ram_limit"]),
            str(row["storage_limit"]),
            str(row["vm_count"]),
            row["status"].upper(),
            limits_cell(row),
        )
    out = console()
    if rows:
        out.print(table)
    else:
        out.print("No tenants.")


def limits_cell(row: dict[str, Any]) -> str:
    """``OK``, ``WARNING``... or ``OVER: cpu, storage`` (what ``list`` shows of a tenant's limits)."""
    status = str(row.get("limits_status", ""))
    over = [text.split(" ", 1)[0] for text in row.get("over_limits", [])]
    return f"{status}: {', '.join(over)}" if over else status


def print_tenant_detail(row: dict[str, Any], labels: dict[str, str] | None = None) -> None:
    """One tenant for people; ``labels`` name the keys the providers added, in order (``Provider.summary``
    and ``Provider.summary_labels``)."""
    from rich.table import Table

    out = console()
    out.print(f"[bold]Tenant {row['tenant_name']}[/bold]  ({row['status'].upper()})")
    fields = [
        ("Pool", row["pool_id"]),
        ("Group", row["group_name"]),
        ("Admin user", row["admin_user"]),
        ("Email", row["email"] or "-"),
        ("VLAN", str(row["vlan_id"])),
        *((label, str(row[key])) for key, label in (labels or {}).items() if row.get(key) not in (None, "")),
        ("Subnet", row["subnet"]),
        ("Gateway", row["gateway"]),
        ("CPU limit", f"{row['cpu_limit']} cores"),
        ("RAM limit", f"{row['ram_limit']} MB"),
        ("Storage limit", f"{row['storage_limit']} GB"),
        ("Limits", row.get("limits_status", "")),
        *(("Over limit", text) for text in row.get("over_limits", [])),
        ("Created", row["created_date"]),
    ]
    if row["suspend_date"]:
        fields.append(("Suspended", f"{row['suspend_date']} ({row['suspend_reason']})"))
    if row["resume_date"]:
        fields.append(("Resumed", row["resume_date"]))
    for label, value in fields:
        out.print(f"  {label + ':':15} {value}", markup=False)
    if row["vms"]:
        table = Table()
        for column in ("VMID", "Name", "Type", "Status", "Node"):
            table.add_column(column)
        for vm in row["vms"]:
            table.add_row(str(vm["vmid"]), vm["name"], vm["type"], vm["status"], vm["node"])
        out.print(table)
    else:
        out.print("  No guests.")
