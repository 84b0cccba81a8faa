"""tenctl_core.testing's conformance kit, run for the ``switch-vlans`` provider against the lab's four
switches; faults go to sw-b2 while the others are changed in parallel. The peer's state is every switch's
running configuration and whether a commit timer is still pending (one left would roll back later)."""

from __future__ import annotations

from typing import Any

import pytest
from tenctl_lab.conformance import SwitchPeer
from test_switches_e2e import switch_config

from tenctl_core.testing import ProviderConformance


class TestSwitchVlans(ProviderConformance):
    provider = "switch-vlans"

    @pytest.fixture
    def peer(self, lab: Any) -> SwitchPeer:
        peer = SwitchPeer(lab, switch_config(lab), "sw-b2")
        done = peer.run("init")
        assert done.exit_code == 0, (done.stdout, done.stderr)
        return peer

    def snapshot(self, peer: SwitchPeer) -> Any:
        switches = peer.lab.switches
        return {
            name: (switch.running_config(), bool(switch.commit_timer_pending()))
            for name, switch in sorted(switches.items())
        }

    def make_drift(self, peer: SwitchPeer, tenant: str) -> None:
        """Someone deletes the tenant's VLAN on sw-a1 by hand."""
        switch = peer.lab.switches["sw-a1"]
        [vlan] = [v for v, attrs in switch.vlans().items() if attrs["name"] == tenant]
        switch.configure(f"no vlan {vlan}")
