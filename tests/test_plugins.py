"""The plugin framework seen from outside: the `tenctl` command line, the lab, and plugin distributions.

The example plugin in ``tests/example_plugin`` is installed like any third-party distribution
(``pip install -e tests/example_plugin``); broken or clashing plugins are made at test time as bare
``.dist-info`` folders on the subprocess's PYTHONPATH, which is all ``importlib.metadata`` needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pluggy
import pytest
import tomli_w

from tenctl_core import hookimpl, hookspecs
from tenctl_core.errors import PluginError
from tenctl_core.plugins import BUILTIN_PLUGINS, PluginSet
from tenctl_core.providers import Allocation, AuditCheck, CheckResult, VlanAllocator

BUNDLED = {
    "lab": "tenctl-lab",
    "linux_bridge": "tenctl-linux-bridge",
    "switch_napalm": "tenctl-switch-napalm",
    "vyos": "tenctl-vyos",
}
EXAMPLE_DIST = "tenctl-example-plugin"
PLUGIN_ENV = (
    "TENCTL_DISABLED_PLUGINS",
    "TENCTL_DISABLE_PLUGIN_AUTOLOAD",
    "TENCTL_EXAMPLE_EVENTS",
    "TENCTL_EXAMPLE_RESERVED",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without plugin switches that would change what loads."""
    env = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
    env.update(extra)
    return env


def tenctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the tenctl command line in a fresh interpreter (for commands that do not talk to Proxmox)."""
    return subprocess.run(
        [sys.executable, "-m", "tenctl_core", *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def plugins_json(env: dict[str, str] | None = None) -> dict:
    done = tenctl("plugins", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def make_distribution(
    root: Path, dist: str, entry_name: str, module: str, source: str, version: str = "0.0.1"
) -> Path:
    """A minimal installed distribution in root: a module and a .dist-info with a `tenctl` entry point."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata_text = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    (info / "METADATA").write_text(metadata_text, encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[tenctl]\n{entry_name} = {module}\n", encoding="utf-8")
    return root


def with_path(env: dict[str, str], directory: Path) -> dict[str, str]:
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(directory), env.get("PYTHONPATH", "")) if p)
    return env


