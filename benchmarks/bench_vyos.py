"""One tenant's edge change against the lab's VyOS router: tenctl's SSH path, netmiko's stock flow, the API.

    python benchmarks/bench_vyos.py              # 3 runs of each; about a minute
    python benchmarks/bench_vyos.py --repeat 5

The change is the seven lines ``tenctl add`` sends for a tenant (vif, NAT rule, group entry). Each run
opens its own session, sends the change, commits, saves and leaves; the change is then taken back
directly in the router model so that the next run starts from the same configuration.

* tenctl SSH: ``SshRouter.change`` (one write for all lines, prompts matched by pattern, commit-confirm,
  read back, confirm, save);
* netmiko stock: ``send_config_set``, ``commit``, ``save_config``, ``exit_config_mode``;
* tenctl API: ``ApiRouter.change`` (one ``/configure`` list, read back, save).

The figures are printed (median seconds, connect included and the change alone); nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

LABEL = "Tenant bench (tenctl:0123456789ab:bench)"


def tenant_lines() -> list[str]:
    from tenctl_vyos.model import TENANTS_GROUP, member_line, nat_lines, vif_lines

    return [
        *vif_lines("eth1", 100, {"address": "10.100.0.1/24", "description": LABEL}),
        *nat_lines(
            1000,
            {"description": LABEL, "outbound": "eth0", "source": "10.100.0.0/24", "translation": "masquerade"},
        ),
        member_line("set", TENANTS_GROUP, "10.100.0.0/24"),
    ]


def take_back(router) -> None:  # type: ignore[no-untyped-def]
    router.configure(
        "delete interfaces ethernet eth1 vif 100",
        "delete nat source rule 1000",
        "delete firewall group network-group TENCTL-TENANTS network '10.100.0.0/24'",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from fakepve.certs import make_cert
    from netmiko import ConnectHandler
    from tenctl_lab.pytest_plugin import start_lab
    from tenctl_vyos.settings import VyosSettings
    from tenctl_vyos.transport import ApiRouter, SshRouter

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "pki").mkdir()
        certfile, keyfile, _ = make_cert(str(workdir / "pki"), hosts=("127.0.0.1",))
        lab = start_lab(workdir / "lab", (certfile, keyfile))
        try:
            router = lab.vyos
            info = lab.vyos_info
            router.configure("set firewall group network-group TENCTL-TENANTS description 'bench'")
            settings = VyosSettings(
                host=info["host"],
                ssh_port=info["ssh_port"],
                api_port=info["api_port"],
                user=info["user"],
                password_file=info["password_file"],
                api_key_file=info["api_key_file"],
                known_hosts_file=info["known_hosts"],
                ca_file=info["ca_file"],
                commit_confirm_minutes=2,
            )
            lines = tenant_lines()
            results: dict[str, list[tuple[float, float]]] = {"tenctl ssh": [], "netmiko stock": [], "tenctl api": []}

            def timed(name: str, connect, change) -> None:  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                session = connect()
                opened = time.perf_counter()
                change(session)
                done = time.perf_counter()
                results[name].append((done - start, done - opened))
                take_back(router)

            for _ in range(args.repeat):
                timed(
                    "tenctl ssh",
                    lambda: _opened(SshRouter(settings)),
                    lambda s: (s.change(lines, lambda paths: None), s.close()),
                )
                timed(
                    "netmiko stock",
                    lambda: ConnectHandler(
                        device_type="vyos",
                        host=info["host"],
                        port=info["ssh_port"],
                        username=info["user"],
                        password=info["password"],
                        ssh_strict=True,
                        system_host_keys=False,
                        alt_host_keys=True,
                        alt_key_file=info["known_hosts"],
                    ),
                    lambda s: (
                        s.send_config_set(lines, exit_config_mode=False),
                        s.commit(),
                        s.save_config(),
                        s.exit_config_mode(),
                        s.disconnect(),
                    ),
                )
                timed(
                    "tenctl api",
                    lambda: ApiRouter(settings.__class__(**{**settings.__dict__, "transport": "api"})),
                    lambda s: (s.change(lines, lambda paths: None), s.close()),
                )
        finally:
            lab.close()
    print(f"one tenant's edge change ({len(lines)} lines), median of {args.repeat} runs:")
    for name, runs in results.items():
        total = statistics.median(r[0] for r in runs)
        change_only = statistics.median(r[1] for r in runs)
        print(f"  {name:14s} {total:6.2f} s with the connect, {change_only:6.2f} s for the change alone")
    ssh = statistics.median(r[1] for r in results["tenctl ssh"])
    stock = statistics.median(r[1] for r in results["netmiko stock"])
    ssh_total = statistics.median(r[0] for r in results["tenctl ssh"])
    stock_total = statistics.median(r[0] for r in results["netmiko stock"])
    print(
        f"tenctl's SSH path takes {ssh_total / stock_total:.3f}x the stock flow's time with the connect "
        f"({ssh / stock:.4f}x for the change alone); the goal is at most 0.25x"
    )


def _opened(router):  # type: ignore[no-untyped-def]
    router._connect()
    return router


if __name__ == "__main__":
    main()
