"""``tenctl init``: prepare the cluster for tenants. Running it again changes nothing."""

from __future__ import annotations

import functools
from pathlib import Path

from tenctl_core.context import Context
from tenctl_core.operations import providers
from tenctl_core.ownership import ensure_installation, read_installation
from tenctl_core.plan import Plan, Step, apply_plan


def plan_init(ctx: Context) -> Plan:
    """Directories, the installation id, then each provider's preparation of the cluster (the SDN zone...)."""
    plan = Plan("init", None)
    for label, directory in (("tenants", ctx.config.paths.tenants_dir), ("log", ctx.config.paths.log_dir)):
        path = Path(directory)
        if path.is_dir():
            plan.notes.append(f"{label} directory {path} exists")
        else:
            plan.add(
                Step(
                    "host",
                    f"create {label} directory {path}",
                    functools.partial(path.mkdir, parents=True, exist_ok=True, mode=0o750),
                )
            )
    if read_installation(ctx.config.paths.tenants_dir) is None:
        tenants_dir = ctx.config.paths.tenants_dir
        plan.add(
            Step(
                "host",
                f"make this installation's id in {tenants_dir} (it goes in the marker of every object tenctl creates)",
                functools.partial(ensure_installation, tenants_dir),
                id="core:create:installation:id",
                op="create",
            )
        )
    for provider in providers(ctx):
        plan.add(*provider.init_steps(ctx))
    firewall = ctx.proxmox.get("/cluster/firewall/options")
    if firewall and int(firewall.get("enable", 0) or 0):
        plan.notes.append(
            "warning: the datacenter firewall is enabled; allow the tenants' traffic in its rules"
        )
    if not plan.steps:
        plan.notes.append("nothing to do: the cluster is ready for tenants")
    return plan


def apply_init(ctx: Context, plan: Plan) -> None:
    apply_plan(plan)
