"""Backups and restores through the real command line, checked on the lab's Proxmox, router and switches.

The archives tampered with are made by hand from a real backup (the formats' own files, changed); a
refused restore must leave the lab's request log without a single write."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import created_password, lab_snapshot, ok

from tenctl_core.backup import MEMBER_MAX

WAN = ("--wan-ip", "203.0.113.2/24", "--wan-gw", "203.0.113.1")
SITES = {"site-a": ("pve1", "pve2"), "site-b": ("pve3",)}


def full_config(lab) -> Path:
    """The lab's configuration with its VyOS router (over the HTTPS API) and its four EOS switches."""
    data = tomllib.loads(lab.edge_config("api").read_text(encoding="utf-8"))
    sites = []
    for site, nodes in SITES.items():
        entries = [
            {
                key: (list(info[key]) if key == "trunk_ports" else info[key])
                for key in ("name", "driver", "host", "port", "user", "password_file", "ca_file", "trunk_ports")
            }
            for info in lab.switches_info
            if info["site"] == site
        ]
        sites.append({"name": site, "nodes": list(nodes), "switches": entries})
    data["switches"] = {"sites": sites}
    path = lab.dir / "full.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def proxmox_state(lab) -> dict:
    """What tenctl changes on the simulated Proxmox, without the users' passwords (a restore sets a new
    one) and with the ACL as a set."""
    state = lab_snapshot(lab)
    for user in state["access"]["users"].values():
        user.pop("password", None)
    state["access"]["acl"] = sorted(json.dumps(e, sort_keys=True) for e in state["access"]["acl"])
    return state


def every_layer(lab) -> dict:
    return {
        "proxmox": proxmox_state(lab),
        "vyos": sorted(lab.vyos.running_commands()),
        "switches": {name: switch.running_config() for name, switch in lab.switches.items()},
    }


def record(lab, name: str) -> dict:
    return tomllib.loads((lab.dir / "etc-pve" / "tenants" / f"{name}.toml").read_text(encoding="utf-8"))


def archive_of(result) -> Path:
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Backup of tenant")]
    return Path(line.rpartition(" written to ")[2])


def writes_since(lab, mark: int) -> list[dict]:
    return [r for r in lab.requests_log_since(mark) if r["method"] != "GET"]


def test_backup_remove_restore_gives_back_the_same_tenant_on_every_layer(lab, tmp_path):
    config = full_config(lab)

    def run(*args):
        return lab.run("--config", str(config), *args)

    ok(run("init"))
    ok(run("vyos", "configure", *WAN, "--force"))
    ok(run("add", "-n", "acme", "-c", "4", "-r", "8192", "-s", "100", "-e", "ops@acme.example"))
    ok(run("add", "-n", "beta"))
    ok(run("suspend", "-n", "acme", "--reason", "unpaid invoice"))
    before, kept = every_layer(lab), record(lab, "acme")
    assert any("TENCTL-SUSPENDED network '10.100.0.0/24'" in line for line in before["vyos"])
    assert all(100 in switch.vlans() for switch in lab.switches.values())

    path = archive_of(ok(run("backup", "-n", "acme", "-o", str(tmp_path / "out"))))
    assert path.parent == tmp_path / "out" and path.name.startswith("acme_") and path.name.endswith(".tar.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ok(run("remove", "-n", "acme", "-f"))
    gone = every_layer(lab)
    assert "tenant_acme" not in gone["proxmox"]["pools"] and "vn100" not in gone["proxmox"]["sdn_running"]["vnets"]
    assert not any("'10.100.0.0/24'" in line for line in gone["vyos"])
    assert all(100 not in switch.vlans() for switch in lab.switches.values())

    restored = ok(run("restore", "--file", str(path)))
    assert "Tenant acme restored" in restored.stdout
    password = created_password(restored.stdout)
    assert every_layer(lab) == before  # pool, group, user (disabled), ACLs, VNet, subnet, router, switches
    assert lab.pve.users["admin_acme@pve"] == password  # a new password: the archive held none
    again = record(lab, "acme")
    for key in ("created_date", "suspend_reason", "suspend_date", "status", "cpu_limit", "ram_limit",
                "storage_limit", "email", "vlan", "subnet", "storages", "plugins", "installation"):
        assert again[key] == kept[key], key
    assert again["status"] == "suspended" and not again["journal"]


def add_and_back_up(lab, tmp_path, fmt: str = "tar.gz", *add_args: str) -> Path:
    ok(lab.run("add", "-n", "acme", "-c", "3", "-r", "4096", "-s", "50", "-e", "ops@acme.example", *add_args))
    return archive_of(ok(lab.run("backup", "-n", "acme", "-o", str(tmp_path / "out"), "--format", fmt)))


@pytest.mark.parametrize("fmt", ["tar.gz", "json"])
def test_every_format_round_trips_and_holds_no_secret(cluster, tmp_path, fmt):
    lab = cluster
    secret = tmp_path / "pw"
    secret.write_text("Very-Secret-Passw0rd\n")
    path = add_and_back_up(lab, tmp_path, fmt, "--password-file", str(secret))
    assert path.name.endswith(".tar.gz" if fmt == "tar.gz" else ".json")
    raw = path.read_bytes() if fmt == "json" else b"".join(
        tarfile.open(path).extractfile(m).read() for m in tarfile.open(path).getmembers()
    )
    assert b"Very-Secret-Passw0rd" not in raw and b"password" not in raw.lower()
    before, kept = proxmox_state(lab), record(lab, "acme")
    ok(lab.run("remove", "-n", "acme", "-f"))
    out = tmp_path / "new-password"
    restored = json.loads(ok(lab.run("restore", "--file", str(path), "--password-out", str(out), "--json")).stdout)
    assert restored["tenant_name"] == "acme" and restored["vlan_id"] == 100 and "password" not in restored
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert lab.pve.users["admin_acme@pve"] == out.read_text().strip() != "Very-Secret-Passw0rd"
    assert proxmox_state(lab) == before
    assert {k: v for k, v in record(lab, "acme").items() if k != "updated_date"} == {
        k: v for k, v in kept.items() if k != "updated_date"
    }
