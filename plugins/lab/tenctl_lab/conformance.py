"""Conformance tests a plugin's own test suite subclasses: registration through the entry point,
a light entry module, and (for a placeholder) a provider that stays out of every plan.

    from tenctl_lab.conformance import ProviderRegistration

    class TestRegistration(ProviderRegistration):
        entry_point = "vyos"
        distribution = "tenctl-vyos"
        module = "tenctl_vyos.plugin"
        provider = "vyos-edge"
        kind = "edge"

The tests run tenctl against the ``lab`` fixture and read the lab's request log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from typing import Any, ClassVar

HEAVY = ("netmiko", "napalm", "paramiko", "asyncssh")
"""Device libraries no entry module may import: they cost up to a second of start-up."""

# kind -> (registration hook, registry accessor on the plugin set, words in `tenctl plugins`, layer)
KINDS = {
    "edge": ("tenctl_register_edge_backends", "edge_backends", "edge backend", "edge"),
    "network": ("tenctl_register_network_provisioners", "network_provisioners", "network provisioner", "network"),
}


def fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run code in a new interpreter (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )


def succeeded(result: Any) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


class ProviderRegistration:
    """Subclass with the plugin's names; ``placeholder = False`` once the provider does real work."""

    entry_point: ClassVar[str]
    distribution: ClassVar[str]
    module: ClassVar[str]
    provider: ClassVar[str]
    kind: ClassVar[str]
    placeholder: ClassVar[bool] = True

    def test_entry_point_is_declared_in_the_tenctl_group(self) -> None:
        found = [ep for ep in metadata.entry_points(group="tenctl") if ep.name == self.entry_point]
        assert len(found) == 1
        assert found[0].value == self.module
        assert found[0].dist is not None and found[0].dist.name == self.distribution

    def test_loading_and_registering_imports_no_device_library(self) -> None:
        hook = KINDS[self.kind][0]
        done = fresh_python(f"""
            import json, sys
            from importlib import metadata
            [ep] = [ep for ep in metadata.entry_points(group="tenctl") if ep.name == {self.entry_point!r}]
            registered = []
            ep.load().{hook}(register=registered.append)
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
            print(json.dumps({{"heavy": heavy, "registered": [p.name for p in registered]}}))
        """)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer == {"heavy": [], "registered": [self.provider]}

    def test_entry_module_imports_even_when_the_device_libraries_are_missing(self) -> None:
        hook = KINDS[self.kind][0]
        done = fresh_python(f"""
            import sys
            class Refuse:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] in {HEAVY!r}:
                        raise ImportError("blocked by the test: " + name)
                    return None
            sys.meta_path.insert(0, Refuse())
            import {self.module} as module
            registered = []
            module.{hook}(register=registered.append)
            print(registered[0].name)
        """)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == self.provider

    def test_plugins_json_lists_the_provider_under_its_name(self, lab: Any) -> None:
        words = KINDS[self.kind][2]
        data = json.loads(succeeded(lab.run("plugins", "--json")).stdout)
        assert data["failed"] == []
        plugin = {p["name"]: p for p in data["plugins"]}[self.entry_point]
        assert plugin["distribution"] == self.distribution and plugin["builtin"] is False
        assert f"{words} {self.provider}" in plugin["provides"]
        owners = [p["name"] for p in data["plugins"] if any(i.endswith(" " + self.provider) for i in p["provides"])]
        assert owners == [self.entry_point]

    def test_a_placeholder_reports_itself_disabled(self, lab: Any) -> None:
        from tenctl_core.config import load_config
        from tenctl_core.context import Context
        from tenctl_core.operations import providers
        from tenctl_core.plugins import get_plugin_manager

        ctx = Context(config=load_config(str(lab.config)), plugins=get_plugin_manager(), command="add", dry_run=True)
        registry = getattr(ctx.plugins, KINDS[self.kind][1])()
        provider = registry.get(self.provider)
        assert registry.owner(self.provider) == self.entry_point
        assert isinstance(provider, registry.base)
        if self.placeholder:
            assert provider.enabled(ctx) is False and "disabled" in provider.description
            assert all(p.name != self.provider for p in providers(ctx))

    def test_a_placeholder_contributes_no_step(self, lab: Any) -> None:
        succeeded(lab.run("init"))
        mark = lab.mark()
        plan = json.loads(succeeded(lab.run("add", "-n", "acme", "--dry-run", "--json")).stdout)
        assert plan["dry_run"] is True and plan["steps"]
        step_providers = {step["provider"] for step in plan["steps"]}
        assert "proxmox-access" in step_providers
        if self.placeholder:
            assert self.provider not in step_providers
        assert [r for r in lab.requests_log_since(mark) if r["method"] != "GET"] == []


