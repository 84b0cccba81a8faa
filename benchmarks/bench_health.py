"""What ``tenctl health`` costs with many tenants and guests: requests and wall time.

Run on demand (never from pytest)::

    python benchmarks/bench_health.py [--tenants 1000] [--guests 5000] [--repeat 3]

It serves a fresh lab Proxmox in this process (``start_lab``, the code behind the ``lab`` fixture), runs
``tenctl init``, measures ``tenctl health --json`` on the empty cluster, then seeds the tenants straight
into the lab and the tenants directory (``tenctl_lab.seed``: record, pool, group, admin user, ACL entries,
VNet and subnet each) and the guests, spread over the tenants' pools and the three nodes, and measures
``health --json``, ``health -n <one tenant> --json`` and ``health --fix --json`` (nothing to fix) again.
For each it prints the API requests the lab served (from its request log) and the median wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

FIRST_VLAN = 100
SUBNET_POOL = "10.200.0.0/16"  # where tenctl_lab.seed puts its tenants' subnets


def widen_allocation(config: Path, tenants: int) -> None:
    """Room for every seeded tenant in the configured ranges, so that `allocation` and `capacity` pass."""
    with open(config, "rb") as fh:
        document = tomllib.load(fh)
    document["allocation"].update(
        vlan_ranges=[f"{FIRST_VLAN}-{max(999, FIRST_VLAN + 2 * tenants)}"], subnet_pool=SUBNET_POOL
    )
    config.write_text(tomli_w.dumps(document), encoding="utf-8")


def seed_guests(lab, pools: list[str], count: int) -> None:
    """`count` stopped VMs, numbered from 1000, dealt round the pools and the nodes."""
    from fakepve.model import FakeVm

    pve = lab.pve
    nodes = sorted(pve.nodes)
    for index in range(count):
        vmid = 1000 + index
        pool = pools[index % len(pools)]
        vm = FakeVm(vmid, f"guest{vmid}", node=nodes[index % len(nodes)], config={"cores": 1, "memory": 512})
        vm.pool = pool
        pve.vms.append(vm)
        pve.pools[pool].add(vmid)


def measure(lab, label: str, args: list[str], repeat: int, codes: tuple[int, ...] = (0,)) -> tuple:
    walls, counts = [], set()
    for _ in range(repeat):
        mark = lab.mark()
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", *args],
            env=lab.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        walls.append(time.perf_counter() - start)
        if done.returncode not in codes:
            raise SystemExit(
                f"tenctl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        counts.add(lab.requests_since(mark))
        summary = json.loads(done.stdout)["summary"]
    return (label, "/".join(map(str, sorted(counts))), statistics.median(walls), summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--guests", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (median)")
    options = parser.parse_args()

    from fakepve.certs import make_cert
    from tenctl_lab.pytest_plugin import start_lab
    from tenctl_lab.seed import seed_tenants

    rows = []
    with tempfile.TemporaryDirectory(prefix="tenctl-bench-health-") as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        pki = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))[:2]
        lab = start_lab(workdir / "lab", pki)
        try:
            widen_allocation(lab.config, options.tenants)
            subprocess.run(
                [sys.executable, "-m", "tenctl_core", "init"], env=lab.env, check=True, capture_output=True
            )
            rows.append((0, 0, *measure(lab, "health --json", ["health", "--json"], options.repeat)))
            started = time.perf_counter()
            names = seed_tenants(lab, options.tenants, first_vlan=FIRST_VLAN)
            seed_guests(lab, [f"tenant_{n}" for n in names], options.guests)
            seeded = time.perf_counter() - started
            size = (options.tenants, options.guests)
            rows.append((*size, *measure(lab, "health --json", ["health", "--json"], options.repeat)))
            one = names[len(names) // 2]
            rows.append(
                (*size, *measure(lab, f"health -n {one}", ["health", "-n", one, "--json"], options.repeat))
            )
            rows.append((*size, *measure(lab, "health --fix", ["health", "--fix", "--json"], 1)))
        finally:
            lab.close()

    print(f"seeded {options.tenants} tenants and {options.guests} guests in {seeded:.1f} s")
    print()
    print(f"{'tenants':>8} {'guests':>7}  {'command':<22} {'requests':>8}  {'wall time':>10}  result")
    for tenants, guests, label, requests, wall, summary in rows:
        result = f"{summary['passed']} passed, {summary['warnings']} warn, {summary['failed']} failed"
        print(f"{tenants:>8} {guests:>7}  {label:<22} {requests:>8}  {wall * 1000:>7.0f} ms  {result}")


if __name__ == "__main__":
    main()
