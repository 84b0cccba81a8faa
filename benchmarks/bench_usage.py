"""``tenctl usage`` (and ``list``) with many tenants and guests: API requests and wall time.

Run on demand (never from pytest)::

    python benchmarks/bench_usage.py [--tenants 1000] [--guests 5000] [--repeat 3]

It serves a lab Proxmox in this process (the ``lab`` fixture's ``start_lab``), seeds the tenants straight
into it (``tenctl_lab.seed``), spreads the guests over their pools (every third one running, each with a
disk), then runs ``tenctl usage --json``, ``tenctl usage`` and ``tenctl list --json`` in subprocesses and
prints, for each, the API requests the lab served (from its request log) and the median wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_commands import VLAN_RANGE, tenctl_env, timed, widen_allocation


def populate(lab, tenants: list[str], guests: int) -> None:
    pve = lab.pve
    for index in range(guests):
        vmid = 10000 + index
        pool = f"tenant_{tenants[index % len(tenants)]}"
        config = {"cores": 1 + index % 4, "memory": 512 * (1 + index % 4), "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=8G"}
        pve.add_vm(vmid, f"g{vmid}", node=f"pve{1 + index % 3}", status="running" if index % 3 == 0 else "stopped", config=config)
        pve._pool_join(pool, vmid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--guests", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if not 1 <= options.tenants <= VLAN_RANGE[1] - VLAN_RANGE[0]:
        raise SystemExit(f"--tenants: 1 to {VLAN_RANGE[1] - VLAN_RANGE[0]}")

    from fakepve.certs import make_cert
    from tenctl_lab.pytest_plugin import start_lab
    from tenctl_lab.seed import seed_tenants

    with tempfile.TemporaryDirectory(prefix="tenctl-bench-usage-") as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        pki = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))[:2]
        lab = start_lab(workdir / "lab", pki)
        try:
            widen_allocation(lab.config)
            started = time.perf_counter()
            names = seed_tenants(lab, options.tenants, first_vlan=VLAN_RANGE[0])
            populate(lab, names, options.guests)
            print(f"seeded {options.tenants} tenants and {options.guests} guests in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
            env = tenctl_env(lab.env)
            tenctl = [sys.executable, "-m", "tenctl_core"]
            print(f"{'command':<14} {'API requests':>12}  {'median wall':>11}  runs")
            for args in (["usage", "--json"], ["usage"], ["list", "--json"]):
                walls, requests = [], set()
                for _ in range(options.repeat):
                    mark = lab.mark()
                    wall, done = timed(tenctl + args, env)
                    if done.returncode != 0:
                        raise SystemExit(f"tenctl {' '.join(args)} failed:\n{done.stderr}")
                    walls.append(wall)
                    requests.add(lab.requests_since(mark))
                counts = "/".join(str(r) for r in sorted(requests))
                print(f"{' '.join(args):<14} {counts:>12}  {statistics.median(walls) * 1000:>8.0f} ms  {options.repeat:>4}")
        finally:
            lab.serving.stop()


if __name__ == "__main__":
    main()
