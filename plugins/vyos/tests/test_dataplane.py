"""Tenant isolation on a data plane: the router's committed configuration, made by the real command
line against the lab, given to the Linux kernel (namespaces, bridges, nftables) and probed with packets.

The edge tests read the configuration back; these show what it does to traffic. The command line runs
once for the module (``init``, ``vyos configure``, ``add`` acme and beta, ``suspend`` beta, ``resume``
beta) and the committed configuration is kept after each step; every test builds a fresh data plane
from the configuration of its step (see :mod:`tenctl_lab.vyos.dataplane`) and removes it afterwards.

Each check is one packet answered or not (an ICMP echo with a one-second timeout, a TCP connection, a
UDP datagram); blocked paths are always checked next to an open path from the same host, so a dead
host cannot pass for isolation. The tests skip, saying what is missing, where there is no root, no
``ip`` or ``nft``, or no network namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from tenctl_lab.pytest_plugin import start_lab
from tenctl_lab.vyos import dataplane
from tenctl_lab.vyos.dataplane import DataPlane, Host, Untranslatable, reachability_table, read_config
from tenctl_vyos import model
from test_edge import WAN, edge_config, ok

WAN_ADDRESS = "203.0.113.2"
TENANTS = ("acme", "beta")
FORGED = "192.0.2.77"  # TEST-NET-1: in no tenant's subnet


class IsolationHole(AssertionError):
    """The isolation a test asks for did not hold: a hole in the router's rule set (forged source
    addresses and the WAN side reaching tenants were such holes, closed by source validation and forward
    rule 25), as opposed to a broken data plane."""


@dataclass
class Story:
    """The committed configuration after each step of the command-line story, and the tenants' records."""

    configs: dict[str, list[str]]
    records: dict[str, dict]

    def gateway(self, tenant: str) -> str:
        return self.records[tenant]["gateway"]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, lab_pki: tuple[str, str]) -> Iterator[Story]:
    """One lab for the module (the ``lab`` fixture is per test; the command line's run is the slow
    part, and every test here only reads the configurations it leaves)."""
    lab = start_lab(tmp_path_factory.mktemp("dataplane-lab"), lab_pki)
    try:
        config = edge_config(lab, "ssh")

        def run(*args: str) -> None:
            ok(lab.run("--config", str(config), *args))

        configs = {}
        run("init")
        run("vyos", "configure", *WAN, "--force")
        for tenant in TENANTS:
            run("add", "-n", tenant)
        configs["active"] = lab.vyos.running_commands()
        records = {
            tenant: json.loads(ok(lab.run("--config", str(config), "show", "-n", tenant, "--json")).stdout)
            for tenant in TENANTS
        }
        run("suspend", "-n", "beta", "--reason", "x")
        configs["suspended"] = lab.vyos.running_commands()
        run("resume", "-n", "beta")
        configs["resumed"] = lab.vyos.running_commands()
        yield Story(configs, records)
    finally:
        lab.close()


@pytest.fixture(scope="module")
def namespaces_here() -> None:
    """Skip, naming what is missing, where a data plane cannot be built."""
    reason = dataplane.missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def plane_for(namespaces_here: None, story: Story) -> Iterator[Callable[[str], DataPlane]]:
    """Build a data plane from the configuration of a step; every one built is removed at teardown,
    whatever the test did."""
    built: list[DataPlane] = []

    def build(step: str) -> DataPlane:
        plane = DataPlane.build(story.configs[step])
        built.append(plane)
        return plane

    try:
        yield build
    finally:
        for plane in built:
            plane.close()


def hosts(plane: DataPlane, story: Story, tenant: str) -> tuple[Host, ...]:
    """The tenant's hosts: on the segment whose router address is the gateway tenctl recorded."""
    return plane.segment_with_gateway(story.gateway(tenant)).hosts


def assert_reachability(plane: DataPlane, expected: dict[tuple[str, str], bool]) -> None:
    seen = plane.reachability(expected)
    assert seen == expected, (
        f"\nexpected:\n{reachability_table(expected)}\nseen:\n{reachability_table(seen)}\n{plane.ruleset_listing()}"
    )


# ---------------------------------------------------------------------------- the configuration read


