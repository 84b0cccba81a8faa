"""`lab up`, `down`, `status` as processes: the server starts detached, writes its files, keeps state."""

import json
import os
import stat
import tomllib

import pytest
import requests
from tenctl_lab import lab as labmod


@pytest.fixture
def lab_dir(tmp_path):
    directory = tmp_path / "lab"
    yield directory
    labmod.down(directory)


def _session(info):
    session = requests.Session()
    session.trust_env = False
    session.verify = info["proxmox"]["ca_file"]
    secret = open(info["proxmox"]["token_secret_file"]).read().strip()
    session.headers["Authorization"] = "PVEAPIToken={}={}".format(info["proxmox"]["token_id"], secret)
    return session


def test_up_status_down_up_keeps_state(lab_dir):
    info = labmod.up(lab_dir)
    assert info["running"] and info["pid"]
    for name in ("root-password", "pve-token"):
        assert stat.S_IMODE(os.stat(lab_dir / "secrets" / name).st_mode) == 0o600

    config = tomllib.loads((lab_dir / "tenctl.toml").read_text())
    assert config["proxmox"] == {
        "host": "127.0.0.1",
        "port": info["proxmox"]["port"],
        "user": "root@pam",
        "token_name": "tenctl",
        "token_secret_file": str(lab_dir / "secrets" / "pve-token"),
        "password_file": str(lab_dir / "secrets" / "root-password"),
        "verify_tls": True,
        "ca_file": str(lab_dir / "pki" / "fakepve.crt"),
    }
    assert config["paths"]["tenants_dir"] == str(lab_dir / "etc-pve" / "tenants")
    assert config["sdn"] == {"zone": "tenants", "zone_type": "vlan", "bridge": "vmbr0"}
    assert config["allocation"]["vlan_ranges"] == ["100-999"]

    api = info["proxmox"]["url"] + "/api2/json"
    session = _session(info)
    nodes = session.get(api + "/nodes").json()["data"]
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3"]
    guests = session.get(api + "/cluster/resources", params={"type": "vm"}).json()["data"]
    assert guests and all("pool" not in g for g in guests)
    assert session.post(api + "/pools", data={"poolid": "tenant_keep"}).status_code == 200
    assert session.post(api + "/access/users", data={"userid": "keep@pve"}).status_code == 200

    # Logging in with the stored root password works too.
    login = requests.post(
        api + "/access/ticket",
        verify=info["proxmox"]["ca_file"],
        data={"username": "root@pam", "password": info["proxmox"]["password"]},
        timeout=10,
    )
    assert login.status_code == 200

    assert labmod.status(lab_dir)["running"]
    assert labmod.up(lab_dir)["pid"] == info["pid"]  # already up: same server
    assert labmod.down(lab_dir) is True
    assert not labmod.status(lab_dir)["running"]
    assert labmod.down(lab_dir) is False

    info = labmod.up(lab_dir)
    session = _session(info)
    api = info["proxmox"]["url"] + "/api2/json"
    assert "tenant_keep" in [p["poolid"] for p in session.get(api + "/pools").json()["data"]]
    assert session.get(api + "/access/users/keep@pve").status_code == 200
    assert sum(1 for _ in open(info["request_log"])) >= 6


def test_default_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TENCTL_LAB_DIR", str(tmp_path / "x"))
    assert labmod.default_dir() == tmp_path / "x"
    monkeypatch.delenv("TENCTL_LAB_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert labmod.default_dir() == tmp_path / "state" / "tenctl" / "lab"


def test_the_lab_serves_its_router_and_keeps_its_saved_config(lab_dir):
    info = labmod.up(lab_dir)
    vyos = info["vyos"]
    assert vyos["ssh_port"] and vyos["api_port"] and vyos["user"] == "vyos"
    assert vyos["password"] and vyos["api_key"]
    assert vyos["ca_file"] == str(lab_dir / "pki" / "fakepve.crt")
    assert vyos["known_hosts"] == str(lab_dir / "vyos" / "known_hosts")
    for name in ("vyos-password", "vyos-api-key"):
        assert stat.S_IMODE(os.stat(lab_dir / "secrets" / name).st_mode) == 0o600
    known = (lab_dir / "vyos" / "known_hosts").read_text()
    assert known.startswith("[127.0.0.1]:{} ssh-ed25519 ".format(vyos["ssh_port"]))
    written = tomllib.loads((lab_dir / "tenctl.toml").read_text())
    assert written["vyos"] == labmod.vyos_config_table(lab_dir)
    inventory = written["switches"]
    assert inventory == labmod.switches_config_table(lab_dir)
    assert [(site["name"], site["nodes"], [s["name"] for s in site["switches"]]) for site in inventory["sites"]] == [
        ("site-a", ["pve1", "pve2"], ["sw-a1", "sw-a2"]),
        ("site-b", ["pve3"], ["sw-b1", "sw-b2"]),
    ]
    assert all(s["port"] and s["password_file"].endswith("-password") for site in inventory["sites"] for s in site["switches"])
    assert labmod.vyos_config_table(lab_dir) == {
        "transport": "ssh",
        "host": "127.0.0.1",
        "ssh_port": vyos["ssh_port"],
        "api_port": vyos["api_port"],
        "user": "vyos",
        "password_file": str(lab_dir / "secrets" / "vyos-password"),
        "api_key_file": str(lab_dir / "secrets" / "vyos-api-key"),
        "known_hosts_file": str(lab_dir / "vyos" / "known_hosts"),
        "ca_file": str(lab_dir / "pki" / "fakepve.crt"),
        "lan_interface": "eth1",
        "wan_interface": "eth0",
    }

    api = requests.Session()
    api.trust_env = False
    api.verify = vyos["ca_file"]
    url = "https://{}:{}".format(vyos["host"], vyos["api_port"])

    def call(endpoint, data):
        answer = api.post(url + endpoint, data={"key": vyos["api_key"], "data": json.dumps(data)}, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    call("/configure", {"op": "set", "path": ["system", "name-server", "192.0.2.53"]})
    call("/config-file", {"op": "save"})
    call("/configure", {"op": "set", "path": ["system", "name-server", "192.0.2.54"]})  # not saved
    assert labmod.down(lab_dir) is True

    again = labmod.up(lab_dir)["vyos"]
    assert again["password"] == vyos["password"] and again["api_key"] == vyos["api_key"]
    assert (lab_dir / "vyos" / "known_hosts").read_text().split()[1:] == known.split()[1:]  # same host key
    url = "https://{}:{}".format(again["host"], again["api_port"])
    servers = call("/retrieve", {"op": "returnValues", "path": ["system", "name-server"]})
    assert servers == ["192.0.2.53"]  # the saved config came back; the unsaved commit did not
    log = [json.loads(line) for line in open(lab_dir / "logs" / "vyos-requests.jsonl")]
    assert [x["endpoint"] for x in log][:3] == ["/configure", "/config-file", "/configure"]