class LabPeer:
    """The lab as the peer of :class:`tenctl_core.testing.ProviderConformance`."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    def run(self, *args: str) -> Any:
        return self.lab.run(*args)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tenctl_core", *args],
            env=self.lab.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def mark(self) -> int:
        return int(self.lab.mark())

    def requests_since(self, mark: int) -> int:
        return int(self.lab.requests_since(mark))

    def fail_nth(self, k: int) -> None:
        self.lab.pve.fail_nth(k, 500, f"conformance fault at request {k}")

    def lose_nth(self, k: int) -> None:
        self.lab.pve.lose_nth(k)

    def hold_nth(self, k: int, seconds: float) -> None:
        self.lab.pve.hold_nth(k, seconds)

    def holding(self) -> int:
        return int(self.lab.pve.holding)

    def clear_faults(self) -> None:
        self.lab.pve.clear_faults()

    def settle(self) -> None:
        deadline = time.monotonic() + 60
        pve = self.lab.pve
        while (
            pve.holding
            or pve.requests_seen() > len(self.lab._log_lines())  # received, not yet answered
            or any(t["status"] == "running" for t in pve.tasks.values())
        ):
            assert time.monotonic() < deadline, "the lab did not settle"
            time.sleep(0.01)


class VyosPeer(LabPeer):
    """The lab's router as the peer of :class:`tenctl_core.testing.ProviderConformance`: tenctl runs with a
    configuration whose [vyos] table points at it, and a request is one SSH command or one API call."""

    def __init__(self, lab: Any, config: Any) -> None:
        super().__init__(lab)
        self.config = str(config)
        self.router = lab.vyos

    def run(self, *args: str) -> Any:
        return self.lab.run("--config", self.config, *args)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return super().start("--config", self.config, *args)

    def mark(self) -> int:
        return int(self.router.mark())

    def requests_since(self, mark: int) -> int:
        return len([line for line in self.router.log_lines(mark) if line.get("transport") in ("ssh", "api")])

    def fail_nth(self, k: int) -> None:
        self.router.refuse_nth(k)

    def lose_nth(self, k: int) -> None:
        self.router.lose_nth(k)

    def hold_nth(self, k: int, seconds: float) -> None:
        self.router.hold_nth(k, seconds)

    def holding(self) -> int:
        return int(self.router.holding)

    def clear_faults(self) -> None:
        self.router.clear_faults()

    def settle(self) -> None:
        deadline = time.monotonic() + 60
        while self.router.holding:
            assert time.monotonic() < deadline, "the lab router did not settle"
            time.sleep(0.01)


class SwitchPeer(LabPeer):
    """The lab's switches as the peer of :class:`tenctl_core.testing.ProviderConformance`: tenctl runs with a
    [switches] inventory of all of them; faults go to one switch (the last of the inventory), whose eAPI
    requests are the ones counted, so that "the k-th request" is the same at every run although the
    switches are changed in parallel."""

    def __init__(self, lab: Any, config: Any, target: str) -> None:
        super().__init__(lab)
        self.config = str(config)
        self.switch = lab.switches[target]

    def run(self, *args: str) -> Any:
        return self.lab.run("--config", self.config, *args)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return super().start("--config", self.config, *args)

    def mark(self) -> int:
        return int(self.switch.mark())

    def requests_since(self, mark: int) -> int:
        return len([line for line in self.switch.log_lines(mark) if line.get("transport") == "eapi"])

    def fail_nth(self, k: int) -> None:
        self.switch.refuse_nth(k)

    def lose_nth(self, k: int) -> None:
        self.switch.lose_nth(k)

    def hold_nth(self, k: int, seconds: float) -> None:
        self.switch.hold_nth(k, seconds)

    def holding(self) -> int:
        return int(self.switch.holding)

    def clear_faults(self) -> None:
        self.switch.clear_faults()

    def settle(self) -> None:
        deadline = time.monotonic() + 60
        while self.switch.holding:
            assert time.monotonic() < deadline, "the lab switch did not settle"
            time.sleep(0.01)