def tenctl_lines() -> list[str]:
    """A base configuration and one tenant, written by tenctl_vyos.model's own writers."""
    marker = "Tenant acme (tenctl:test:acme)"
    return [
        *model.base_lines(lan="eth1", wan="eth0", wan_address="203.0.113.2/24", wan_gateway="203.0.113.1"),
        *model.vif_lines("eth1", 100, {"address": "10.100.0.1/24", "description": marker}),
        *model.nat_lines(
            1000,
            {
                "description": marker,
                "outbound": "eth0",
                "source": "10.100.0.0/24",
                "translation": "masquerade",
            },
        ),
        model.member_line("set", model.TENANTS_GROUP, "10.100.0.0/24"),
    ]


def test_the_committed_configuration_reads_as_the_tenants_edge(story: Story) -> None:
    config = read_config(story.configs["active"])
    assert config.wan == "eth0" and str(config.next_hop) == "203.0.113.1"
    assert [str(a) for a in config.addresses["eth0"]] == ["203.0.113.2/24"]
    assert {str(a.ip) for a in config.segments.values()} == {story.gateway(t) for t in TENANTS}
    assert sorted(config.forward_rules) == [10, 11, 20, 25, 30]
    assert sorted(config.input_rules) == [10, 20, 30, 40]
    assert config.source_validation == "strict"
    assert sorted(str(rule.source) for rule in config.nat_rules.values()) == sorted(
        story.records[t]["subnet"] for t in TENANTS
    )
    suspended = read_config(story.configs["suspended"])
    assert [str(n) for n in suspended.groups[model.SUSPENDED_GROUP]] == [story.records["beta"]["subnet"]]


@pytest.mark.parametrize(
    "line",
    [
        "set firewall ipv4 forward filter rule 25 protocol 'gre'",
        "set firewall ipv4 forward filter rule 25 outbound-interface name 'eth0'",
        "set firewall ipv4 forward filter rule 30 disable",
        "set firewall ipv4 forward filter rule 30 source address '10.100.0.0/24'",
        "set firewall ipv4 forward filter rule 40 action 'jump'",
        "set firewall ipv4 forward filter rule 40 state 'established' 'enable'",
        "set firewall ipv4 forward filter rule 40 destination group network-group 'NOT-DEFINED'",
        "set firewall ipv4 forward filter default-action 'reject'",
        "set firewall ipv4 output filter rule 10 action 'drop'",
        "set firewall global-options source-validation 'sometimes'",
        "set nat source rule 1000 translation address '203.0.113.9'",
        "set nat source rule 1000 source address '!10.100.0.0/24'",
        "set nat source rule 1000 exclude",
        "set nat destination rule 10 translation address '10.100.0.2'",
        "set protocols static route 10.200.0.0/16 next-hop '10.100.0.9'",
        "set interfaces bridge br0 address '10.9.0.1/24'",
        "set interfaces ethernet eth1 vif 100 address '10.100.9.1/24'",
        "set interfaces ethernet eth1 vif-s 100 address '10.9.0.1/24'",
        "set policy route PBR rule 10 set table '10'",
    ],
)
def test_what_the_data_plane_does_not_model_stops_it(line: str) -> None:
    lines = tenctl_lines()
    read_config(lines)  # what tenctl writes reads
    with pytest.raises(Untranslatable):
        read_config([*lines, line])


# ----------------------------------------------------------------------------------- the data plane


