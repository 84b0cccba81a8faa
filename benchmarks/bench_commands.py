"""How tenctl's commands scale with the number of tenants, and what start-up costs.

Run on demand (never from pytest)::

    python benchmarks/bench_commands.py [--sizes 0,100,1000] [--repeat 3]

For each size N it serves a fresh lab Proxmox in this process (the same ``start_lab`` the ``lab``
fixture uses), seeds N complete tenants straight into the lab's state and the tenants directory (the
objects ``tenctl add`` would have made: record, pool, group, admin user, VNet and subnet), then runs
``tenctl add``, ``tenctl list --json`` and ``tenctl show -n X`` in subprocesses and reports, for each,
the API requests the lab served (from its request log) and the wall time. It ends with the start-up
time of ``tenctl --help`` against ``python -c "import napalm, netmiko"`` (median of 5 runs each).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

VLAN_RANGE = (100, 3999)
SUBNET_POOL = "10.64.0.0/12"
PREFIX = 24
STARTUP_RUNS = 5


def tenctl_env(env: dict[str, str]) -> dict[str, str]:
    """The lab's environment, with bytecode caching on so start-up is measured as users see it."""
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300
    )
    return time.perf_counter() - start, done


def widen_allocation(config: Path) -> None:
    """Room for 1000+ tenants: the lab's default range 100-999 holds only 900 VLANs."""
    with open(config, "rb") as fh:
        document = tomllib.load(fh)
    document["allocation"].update(
        vlan_ranges=[f"{VLAN_RANGE[0]}-{VLAN_RANGE[1]}"],
        subnet_pool=SUBNET_POOL,
        prefix_length=PREFIX,
    )
    config.write_text(tomli_w.dumps(document), encoding="utf-8")


def measure_size(count: int, workdir: Path, pki: tuple[str, str], repeat: int) -> list[tuple]:
    from tenctl_lab.pytest_plugin import start_lab
    from tenctl_lab.seed import seed_tenants

    lab = start_lab(workdir / f"lab-{count}", pki)
    # Room for every seeded tenant's limits under the capacity check (80 % of the cluster).
    lab.pve.node_cores = max(lab.pve.node_cores, 2 * count)
    lab.pve.node_memory = max(lab.pve.node_memory, 2 * count * 1024**3)
    rows = []
    try:
        widen_allocation(lab.config)
        # The tenants' role and the SDN zone, as on a cluster where tenctl runs (add refuses without them).
        subprocess.run(
            [sys.executable, "-m", "tenctl_core", "init"], env=tenctl_env(lab.env), check=True, capture_output=True
        )
        started = time.perf_counter()
        seed_tenants(lab, count, first_vlan=VLAN_RANGE[0])
        seeded = time.perf_counter() - started
        env = tenctl_env(lab.env)
        tenctl = [sys.executable, "-m", "tenctl_core"]
        commands = [
            ("add", ["add", "-n", "bench", "--json"], 1),
            ("list --json", ["list", "--json"], repeat),
            ("show -n bench", ["show", "-n", "bench"], repeat),
        ]
        for label, args, runs in commands:
            walls, requests = [], set()
            for _ in range(runs):
                mark = lab.mark()
                wall, done = timed(tenctl + args, env)
                if done.returncode != 0:
                    raise SystemExit(f"tenctl {' '.join(args)} failed at N={count}:\n{done.stderr}")
                walls.append(wall)
                requests.add(lab.requests_since(mark))
            counts = "/".join(str(r) for r in sorted(requests))
            rows.append((count, label, counts, statistics.median(walls), runs))
        print(f"  N={count}: seeded in {seeded:.2f} s, measured", file=sys.stderr)
    finally:
        lab.serving.stop()
    return rows


def median_wall(argv: list[str], env: dict[str, str], runs: int = STARTUP_RUNS) -> float:
    walls = []
    for _ in range(runs):
        wall, done = timed(argv, env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
        walls.append(wall)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,100,1000", help="tenant counts to seed (default 0,100,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of list and show per size (median)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    if max(sizes) > VLAN_RANGE[1] - VLAN_RANGE[0]:
        raise SystemExit(f"at most {VLAN_RANGE[1] - VLAN_RANGE[0]} tenants fit the benchmark's VLAN range")

    from fakepve.certs import make_cert

    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tenctl-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        certfile, keyfile, _ = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))
        rows = []
        for count in sizes:
            rows += measure_size(count, workdir, (certfile, keyfile), options.repeat)

    print()
    print(f"{'tenants':>8}  {'command':<15} {'API requests':>12}  {'wall time':>10}  runs")
    for count, label, requests, wall, runs in rows:
        print(f"{count:>8}  {label:<15} {requests:>12}  {wall * 1000:>7.0f} ms  {runs:>4}")

    env = tenctl_env(dict(os.environ))
    help_wall = median_wall([sys.executable, "-m", "tenctl_core", "--help"], env)
    heavy_wall = median_wall([sys.executable, "-c", "import napalm, netmiko"], env)
    bare_wall = median_wall([sys.executable, "-c", "pass"], env)
    print()
    print(f"start-up (median of {STARTUP_RUNS})")
    print(f"  python -c pass                      {bare_wall * 1000:>6.0f} ms")
    print(f"  tenctl --help                       {help_wall * 1000:>6.0f} ms")
    print(f'  python -c "import napalm, netmiko"  {heavy_wall * 1000:>6.0f} ms')
    print()
    print(f"total benchmark time: {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    main()
