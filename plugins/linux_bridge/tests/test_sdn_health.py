"""`tenctl health` on the SDN side: the tenants' zone applied, usable on every online node, and its bridge
there (one read of each node's interfaces)."""

from __future__ import annotations

import json

from conftest import calls, ok


def sdn_zone(lab):
    result = lab.run("health", "--json")
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "sdn-zone"]
    return result.exit_code, check


def test_the_zone_and_its_bridge_on_every_node(cluster, other):
    lab = cluster
    mark = lab.mark()
    code, check = sdn_zone(lab)
    assert code == 0 and check["status"] == "pass" and "3 online node(s)" in check["message"]
    assert sorted(p for m, p in calls(lab, mark) if p.endswith("/network")) == [
        f"/nodes/pve{n}/network" for n in (1, 2, 3)
    ]

    # The zone moved by hand to a bridge no node has.
    other.call("PUT", "/cluster/sdn/zones/tenants", bridge="vmbr7")
    other.call("PUT", "/cluster/sdn", **{"release-lock": 1})
    code, check = sdn_zone(lab)
    assert code == 1 and check["status"] == "fail"
    assert [d for d in check["details"] if "has no bridge vmbr7" in d] == [
        f"node pve{n} has no bridge vmbr7, which zone tenants puts its VNets on" for n in (1, 2, 3)
    ]

    # Back on vmbr0 but limited to two nodes; an offline node is not asked.
    other.call("PUT", "/cluster/sdn/zones/tenants", bridge="vmbr0", nodes="pve1,pve2")
    other.call("PUT", "/cluster/sdn", **{"release-lock": 1})
    code, check = sdn_zone(lab)
    assert (
        check["status"] == "fail" and "zone tenants is limited to pve1, pve2: not on pve3" in check["details"]
    )
    lab.pve.set_node_offline("pve3")
    mark = lab.mark()
    code, check = sdn_zone(lab)
    assert check["status"] == "pass" and "2 online node(s)" in check["message"]
    assert "/nodes/pve3/network" not in [p for _, p in calls(lab, mark)]


def test_a_missing_zone_says_to_run_init(lab):
    ok(lab.run("list"))
    code, check = sdn_zone(lab)
    assert code == 1 and "zone tenants does not exist (run `tenctl init`)" in check["details"]
