"""One tenant's VLAN pushed to 1, 4 and 16 lab EOS switches, each answering every eAPI request 100 ms late.

    python benchmarks/bench_switches.py              # 3 runs of each size; about a minute
    python benchmarks/bench_switches.py --repeat 5 --latency 0.2

Each run does what the provider's step does on every switch at once (``on_each``, concurrency 16): open
the connection, stage the tenant's text (napalm's ``load_merge_candidate`` and ``compare_config``), commit
with the commit timer, read the switch back (VLANs and running configuration, as verification does) and
confirm. The change is then taken back in the switch models so that the next run starts from the same
configuration. The figures are printed (median seconds per size, and 16 against 1); nothing is asserted.
The goal: 16 switches in at most twice the time of one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

SIZES = (1, 4, 16)
MARKER = "tenctl:0123456789ab:bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every eAPI answer")
    args = parser.parse_args()

    from fakepve.certs import make_cert
    from tenctl_lab.switch import EosSwitch
    from tenctl_switch_napalm.device import Switch, on_each
    from tenctl_switch_napalm.provider import read_switch
    from tenctl_switch_napalm.settings import SiteSpec, SwitchSpec
    from tenctl_switch_napalm.templates import VlanIntent, template_for

    workdir = Path(tempfile.mkdtemp(prefix="tenctl-bench-switches-"))
    certfile, keyfile, _ = make_cert(str(workdir), hosts=("127.0.0.1",))
    password_file = workdir / "password"
    password_file.write_text("bench-password")
    password_file.chmod(0o600)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    models = [EosSwitch(f"sw{i:02d}", "admin", "bench-password", site="bench") for i in range(max(SIZES))]
    for model in models:
        on_loop(model.start("127.0.0.1", certfile=certfile, keyfile=keyfile))
        model.slow(args.latency)

    intent = VlanIntent(vlan=100, name="bench", marker=MARKER, trunk_ports=("Ethernet1", "Ethernet2"))
    text = template_for("eos").add(intent)

    def push(switch: Switch) -> None:
        switch.stage(text)
        switch.commit(revert_in=120)
        read_switch(switch)
        switch.confirm()
        switch.close()

    def run(size: int) -> float:
        chosen = models[:size]
        switches = [
            Switch(
                SiteSpec("bench"),
                SwitchSpec(
                    m.name,
                    "127.0.0.1",
                    "admin",
                    ("Ethernet1", "Ethernet2"),
                    port=m.info()["port"],
                    password_file=str(password_file),
                    ca_file=certfile,
                ),
                timeout=30,
            )
            for m in chosen
        ]
        start = time.perf_counter()
        results = on_each(switches, push, concurrency=16)
        took = time.perf_counter() - start
        failed = {n: r for n, r in results.items() if isinstance(r, BaseException)}
        if failed:
            raise SystemExit(f"push failed: {failed}")
        for model in chosen:
            assert model.vlans()[100]["name"] == "bench"
            model.slow(0)
            model.configure(
                "interface Ethernet1", "switchport trunk allowed vlan remove 100",
                "interface Ethernet2", "switchport trunk allowed vlan remove 100", "no vlan 100",
            )
            model.slow(args.latency)
        return took

    figures = {size: statistics.median(run(size) for _ in range(args.repeat)) for size in SIZES}
    print(f"one tenant VLAN, {args.latency * 1000:.0f} ms added per eAPI request, median of {args.repeat} runs:")
    for size, seconds in figures.items():
        print(f"  {size:2d} switch(es)  {seconds:6.2f} s")
    ratio = figures[max(SIZES)] / figures[1]
    print(f"16 switches take {ratio:.2f}x the time of one; the goal is at most 2x")
    for model in models:
        on_loop(model.stop())
    loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    main()
