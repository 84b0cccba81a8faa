"""The vyos plugin registers its placeholder edge backend without importing any device library."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata

ENTRY_POINT = "vyos"
DISTRIBUTION = "tenctl-vyos"
MODULE = "tenctl_vyos.plugin"
PROVIDER = "vyos-edge"
HEAVY = ("netmiko", "napalm", "paramiko", "asyncssh")


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a new interpreter (nothing imported yet) and return what it did."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_entry_point_is_declared_in_the_tenctl_group():
    found = [ep for ep in metadata.entry_points(group="tenctl") if ep.name == ENTRY_POINT]
    assert len(found) == 1
    assert found[0].value == MODULE
    assert found[0].dist is not None and found[0].dist.name == DISTRIBUTION


def test_loading_and_registering_imports_no_device_library():
    done = fresh_python(f"""
        import json, sys
        from importlib import metadata
        [ep] = [ep for ep in metadata.entry_points(group="tenctl") if ep.name == {ENTRY_POINT!r}]
        module = ep.load()
        registered = []
        module.tenctl_register_edge_backends(register=registered.append)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(json.dumps({{"heavy": heavy, "registered": [p.name for p in registered]}}))
    """)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["heavy"] == []
    assert answer["registered"] == [PROVIDER]


def test_entry_module_imports_even_when_the_device_libraries_are_missing():
    # A finder that refuses the device libraries: the entry module must not need them to load.
    done = fresh_python(f"""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r}:
                    raise ImportError("blocked by the test: " + name)
                return None
        sys.meta_path.insert(0, Refuse())
        import {MODULE} as module
        registered = []
        module.tenctl_register_edge_backends(register=registered.append)
        print(registered[0].name)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == PROVIDER


def test_plugins_json_lists_the_edge_backend_under_its_name(lab):
    data = json.loads(ok(lab.run("plugins", "--json")).stdout)
    assert data["failed"] == []
    by_name = {p["name"]: p for p in data["plugins"]}
    plugin = by_name[ENTRY_POINT]
    assert plugin["distribution"] == DISTRIBUTION and plugin["builtin"] is False
    assert f"edge backend {PROVIDER}" in plugin["provides"]
    owners = [p["name"] for p in data["plugins"] if any(item.endswith(" " + PROVIDER) for item in p["provides"])]
    assert owners == [ENTRY_POINT]


def test_the_placeholder_reports_itself_disabled(lab):
    from tenctl_core.config import load_config
    from tenctl_core.context import Context
    from tenctl_core.operations import providers
    from tenctl_core.plugins import get_plugin_manager
    from tenctl_core.providers import EdgeBackend

    ctx = Context(config=load_config(str(lab.config)), plugins=get_plugin_manager(), command="add", dry_run=True)
    registry = ctx.plugins.edge_backends()
    backend = registry.get(PROVIDER)
    assert registry.owner(PROVIDER) == ENTRY_POINT
    assert isinstance(backend, EdgeBackend)
    assert backend.enabled(ctx) is False
    assert "disabled" in backend.description
    assert all(p.name != PROVIDER for p in providers(ctx))


def test_dry_run_add_contains_no_step_from_the_placeholder(lab):
    ok(lab.run("init"))
    mark = lab.mark()
    plan = json.loads(ok(lab.run("add", "-n", "acme", "--dry-run", "--json")).stdout)
    assert plan["dry_run"] is True and plan["steps"]
    step_providers = {step["provider"] for step in plan["steps"]}
    assert "core" in step_providers
    assert PROVIDER not in step_providers
    assert not [step for step in plan["steps"] if step["layer"] == "edge"]
    assert [r for r in lab.requests_log_since(mark) if r["method"] != "GET"] == []