def test_a_tenants_hosts_reach_each_other_and_their_gateway(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("active")
    expected = {}
    for tenant in TENANTS:
        first, second = hosts(plane, story, tenant)
        expected[(first.namespace, str(second.address))] = True
        expected[(second.namespace, str(first.address))] = True
        expected[(first.namespace, story.gateway(tenant))] = True
    assert_reachability(plane, expected)


def test_a_tenant_reaches_the_internet_from_the_routers_wan_address(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("active")
    expected = {}
    for tenant in TENANTS:
        for host in hosts(plane, story, tenant):
            assert plane.source_seen_by_uplink(host.namespace) == WAN_ADDRESS, (tenant, host)
            expected[(host.namespace, str(plane.internet))] = True
            # The uplink has no route to a tenant subnet: answers come back only because of the NAT.
            expected[(plane.uplink, str(host.address))] = False
    assert_reachability(plane, expected)


def test_active_tenants_do_not_reach_each_other(plane_for: Callable[[str], DataPlane], story: Story) -> None:
    plane = plane_for("active")
    acme, beta = hosts(plane, story, "acme"), hosts(plane, story, "beta")
    expected = {}
    for here, there in ((acme, beta), (beta, acme)):
        expected[(here[0].namespace, str(plane.internet))] = True  # the host is up and routed
        for host in there:
            expected[(here[0].namespace, str(host.address))] = False
            expected[(here[1].namespace, str(host.address))] = False
    assert_reachability(plane, expected)


def test_a_suspended_tenant_reaches_nothing_while_the_others_keep_the_internet(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("suspended")
    acme, beta = hosts(plane, story, "acme"), hosts(plane, story, "beta")
    # Even a WAN neighbour that routes beta's subnet to the router does not reach it (rule 11).
    plane.run(plane.uplink, "ip", "route", "add", story.records["beta"]["subnet"], "via", WAN_ADDRESS)
    expected = {
        (beta[0].namespace, str(beta[1].address)): True,  # beta's hosts are up: only the router cut them
        (beta[0].namespace, str(plane.internet)): False,
        (beta[1].namespace, str(plane.internet)): False,
        (beta[0].namespace, str(acme[0].address)): False,
        (acme[0].namespace, str(beta[0].address)): False,
        (plane.uplink, str(beta[0].address)): False,
        (acme[0].namespace, str(plane.internet)): True,
        (acme[1].namespace, str(plane.internet)): True,
    }
    assert_reachability(plane, expected)
    assert plane.source_seen_by_uplink(acme[0].namespace) == WAN_ADDRESS


def test_a_resumed_tenant_reaches_the_internet_again_and_still_not_the_others(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("resumed")
    acme, beta = hosts(plane, story, "acme"), hosts(plane, story, "beta")
    expected = {
        (beta[0].namespace, str(plane.internet)): True,
        (beta[1].namespace, str(plane.internet)): True,
        (beta[0].namespace, str(acme[0].address)): False,
        (acme[0].namespace, str(beta[0].address)): False,
    }
    assert_reachability(plane, expected)
    assert plane.source_seen_by_uplink(beta[0].namespace) == WAN_ADDRESS


# ------------------------------------------------------------------- the ways around the rules


# Each test below tries a way around the isolation and raises IsolationHole when it works. The honest
# counterparts (the same host sending from its own address, the uplink without a route to the subnet)
# are blocked, as the tests above show. The first three were open holes until the base configuration
# got strict source validation, forward rule 25 and the input filter.


def test_a_forged_source_address_does_not_carry_a_tenant_into_another(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("active")
    acme, beta = hosts(plane, story, "acme"), hosts(plane, story, "beta")
    plane.run(acme[0].namespace, "ip", "address", "add", f"{FORGED}/32", "dev", "eth0")
    forged = plane.datagram_source_seen(acme[0].namespace, FORGED, beta[0].namespace, str(beta[0].address))
    if forged is not None:
        raise IsolationHole(f"a datagram from acme's host with source {forged} reached beta's host")


def test_a_suspended_tenant_sends_nothing_out_even_from_a_forged_address(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("suspended")
    beta = hosts(plane, story, "beta")
    plane.run(beta[0].namespace, "ip", "address", "add", f"{FORGED}/32", "dev", "eth0")
    forged = plane.datagram_source_seen(beta[0].namespace, FORGED, plane.uplink, str(plane.internet))
    if forged is not None:
        raise IsolationHole(f"a datagram from suspended beta's host with source {forged} reached the uplink")


def test_the_wan_segment_does_not_reach_an_active_tenant(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    plane = plane_for("active")
    acme = hosts(plane, story, "acme")
    plane.run(plane.uplink, "ip", "route", "add", story.records["acme"]["subnet"], "via", WAN_ADDRESS)
    if plane.reachability([(plane.uplink, str(acme[0].address))])[(plane.uplink, str(acme[0].address))]:
        raise IsolationHole(f"the uplink reached acme's host {acme[0].address} through the router")


def test_a_tenant_reaches_no_service_of_the_router_but_may_ping_its_gateway(
    plane_for: Callable[[str], DataPlane], story: Story
) -> None:
    """The input filter: a datagram from a tenant host to its gateway (any service of the router: SSH,
    the API, DNS...) is dropped; an echo is answered for an active tenant, not for a suspended one."""
    plane = plane_for("suspended")
    acme, beta = hosts(plane, story, "acme"), hosts(plane, story, "beta")
    gateway = story.gateway("acme")
    seen = plane.datagram_source_seen(acme[0].namespace, str(acme[0].address), plane.router, gateway)
    if seen is not None:
        raise IsolationHole(f"a datagram from acme's host reached the router's own address {gateway}")
    echoes = plane.reachability(
        [(acme[0].namespace, gateway), (beta[0].namespace, story.gateway("beta"))]
    )
    assert echoes == {(acme[0].namespace, gateway): True, (beta[0].namespace, story.gateway("beta")): False}
