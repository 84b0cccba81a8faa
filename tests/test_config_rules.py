"""Every configuration value is checked when the file is read, for core's sections and plugins' alike:
a bad one ends the command with exit 2 and a message naming the file, the key and the rule, before any
request and never with a traceback. Property-based tests feed generated files to the loader."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenctl_core.config import build_config, check_tables
from tenctl_core.errors import ConfigError
from tenctl_core.plugins import get_plugin_manager

SPECS = get_plugin_manager().settings_specs()


def load(raw: dict[str, Any]) -> Any:
    """The loader's two stages on a parsed file: core's sections, then the plugins' tables."""
    config = build_config(raw, ("test.toml",), None, "test.toml")
    check_tables(config, SPECS)
    return config


BAD = [
    ({"plugins": {"vyos": {"secret": "x"}}}, "plugins.vyos.secret", "secrets do not go"),
    ({"sdn": {"api_key": "x"}}, "sdn.api_key", "secrets do not go"),
    ({"profiles": {"prod": {"proxmox": {"password": "x"}}}}, "proxmox.password", "secrets do not go"),
    ({"sdn": {"bridge": "vmbr0;reboot"}}, "sdn.bridge", "interface name"),
    ({"permissions": {"storages": ["../.."]}}, "permissions.storages", "storage id"),
    ({"defaults": {"cpu": -1000000}}, "defaults.cpu", "between"),
    ({"defaults": {"ram_mb": 10}}, "defaults.ram_mb", "between"),
    ({"defaults": {"storage_gb": 0}}, "defaults.storage_gb", "between"),
    ({"proxmox": {"timeout": 0}}, "proxmox.timeout", "greater than 0"),
    ({"proxmox": {"timeout": -3}}, "proxmox.timeout", "greater than 0"),
    ({"proxmox": {"port": 70000}}, "proxmox.port", "between"),
    ({"proxmox": {"host": ""}}, "proxmox.host", "host name"),
    ({"proxmox": {"host": "pve;rm -rf /"}}, "proxmox.host", "host name"),
    ({"proxmox": {"ca_file": "/nonexistent/ca.pem"}}, "proxmox.ca_file", "does not exist"),
    ({"proxmox": {"ca_file": "/etc/hostname"}}, "proxmox.ca_file", "certificate"),
    ({"proxmox": {"user": "root"}}, "proxmox.user", "name@realm"),
    ({"proxmox": {"token_name": "bad name"}}, "proxmox.token_name", "token name"),
    ({"proxmox": {"password_env": "1BAD"}}, "proxmox.password_env", "environment variable"),
    ({"proxmox": {"verify_tls": "no"}}, "proxmox.verify_tls", "wrong type"),
    ({"proxmox": {"proxy": "ftp://proxy"}}, "proxmox.proxy", "URL"),
    ({"allocation": {"vlan_ranges": ["0-10"]}}, "allocation.vlan_ranges", "2-4094"),
    ({"allocation": {"vlan_ranges": ["100-5000"]}}, "allocation.vlan_ranges", "2-4094"),
    ({"allocation": {"vlan_ranges": ["100"]}}, None, None),
    ({"allocation": {"vlan_ranges": ["200-100"]}}, "allocation.vlan_ranges", "low to high"),
    ({"allocation": {"subnet_pool": "127.0.0.0/16"}}, "allocation.subnet_pool", "loopback"),
    ({"allocation": {"subnet_pool": "224.0.0.0/8"}}, "allocation.subnet_pool", "multicast"),
    ({"allocation": {"subnet_pool": "10.0.0.1/16"}}, "allocation.subnet_pool", "CIDR"),
    ({"allocation": {"prefix_length": 31}}, "allocation.prefix_length", "between"),
    ({"allocation": {"reserved": ["10.100.0.0/8"]}}, "allocation.reserved", "CIDR"),
    ({"allocation": {"reserved": ["10.0.0.0/8"]}}, "allocation.subnet_pool", "reserved"),
    ({"allocation": {"allocator": "First Free"}}, "allocation.allocator", "plugin name"),
    ({"paths": {"tenants_dir": "relative/dir"}}, "paths.tenants_dir", "absolute"),
    ({"permissions": {"admin_role": "PVEAdmin"}}, "permissions.admin_role", "Pool.Allocate"),
    ({"permissions": {"admin_role": "bad role"}}, "permissions.admin_role", "role id"),
    ({"capacity": {"max_share": 1.5}}, "capacity.max_share", "at most 1"),
    ({"capacity": {"cpu_ratio": 0}}, "capacity.cpu_ratio", "greater than 0"),
    ({"capacity": {"storage_ratio": 1000}}, "capacity.storage_ratio", "at most 100"),
    ({"sdn": {"zone_type": "qinq"}}, "sdn.service_vlan", "service VLAN"),
    ({"sdn": {"zone_type": "evpn"}}, "sdn.zone_type", "must be one of"),
    ({"sdn": {"vxlan_port": 0}}, "sdn.vxlan_port", "between"),
    ({"unknown": {"x": 1}}, "[unknown]", "no installed plugin"),
]


