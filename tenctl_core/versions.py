"""Which tenctl each node runs: every command notes its node's versions in the cluster file system, and
``tenctl health`` compares the nodes.

Each node has one small JSON file, ``<cluster_dir>/tenctl/versions/<node>.json`` (on a node
``/etc/pve/tenctl/versions/``, which pmxcfs shows to every node): the versions of tenctl and of every
plugin distribution loaded, and since when. A command reads its node's file and writes it only when a
version changed, so the cluster file system sees one write per upgrade, not one per command. Nodes that
never ran tenctl have no file; a node that left the cluster keeps its file until it is deleted.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenctl_core.model import now_text
from tenctl_core.providers import AuditCheck, CheckResult, Remedy

if TYPE_CHECKING:
    from tenctl_core.config import Config
    from tenctl_core.context import Context
    from tenctl_core.plugins import PluginSet

VERSIONS_DIR = ("tenctl", "versions")
FILE_MODE = 0o644


def versions_dir(cluster_dir: str) -> Path:
    return Path(cluster_dir, *VERSIONS_DIR)


def running_versions(plugins: PluginSet) -> dict[str, Any]:
    """What this process runs: tenctl's version and each loaded plugin distribution's."""
    core = next((p.version for p in plugins.loaded if p.builtin), "?")
    dists = {p.distribution: p.version for p in plugins.loaded if not p.builtin}
    return {"tenctl": core, "plugins": dict(sorted(dists.items())), "python": platform.python_version()}


def note_node_versions(config: Config, plugins: PluginSet, node: str) -> None:
    """Write this node's versions file when what it says is not what runs (best effort: a node whose
    cluster directory does not exist or cannot be written is simply not noted)."""
    cluster = Path(config.paths.cluster_dir)
    if not cluster.is_dir():
        return
    path = versions_dir(str(cluster)) / f"{node}.json"
    now = running_versions(plugins)
    try:
        noted = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        noted = None
    if isinstance(noted, dict) and {k: noted.get(k) for k in now} == now:
        return
    record = {"node": node, **now, "since": now_text()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(record, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:
        return  # a read-only cluster file system (no quorum) must not stop the command


def node_versions(cluster_dir: str) -> dict[str, dict[str, Any]]:
    """node -> what its file says, for every node that has one (unreadable files are left out)."""
    directory = versions_dir(cluster_dir)
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found[path.stem] = data
    return found


def describe_versions(data: dict[str, Any]) -> str:
    plugins = data.get("plugins") or {}
    listed = ", ".join(f"{name} {version}" for name, version in sorted(plugins.items()))
    return (
        f"tenctl {data.get('tenctl', '?')}"
        + (f" with {listed}" if listed else "")
        + (f" (since {data['since']})" if data.get("since") else "")
    )


class VersionsCheck(AuditCheck):
    name = "tenctl-versions"
    description = "every node that runs tenctl runs the same version of it and of its plugins"

    def run(self, ctx: Context) -> list[CheckResult]:
        nodes = node_versions(ctx.config.paths.cluster_dir)
        if not nodes:
            return [CheckResult(self.name, "pass", "no node has noted its tenctl version yet")]
        kinds = {
            json.dumps({"tenctl": d.get("tenctl"), "plugins": d.get("plugins") or {}}, sort_keys=True)
            for d in nodes.values()
        }
        listing = [f"{node}: {describe_versions(data)}" for node, data in sorted(nodes.items())]
        if len(kinds) == 1:
            return [
                CheckResult(
                    self.name,
                    "pass",
                    f"{len(nodes)} node(s) run {describe_versions({**next(iter(nodes.values())), 'since': ''})}",
                    listing,
                )
            ]
        mine = nodes.get(ctx.node) or {"tenctl": "?", "plugins": {}}
        differ = [
            node
            for node, data in sorted(nodes.items())
            if (data.get("tenctl"), data.get("plugins") or {})
            != (mine.get("tenctl"), mine.get("plugins") or {})
        ]
        directory = versions_dir(ctx.config.paths.cluster_dir)
        return [
            CheckResult(
                self.name,
                "warn",
                f"the nodes run different versions of tenctl or its plugins ({', '.join(differ)} differ from {ctx.node})",
                [
                    *listing,
                    "upgrade every node from the same release (see Maintenance in the operations guide); a "
                    f"node that left the cluster: delete its file in {directory}",
                ],
                [Remedy(f"upgrade tenctl on {', '.join(differ)} to what {ctx.node} runs")],
            )
        ]
