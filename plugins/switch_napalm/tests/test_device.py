"""The device layer against the lab's EOS switches, through napalm's own eos driver: reading, staging
a merge, committing with the commit timer and confirming, several switches at once, and failures that
name the switch. Assertions read the switch models' state."""

from __future__ import annotations

import pytest
from tenctl_switch_napalm.device import Switch, SwitchError, on_each
from tenctl_switch_napalm.settings import SiteSpec, SwitchSpec

PUSH = """\
vlan 100
   name tenant-acme
!
interface Ethernet1
   switchport trunk allowed vlan add 100
interface Ethernet2
   switchport trunk allowed vlan add 100
"""


def switch_of(info: dict, **changes) -> Switch:
    fields = {
        "name": info["name"],
        "host": info["host"],
        "user": info["user"],
        "trunk_ports": tuple(info["trunk_ports"]),
        "driver": info["driver"],
        "port": info["port"],
        "password_file": info["password_file"],
        "ca_file": info["ca_file"],
        **changes,
    }
    return Switch(SiteSpec(info["site"]), SwitchSpec(**fields), timeout=10)


@pytest.fixture
def switches(lab):
    made = [switch_of(info) for info in lab.switches_info]
    yield made
    for switch in made:
        switch.close()


def test_a_merge_is_staged_committed_with_its_timer_confirmed_and_kept(lab, switches):
    model = lab.switches["sw-a1"]
    switch = next(s for s in switches if s.name == "sw-a1")
    assert 100 not in switch.vlans() and 10 in switch.vlans()
    diff = switch.stage(PUSH)
    assert "+vlan 100" in diff and "+   name tenant-acme" in diff
    assert 100 not in model.vlans()  # staged only
    switch.commit(revert_in=60)
    assert model.commit_timer_pending()
    switch.confirm()
    assert not model.commit_timer_pending()
    assert model.vlans()[100]["name"] == "tenant-acme"
    assert model.trunk_allowed("Ethernet1") == {1, 10, 100} == model.trunk_allowed("Ethernet2")
    assert switch.vlans()[100]["name"] == "tenant-acme"


def test_every_switch_at_once_and_a_dead_one_is_named_without_stopping_the_others(lab, switches):
    lab.switches["sw-b2"].unreachable()
    try:
        results = on_each(switches, lambda s: sorted(s.vlans()), concurrency=4)
    finally:
        lab.switches["sw-b2"].unreachable(False)
    assert {name: r for name, r in results.items() if not isinstance(r, BaseException)} == {
        "sw-a1": [1, 10],
        "sw-a2": [1, 10],
        "sw-b1": [1, 10],
    }
    assert isinstance(results["sw-b2"], SwitchError) and "sw-b2" in str(results["sw-b2"])


def test_a_certificate_from_another_ca_is_refused(lab, tmp_path):
    from fakepve.certs import make_cert

    other, _, _ = make_cert(str(tmp_path), hosts=("127.0.0.1",))
    info = lab.switches_info[0]
    switch = switch_of(info, ca_file=other)
    with pytest.raises(SwitchError, match=f"cannot reach switch {info['name']}"):
        switch.vlans()
    assert [line for line in lab.switches[info["name"]].log_lines() if line.get("outcome") == "ok"] == []


def test_a_refused_commit_names_the_switch_and_leaves_it_as_it_was(lab, switches):
    model = lab.switches["sw-a2"]
    switch = next(s for s in switches if s.name == "sw-a2")
    before = model.running_config()
    model.fail_next_commit()
    switch.stage(PUSH)
    with pytest.raises(SwitchError, match="switch sw-a2: committing failed"):
        switch.commit(revert_in=60)
    switch.discard()
    assert model.running_config() == before
