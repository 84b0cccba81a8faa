"""tenctl_core.testing's conformance kit, run for the ``sdn-vnet`` provider on the lab."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tenctl_lab.conformance import LabPeer

from tenctl_core.testing import ProviderConformance


class TestSdnVnet(ProviderConformance):
    provider = "sdn-vnet"

    @pytest.fixture
    def peer(self, lab: Any) -> LabPeer:
        assert lab.run("init").exit_code == 0
        return LabPeer(lab)

    def snapshot(self, peer: LabPeer) -> Any:
        pve = peer.lab.pve
        return {
            "pending": copy.deepcopy(pve.sdn_config),
            "running": copy.deepcopy(pve.sdn_running),
            "lock": pve.sdn_lock,
            "acl": sorted(
                (e["path"], e["ugid"], e["roleid"]) for e in pve.lab_acl if e["path"].startswith("/sdn/")
            ),
        }

    def make_drift(self, peer: LabPeer, tenant: str) -> None:
        """Someone deletes the tenant's VNet and subnet and applies."""
        pve = peer.lab.pve
        [vnet] = [v for v, d in pve.sdn_running["vnets"].items() if f":{tenant})" in d.get("alias", "")]
        for state in (pve.sdn_config, pve.sdn_running):
            del state["vnets"][vnet]
            for sid in [s for s, d in state["subnets"].items() if d.get("vnet") == vnet]:
                del state["subnets"][sid]
        pve.state_changed()
