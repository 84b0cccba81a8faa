"""The Bash tool's VYOS_* keys through `tenctl migrate`: a [vyos] table that `config check` accepts, or none.

The mapping is a pure function (``tenctl_vyos.migration``); the command line tests run `tenctl migrate` and
`tenctl config check` in-process with the installed plugins, and the start-up test runs the hook in a fresh
interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tenctl_vyos.migration import PASSWORD_FILE, migrate_bash_config
from tenctl_vyos.settings import SETTINGS, VyosSettings
from typer.testing import CliRunner

from tenctl_core.cli import make_app
from tenctl_core.config import build_config
from tenctl_core.plugins import get_plugin_manager
from tenctl_core.rules import find_secrets

ROUTER = {
    "VYOS_ENABLED": "true",
    "VYOS_NODE": "pve1",
    "VYOS_VMID": "9000",
    "VYOS_SSH_USER": "tenctl",
    "VYOS_IP": "10.0.0.254",
    "VYOS_WAN_INTERFACE": "eth0",
    "VYOS_LAN_INTERFACE": "eth2",
    "VYOS_WAN_IP": "203.0.113.2/24",
    "VYOS_WAN_GATEWAY": "203.0.113.1",
}
CLEAN_ENV = {"TENCTL_CONFIG": None, "TENCTL_PROFILE": None, "TENCTL_DISABLED_PLUGINS": None}


def as_bash(values: dict[str, str]) -> str:
    return "# VyOS edge router\n" + "".join(f'{key}="{value}"\n' for key, value in values.items())


@pytest.fixture(scope="module")
def tenctl():
    app = make_app(get_plugin_manager())

    def run(*args: object):
        return CliRunner().invoke(app, [str(a) for a in args], env=CLEAN_ENV)

    return run


# ----------------------------------------------------------------------------- the mapping


def test_an_enabled_router_becomes_a_vyos_table():
    out = migrate_bash_config(ROUTER)
    assert out is not None and out.invalid == {}
    assert out.tables == {
        "vyos": {
            "transport": "ssh",
            "host": "10.0.0.254",
            "user": "tenctl",
            "password_file": PASSWORD_FILE,
            "wan_interface": "eth0",
            "lan_interface": "eth2",
        }
    }
    assert PASSWORD_FILE == "/etc/tenctl/vyos.password"
    assert set(out.used) == {"VYOS_ENABLED", "VYOS_IP", "VYOS_SSH_USER", "VYOS_WAN_INTERFACE", "VYOS_LAN_INTERFACE"}
    assert set(out.ignored) == {"VYOS_NODE", "VYOS_VMID", "VYOS_WAN_IP", "VYOS_WAN_GATEWAY"}
    assert out.ignored["VYOS_NODE"].startswith("not needed: tenctl reaches the router over the network")
    actions = "\n".join(out.actions)
    assert "run `tenctl vyos configure --wan-ip 203.0.113.2/24 --wan-gw 203.0.113.1`" in actions
    assert f"create {PASSWORD_FILE} with the SSH password of tenctl" in actions
    assert f"install -m 600 /dev/null {PASSWORD_FILE}" in actions
    assert "known_hosts" in actions


def test_the_table_passes_the_rules_of_vyos_settings():
    out = migrate_bash_config(ROUTER)
    assert out is not None
    config = build_config({"vyos": out.tables["vyos"]}, ("migrated",), None, "migrated")
    settings = config.settings(SETTINGS)
    assert settings == VyosSettings(
        host="10.0.0.254", user="tenctl", password_file=PASSWORD_FILE, lan_interface="eth2"
    )


@pytest.mark.parametrize("enabled", ["false", "no", "0", "", "FALSE"])
def test_a_disabled_router_gives_no_table(enabled):
    out = migrate_bash_config({**ROUTER, "VYOS_ENABLED": enabled})
    assert out is not None
    assert out.tables == {} and out.used == {} and out.invalid == {}
    assert set(out.ignored) == set(ROUTER)
    assert all(reason.startswith("VYOS_ENABLED is false: no [vyos] table") for reason in out.ignored.values())


def test_without_vyos_enabled_there_is_no_table():
    values = {k: v for k, v in ROUTER.items() if k != "VYOS_ENABLED"}
    out = migrate_bash_config(values)
    assert out is not None and out.tables == {}
    assert out.ignored["VYOS_IP"].startswith("VYOS_ENABLED is not set")


def test_no_vyos_key_no_answer():
    assert migrate_bash_config({"VLAN_START": "100"}) is None


@pytest.mark.parametrize("enabled", ["True", "YES", "1"])
def test_enabled_is_read_as_the_bash_tool_did(enabled):
    out = migrate_bash_config({**ROUTER, "VYOS_ENABLED": enabled})
    assert out is not None and "vyos" in out.tables


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"VYOS_IP": "10.0.0.300"}, "VYOS_IP", "vyos.host must be an IP address"),
        ({"VYOS_IP": "router.example.org"}, "VYOS_IP", "vyos.host must be an IP address"),
        ({"VYOS_IP": ""}, "VYOS_ENABLED", "VYOS_IP is not set or was not read"),
        ({"VYOS_ENABLED": "maybe"}, "VYOS_ENABLED", "must be true, yes, 1, false, no or 0"),
        ({"VYOS_SSH_USER": "Root User"}, "VYOS_SSH_USER", "vyos.user is not a user name"),
        ({"VYOS_LAN_INTERFACE": "lan0"}, "VYOS_LAN_INTERFACE", "vyos.lan_interface is not a VyOS interface name"),
        ({"VYOS_LAN_INTERFACE": "eth0"}, "VYOS_LAN_INTERFACE", "vyos.lan_interface and vyos.wan_interface must differ"),
    ],
)
def test_a_value_that_would_be_wrong_is_refused(change, key, reason):
    out = migrate_bash_config({**ROUTER, **change})
    assert out is not None
    assert reason in out.invalid[key]


def test_a_wan_address_that_is_no_address_is_not_echoed_into_a_command():
    out = migrate_bash_config({**ROUTER, "VYOS_WAN_IP": "203.0.113.2/24; reboot", "VYOS_WAN_GATEWAY": "gw"})
    assert out is not None and out.invalid == {}
    assert "not an IPv4 address" in out.ignored["VYOS_WAN_IP"]
    assert "not an IPv4 address" in out.ignored["VYOS_WAN_GATEWAY"]
    action = next(a for a in out.actions if "vyos configure" in a)
    assert "reboot" not in action
    assert "--wan-ip <address/prefix> --wan-gw <gateway>" in action


def test_a_wan_address_without_prefix_asks_for_one():
    out = migrate_bash_config({**ROUTER, "VYOS_WAN_IP": "203.0.113.2"})
    assert out is not None
    assert any("--wan-ip 203.0.113.2/<prefix length>" in a for a in out.actions)


# ------------------------------------------------------------------------ the command line


def test_migrate_writes_a_vyos_table_that_config_check_accepts(tenctl, tmp_path):
    bash = tmp_path / "tenant.conf"
    bash.write_text(as_bash({"VLAN_START": "100", "VLAN_END": "199", **ROUTER}))
    out = tmp_path / "tenctl.toml"
    done = tenctl("migrate", "--bash-config", bash, "-o", out, "--json")
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    with out.open("rb") as fh:
        written = tomllib.load(fh)
    assert written["vyos"] == data["config"]["vyos"]
    assert written["vyos"]["host"] == "10.0.0.254"
    assert written["vyos"]["password_file"] == PASSWORD_FILE
    assert list(find_secrets(written)) == []
    checked = tenctl("--config", out, "config", "check")
    assert checked.exit_code == 0, checked.stderr
    missed = {item["key"]: item for item in data["not_imported"]}
    assert missed["VYOS_WAN_IP"]["line"] == 11  # after the comment and the two VLAN lines
    assert "not a setting" in missed["VYOS_WAN_IP"]["reason"]
    assert any("tenctl vyos configure --wan-ip 203.0.113.2/24 --wan-gw 203.0.113.1" in a for a in data["actions"])


def test_vyos_enabled_false_gives_no_table(tenctl, tmp_path):
    bash = tmp_path / "tenant.conf"
    bash.write_text(as_bash({**ROUTER, "VYOS_ENABLED": "false"}))
    out = tmp_path / "tenctl.toml"
    done = tenctl("migrate", "--bash-config", bash, "-o", out, "--json")
    assert done.exit_code == 0, done.stderr
    with out.open("rb") as fh:
        assert "vyos" not in tomllib.load(fh)
    assert [item["key"] for item in json.loads(done.stdout)["not_imported"]] == list(ROUTER)


def test_an_invalid_vyos_ip_is_refused_with_its_line(tenctl, tmp_path):
    bash = tmp_path / "tenant.conf"
    bash.write_text(as_bash({**ROUTER, "VYOS_IP": "10.0.0.300"}))
    out = tmp_path / "tenctl.toml"
    done = tenctl("migrate", "--bash-config", bash, "-o", out)
    assert done.exit_code == 2
    assert done.stderr == (
        f"error: {bash}: line 6: VYOS_IP=10.0.0.300: vyos.host must be an IP address here (the Bash tool's VYOS_IP)\n"
    )
    assert not out.exists()


def test_the_hook_imports_no_device_library(tmp_path):
    """Entry module and mapping stay light: netmiko and friends are for talking to the router."""
    probe = """
import json, sys
from tenctl_vyos import plugin
answer = plugin.tenctl_migrate_bash_config(values={"VYOS_ENABLED": "yes", "VYOS_IP": "192.0.2.1"})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"netmiko", "paramiko", "napalm", "requests"})
print(json.dumps({"heavy": heavy, "host": answer.tables["vyos"]["host"]}))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=Path(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"heavy": [], "host": "192.0.2.1"}
