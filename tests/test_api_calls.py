"""API requests per command, counted from the lab's request log: constant whatever the number of tenants."""

from __future__ import annotations

import pytest
from conftest import ok, seed_tenants

# add: the role listing (the tenant role exists) and 7 reads to observe every layer; pool, group and
# user each written and read back (6); the group's ACL entries each written and read back (the tenant
# role on the pool, PVESDNUser on the VNet: 4, plus 2 per allowed storage); the SDN batch (lock, VNet,
# subnet, apply) and its read-back of VNet and subnet (6).
ADD_BUDGET_BASE = 24
LIST_BUDGET = 3
# health: the version, the cluster's status, each of the lab's three nodes' interfaces (the zone's bridge),
# the SDN zones and VNets, taking and giving back the SDN lock (is it held? is anything pending?), pools,
# groups, users, ACL, roles, second factors and realms; the guests (/cluster/resources, for the limits);
# tenctl's own user's API tokens (the credentials check: is a rotation's token left over?).
HEALTH_BUDGET = 18


def requests_of(lab, *args):
    mark = lab.mark()
    ok(lab.run(*args))
    return lab.requests_log_since(mark)


@pytest.mark.parametrize("existing", [0, 200])
def test_add_and_list_request_counts(cluster, existing):
    lab = cluster
    seed_tenants(lab, existing)
    storages = 1  # the lab's configuration lets tenants use local-lvm
    add = requests_of(lab, "add", "-n", "acme")
    assert len(add) <= ADD_BUDGET_BASE + 2 * storages, "\n".join(f"{r['method']} {r['path']}" for r in add)
    listing = requests_of(lab, "list", "--json")
    assert len(listing) <= LIST_BUDGET, listing
    show = requests_of(lab, "show", "-n", "acme")
    assert len(show) <= LIST_BUDGET, show
    assert not [r for r in add + listing if r["status"] is None or r["status"] >= 400]


def test_request_counts_do_not_grow_with_tenants(cluster):
    lab = cluster
    seed_tenants(lab, 5, start_vlan=600)
    few = (
        len(requests_of(lab, "add", "-n", "first")),
        len(requests_of(lab, "list", "--json")),
        len(requests_of(lab, "health", "--json")),
    )
    seed_tenants(lab, 150, start_vlan=700)
    many = (
        len(requests_of(lab, "add", "-n", "second")),
        len(requests_of(lab, "list", "--json")),
        len(requests_of(lab, "health", "--json")),
    )
    assert few == many


def test_health_and_usage_make_the_same_requests_with_0_200_and_1000_tenants(cluster):
    lab = cluster
    seen: dict[int, list[tuple[str, str]]] = {}
    usage: dict[int, list[tuple[str, str]]] = {}
    seeded = 0
    for total in (0, 200, 1000):
        seed_tenants(lab, total - seeded, start_vlan=500 + seeded)
        seeded = total
        seen[total] = sorted((r["method"], r["path"]) for r in requests_of(lab, "health", "--json"))
        usage[total] = [(r["method"], r["path"]) for r in requests_of(lab, "usage", "--json")]
    assert seen[0] == seen[200] == seen[1000], seen
    assert len(seen[0]) <= HEALTH_BUDGET, seen[0]
    assert usage[0] == usage[200] == usage[1000] == [("GET", "/api2/json/cluster/resources")], usage
