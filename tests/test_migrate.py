"""`tenctl migrate`: the Bash tool's tenant.conf becomes a tenctl configuration that `config check` accepts.

The Bash file is read as data. The hostile-line tests prove it with marker files that a shell would create
(and a victim file a shell would delete), after checking that a shell does run those lines.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pluggy
import pytest
from typer.testing import CliRunner

from tenctl_core import hookimpl, hookspecs
from tenctl_core.bashfile import parse_bash_text
from tenctl_core.cli import make_app
from tenctl_core.migration import MigratedSettings
from tenctl_core.plugins import BUILTIN_PLUGINS, PluginSet, get_plugin_manager

BASH_TENANT_CONF = """\
#!/bin/bash
# tenctl 2.0.0 - global configuration
# Sourced by every tenctl command.

# VLAN range for tenant networks
VLAN_START=100
VLAN_END=999

# Tenants get ${BASE_SUBNET}.X.0/24
BASE_SUBNET="10.100"
NETWORK_BRIDGE="vmbr0"

TENANT_CONFIG_DIR="/etc/pve/tenants"
export LOG_DIR="/var/log/tenctl"

# Default limits
DEFAULT_CPU_LIMIT=8
DEFAULT_RAM_LIMIT=16384   # MB
DEFAULT_STORAGE_LIMIT=500 # GB

# SDN
SDN_ZONE_TYPE="vxlan"
SDN_ZONE_NAME='tenants'
VXLAN_PORT=4789

TENANT_ADMIN_ROLE="PVEPoolAdmin"

EMAIL_NOTIFICATIONS_ENABLED=true
SMTP_ENDPOINT="mail-to-root"

# VyOS edge router
VYOS_ENABLED=true
VYOS_NODE="pve1"
VYOS_VMID=9000
VYOS_SSH_USER="vyos"
VYOS_IP="10.0.0.254"
VYOS_WAN_INTERFACE="eth0"
VYOS_LAN_INTERFACE="eth1"
VYOS_WAN_IP="203.0.113.2/24"
VYOS_WAN_GATEWAY="203.0.113.1"
"""

CLEAN_ENV = {"TENCTL_CONFIG": None, "TENCTL_PROFILE": None, "TENCTL_DISABLED_PLUGINS": None}


@pytest.fixture(scope="module")
def plugins() -> PluginSet:
    return get_plugin_manager()


def run(plugins: PluginSet, *args: object):
    """`tenctl ARGS` in-process, with the installed plugins and no configuration from the environment."""
    return CliRunner().invoke(make_app(plugins), [str(a) for a in args], env=CLEAN_ENV)


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def bash_file(tmp_path: Path, text: str, name: str = "tenant.conf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, start: str) -> int:
    """The 1-based number of the first line of text that starts with `start` (after an ``export``)."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.removeprefix("export ").startswith(start))


def report(plugins: PluginSet, bash: Path, *extra: object) -> dict:
    return json.loads(ok(run(plugins, "migrate", "--bash-config", bash, "--dry-run", "--json", *extra)).stdout)


# ------------------------------------------------------------------------------ the whole file


