"""Many `tenctl add` at once, from several simulated nodes sharing one /etc/pve: no VLAN or subnet is given
twice, every tenant is complete, nothing is orphaned and no lock is left behind."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import (
    assert_cluster_matches_records,
    audit_events,
    health_of,
    load_records,
    lock_entries,
    ok,
    tenants_dir,
)

WAIT = 240.0


def start_add(env: dict, name: str, node: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tenctl_core", "add", "-n", name],
        env=dict(env, TENCTL_NODE=node),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: dict[str, subprocess.Popen]) -> dict[str, tuple[int, str, str]]:
    """Wait for every process (bounded); name -> (exit code, stdout, stderr)."""
    results = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=WAIT)
            results[name] = (proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def check_outcomes(results: dict[str, tuple[int, str, str]]) -> list[str]:
    """Each process exited 0, or 1 with an error line and no traceback; returns the names that succeeded."""
    succeeded = []
    for name, (code, stdout, stderr) in results.items():
        assert "Traceback" not in stderr, (name, stderr)
        assert code in (0, 1), (name, code, stdout, stderr)
        if code == 0:
            assert f"Tenant {name} created" in stdout, (name, stdout)
            succeeded.append(name)
        else:
            assert re.search(r"^error: \S", stderr, re.M), (name, stderr)
            assert "COULD NOT BE UNDONE" not in stderr, (name, stderr)
    return sorted(succeeded)


def announced_vlan(stdout: str) -> int:
    match = re.search(r"VLAN (\d+) \(vnet vn\d+", stdout)
    assert match, stdout
    return int(match.group(1))


def test_sixteen_concurrent_adds_on_two_nodes(cluster):
    lab = cluster
    names = [f"t{i:02d}" for i in range(16)]
    procs = {name: start_add(lab.env, name, ("pve1", "pve2")[i % 2]) for i, name in enumerate(names)}
    results = finish(procs)
    succeeded = check_outcomes(results)
    failed = sorted(set(names) - set(succeeded))
    assert len(succeeded) >= 12, {n: results[n][2] for n in failed}

    records = load_records(tenants_dir(lab))
    # Exactly the successful adds have a record, and each holds the VLAN it announced.
    assert sorted(records) == succeeded, {n: results[n][2] for n in failed}
    for name in succeeded:
        assert records[name].vlan == announced_vlan(results[name][1]), name
    # Every tenant complete, nothing orphaned, VLANs/subnets distinct in records and on the cluster.
    assert_cluster_matches_records(lab, records)
    assert lock_entries(lab) == []
    # The audit trail has one line per add, with the outcome each process reported.
    audit = [e for e in audit_events(lab) if e["command"] == "add"]
    assert sorted(e["tenant"] for e in audit) == names
    assert sorted(e["tenant"] for e in audit if e["outcome"] == "success") == succeeded
    health = health_of(lab)
    assert health["summary"]["failed"] == 0, health


def second_config(lab, share_cluster_dir: bool) -> tuple[Path, Path]:
    """A copy of the lab's configuration with its own tenants directory (and maybe its own cluster dir)."""
    document = tomllib.loads(lab.config.read_text())
    other_tenants = lab.dir / "tenants-b"
    document["paths"]["tenants_dir"] = str(other_tenants)
    if not share_cluster_dir:
        document["paths"]["cluster_dir"] = str(lab.dir / "etc-pve-b")
    path = lab.dir / "tenctl-b.toml"
    path.write_text(tomli_w.dumps(document))
    return path, other_tenants


@pytest.mark.parametrize("share_cluster_dir", [True, False], ids=["shared-lock-dir", "separate-lock-dir"])
def test_two_installations_with_different_tenants_dirs_never_collide(cluster, share_cluster_dir):
    """The only thing the two configurations share is the cluster's VNet listing (tags, subnet in alias)."""
    lab = cluster
    config_b, tenants_b = second_config(lab, share_cluster_dir)
    env_b = dict(lab.env, TENCTL_CONFIG=str(config_b))
    ok(lab.run("config", "check", env={"TENCTL_CONFIG": str(config_b)}))
    ok(lab.run("init", env={"TENCTL_CONFIG": str(config_b)}))  # its own installation id
    procs = {}
    for i in range(6):
        procs[f"a{i}"] = start_add(lab.env, f"a{i}", "pve1")
        procs[f"b{i}"] = start_add(env_b, f"b{i}", "pve2")
    results = finish(procs)
    succeeded = check_outcomes(results)
    assert len(succeeded) >= 10, {n: r[2] for n, r in results.items() if r[0]}

    records_a = load_records(tenants_dir(lab))
    records_b = load_records(tenants_b)
    assert not set(records_a) & set(records_b)
    assert sorted(records_a) == [n for n in succeeded if n.startswith("a")]
    assert sorted(records_b) == [n for n in succeeded if n.startswith("b")]
    # Across both installations: distinct VLANs and subnets, every tenant complete, no orphan.
    assert_cluster_matches_records(lab, {**records_a, **records_b})
    assert lock_entries(lab) == []
    if not share_cluster_dir:
        assert not any((lab.dir / "etc-pve-b" / "priv" / "lock").glob("*"))
    # A third add from each side still avoids what the other side holds.
    ok(lab.run("add", "-n", "a9"))
    ok(lab.run("add", "-n", "b9", env={"TENCTL_CONFIG": str(config_b)}))
    assert_cluster_matches_records(lab, {**load_records(tenants_dir(lab)), **load_records(tenants_b)})
