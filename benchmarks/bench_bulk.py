"""What ``tenctl add --from-file`` saves over one ``tenctl add`` per tenant.

Run on demand (never from pytest)::

    python benchmarks/bench_bulk.py [--sizes 10,50]

For each size B it serves two fresh lab clusters in this process (``start_lab``, as the ``lab`` fixture),
runs ``tenctl init`` on each, then adds B tenants: on the first with B ``tenctl add`` commands, on the
second with one ``tenctl add --from-file`` of a CSV file. For each way it reports the API requests the lab
served, how many of them were SDN applies (``PUT /cluster/sdn``, which reloads the network of every node),
and the wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_commands import tenctl_env, widen_allocation  # noqa: E402

TENCTL = [sys.executable, "-m", "tenctl_core"]


def run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(TENCTL + args, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"tenctl {' '.join(args)} failed:\n{done.stderr}")


def sdn_applies(records: list[dict]) -> int:
    return sum(1 for r in records if r["method"] == "PUT" and r["path"].rstrip("/").endswith("/cluster/sdn"))


def measure(count: int, bulk: bool, workdir: Path, pki: tuple[str, str]) -> tuple[int, int, float]:
    from tenctl_lab.pytest_plugin import start_lab

    lab = start_lab(workdir / f"lab-{count}-{'bulk' if bulk else 'each'}", pki)
    lab.pve.node_cores = max(lab.pve.node_cores, 2 * count)
    lab.pve.node_memory = max(lab.pve.node_memory, 2 * count * 1024**3)
    try:
        widen_allocation(lab.config)
        env = tenctl_env(lab.env)
        run(["init"], env)
        names = [f"bulk{i:04d}" for i in range(count)]
        mark = lab.mark()
        started = time.perf_counter()
        if bulk:
            table = workdir / f"tenants-{count}.csv"
            table.write_text("name,cpu,ram,storage\n" + "".join(f"{n},1,1024,10\n" for n in names))
            run(["add", "--from-file", str(table), "--password-out", str(workdir / f"pw-{count}")], env)
        else:
            for name in names:
                run(["add", "-n", name, "-c", "1", "-r", "1024", "-s", "10", "--json"], env)
        wall = time.perf_counter() - started
        records = lab.requests_log_since(mark)
        return len(records), sdn_applies(records), wall
    finally:
        lab.serving.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50", help="tenants per batch (default 10,50)")
    options = parser.parse_args()
    from fakepve.certs import make_cert

    rows = []
    with tempfile.TemporaryDirectory(prefix="tenctl-bench-bulk-") as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        certfile, keyfile, _ = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))
        for count in (int(s) for s in options.sizes.split(",")):
            for bulk in (False, True):
                rows.append((count, "add --from-file" if bulk else "add, one each", *measure(
                    count, bulk, workdir, (certfile, keyfile))))
    print()
    print(f"{'tenants':>8}  {'how':<16} {'API requests':>12} {'SDN applies':>12}  {'wall time':>10}")
    for count, how, requests, applies, wall in rows:
        print(f"{count:>8}  {how:<16} {requests:>12} {applies:>12}  {wall:>8.1f} s")


if __name__ == "__main__":
    main()