def test_the_bash_tool_config_becomes_a_configuration_that_passes_config_check(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "etc" / "tenctl.toml"
    done = ok(run(plugins, "migrate", "--bash-config", bash, "--output", out))
    assert f"Wrote {out} (mode 0644)" in done.stdout

    with out.open("rb") as fh:
        written = tomllib.load(fh)
    assert written == {
        "paths": {"tenants_dir": "/etc/pve/tenants", "log_dir": "/var/log/tenctl"},
        "allocation": {"vlan_ranges": ["100-999"], "subnet_pool": "10.100.0.0/16", "prefix_length": 24},
        "defaults": {"cpu": 8, "ram_mb": 16384, "storage_gb": 500},
        "sdn": {"zone": "tenants", "zone_type": "vxlan", "bridge": "vmbr0", "vxlan_port": 4789},
        "vyos": {
            "transport": "ssh",
            "host": "10.0.0.254",
            "user": "vyos",
            "password_file": "/etc/tenctl/vyos.password",
            "wan_interface": "eth0",
            "lan_interface": "eth1",
        },
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert not [p.name for p in out.parent.iterdir() if p.name != out.name], "a temporary file was left"

    checked = ok(run(plugins, "--config", out, "config", "check"))
    assert f"configuration OK ({out})" in checked.stdout
    # The Bash defaults' 900 VLANs against 256 subnets: config check warns, and so did the report.
    assert "tenants will run out of subnets first" in checked.stderr
    assert "only 256 /24 subnets" in done.stdout


def test_the_config_check_passes_in_a_fresh_interpreter_too(tmp_path):
    """The real command line, as an administrator runs it: `tenctl migrate`, then `config check`."""
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "tenctl.toml"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    for args in (
        ["migrate", "--bash-config", str(bash), "-o", str(out)],
        ["--config", str(out), "config", "check"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert "configuration OK" in done.stdout


def test_the_report_says_what_each_key_became_and_what_to_do(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    data = report(plugins, bash)
    assert set(data) >= {"config", "imported", "not_imported", "actions"}
    became = {item["key"]: item for item in data["imported"]}
    assert became["VLAN_START"]["line"] == line_of(BASH_TENANT_CONF, "VLAN_START")
    assert became["VLAN_START"]["became"] == ['allocation.vlan_ranges = ["100-999"]']
    assert became["BASE_SUBNET"]["became"] == [
        'allocation.subnet_pool = "10.100.0.0/16"',
        "allocation.prefix_length = 24",
    ]
    assert became["SDN_ZONE_NAME"]["plugin"] == "linux_bridge"
    assert became["VYOS_IP"]["plugin"] == "vyos"
    assert became["DEFAULT_RAM_LIMIT"]["became"] == ["defaults.ram_mb = 16384"]
    missed = {item["key"]: item for item in data["not_imported"]}
    assert set(missed) == {
        "TENANT_ADMIN_ROLE",
        "EMAIL_NOTIFICATIONS_ENABLED",
        "SMTP_ENDPOINT",
        "VYOS_NODE",
        "VYOS_VMID",
        "VYOS_WAN_IP",
        "VYOS_WAN_GATEWAY",
    }
    assert "[notifications]" in missed["SMTP_ENDPOINT"]["reason"]
    assert missed["SMTP_ENDPOINT"]["line"] == line_of(BASH_TENANT_CONF, "SMTP_ENDPOINT")
    actions = "\n".join(data["actions"])
    assert "proxmox.token_name and proxmox.token_secret_file" in actions
    assert "(/etc/pve/tenants/<name>.conf) are not migrated" in actions
    assert "SMTP server of the Proxmox notification target 'mail-to-root'" in actions


# --------------------------------------------------------------------------------- the role


def test_pve_pool_admin_is_not_carried_over(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    data = report(plugins, bash)
    assert "permissions" not in data["config"]
    [role] = [item for item in data["not_imported"] if item["key"] == "TENANT_ADMIN_ROLE"]
    assert role["line"] == line_of(BASH_TENANT_CONF, "TENANT_ADMIN_ROLE")
    assert "PVEPoolAdmin is not carried over" in role["reason"]
    assert "TenctlTenant is used" in role["reason"]
    assert any("tenctl init" in action and "TenctlTenant" in action for action in data["actions"])

    text = ok(run(plugins, "migrate", "--bash-config", bash, "--dry-run")).stdout
    line = line_of(BASH_TENANT_CONF, "TENANT_ADMIN_ROLE")
    assert f"not imported: line {line}: TENANT_ADMIN_ROLE: PVEPoolAdmin is not carried over" in text
    assert "admin_role" not in text.partition("Read ")[0], "the TOML must not name a role"


@pytest.mark.parametrize("role", ["Administrator", "PVEAdmin", "PVEUserAdmin"])
def test_no_built_in_role_that_grants_permissions_is_carried_over(plugins, tmp_path, role):
    data = report(plugins, bash_file(tmp_path, f"TENANT_ADMIN_ROLE={role}\n"))
    assert "permissions" not in data["config"]
    assert f"{role} is not carried over" in data["not_imported"][0]["reason"]


def test_a_role_of_your_own_is_carried_over_with_a_warning(plugins, tmp_path):
    data = report(plugins, bash_file(tmp_path, "TENANT_ADMIN_ROLE=TenantOps\n"))
    assert data["config"]["permissions"] == {"admin_role": "TenantOps"}
    assert any("role TenantOps must exist" in action for action in data["actions"])


# ------------------------------------------------------------------------- hostile lines


def hostile_file(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A tenant.conf whose shell lines would create `marker`-N files and delete `victim`."""
    marker = tmp_path / "marker"
    victim = tmp_path / "victim"
    victim.write_text("still here\n")
    text = f"""\
VLAN_START=$(touch {marker}-1)
VLAN_END=`touch {marker}-2`
DEFAULT_CPU_LIMIT=4;rm -rf {victim}
DEFAULT_RAM_LIMIT="$(touch {marker}-3)"
LOG_DIR=/var/log/tenctl | touch {marker}-4
NETWORK_BRIDGE=vmbr0 && touch {marker}-5
TENANT_CONFIG_DIR="/etc/pve/tenants
$(touch {marker}-6)"
SDN_ZONE_NAME=$HOME
touch {marker}-7
eval "touch {marker}-8"
DEFAULT_STORAGE_LIMIT=500 ; touch {marker}-9
"""
    return bash_file(tmp_path, text), marker, victim, text


def markers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("marker"))


def test_a_shell_would_run_the_hostile_lines(tmp_path):
    """The marker test is not vacuous: sourcing the file, as the Bash tool did, runs every line."""
    bash_path = shutil.which("bash")
    if bash_path is None:
        pytest.skip("no bash to compare with")
    bash, _, victim, _ = hostile_file(tmp_path)
    subprocess.run([bash_path, "-c", f"source {bash}"], capture_output=True, timeout=30, cwd=tmp_path)
    assert markers(tmp_path) == [f"marker-{n}" for n in range(1, 10)]
    assert not victim.exists()


def test_hostile_lines_are_never_run_and_are_reported(plugins, tmp_path):
    bash, _, victim, text = hostile_file(tmp_path)
    out = tmp_path / "tenctl.toml"
    done = ok(run(plugins, "migrate", "--bash-config", bash, "-o", out, "--json"))
    assert markers(tmp_path) == []
    assert victim.read_text() == "still here\n"

    data = json.loads(done.stdout)
    assert data["imported"] == []
    assert data["config"] == {}
    refused = {item["line"]: item for item in data["not_imported"]}
    assert sorted(refused) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    for line in refused:
        assert " not a plain assignment: " in refused[line]["reason"], refused[line]
        assert "nothing of it was used or run" in refused[line]["reason"]
    assert refused[1]["key"] == "VLAN_START" and "command substitution" in refused[1]["reason"]
    assert refused[2]["key"] == "VLAN_END" and "command substitution" in refused[2]["reason"]
    assert refused[3]["key"] == "DEFAULT_CPU_LIMIT" and "command separator" in refused[3]["reason"]
    assert refused[7]["reason"].startswith("lines 7-8 are not a plain assignment: it continues over several lines")
    assert refused[9]["key"] == "SDN_ZONE_NAME" and "variable expansion" in refused[9]["reason"]
    assert refused[10]["key"] is None and "a command, not KEY=value" in refused[10]["reason"]
    with out.open("rb") as fh:
        assert tomllib.load(fh) == {}

    text = ok(run(plugins, "migrate", "--bash-config", bash, "--dry-run")).stdout
    assert "not imported: line 1 is not a plain assignment: it holds a command substitution" in text
    assert markers(tmp_path) == []


def test_a_key_whose_last_line_is_refused_keeps_no_earlier_value(plugins, tmp_path):
    """The Bash tool would have used what the refused line computed, which tenctl cannot know."""
    bash = bash_file(tmp_path, "DEFAULT_CPU_LIMIT=4\nDEFAULT_CPU_LIMIT=$(nproc)\nDEFAULT_RAM_LIMIT=1024\nDEFAULT_RAM_LIMIT=2048\n")
    data = report(plugins, bash)
    assert data["config"] == {"defaults": {"ram_mb": 2048}}
    reasons = {(item["key"], item["line"]): item["reason"] for item in data["not_imported"]}
    assert reasons[("DEFAULT_CPU_LIMIT", 1)] == "set again on line 2, which is not a plain assignment"
    assert reasons[("DEFAULT_RAM_LIMIT", 3)] == "set again on line 4, which replaces it"
    assert "command substitution" in reasons[("DEFAULT_CPU_LIMIT", 2)]


def test_the_parser_takes_what_a_shell_takes_as_a_literal():
    text = (
        "# comment\r\n"
        "  export A=1\r\n"
        'B="two words"   # trailing comment\n'
        "C='$(not run)'\n"
        "D=\n"
        "E=a#b\n"
        "F=''\n"
        "   \n"
        "G=\"x\"# glued\n"
    )
    parsed = parse_bash_text(text, Path("t.conf"))
    assert parsed.values() == {"A": "1", "B": "two words", "C": "$(not run)", "D": "", "E": "a#b", "F": ""}
    assert [(r.line, r.key) for r in parsed.refused] == [(9, "G")]
    assert parsed.line_of("B") == 3


def test_a_quote_left_open_swallows_the_lines_a_shell_would_swallow():
    parsed = parse_bash_text('A="one\nVLAN_START=5\n"\nB=2\n', Path("t.conf"))
    assert parsed.values() == {"B": "2"}
    [refused] = parsed.refused
    assert (refused.line, refused.last_line, refused.key) == (1, 3, "A")


# ---------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("DEFAULT_CPU_LIMIT=0", "defaults.cpu must be between 1 and 4096 cores"),
        ("DEFAULT_RAM_LIMIT=lots", "defaults.ram_mb must be a whole number"),
        ("VLAN_END=5000", 'allocation.vlan_ranges item "100-5000" must lie within 2-4094, low to high'),
        ('BASE_SUBNET="127.0"', "allocation.subnet_pool overlaps loopback addresses 127.0.0.0/8"),
        ('BASE_SUBNET="10.100.0.0/16"', "must be the first two octets"),
        ('LOG_DIR="var/log"', "paths.log_dir must be an absolute path"),
        ('TENANT_ADMIN_ROLE="Pool Admin"', "permissions.admin_role is not a Proxmox role id"),
        ("SDN_ZONE_NAME=tenants_zone", "sdn.zone: zone name 'tenants_zone' must be 2-8 letters or digits"),
        ("SDN_ZONE_TYPE=evpn", "sdn.zone_type: zone type 'evpn' must be one of vlan, qinq, vxlan, simple"),
        ("VXLAN_PORT=0", "sdn.vxlan_port: must be between 1 and 65535"),
    ],
)
def test_a_value_that_would_be_wrong_stops_with_its_line_named(plugins, tmp_path, line, reason):
    key = line.partition("=")[0]
    lines = BASH_TENANT_CONF.splitlines()
    lines[line_of(BASH_TENANT_CONF, key + "=") - 1] = line
    text = "\n".join(lines) + "\n"
    bash = bash_file(tmp_path, text)
    out = tmp_path / "tenctl.toml"
    done = run(plugins, "migrate", "--bash-config", bash, "-o", out)
    assert done.exit_code == 2, (done.stdout, done.stderr)
    value = line.partition("=")[2].strip('"')
    assert done.stderr.startswith(f"error: {bash}: line {line_of(text, key + '=')}: {key}={value}: "), done.stderr
    assert reason in done.stderr
    assert not out.exists()
    assert "Traceback" not in done.stderr


def test_every_bad_value_is_named_at_once(plugins, tmp_path):
    bash = bash_file(tmp_path, "DEFAULT_CPU_LIMIT=0\nVXLAN_PORT=99999\nVYOS_ENABLED=1\nVYOS_IP=router.example\n")
    done = run(plugins, "migrate", "--bash-config", bash, "--dry-run")
    assert done.exit_code == 2
    lines = done.stderr.splitlines()
    assert [line.split(": ")[2:4] for line in lines] == [
        ["line 1", "DEFAULT_CPU_LIMIT=0"],
        ["line 2", "VXLAN_PORT=99999"],
        ["line 4", "VYOS_IP=router.example"],
    ]


def test_unknown_keys_are_reported_not_refused(plugins, tmp_path):
    bash = bash_file(tmp_path, "VLAN_START=200\nVLAN_END=299\nCOLOUR_SCHEME=dark\nFEATURE_X='$(x)'\n")
    data = report(plugins, bash)
    assert data["config"] == {"allocation": {"vlan_ranges": ["200-299"]}}
    assert {(i["key"], i["line"]): i["reason"] for i in data["not_imported"]} == {
        ("COLOUR_SCHEME", 3): "no installed plugin maps this key",
        ("FEATURE_X", 4): "no installed plugin maps this key",
    }


def test_a_range_needs_both_ends(plugins, tmp_path):
    data = report(plugins, bash_file(tmp_path, "VLAN_START=200\n"))
    assert data["config"] == {}
    assert "VLAN_END is not set or was not read" in data["not_imported"][0]["reason"]


def test_a_missing_or_unreadable_bash_file_is_a_usage_error(plugins, tmp_path):
    done = run(plugins, "migrate", "--bash-config", tmp_path / "nope.conf", "--dry-run")
    assert done.exit_code == 2
    assert f"error: {tmp_path / 'nope.conf'} does not exist" in done.stderr
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"VLAN_START=\xff\n")
    done = run(plugins, "migrate", "--bash-config", binary, "--dry-run")
    assert done.exit_code == 2 and "not UTF-8 text" in done.stderr


# ---------------------------------------------------------------------------- the output


def test_dry_run_writes_nothing(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "new" / "tenctl.toml"
    done = ok(run(plugins, "migrate", "--bash-config", bash, "-o", out, "--dry-run"))
    assert not out.parent.exists()
    assert f"# would be written to {out}" in done.stdout
    assert '[vyos]\ntransport = "ssh"\nhost = "10.0.0.254"' in done.stdout
    assert done.stdout.rstrip().endswith("Dry run: nothing was written.")
    data = json.loads(ok(run(plugins, "migrate", "--bash-config", bash, "-o", out, "--dry-run", "-j")).stdout)
    assert data["written"] is False and data["output"] == str(out)
    assert data["config"]["vyos"]["host"] == "10.0.0.254"
    assert not out.parent.exists()


def test_an_existing_output_is_not_replaced_without_force(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "tenctl.toml"
    out.write_text("# my own edits\n")
    done = run(plugins, "migrate", "--bash-config", bash, "-o", out)
    assert done.exit_code == 2
    assert f"error: {out} exists: tenctl migrate does not replace it (pass --force to replace it)" in done.stderr
    assert out.read_text() == "# my own edits\n"

    dry = ok(run(plugins, "migrate", "--bash-config", bash, "-o", out, "--dry-run"))
    assert f"note: {out} exists: the run without --dry-run needs --force" in dry.stdout
    assert out.read_text() == "# my own edits\n"

    os.chmod(out, 0o600)
    ok(run(plugins, "migrate", "--bash-config", bash, "-o", out, "--force"))
    with out.open("rb") as fh:
        assert tomllib.load(fh)["allocation"]["subnet_pool"] == "10.100.0.0/16"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tenant.conf", "tenctl.toml"]


def test_a_dangling_symbolic_link_counts_as_an_existing_output(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "tenctl.toml"
    out.symlink_to(tmp_path / "elsewhere.toml")
    done = run(plugins, "migrate", "--bash-config", bash, "-o", out)
    assert done.exit_code == 2 and "exists" in done.stderr
    assert not (tmp_path / "elsewhere.toml").exists()


def test_the_bash_file_is_never_the_output(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    done = run(plugins, "migrate", "--bash-config", bash, "-o", bash, "--force")
    assert done.exit_code == 2 and "is the Bash configuration being read" in done.stderr
    assert bash.read_text() == BASH_TENANT_CONF


def test_the_mode_is_0644_whatever_the_umask(plugins, tmp_path):
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "tenctl.toml"
    old = os.umask(0o077)
    try:
        ok(run(plugins, "migrate", "--bash-config", bash, "-o", out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# -------------------------------------------------------------------------- the hook


def plugin_set_with(*extra: tuple[str, object]) -> PluginSet:
    """Core's built-ins plus the given (name, plugin object) pairs, without the installed distributions."""
    import importlib

    pm = pluggy.PluginManager("tenctl")
    pm.add_hookspecs(hookspecs)
    for module in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
    for name, plugin in extra:
        pm.register(plugin, name=name)
    return PluginSet(pm)


class SiteRouter:
    """A third-party plugin with a key of its own and the settings-table it would write."""

    def __init__(self, table: str = "siterouter") -> None:
        self.table = table

    @hookimpl
    def tenctl_migrate_bash_config(self, values):
        if "SITE_ROUTER" not in values:
            return None
        out = MigratedSettings()
        out.put("SITE_ROUTER", self.table, "host", values["SITE_ROUTER"])
        return out


def test_a_table_no_installed_plugin_reads_never_reaches_the_disk(tmp_path):
    """The document is checked as `config check` does: [siterouter] has no provider, so it is refused."""
    bash = bash_file(tmp_path, "SITE_ROUTER=r1\n")
    out = tmp_path / "tenctl.toml"
    done = run(plugin_set_with(("siterouter", SiteRouter())), "migrate", "--bash-config", bash, "-o", out)
    assert done.exit_code == 2, done.stderr
    assert f"the configuration made from {bash} for {out}: unknown section [siterouter]" in done.stderr
    assert not out.exists()


def test_two_plugins_writing_one_table_are_named(tmp_path):
    bash = bash_file(tmp_path, "VLAN_START=100\nVLAN_END=199\nSITE_ROUTER=r1\n")
    plugins = plugin_set_with(("alpha", SiteRouter("allocation")))
    done = run(plugins, "migrate", "--bash-config", bash, "--dry-run")
    assert done.exit_code == 1
    assert "plugins 'tenctl_core.migration' and 'alpha' both write the table [allocation]" in done.stderr


class Careless:
    @hookimpl
    def tenctl_migrate_bash_config(self, values):
        out = MigratedSettings()
        out.ignore("NOT_IN_THE_FILE", "made up")
        return out


class Confused:
    @hookimpl
    def tenctl_migrate_bash_config(self, values):
        return {"vyos": {}}


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (Careless(), "plugin 'odd': tenctl_migrate_bash_config reports keys it was not given: NOT_IN_THE_FILE"),
        (Confused(), "plugin 'odd': tenctl_migrate_bash_config returned dict, not MigratedSettings"),
    ],
)
def test_a_plugin_that_breaks_the_contract_is_named(tmp_path, plugin, message):
    bash = bash_file(tmp_path, "VLAN_START=100\nVLAN_END=199\n")
    done = run(plugin_set_with(("odd", plugin)), "migrate", "--bash-config", bash, "--dry-run")
    assert done.exit_code == 1
    assert message in done.stderr


def test_without_the_vyos_plugin_its_keys_are_reported_and_the_file_still_passes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["TENCTL_DISABLED_PLUGINS"] = "vyos"
    bash = bash_file(tmp_path, BASH_TENANT_CONF)
    out = tmp_path / "tenctl.toml"
    done = subprocess.run(
        [sys.executable, "-m", "tenctl_core", "migrate", "--bash-config", str(bash), "-o", str(out), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert "vyos" not in data["config"]
    reasons = {item["key"]: item["reason"] for item in data["not_imported"]}
    assert reasons["VYOS_IP"] == "no installed plugin maps this key"
    checked = subprocess.run(
        [sys.executable, "-m", "tenctl_core", "--config", str(out), "config", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert checked.returncode == 0, checked.stderr


def test_help_lists_migrate_without_importing_device_libraries():
    from test_startup import probe

    code, heavy, output = probe(["tenctl", "--help"])
    assert code == 0 and heavy == []
    assert "migrate" in output
    code, heavy, output = probe(["tenctl", "migrate", "--help"])
    assert code == 0 and heavy == []
    assert "--bash-config" in output and "--dry-run" in output
