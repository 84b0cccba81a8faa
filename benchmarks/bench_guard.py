"""How long the guard's hookscript takes to answer, as Proxmox runs it, with the API fast, held or gone.

Run on demand (never from pytest)::

    python benchmarks/bench_guard.py [--sizes 0,1000] [--guests 5] [--repeat 7]

For each size N it serves a fresh lab Proxmox in this process (the ``start_lab`` behind the ``lab``
fixture), seeds N tenants with ``--guests`` guests each (so ``/cluster/resources`` lists N x guests
guests), adds tenant ``bench`` with a running guest and a stopped one, installs the guard with ``tenctl
guard install`` and runs the hookscript file itself, ``tenctl-guard <vmid> <phase>``, as Proxmox does
(median of ``--repeat`` runs) in these cases:

* ``post-start``: a phase the guard does not judge (no request);
* ``pre-start``: the API answers (two requests: the resources and the guest's configuration);
* ``pre-start, API held``: the lab holds ``/cluster/resources`` for 5 s; the guard gives up after
  ``monitoring.guard_timeout`` (0.5 s) and answers from the watcher's cache;
* ``pre-start, API held, no cache``: the same without a cache: ``monitoring.guard_unknown`` decides;
* ``pre-start, API refuses``: the connection is dropped at once; the cache answers.

The guard must answer within a second whatever the API does: the held cases show the margin.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOLD = 5.0


def seed_guests(lab, tenants: list[str], per_tenant: int, first_vmid: int = 10000) -> None:
    vmid = first_vmid
    for name in tenants:
        for index in range(per_tenant):
            lab.pve.add_vm(
                vmid,
                f"{name}-{index}",
                node=("pve1", "pve2", "pve3")[vmid % 3],
                status="running" if index % 2 else "stopped",
                config={"cores": 1, "memory": 512, "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=1G"},
                pool=f"tenant_{name}",
            )
            vmid += 1


def run_hook(script: Path, vmid: int, phase: str, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(script), str(vmid), phase], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    return time.perf_counter() - start, done.returncode


def measure_size(
    count: int, per_tenant: int, workdir: Path, pki: tuple[str, str], repeat: int
) -> list[tuple]:
    from tenctl_lab.pytest_plugin import start_lab
    from tenctl_lab.seed import seed_tenants

    from tenctl_core.limits import write_cache

    lab = start_lab(workdir / f"lab-{count}", pki)
    lab.pve.node_cores = max(lab.pve.node_cores, 2 * count + 64)
    lab.pve.node_memory = max(lab.pve.node_memory, 2 * count * 1024**3)
    rows = []
    try:
        seed_guests(lab, seed_tenants(lab, count, first_vlan=500), per_tenant)
        tenctl = [sys.executable, "-m", "tenctl_core"]
        env = {k: v for k, v in lab.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for args in (["init"], ["add", "-n", "bench", "-c", "8"], ["guard", "install"]):
            done = subprocess.run(
                tenctl + args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
            )
            if done.returncode != 0:
                raise SystemExit(f"tenctl {' '.join(args)} failed:\n{done.stderr}")
        config = {"cores": 2, "memory": 1024, "scsi0": "local-lvm:vm-1-disk-0,size=4G"}
        lab.pve.add_vm(900, "bench-run", status="running", config=config, pool="tenant_bench")
        lab.pve.add_vm(901, "bench-new", status="stopped", config=config, pool="tenant_bench")
        script = lab.dir / "storage" / "snippets" / "snippets" / "tenctl-guard"
        cache = lab.dir / "node-state" / "resources-cache.json"
        # Proxmox gives the hookscript its own environment: no TENCTL_* variable.
        proxmox_env = {k: v for k, v in env.items() if not k.startswith("TENCTL_")}

        def resources() -> list:
            import requests

            session = requests.Session()
            session.trust_env = False
            session.verify = str(lab.ca_file)
            session.headers["Authorization"] = f"PVEAPIToken={lab.token_id}={lab.token_secret}"
            return session.get(f"{lab.pve.url}/api2/json/cluster/resources").json()["data"]

        listed = resources()
        cases = [
            ("post-start", "post-start", None, True),
            ("pre-start", "pre-start", None, True),
            ("pre-start, API held", "pre-start", "hold", True),
            ("pre-start, API held, no cache", "pre-start", "hold", False),
            ("pre-start, API refuses", "pre-start", "drop", True),
        ]
        run_hook(script, 901, "pre-start", proxmox_env)  # warm the bytecode and file caches
        for label, phase, fault, with_cache in cases:
            walls, codes, requests = [], set(), set()
            for _ in range(repeat):
                if with_cache:
                    write_cache(cache, listed)
                else:
                    cache.unlink(missing_ok=True)
                if fault == "hold":
                    lab.pve.fault_on("GET", "/cluster/resources", "hold", seconds=HOLD)
                elif fault == "drop":
                    lab.pve.fault_on("GET", "/cluster/resources", "drop")
                mark = lab.mark()
                wall, code = run_hook(script, 901, phase, proxmox_env)
                requests.add(lab.requests_since(mark))
                lab.pve.clear_faults()
                walls.append(wall)
                codes.add(code)
            while lab.pve.holding:  # let held requests end before the next case
                time.sleep(0.05)
            rows.append(
                (
                    count * per_tenant + 3,
                    label,
                    "/".join(map(str, sorted(requests))),
                    statistics.median(walls),
                    max(walls),
                    "/".join(map(str, sorted(codes))),
                )
            )
        print(f"  N={count}: measured", file=sys.stderr)
    finally:
        lab.serving.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1000", help="tenant counts to seed (default 0,1000)")
    parser.add_argument("--guests", type=int, default=5, help="guests per seeded tenant (default 5)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per case (median)")
    options = parser.parse_args()
    from fakepve.certs import make_cert

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="tenctl-bench-guard-") as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        certfile, keyfile, _ = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))
        rows = []
        for count in [int(s) for s in options.sizes.split(",")]:
            rows += measure_size(count, options.guests, workdir, (certfile, keyfile), options.repeat)
    print()
    print(f"{'guests':>7}  {'case':<31} {'requests':>8}  {'median':>7}  {'max':>7}  exit")
    for guests, label, requests, median, worst, codes in rows:
        print(
            f"{guests:>7}  {label:<31} {requests:>8}  {median * 1000:>4.0f} ms  {worst * 1000:>4.0f} ms  {codes}"
        )


if __name__ == "__main__":
    main()
