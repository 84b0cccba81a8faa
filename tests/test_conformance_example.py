"""tenctl_core.testing's conformance kit, run for the example plugin's ``example-auditors`` provider."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import tomli_w
from tenctl_lab.conformance import LabPeer

from tenctl_core.testing import ProviderConformance


class TestExampleAuditors(ProviderConformance):
    provider = "example-auditors"

    @pytest.fixture
    def peer(self, lab: Any) -> LabPeer:
        config = tomllib.loads(lab.config.read_text())
        config["example"] = {"auditors": True}
        lab.config.write_text(tomli_w.dumps(config))
        assert lab.run("init").exit_code == 0
        return LabPeer(lab)

    def snapshot(self, peer: LabPeer) -> Any:
        groups = peer.lab.pve.lab_groups
        return {g: dict(info) for g, info in groups.items() if g.startswith("audit_")}

    def make_drift(self, peer: LabPeer, tenant: str) -> None:
        peer.lab.pve.lab_groups.pop(f"audit_{tenant}")


def test_a_bad_key_in_the_plugin_table_is_named_by_config_check(lab: Any) -> None:
    config = tomllib.loads(lab.config.read_text())
    config["example"] = {"auditor": True}
    lab.config.write_text(tomli_w.dumps(config))
    result = lab.run("config", "check")
    assert result.exit_code == 2, result.stderr
    assert "unknown key example.auditor" in result.stderr


def test_a_table_no_installed_plugin_reads_is_refused(lab: Any) -> None:
    config = tomllib.loads(lab.config.read_text())
    config["nobody"] = {"x": 1}
    lab.config.write_text(tomli_w.dumps(config))
    for args in (("config", "check"), ("list",)):
        result = lab.run(*args)
        assert result.exit_code == 2, result.stderr
        assert "unknown section [nobody]: no installed plugin reads it" in result.stderr