def lab_config_with(lab, tmp_path: Path, **allocation: object) -> Path:
    """A copy of the lab's tenctl.toml with the allocation table changed."""
    with open(lab.config, "rb") as fh:
        document = tomllib.load(fh)
    document["allocation"].update(allocation)
    path = tmp_path / "tenctl-modified.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def run_ok(lab, *args: str, env: dict[str, str] | None = None):
    result = lab.run(*args, env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


BROKEN_SOURCE = 'raise RuntimeError("the broken plugin cannot start")\n'
DUPLICATE_SOURCE = """
from tenctl_core import hookimpl
from tenctl_core.providers import Allocation, VlanAllocator


class Impostor(VlanAllocator):
    name = "first-free"

    def allocate(self, request):
        return Allocation(4000, request.subnet_pool)


@hookimpl
def tenctl_register_vlan_allocators(register):
    register(Impostor())
"""


# ------------------------------------------------------------------ listing plugins


def test_plugins_lists_builtins_bundled_plugins_and_the_example():
    data = plugins_json()
    by_name = {p["name"]: p for p in data["plugins"]}
    core_version = metadata.version("tenctl")
    for module in BUILTIN_PLUGINS:
        assert by_name[module]["distribution"] == "tenctl"
        assert by_name[module]["version"] == core_version
        assert by_name[module]["builtin"] is True
    for name, dist in {**BUNDLED, "example": EXAMPLE_DIST}.items():
        assert by_name[name]["distribution"] == dist
        assert by_name[name]["version"] == metadata.version(dist)
        assert by_name[name]["builtin"] is False
    assert by_name["example"]["version"] == "0.3.1"
    assert by_name["example"]["provides"] == [
        "VLAN allocator highest-free",
        "audit check example-tenant-count",
    ]
    assert by_name["tenctl_core.allocation"]["provides"] == ["VLAN allocator first-free"]
    assert "backup format tar.gz" in by_name["tenctl_core.backup"]["provides"]
    assert "network provisioner sdn-vnet" in by_name["linux_bridge"]["provides"]
    assert "command lab" in by_name["lab"]["provides"]
    assert data["failed"] == [] and data["disabled"] == []

    text = tenctl("plugins")
    assert text.returncode == 0, text.stderr
    assert f"example ({EXAMPLE_DIST} 0.3.1, plugin)" in text.stdout
    assert "    VLAN allocator highest-free" in text.stdout
    assert f"tenctl_core.allocation (tenctl {core_version}, built-in)" in text.stdout


def test_disabled_plugins_are_not_loaded():
    data = plugins_json(clean_env(TENCTL_DISABLED_PLUGINS="example"))
    names = {p["name"] for p in data["plugins"]}
    assert "example" not in names
    assert set(BUNDLED) <= names and set(BUILTIN_PLUGINS) <= names
    assert data["disabled"] == ["example"]
    provided = [item for p in data["plugins"] for item in p["provides"]]
    assert "VLAN allocator highest-free" not in provided
    assert "audit check example-tenant-count" not in provided

    text = tenctl("plugins", env=clean_env(TENCTL_DISABLED_PLUGINS="example, vyos"))
    assert text.returncode == 0, text.stderr
    assert "disabled: example" in text.stdout and "disabled: vyos" in text.stdout
    assert "tenctl-example-plugin" not in text.stdout and "tenctl-vyos" not in text.stdout


def test_disabling_autoload_leaves_only_builtins():
    env = clean_env(TENCTL_DISABLE_PLUGIN_AUTOLOAD="1")
    data = plugins_json(env)
    assert [p["name"] for p in data["plugins"]] == list(BUILTIN_PLUGINS)
    assert all(p["builtin"] and p["distribution"] == "tenctl" for p in data["plugins"])
    assert data["failed"] == []
    # The plugin commands are gone from the help too.
    helped = tenctl("--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert " lab " not in helped.stdout
    assert " lab " in tenctl("--help").stdout


def test_a_configured_allocator_from_a_disabled_plugin_is_named_in_the_error(lab, tmp_path):
    config = lab_config_with(lab, tmp_path, allocator="highest-free")
    without = clean_env(TENCTL_CONFIG=str(config), TENCTL_DISABLED_PLUGINS="example")
    done = tenctl("config", "check", env=without)
    assert done.returncode == 1
    assert "no VLAN allocator named 'highest-free' is installed (installed: first-free)" in done.stderr
    done = tenctl("config", "check", env=clean_env(TENCTL_CONFIG=str(config)))
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout


# ---------------------------------------------------------------- broken plugins


def test_a_plugin_that_fails_to_import_is_reported_and_blocks_changes(lab, tmp_path):
    run_ok(lab, "init", "--force")
    site = make_distribution(
        tmp_path / "site", "tenctl-broken-example", "broken", "tenctl_broken_example", BROKEN_SOURCE
    )
    env = with_path(clean_env(), site)

    listed = tenctl("plugins", env=env)
    assert listed.returncode == 1
    assert (
        "FAILED broken (tenctl-broken-example 0.0.1): RuntimeError: the broken plugin cannot start"
        in listed.stdout
    )
    assert "example (tenctl-example-plugin 0.3.1, plugin)" in listed.stdout  # the others still load
    as_json = tenctl("plugins", "--json", env=env)
    assert json.loads(as_json.stdout)["failed"] == [
        {
            "name": "broken",
            "distribution": "tenctl-broken-example",
            "version": "0.0.1",
            "error": "RuntimeError: the broken plugin cannot start",
        }
    ]

    mark = lab.mark()
    refused = lab.run("add", "-n", "acme", env={"PYTHONPATH": env["PYTHONPATH"]})
    assert refused.exit_code == 1
    assert "plugin failed to load: broken (tenctl-broken-example): RuntimeError" in refused.stderr
    assert "TENCTL_DISABLED_PLUGINS=<name>" in refused.stderr
    assert lab.requests_since(mark) == 0
    assert "tenant_acme" not in lab.pve.pools
    assert lab.pve.sdn_config["vnets"] == {}
    assert not (lab.dir / "etc-pve" / "tenants" / "acme.toml").exists()

    # The way out the error names works.
    run_ok(
        lab, "add", "-n", "acme", env={"PYTHONPATH": env["PYTHONPATH"], "TENCTL_DISABLED_PLUGINS": "broken"}
    )
    assert "tenant_acme" in lab.pve.pools
    assert lab.pve.sdn_running["vnets"]["vn100"]["tag"] == 100


# --------------------------------------------------------------- duplicate names


class Twin(VlanAllocator):
    name = "twin"

    def allocate(self, request):
        return Allocation(request.vlan_ranges[0][0], request.subnet_pool)


class TwinCheck(AuditCheck):
    name = "twin-check"

    def run(self, ctx):
        return [CheckResult(self.name, "pass", "ok")]


class AlphaPlugin:
    @hookimpl
    def tenctl_register_vlan_allocators(self, register):
        register(Twin())

    @hookimpl
    def tenctl_register_audit_checks(self, register):
        register(TwinCheck())


class BetaPlugin(AlphaPlugin):
    pass


def test_a_duplicate_provider_name_is_an_error_naming_both_plugins():
    pm = pluggy.PluginManager("tenctl")
    pm.add_hookspecs(hookspecs)
    pm.register(AlphaPlugin(), name="alpha")
    pm.register(BetaPlugin(), name="beta")
    plugins = PluginSet(pm)
    with pytest.raises(PluginError) as allocators:
        plugins.allocators()
    message = str(allocators.value)
    assert "VLAN allocator 'twin' is registered twice" in message
    assert "'alpha'" in message and "'beta'" in message
    with pytest.raises(PluginError) as checks:
        plugins.audit_checks()
    assert "audit check 'twin-check'" in str(checks.value)
    assert "'alpha'" in str(checks.value) and "'beta'" in str(checks.value)


def test_a_plugin_taking_a_core_provider_name_is_refused_on_the_command_line(tmp_path):
    site = make_distribution(
        tmp_path / "site", "tenctl-impostor", "impostor", "tenctl_impostor", DUPLICATE_SOURCE
    )
    done = tenctl("plugins", env=with_path(clean_env(), site))
    assert done.returncode == 1
    assert "VLAN allocator 'first-free' is registered twice" in done.stderr
    assert "'tenctl_core.allocation'" in done.stderr and "'impostor'" in done.stderr


# ------------------------------------------------------- the example plugin at work


def test_the_example_allocator_chosen_in_the_config_takes_the_highest_vlan(lab, tmp_path):
    config = lab_config_with(lab, tmp_path, allocator="highest-free")
    env = {"TENCTL_CONFIG": str(config)}
    run_ok(lab, "init", "--force", env=env)
    added = run_ok(lab, "add", "-n", "acme", "--json", env=env)
    summary = json.loads(added.stdout)
    assert (summary["vlan_id"], summary["subnet"], summary["vnet"]) == (999, "10.100.255.0/24", "vn999")

    running = lab.pve.sdn_running
    assert running["vnets"]["vn999"]["tag"] == 999
    assert running["vnets"]["vn999"]["zone"] == "tenants"
    subnet = running["subnets"]["tenants-10.100.255.0-24"]
    assert subnet["vnet"] == "vn999" and subnet["gateway"] == "10.100.255.1"
    assert lab.pve.sdn_config == running  # applied, nothing left pending
    assert "tenant_acme" in lab.pve.pools

    run_ok(lab, "add", "-n", "beta", env=env)
    assert lab.pve.sdn_running["vnets"]["vn998"]["tag"] == 998
    assert "tenants-10.100.254.0-24" in lab.pve.sdn_running["subnets"]
    with open(lab.dir / "etc-pve" / "tenants" / "beta.toml", "rb") as fh:
        record = tomllib.load(fh)
    assert (record["vlan"], record["subnet"]) == (998, "10.100.254.0/24")


def test_vlans_reported_by_a_plugin_are_not_allocated(lab):
    run_ok(lab, "init", "--force")
    reserved = {"TENCTL_EXAMPLE_RESERVED": "100, 101"}
    added = run_ok(lab, "add", "-n", "acme", "--json", env=reserved)
    assert json.loads(added.stdout)["vlan_id"] == 102
    vnets = lab.pve.sdn_running["vnets"]
    assert set(vnets) == {"vn102"} and vnets["vn102"]["tag"] == 102

    # Without the plugin nobody reports 100 as taken, and first-free takes it.
    run_ok(lab, "add", "-n", "beta", env={**reserved, "TENCTL_DISABLED_PLUGINS": "example"})
    assert set(lab.pve.sdn_running["vnets"]) == {"vn100", "vn102"}
    assert lab.pve.sdn_running["vnets"]["vn100"]["tag"] == 100

    # A VLAN the user asks for is checked against the plugin's report too.
    mark = lab.mark()
    refused = lab.run("add", "-n", "gamma", "--vlan", "101", env=reserved)
    assert refused.exit_code == 1
    assert "VLAN 101 is already in use" in refused.stderr
    assert "vn101" not in lab.pve.sdn_config["vnets"]
    assert "tenant_gamma" not in lab.pve.pools
    assert not any(r["method"] != "GET" for r in lab.requests_log_since(mark))


def test_health_runs_the_example_check(lab):
    run_ok(lab, "init", "--force")
    run_ok(lab, "add", "-n", "acme")
    run_ok(lab, "add", "-n", "beta")
    for name in ("acme", "beta"):
        lab.pve.add_tfa(f"admin_{name}@pve")  # else the tfa check warns
    report = json.loads(run_ok(lab, "health", "--json").stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["example-tenant-count"] == {
        "check": "example-tenant-count",
        "status": "pass",
        "message": "2 tenant record(s)",
        "details": [],
    }
    assert report["summary"]["status"] == "pass"
    assert {"proxmox-api", "records", "orphans"} <= set(checks)

    text = run_ok(lab, "health")
    assert "✓ example-tenant-count: 2 tenant record(s)" in text.stdout
    without = json.loads(run_ok(lab, "health", "--json", env={"TENCTL_DISABLED_PLUGINS": "example"}).stdout)
    assert "example-tenant-count" not in {c["check"] for c in without["checks"]}


def test_the_event_hook_gets_one_event_per_mutating_command(lab, tmp_path):
    events_file = tmp_path / "events.jsonl"
    env = {"TENCTL_EXAMPLE_EVENTS": str(events_file)}
    run_ok(lab, "init", "--force", env=env)
    run_ok(lab, "add", "-n", "acme", env=env)
    again = lab.run("add", "-n", "acme", env=env)
    assert again.exit_code == 1 and "already exists" in again.stderr
    run_ok(lab, "list", env=env)
    run_ok(lab, "show", "-n", "acme", env=env)
    run_ok(lab, "modify", "-n", "acme", "--cpu", "4", "--force", env=env)
    run_ok(lab, "suspend", "-n", "acme", "--reason", "unpaid invoice", env=env)
    assert lab.pve.lab_users["admin_acme@pve"]["enable"] == 0
    run_ok(lab, "resume", "-n", "acme", env=env)
    run_ok(lab, "add", "-n", "beta", "--dry-run", env=env)  # a dry run changes nothing and tells no one
    run_ok(lab, "remove", "-n", "acme", "--force", env=env)
    assert "tenant_acme" not in lab.pve.pools

    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines()]
    assert [(e["command"], e["outcome"]) for e in events] == [
        ("init", "success"),
        ("add", "success"),
        ("add", "refused"),
        ("modify", "success"),
        ("suspend", "success"),
        ("resume", "success"),
        ("remove", "success"),
    ]
    assert all(e["tenant"] == "acme" for e in events[1:])
    assert events[1]["details"]["vlan"] == 100 and events[1]["details"]["subnet"] == "10.100.0.0/24"
    assert events[4]["details"]["reason"] == "unpaid invoice"
    assert all(e["node"] == "pve1" for e in events)
    # Core's own listener put each event on its command's line in the audit trail, which also has a line
    # for every other command (the read-only ones, the dry run).
    audit = [json.loads(line) for line in (lab.dir / "log" / "tenant-management.log").read_text().splitlines()]
    assert [(e["command"], e["outcome"], e["changes"]) for e in audit] == [
        ("init", "success", True),
        ("add", "success", True),
        ("add", "refused", True),
        ("list", "success", False),
        ("show", "success", False),
        ("modify", "success", True),
        ("suspend", "success", True),
        ("resume", "success", True),
        ("add", "success", False),
        ("remove", "success", True),
    ]
    changes = [e for e in audit if e["changes"]]
    assert [(e["tenant"], e["message"], e["details"]) for e in changes] == [
        (e["tenant"], e["message"], e["details"]) for e in events
    ]
