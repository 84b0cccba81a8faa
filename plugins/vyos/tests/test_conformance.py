"""tenctl_core.testing's conformance kit, run for the ``vyos-edge`` provider against the lab's router over
SSH and over the HTTPS API. The peer's state is the router's committed and saved configuration, and
whether a confirm window is still open (one left open would roll back behind tenctl later).

Deleting the last source NAT rule leaves the empty container ``nat source`` (the lab, like VyOS, removes
an emptied tag node such as ``rule`` but keeps its plain parent): the snapshot counts an empty container as
absent, which is what it means to the router."""

from __future__ import annotations

from typing import Any

import pytest
from tenctl_lab.conformance import VyosPeer

from tenctl_core.testing import ProviderConformance

WAN = ("--wan-ip", "203.0.113.2/24", "--wan-gw", "203.0.113.1")


EMPTY_CONTAINERS = {"set nat", "set nat source"}


def without_empty_containers(lines: list[str]) -> list[str]:
    return [line for line in lines if line not in EMPTY_CONTAINERS]


class TestVyosEdge(ProviderConformance):
    provider = "vyos-edge"

    @pytest.fixture(params=["ssh", "api"])
    def peer(self, request: Any, lab: Any) -> VyosPeer:
        peer = VyosPeer(lab, lab.edge_config(request.param))
        for args in (("init",), ("vyos", "configure", *WAN, "--force")):
            done = peer.run(*args)
            assert done.exit_code == 0, (args, done.stdout, done.stderr)
        return peer

    def snapshot(self, peer: VyosPeer) -> Any:
        router = peer.router
        return {
            "running": without_empty_containers(router.running_commands()),
            "saved": without_empty_containers(router.saved_commands()),
            "window open": router.commit_confirm_pending(),
        }

    def make_drift(self, peer: VyosPeer, tenant: str) -> None:
        """Someone deletes the tenant's NAT rule and changes its gateway address by hand."""
        running = peer.router.running_commands()
        [rule] = {line.split()[4] for line in running if line.startswith("set nat source rule") and f":{tenant})" in line}
        [vif] = {
            line.split()[5]
            for line in running
            if line.startswith("set interfaces ethernet eth1 vif") and f":{tenant})" in line
        }
        peer.router.configure(
            f"delete nat source rule {rule}",
            f"set interfaces ethernet eth1 vif {vif} address '192.0.2.1/24'",
        )