@pytest.mark.parametrize(("raw", "key", "rule"), BAD, ids=[str(r)[:50] for r, _, _ in BAD])
def test_a_bad_value_names_its_key_and_rule(raw, key, rule):
    if key is None:
        load(raw)  # a single VLAN is a range of one
        return
    with pytest.raises(ConfigError) as caught:
        load(raw)
    message = str(caught.value)
    assert message.startswith("test.toml"), message
    assert key in message and rule in message, message


@pytest.mark.parametrize(
    ("snippet", "words"),
    [
        ('[plugins.vyos]\nsecret = "x"\n', ["plugins.vyos.secret"]),
        ('[sdn]\nbridge = "vmbr0;reboot"\n', ["sdn.bridge"]),
        ('[permissions]\nstorages = ["../.."]\n', ["permissions.storages"]),
        ("[defaults]\ncpu = -1000000\n", ["defaults.cpu"]),
        ('[proxmox]\nca_file = "/nonexistent/ca.pem"\n', ["proxmox.ca_file", "does not exist"]),
        ("[proxmox]\ntimeout = 0\n", ["proxmox.timeout"]),
        ("not toml at all = = =\n", ["not valid TOML"]),
    ],
)
def test_config_check_reports_bad_files_with_exit_2_and_no_traceback(lab, tmp_path, snippet, words):
    """Through the real command line, against the lab: nothing is asked of Proxmox."""
    config = tmp_path / "bad.toml"
    config.write_text(snippet)
    mark = lab.mark()
    for args in (("config", "check"), ("list",), ("add", "-n", "acme")):
        result = lab.run("--config", str(config), *args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert str(config) in result.stderr or "TOML" in result.stderr
        for word in words:
            assert word in result.stderr, result.stderr
    assert lab.requests_since(mark) == 0


def test_three_huge_tenants_cannot_pass_the_capacity_check_through_the_defaults():
    """0.2 accepted cpu = -1000000 in [defaults], which let three 4096-core tenants pass the capacity
    sum; now no default can be below the command-line minimums."""
    with pytest.raises(ConfigError, match="defaults.cpu"):
        load({"defaults": {"cpu": -1000000}})


# ---------------------------------------------------------------------------------- property-based

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=30),
    st.lists(st.text(max_size=12), max_size=3),
)
KEYS = {
    "proxmox": [
        "host",
        "port",
        "user",
        "token_name",
        "password_env",
        "verify_tls",
        "timeout",
        "proxy",
        "ca_file",
    ],
    "allocation": ["allocator", "vlan_ranges", "subnet_pool", "prefix_length", "reserved"],
    "defaults": ["cpu", "ram_mb", "storage_gb"],
    "permissions": ["admin_role", "storages"],
    "capacity": ["max_share", "warn_share", "cpu_ratio", "ram_ratio", "storage_ratio"],
    "paths": ["cluster_dir", "tenants_dir", "log_dir"],
    "sdn": ["zone", "zone_type", "bridge", "vxlan_port", "peers", "service_vlan"],
}


