"""``tenctl lab``: run a simulated Proxmox cluster on loopback, and walk through a tenant's life on it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    help="Run a simulated Proxmox cluster, VyOS router and EOS switches on loopback for testing tenctl.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Lab directory (default: $TENCTL_LAB_DIR, else ~/.local/state/tenctl/lab)."),
]

# Exit codes of `tenctl lab`.
EXIT_LAB_FAILED = 3  # the lab could not start or stop
EXIT_DEMO_FAILED = 4  # a step of the demo failed


@app.callback()
def lab() -> None:
    """A Proxmox VE simulated on 127.0.0.1 (fakepve), with a tenctl profile that points at it."""


def _fail(message: str, code: int) -> None:
    typer.echo("tenctl lab: " + message, err=True)
    raise typer.Exit(code)


def _print_status(info: dict) -> None:
    pve = info["proxmox"]
    typer.echo("lab directory: {}".format(info["dir"]))
    typer.echo("running:       {}".format("yes (pid {})".format(info["pid"]) if info["running"] else "no"))
    if info["running"]:
        typer.echo("proxmox:       {}  (CA file {})".format(pve["url"], pve["ca_file"]))
        typer.echo("login:         {}, password in {}".format(pve["user"], pve["password_file"]))
        typer.echo("API token:     {}, secret in {}".format(pve["token_id"], pve["token_secret_file"]))
        vyos = info.get("vyos") or {}
        if vyos.get("ssh_port"):
            typer.echo(
                "vyos:          ssh {}@{} -p {} (password in {}, known_hosts {})".format(
                    vyos["user"], vyos["host"], vyos["ssh_port"], vyos["password_file"], vyos["known_hosts"]
                )
            )
            typer.echo(
                "vyos API:      https://{}:{} (key in {})".format(
                    vyos["host"], vyos["api_port"], vyos["api_key_file"]
                )
            )
        for switch in info.get("switches") or []:
            if switch.get("port"):
                typer.echo(
                    "switch {:<7} eAPI https://{}:{}/command-api ({}, trunks {}; user {}, password in {})".format(
                        switch["name"] + ":",
                        switch["host"],
                        switch["port"],
                        switch["site"],
                        ",".join(switch["trunk_ports"]),
                        switch["user"],
                        switch["password_file"],
                    )
                )
    typer.echo("config:        {}".format(info["config"]))
    typer.echo("request log:   {}".format(info["request_log"]))
    if info["running"]:
        typer.echo("use it with:   export TENCTL_CONFIG={}".format(info["config"]))


@app.command()
def up(directory: DirOption = None) -> None:
    """Start the lab (or keep it running) and write its tenctl.toml."""
    from . import lab as labmod

    try:
        info = labmod.up(directory)
    except labmod.LabError as exc:
        _fail(str(exc), EXIT_LAB_FAILED)
    _print_status(info)


@app.command()
def down(directory: DirOption = None) -> None:
    """Stop the lab; its state is saved and comes back with the next `up`."""
    from . import lab as labmod

    stopped = labmod.down(directory)
    typer.echo("lab stopped" if stopped else "lab was not running")


@app.command()
def status(
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show whether the lab runs, where, and how to reach it."""
    from . import lab as labmod

    info = labmod.status(directory)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        _print_status(info)


DEMO_WAN_IP, DEMO_WAN_GW = "203.0.113.2/24", "203.0.113.1"
"""The lab router's WAN side in the demo (TEST-NET-3: documentation addresses)."""


def demo_steps(name: str, password_file: Path) -> list[list[str]]:
    """The tenctl command lines of the demo, in order."""
    return [
        ["init"],
        ["vyos", "configure", "--wan-ip", DEMO_WAN_IP, "--wan-gw", DEMO_WAN_GW, "--force"],
        [
            "add",
            "-n",
            name,
            "-c",
            "4",
            "-r",
            "8192",
            "-s",
            "100",
            "-e",
            "ops@example.com",
            "--password-file",
            str(password_file),
        ],
        ["list"],
        ["show", "-n", name],
        ["vyos", "show", "-n", name],
        ["switch", "status"],
        ["modify", "-n", name, "-c", "6", "--force"],
        ["suspend", "-n", name, "--reason", "demo"],
        ["resume", "-n", name],
        ["remove", "-n", name, "-f", "--backup"],
        ["list"],
    ]


@app.command()
def demo(directory: DirOption = None) -> None:
    """Bring the lab up if needed and walk a tenant through its life with the tenctl command line."""
    from . import lab as labmod

    try:
        info = labmod.up(directory)
    except labmod.LabError as exc:
        _fail(str(exc), EXIT_LAB_FAILED)
    lab_dir = Path(info["dir"])
    name = "demo" + secrets.token_hex(2)
    password_file = lab_dir / "demo-password"
    labmod.write_secret(password_file, secrets.token_urlsafe(15))
    env = dict(os.environ, TENCTL_CONFIG=info["config"])
    typer.echo(
        "# tenctl against the lab at {}; TENCTL_CONFIG={}".format(info["proxmox"]["url"], info["config"])
    )
    for args in demo_steps(name, password_file):
        typer.echo("$ tenctl " + " ".join(args))
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", *args],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.stdout:
            typer.echo(done.stdout.rstrip("\n"))
        if done.stderr:
            typer.echo(done.stderr.rstrip("\n"), err=True)
        if done.returncode != 0:
            _fail(
                "demo step `tenctl {}` failed with exit code {}".format(" ".join(args), done.returncode),
                EXIT_DEMO_FAILED,
            )
    typer.echo(
        f"# demo finished: tenant {name} was created (Proxmox objects, VNet, its VLAN on the lab's four "
        "switches, gateway, NAT and isolation on the lab's VyOS router), changed, suspended, resumed and removed"
    )


if __name__ == "__main__":
    app()
