"""Serve the lab's Proxmox: ``python -m tenctl_lab.server --dir DIR [--port N]``.

Also serves the lab's VyOS router (SSH and HTTPS API) and its four EOS switches (eAPI over HTTPS), on ports
the system picks.
Listens with TLS on 127.0.0.1, as root@pam (password in DIR/secrets/root-password) with the API token
root@pam!tenctl (secret in DIR/secrets/pve-token), on nodes pve1..pve3. It restores DIR/state.json if
present, saves it after every change and on SIGTERM/SIGINT, logs each request to
DIR/logs/pve-requests.jsonl, and writes DIR/lab.json once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from .lab import (
    HOST,
    NODES,
    SWITCH_SITES,
    SWITCH_TRUNK_PORTS,
    SWITCH_USER,
    SWITCH_VLANS,
    TOKEN_NAME,
    TOKEN_USER,
    VYOS_USER,
    LabPaths,
    read_or_make_secret,
)
from .pve import LabPve

# Guests every new lab starts with, in no pool, so tenctl sees a cluster that is already in use.
SEED_GUESTS = (
    (
        100,
        "infra-dns",
        "pve1",
        "running",
        {
            "cores": 1,
            "memory": 1024,
            "scsi0": "local-lvm:vm-100-disk-0,size=8G",
            "net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0",
        },
    ),
    (
        101,
        "infra-backup",
        "pve2",
        "stopped",
        {
            "cores": 2,
            "memory": 2048,
            "scsi0": "local-lvm:vm-101-disk-0,size=32G",
            "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
        },
    ),
)


def build(paths: LabPaths, host: str = HOST, port: int = 0) -> LabPve:
    """A LabPve set up as the lab runs it: secrets, nodes, seed guests, and the saved state if any."""
    paths.make()
    password = read_or_make_secret(paths.root_password)
    token_secret = read_or_make_secret(paths.token_secret, 24)
    pve = LabPve(user=TOKEN_USER, password=password, host=host, port=port, request_log=paths.request_log)
    pve.sdn_lock_file = paths.cluster_dir / "sdn" / ".lock"
    pve.use_storage_dir(paths.storage_dir)
    pve.time_scale = 0
    for node in NODES:
        pve.add_node(node)
    for vmid, name, node, state, config in SEED_GUESTS:
        pve.add_vm(vmid, name, node=node, status=state, config=config)
    if paths.state.exists():
        pve.load(paths.state)
    pve.add_token(
        f"{TOKEN_USER}!{TOKEN_NAME}",
        token_secret,
        privsep=False,
        comment="tenctl lab: the token tenctl.toml uses",
    )
    pve.state_file = paths.state
    return pve


def ensure_certificate(paths: LabPaths) -> tuple[Path, Path]:
    """The lab's certificate and key, made once and then kept (clients keep trusting the same CA file)."""
    if not (paths.ca_file.exists() and paths.key_file.exists()):
        from fakepve.certs import make_cert

        make_cert(str(paths.pki), hosts=(HOST,))
    return paths.ca_file, paths.key_file


def build_router(paths: LabPaths, password: str | None = None, api_key: str | None = None):
    """The lab's VyOS router: credentials in secrets/, host key, known_hosts and saved config in vyos/.

    It boots from its saved configuration (the factory one the first time), as a real router does.
    """
    from .lab import write_secret
    from .vyos import VyosRouter

    paths.make()
    if password is None:
        password = read_or_make_secret(paths.vyos_password)
    else:
        write_secret(paths.vyos_password, password)
    if api_key is None:
        api_key = read_or_make_secret(paths.vyos_api_key, 24)
    else:
        write_secret(paths.vyos_api_key, api_key)
    return VyosRouter(
        user=VYOS_USER, password=password, api_key=api_key, state_dir=paths.vyos_dir, log_path=paths.vyos_log
    )


def build_switches(paths: LabPaths) -> list:
    """The lab's EOS switches (see lab.SWITCH_SITES): a password each in secrets/, flash files (their
    startup-config) in switches/NAME/, a request log each. They boot from their startup-config."""
    from .switch import EosSwitch

    paths.make()
    switches = []
    for site, names in SWITCH_SITES:
        for name in names:
            switches.append(
                EosSwitch(
                    name,
                    SWITCH_USER,
                    read_or_make_secret(paths.switch_password(name)),
                    site=site,
                    trunk_ports=SWITCH_TRUNK_PORTS,
                    vlans=SWITCH_VLANS,
                    state_dir=paths.switch_dir(name),
                    log_path=paths.switch_log(name),
                )
            )
    return switches


async def serve(paths: LabPaths, host: str, port: int) -> None:
    certfile, keyfile = ensure_certificate(paths)
    pve = build(paths, host, port)
    await pve.start(str(certfile), str(keyfile))
    router = build_router(paths)
    await router.start(host, certfile=str(certfile), keyfile=str(keyfile))
    switches = build_switches(paths)
    for switch in switches:
        await switch.start(host, certfile=str(certfile), keyfile=str(keyfile))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    info = {
        "pid": os.getpid(),
        "host": pve.host,
        "port": pve.port,
        "url": pve.url,
        "ca_file": str(certfile),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "vyos": {"host": router.host, "ssh_port": router.ssh_port, "api_port": router.api_port},
        "switches": [
            {"name": switch.name, "site": switch.site, "host": switch.host, "port": switch.port}
            for switch in switches
        ],
    }
    tmp = paths.info.with_name(paths.info.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, paths.info)
    logging.getLogger("tenctl_lab").info("listening on %s", pve.url)
    try:
        await stop.wait()
    finally:
        pve.save()
        for switch in switches:
            await switch.stop()
        await router.stop()
        await pve.stop()
        logging.getLogger("tenctl_lab").info("stopped; state saved to %s", paths.state)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tenctl_lab.server", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="the lab directory")
    parser.add_argument("--host", default=HOST, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", default=0, type=int, help="port; 0 lets the system pick (default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(LabPaths(args.dir), args.host, args.port))


if __name__ == "__main__":
    main()