@st.composite
def config_files(draw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), max_size=4, unique=True)):
        keys = draw(st.lists(st.sampled_from(KEYS[section]), max_size=3, unique=True))
        raw[section] = {key: value for key in keys if (value := draw(SCALARS)) is not None}
    if draw(st.booleans()):
        raw.setdefault("sdn", {})[draw(st.sampled_from(["password", "token", "api_key", "note"]))] = "x"
    return raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_files())
def test_generated_files_load_or_are_refused_as_configuration_errors(raw):
    """Whatever a file holds, loading it either succeeds with values inside every rule or raises a
    ConfigError: no other exception (a traceback for the user) and no value slips past its rule."""
    text = tomli_w.dumps(raw)
    parsed = tomllib.loads(text)
    try:
        config = load(parsed)
    except ConfigError as exc:
        assert str(exc).startswith("test.toml"), exc
        return
    assert config.proxmox.timeout > 0 and 1 <= config.proxmox.port <= 65535
    assert 1 <= config.defaults.cpu and 512 <= config.defaults.ram_mb and 1 <= config.defaults.storage_gb
    assert all(2 <= low <= high <= 4094 for low, high in config.allocation.vlan_ranges)
    assert 0 < config.capacity.max_share <= 1 and config.capacity.cpu_ratio > 0
    assert all(Path(p).is_absolute() for p in (config.paths.cluster_dir, config.paths.tenants_dir))
    for value in config.permissions.storages:
        assert "/" not in value and "." != value[:1]
    assert not {"password", "token", "api_key"} & set(config.tables.get("sdn", {}))


def test_a_plugin_table_may_hold_lists_of_tables_checked_by_their_own_rules():
    """``rules.tables(Schema)``: ``[[section.key]]`` entries parsed by a dataclass of their own, nested as
    deep as needed, each key checked by its rule and named with its index when wrong."""
    from dataclasses import dataclass, field

    from tenctl_core import rules
    from tenctl_core.providers import Settings

    @dataclass(frozen=True)
    class Device:
        name: str = field(metadata=rules.rule(rules.matching(re.compile(r"[a-z][a-z0-9-]*"), "a name")))
        port: int = field(default=443, metadata=rules.rule(rules.between(1, 65535)))

    @dataclass(frozen=True)
    class Site:
        name: str
        devices: tuple[Device, ...] = field(default=(), metadata=rules.tables(Device))

    @dataclass(frozen=True)
    class Inventory:
        sites: tuple[Site, ...] = field(default=(), metadata=rules.tables(Site))

    spec = Settings("inventory", Inventory)
    good = {"sites": [{"name": "a", "devices": [{"name": "sw1"}, {"name": "sw2", "port": 8443}]}]}
    config = build_config({"inventory": good}, ("test.toml",), None, "test.toml")
    parsed = config.settings(spec)
    assert parsed == Inventory((Site("a", (Device("sw1"), Device("sw2", 8443))),))
    for table, message in (
        ({"sites": [{"name": "a", "devices": [{"name": "sw1", "port": 0}]}]}, "inventory.sites[0].devices[0].port"),
        ({"sites": [{"name": "a", "devices": [{"name": "Bad name"}]}]}, "inventory.sites[0].devices[0].name"),
        ({"sites": [{"devices": []}]}, "inventory.sites[0].name is required"),
        ({"sites": [{"name": "a", "colour": "red"}]}, "unknown key inventory.sites[0].colour"),
        ({"sites": {"name": "a"}}, "inventory.sites must be a list of tables"),
    ):
        config = build_config({"inventory": table}, ("test.toml",), None, "test.toml")
        with pytest.raises(ConfigError, match=re.escape(message)):
            config.settings(spec)
