"""The switch templates: the exact text per driver, the values they refuse, what the text does to a switch, and
the registry that finds a template by driver name.

EOS text goes through napalm's own eos driver into the lab's EOS switch. IOS and NX-OS text is read by
hier-config's parsers of those syntaxes and applied to a small model of VLANs and trunk lists; Junos set-lines
are read by a strict grammar written here (hier-config takes any ``set`` line) and applied to the same kind of
model. The third-party template is a distribution installed from tests/example_template.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenctl_switch_napalm import templates
from tenctl_switch_napalm.templates import (
    ENTRY_POINT_GROUP,
    EosTemplate,
    IosTemplate,
    JunosTemplate,
    NxosTemplate,
    SwitchTemplate,
    TemplateRegistry,
    VlanIntent,
    known_drivers,
    template_for,
)

MARKER = "tenctl:0123456789ab:acme"
PORTS = {
    "eos": ("Ethernet1", "Ethernet2"),
    "ios": ("GigabitEthernet0/1", "TenGigabitEthernet1/0/1"),
    "nxos": ("Ethernet1/1", "port-channel10"),
    "junos": ("ge-0/0/1", "ae0"),
}


def intent(driver: str, ports: int = 2, vlan: int = 100, name: str = "tenant-acme") -> VlanIntent:
    return VlanIntent(vlan, name, MARKER, PORTS[driver][:ports])


# ------------------------------------------------------------------ the text, written out

GOLDEN = {
    ("eos", "add", 1): """\
vlan 100
   !! tenctl:0123456789ab:acme
   name tenant-acme
!
interface Ethernet1
   switchport trunk allowed vlan add 100
!
""",
    ("eos", "add", 2): """\
vlan 100
   !! tenctl:0123456789ab:acme
   name tenant-acme
!
interface Ethernet1
   switchport trunk allowed vlan add 100
!
interface Ethernet2
   switchport trunk allowed vlan add 100
!
""",
    ("eos", "remove", 1): """\
interface Ethernet1
   switchport trunk allowed vlan remove 100
!
no vlan 100
""",
    ("eos", "remove", 2): """\
interface Ethernet1
   switchport trunk allowed vlan remove 100
!
interface Ethernet2
   switchport trunk allowed vlan remove 100
!
no vlan 100
""",
    ("ios", "add", 1): """\
vlan 100
 name tenant-acme
!
interface GigabitEthernet0/1
 switchport trunk allowed vlan add 100
!
end
""",
    ("ios", "add", 2): """\
vlan 100
 name tenant-acme
!
interface GigabitEthernet0/1
 switchport trunk allowed vlan add 100
!
interface TenGigabitEthernet1/0/1
 switchport trunk allowed vlan add 100
!
end
""",
    ("ios", "remove", 1): """\
interface GigabitEthernet0/1
 switchport trunk allowed vlan remove 100
!
no vlan 100
!
end
""",
    ("ios", "remove", 2): """\
interface GigabitEthernet0/1
 switchport trunk allowed vlan remove 100
!
interface TenGigabitEthernet1/0/1
 switchport trunk allowed vlan remove 100
!
no vlan 100
!
end
""",
    ("nxos", "add", 1): """\
vlan 100
  name tenant-acme
interface Ethernet1/1
  switchport trunk allowed vlan add 100
""",
    ("nxos", "add", 2): """\
vlan 100
  name tenant-acme
interface Ethernet1/1
  switchport trunk allowed vlan add 100
interface port-channel10
  switchport trunk allowed vlan add 100
""",
    ("nxos", "remove", 1): """\
interface Ethernet1/1
  switchport trunk allowed vlan remove 100
no vlan 100
""",
    ("nxos", "remove", 2): """\
interface Ethernet1/1
  switchport trunk allowed vlan remove 100
interface port-channel10
  switchport trunk allowed vlan remove 100
no vlan 100
""",
    ("junos", "add", 1): """\
set vlans tenant-acme vlan-id 100
set vlans tenant-acme description "tenctl:0123456789ab:acme"
set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members tenant-acme
""",
    ("junos", "add", 2): """\
set vlans tenant-acme vlan-id 100
set vlans tenant-acme description "tenctl:0123456789ab:acme"
set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members tenant-acme
set interfaces ae0 unit 0 family ethernet-switching vlan members tenant-acme
""",
    ("junos", "remove", 1): """\
delete interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members tenant-acme
delete vlans tenant-acme
""",
    ("junos", "remove", 2): """\
delete interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members tenant-acme
delete interfaces ae0 unit 0 family ethernet-switching vlan members tenant-acme
delete vlans tenant-acme
""",
}


@pytest.mark.parametrize(("driver", "operation", "ports"), sorted(GOLDEN))
def test_the_text_of_each_driver(driver, operation, ports):
    template = template_for(driver)
    assert getattr(template, operation)(intent(driver, ports)) == GOLDEN[driver, operation, ports]


def test_the_shipped_templates():
    shipped = {"eos": EosTemplate, "ios": IosTemplate, "nxos": NxosTemplate, "junos": JunosTemplate}
    for driver, cls in shipped.items():
        template = template_for(driver)
        assert type(template) is cls and template.driver == driver
        assert isinstance(template, SwitchTemplate)
    assert {d: template_for(d).marker_in_config for d in shipped} == {
        "eos": True,
        "ios": False,
        "nxos": False,
        "junos": True,
    }


def test_a_switch_without_trunk_ports_gets_the_vlan_only():
    bare = VlanIntent(100, "tenant-acme", MARKER, [])
    assert (
        template_for("eos").add(bare) == "vlan 100\n   !! tenctl:0123456789ab:acme\n   name tenant-acme\n!\n"
    )
    assert template_for("nxos").remove(bare) == "no vlan 100\n"
    assert bare.trunk_ports == ()


# ------------------------------------------------------------------ what is refused


def refused(call) -> str:
    """The message of the ValueError that call raises (one line)."""
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("vlan", [0, 1, 4095, 5000, -100, True, "100", 100.0, None])
def test_vlan_ids_outside_2_to_4094_are_refused(vlan):
    message = refused(lambda: VlanIntent(vlan, "tenant-acme", MARKER, ()))
    assert message.startswith(f"vlan: {vlan!r}: a tenant VLAN is a number in 2-4094")


@pytest.mark.parametrize(("driver", "vlan"), [("ios", 1002), ("ios", 1005), ("nxos", 3968), ("nxos", 4094)])
def test_vlans_a_platform_reserves_are_refused(driver, vlan):
    assert refused(lambda: template_for(driver).add(intent(driver, vlan=vlan))).startswith(f"vlan: {vlan}: ")
    assert template_for("eos").add(intent("eos", vlan=vlan))  # taken elsewhere
    assert template_for("junos").add(intent("junos", vlan=vlan))


BAD_NAMES = [
    "",
    "tenant acme",
    'tenant"acme',
    "tenant'acme",
    "tenant\nacme",
    "acme\r",
    "tenant\tacme",
    "tenänt",
    "acme!",
]
TOO_LONG = {"eos": "a" * 33, "ios": "a" * 33, "nxos": "a" * 33, "junos": "a" * 256}


@pytest.mark.parametrize(
    ("driver", "name"), [(d, n) for d in sorted(PORTS) for n in [*BAD_NAMES, TOO_LONG[d]]]
)
def test_vlan_names_a_platform_cannot_take_are_refused(driver, name):
    template = template_for(driver)
    for render in (template.add, template.remove):
        message = refused(lambda render=render: render(intent(driver, name=name)))
        assert message.startswith(f"name: {name!r}: ")


@pytest.mark.parametrize(
    ("driver", "name"),
    [
        ("junos", "tenant_acme"),  # Junos names: letters, digits, - and .
        ("junos", "100"),  # would read as a VLAN id in `vlan members`
        ("junos", "-acme"),
        ("junos", "default"),
        ("junos", "all"),
    ],
)
def test_junos_name_rules(driver, name):
    message = refused(lambda: template_for(driver).add(intent(driver, name=name)))
    assert message.startswith(f"name: {name!r}: ")


def test_names_each_platform_takes():
    for driver in ("eos", "ios", "nxos"):
        for name in ("tenant_acme", "a" * 32, "v100", "tenant.acme-2"):
            template_for(driver).check_name(name)
    for name in ("tenant-acme", "a" * 255, "Tenant.acme-2"):
        template_for("junos").check_name(name)


BAD_PORTS = {
    "eos": ["Eth1", "ethernet1", "Ethernet0", "Ethernet1/1/1/1", "Port-channel10", "GigabitEthernet0/1"],
    "ios": ["Gi0/1", "GigabitEthernet1", "gigabitethernet0/1", "Port-Channel1", "Ethernet1/1"],
    "nxos": ["Ethernet1", "Eth1/1", "Port-channel10", "port-channel0", "ethernet1/1"],
    "junos": ["ge-0/0/1.0", "ge0/0/1", "ae", "Ethernet1", "ge-0/0/1 unit 0"],
}
GOOD_PORTS = {
    "eos": ["Ethernet1", "Ethernet1/1", "Ethernet3/1/2", "Port-Channel10"],
    "ios": [
        "GigabitEthernet0/1",
        "TenGigabitEthernet1/0/1",
        "FastEthernet0/24",
        "HundredGigE1/0/49",
        "Port-channel1",
    ],
    "nxos": ["Ethernet1/1", "Ethernet101/1/1", "port-channel10"],
    "junos": ["ge-0/0/1", "xe-0/0/1", "et-0/0/48:2", "mge-1/0/3", "ae0"],
}
UNSAFE_PORTS = ["", "Ethernet1 ", "Ethernet1\n", "Ethernet1;", 'Ethernet1"', "Ethernet1\x00", "Ethernet１"]


@pytest.mark.parametrize(
    ("driver", "port"), [(d, p) for d, ports in BAD_PORTS.items() for p in [*ports, *UNSAFE_PORTS]]
)
def test_port_names_a_platform_does_not_have_are_refused(driver, port):
    template = template_for(driver)
    for render in (template.add, template.remove):
        message = refused(lambda render=render: render(VlanIntent(100, "tenant-acme", MARKER, [port])))
        assert message.startswith(f"trunk_ports: {port!r}: ")


def test_port_names_each_platform_has():
    for driver, ports in GOOD_PORTS.items():
        for port in ports:
            template_for(driver).check_port(port)
    assert "like Ethernet1, Ethernet1/1 or Port-Channel10" in refused(
        lambda: template_for("eos").check_port("Et1")
    )


@pytest.mark.parametrize(
    "marker",
    [
        "",
        "tenant acme",
        "tenctl:0123456789AB:acme",
        "tenctl:0123456789a:acme",
        "tenctl:0123456789ab:1acme",
        "tenctl:0123456789ab:acme\n",
        'tenctl:0123456789ab:acme"',
        "tenctl:0123456789ab:acme x",
        "x tenctl:0123456789ab:acme",
        "tenctl:0123456789ab:" + "a" * 33,
        None,
    ],
)
def test_markers_that_are_not_tenctls_are_refused(marker):
    assert refused(lambda: VlanIntent(100, "tenant-acme", marker, ())).startswith(f"marker: {marker!r}: ")


def test_trunk_ports_must_be_a_list_of_distinct_names():
    assert refused(lambda: VlanIntent(100, "tenant-acme", MARKER, "Ethernet1")).startswith(
        "trunk_ports: 'Ethernet1'"
    )
    message = refused(lambda: VlanIntent(100, "tenant-acme", MARKER, ["Ethernet1", "Ethernet2", "Ethernet1"]))
    assert message == "trunk_ports: 'Ethernet1': listed more than once"
    assert refused(lambda: VlanIntent(100, "tenant-acme", MARKER, [7])).startswith("trunk_ports: 7: ")


# The lines each driver's text may have, written independently of the templates.
LINE_GRAMMAR = {
    "eos": re.compile(
        r"vlan \d+|   !! tenctl:[0-9a-f]{12}:[A-Za-z][\w-]*|   name [\w.-]+|!|interface [\w/-]+"
        r"|   switchport trunk allowed vlan (?:add|remove) \d+|no vlan \d+"
    ),
    "ios": re.compile(
        r"vlan \d+| name [\w.-]+|!|interface [\w/-]+| switchport trunk allowed vlan (?:add|remove) \d+|no vlan \d+|end"
    ),
    "nxos": re.compile(
        r"vlan \d+|  name [\w.-]+|interface [\w/-]+|  switchport trunk allowed vlan (?:add|remove) \d+|no vlan \d+"
    ),
    "junos": re.compile(
        r"set vlans [\w.-]+ vlan-id \d+|set vlans [\w.-]+ description \"tenctl:[0-9a-f]{12}:[A-Za-z][\w-]*\""
        r"|(?:set|delete) interfaces [\w/:-]+ unit 0 family ethernet-switching vlan members [\w.-]+"
        r"|delete vlans [\w.-]+"
    ),
}
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(driver=st.sampled_from(sorted(PORTS)), data=st.data())
def test_whatever_the_values_no_line_is_of_their_making(driver, data):
    # Values the driver takes, with at most one field drawn from anything at all: both the texts and the
    # refusals of each field are reached.
    spoilt = data.draw(st.sampled_from([None, "vlan", "name", "marker", "ports"]))
    vlan = data.draw(
        st.one_of(st.integers(-10, 5000), st.sampled_from([True, "7", 7.0]))
        if spoilt == "vlan"
        else st.integers(2, 1001)
    )
    name = data.draw(
        ANY_TEXT if spoilt == "name" else st.from_regex(r"[A-Za-z][A-Za-z0-9.-]{0,31}", fullmatch=True)
    )
    marker = data.draw(
        ANY_TEXT
        if spoilt == "marker"
        else st.from_regex(r"tenctl:[0-9a-f]{12}:[A-Za-z][A-Za-z0-9_-]{0,31}", fullmatch=True)
    )
    port = (
        st.one_of(st.sampled_from(GOOD_PORTS[driver]), ANY_TEXT)
        if spoilt == "ports"
        else st.sampled_from(GOOD_PORTS[driver])
    )
    ports = data.draw(st.lists(port, max_size=3, unique=spoilt != "ports"))
    template = template_for(driver)
    try:
        wanted = VlanIntent(vlan, name, marker, ports)
        texts = [template.add(wanted), template.remove(wanted)]
    except ValueError:
        return
    for text in texts:
        assert text.endswith("\n")
        for line in text[:-1].split("\n"):
            assert LINE_GRAMMAR[driver].fullmatch(line), (driver, line)


# ------------------------------------------------------------------ EOS: through napalm into the lab's switch


@contextmanager
def eos_device(lab, name: str):
    """napalm's eos driver on a lab switch, trusting the lab's CA (as plugins/lab/tests/test_lab_switch.py)."""
    import napalm

    info = next(entry for entry in lab.switches_info if entry["name"] == name)
    args = {
        "transport": "https",
        "port": info["port"],
        "context": ssl.create_default_context(cafile=info["ca_file"]),
    }
    device = napalm.get_network_driver("eos")(
        info["host"], info["user"], info["password"], timeout=10, optional_args=args
    )
    device.open()
    try:
        yield device
    finally:
        device.close()


def test_eos_text_adds_the_vlan_keeps_the_trunks_vlans_and_remove_restores_the_switch(lab):
    switch = lab.switches["sw-a1"]
    switch.configure(
        "vlan 20", "name made-by-hand", "interface Ethernet2", "switchport trunk allowed vlan add 20"
    )
    before = switch.running_config()
    template = template_for("eos")
    wanted = VlanIntent(100, "tenant-acme", MARKER, ["Ethernet1", "Ethernet2"])
    with eos_device(lab, "sw-a1") as device:
        device.load_merge_candidate(config=template.add(wanted))
        diff = device.compare_config()
        assert "+vlan 100\n+   !! tenctl:0123456789ab:acme\n+   name tenant-acme\n" in diff
        assert "-   switchport trunk allowed vlan 1,10\n+   switchport trunk allowed vlan 1,10,100\n" in diff
        assert (
            "-   switchport trunk allowed vlan 1,10,20\n+   switchport trunk allowed vlan 1,10,20,100\n"
            in diff
        )
        device.commit_config()

        vlans = device.get_vlans()
        assert vlans["100"] == {"name": "tenant-acme", "interfaces": ["Ethernet1", "Ethernet2"]}
        assert vlans["10"] == {"name": "infra", "interfaces": ["Ethernet1", "Ethernet2"]}
        assert vlans["20"] == {"name": "made-by-hand", "interfaces": ["Ethernet2"]}
        assert switch.trunk_allowed("Ethernet1") == {1, 10, 100}
        assert switch.trunk_allowed("Ethernet2") == {1, 10, 20, 100}
        # Where the marker is read back: the VLAN section's comment in the running-config's JSON form.
        config = device.cli(["show running-config"], encoding="json")["show running-config"]
        assert config["cmds"]["vlan 100"]["comments"] == [MARKER]

        device.load_merge_candidate(config=template.add(wanted))
        assert device.compare_config() == ""  # already there: the same text changes nothing
        device.discard_config()

        device.load_merge_candidate(config=template.remove(wanted))
        assert "-vlan 100\n-   !! tenctl:0123456789ab:acme\n-   name tenant-acme\n" in device.compare_config()
        device.commit_config()
        assert "100" not in device.get_vlans()
    assert switch.running_config() == before


def test_eos_text_for_one_trunk_port_leaves_the_other_ports_alone(lab):
    switch = lab.switches["sw-b1"]
    before = switch.running_config()
    wanted = VlanIntent(3001, "tenant-beta_2", "tenctl:0123456789ab:beta_2", ["Ethernet1"])
    with eos_device(lab, "sw-b1") as device:
        device.load_merge_candidate(config=template_for("eos").add(wanted))
        device.commit_config()
        assert device.get_vlans()["3001"] == {"name": "tenant-beta_2", "interfaces": ["Ethernet1"]}
        assert switch.trunk_allowed("Ethernet1") == {1, 10, 3001}
        assert switch.trunk_allowed("Ethernet2") == {1, 10}
        assert switch.running_copy().vlans[3001].comment == ("tenctl:0123456789ab:beta_2",)
        device.load_merge_candidate(config=template_for("eos").remove(wanted))
        device.commit_config()
    assert switch.running_config() == before
    assert all(3001 not in lab.switches[name].vlans() for name in ("sw-a1", "sw-a2", "sw-b2"))


# ------------------------------------------------------------------ IOS and NX-OS: hier-config reads the text

IOS_RUNNING = """\
vlan 10
 name infra
!
interface GigabitEthernet0/1
 switchport trunk allowed vlan 1,10
 switchport mode trunk
!
interface TenGigabitEthernet1/0/1
 switchport trunk allowed vlan 1,10,20
 switchport mode trunk
!
"""
NXOS_RUNNING = """\
vlan 10
  name infra
interface Ethernet1/1
  switchport mode trunk
  switchport trunk allowed vlan 1,10
interface port-channel10
  switchport mode trunk
  switchport trunk allowed vlan 1,10,20
"""


def cisco_state(platform, text: str) -> dict:
    """VLANs (id -> name) and trunks (port -> allowed VLANs) of a running config, as hier-config reads it."""
    from hier_config import get_hconfig

    state: dict = {"vlans": {}, "trunks": {}}
    for section in get_hconfig(platform, text).children:
        if match := re.fullmatch(r"vlan (\d+)", section.text):
            names = [c.text.removeprefix("name ") for c in section.children if c.text.startswith("name ")]
            state["vlans"][int(match.group(1))] = names[0] if names else None
        elif match := re.fullmatch(r"interface (\S+)", section.text):
            for child in section.children:
                if allowed := re.fullmatch(r"switchport trunk allowed vlan ([\d,-]+)", child.text):
                    state["trunks"][match.group(1)] = {
                        vid
                        for part in allowed.group(1).split(",")
                        for vid in range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1)
                    }
    return state


def apply_cisco(platform, state: dict, text: str) -> dict:
    """The state after a merge of text, which hier-config parses into sections; any other line fails the test."""
    from hier_config import get_hconfig

    after = {"vlans": dict(state["vlans"]), "trunks": {p: set(v) for p, v in state["trunks"].items()}}
    for section in get_hconfig(platform, text).children:
        children = [child.text for child in section.children]
        if match := re.fullmatch(r"vlan (\d+)", section.text):
            assert len(children) == 1 and children[0].startswith("name "), (section.text, children)
            after["vlans"][int(match.group(1))] = children[0].removeprefix("name ")
        elif match := re.fullmatch(r"no vlan (\d+)", section.text):
            assert not children and int(match.group(1)) in after["vlans"], section.text
            del after["vlans"][int(match.group(1))]
        elif match := re.fullmatch(r"interface (\S+)", section.text):
            allowed = after["trunks"][match.group(1)]  # a port the switch has
            for child in children:
                change = re.fullmatch(r"switchport trunk allowed vlan (add|remove) (\d+)", child)
                assert change, (section.text, child)
                vid = int(change.group(2))
                if change.group(1) == "add":
                    allowed.add(vid)
                else:
                    allowed.discard(vid)
        else:
            pytest.fail(f"a line the model does not know: {section.text!r}")
    return after


@pytest.mark.parametrize(("driver", "running"), [("ios", IOS_RUNNING), ("nxos", NXOS_RUNNING)])
def test_ios_and_nxos_text_as_their_parsers_read_it(driver, running):
    from hier_config import Platform, get_hconfig

    platform = {"ios": Platform.CISCO_IOS, "nxos": Platform.CISCO_NXOS}[driver]
    template = template_for(driver)
    wanted = intent(driver)
    first, second = PORTS[driver]
    before = cisco_state(platform, running)
    assert before["trunks"] == {first: {1, 10}, second: {1, 10, 20}}

    added = apply_cisco(platform, before, template.add(wanted))
    assert added["vlans"] == {10: "infra", 100: "tenant-acme"}
    assert added["trunks"] == {first: {1, 10, 100}, second: {1, 10, 20, 100}}
    assert apply_cisco(platform, added, template.add(wanted)) == added  # twice: no change
    assert apply_cisco(platform, added, template.remove(wanted)) == before

    one = VlanIntent(100, "tenant-acme", MARKER, [second])
    assert apply_cisco(platform, before, template.add(one))["trunks"][first] == {1, 10}

    # The parser's own reading of the negation: `no vlan 100` takes the whole `vlan 100` section away.
    config = get_hconfig(platform, running).future(get_hconfig(platform, template.add(wanted)))
    assert config.get_child(equals="vlan 100") is not None
    after = config.future(get_hconfig(platform, template.remove(wanted)))
    assert after.get_child(equals="vlan 100") is None and after.get_child(equals="vlan 10") is not None


# ------------------------------------------------------------------ Junos: a strict grammar of the set-lines

JUNOS_NAME = r"[A-Za-z][A-Za-z0-9.-]*"
JUNOS_STATEMENTS = re.compile(
    rf"set vlans (?P<vlan>{JUNOS_NAME}) vlan-id (?P<id>[1-9][0-9]{{0,3}})"
    rf'|set vlans (?P<described>{JUNOS_NAME}) description "(?P<text>[^"\\\n]*)"'
    rf"|(?P<verb>set|delete) interfaces (?P<port>(?:ge|xe|et|mge)-\d+/\d+/\d+(?::\d)?|ae\d+) unit 0"
    rf" family ethernet-switching vlan members (?P<member>{JUNOS_NAME})"
    rf"|delete vlans (?P<deleted>{JUNOS_NAME})"
)


def apply_junos(state: dict, text: str) -> dict:
    """The configuration after `load set` of text; a line outside the grammar, or a delete of a statement the
    configuration does not have (a warning napalm reports as a load error), fails the test."""
    after = {
        "vlans": {k: dict(v) for k, v in state["vlans"].items()},
        "members": {p: set(m) for p, m in state["members"].items()},
    }
    assert text.endswith("\n") and text.split()[0] in ("set", "delete")  # napalm's junos driver: set format
    for line in text[:-1].split("\n"):
        statement = JUNOS_STATEMENTS.fullmatch(line)
        assert statement, f"not in the grammar: {line!r}"
        found = statement.groupdict()
        if found["vlan"]:
            after["vlans"].setdefault(found["vlan"], {})["vlan-id"] = int(found["id"])
        elif found["described"]:
            after["vlans"].setdefault(found["described"], {})["description"] = found["text"]
        elif found["verb"] == "set":
            after["members"][found["port"]].add(found["member"])
        elif found["verb"] == "delete":
            assert found["member"] in after["members"][found["port"]], line
            after["members"][found["port"]].remove(found["member"])
        else:
            assert found["deleted"] in after["vlans"], line
            del after["vlans"][found["deleted"]]
    return after


def test_junos_set_lines_in_a_strict_grammar():
    template = template_for("junos")
    wanted = intent("junos")
    before = {
        "vlans": {"infra": {"vlan-id": 10}},
        "members": {"ge-0/0/1": {"infra"}, "ae0": {"infra", "storage"}},
    }
    added = apply_junos(before, template.add(wanted))
    assert added["vlans"] == {
        "infra": {"vlan-id": 10},
        "tenant-acme": {"vlan-id": 100, "description": MARKER},
    }
    assert added["members"] == {
        "ge-0/0/1": {"infra", "tenant-acme"},
        "ae0": {"infra", "storage", "tenant-acme"},
    }
    assert apply_junos(added, template.add(wanted)) == added
    assert apply_junos(added, template.remove(wanted)) == before
    one = VlanIntent(100, "tenant-acme", MARKER, ["ae0"])
    assert apply_junos(before, template.add(one))["members"]["ge-0/0/1"] == {"infra"}


# ------------------------------------------------------------------ the registry


def test_the_third_party_example_is_found_through_its_entry_point():
    assert "example" in known_drivers(), (
        "install the example: pip install -e plugins/switch_napalm/tests/example_template"
    )
    assert known_drivers() == sorted(known_drivers()) and {"eos", "ios", "nxos", "junos"} <= set(
        known_drivers()
    )
    example = template_for("example")
    assert type(example).__module__ == "tenctl_example_switch_template"
    assert isinstance(example, SwitchTemplate)
    assert example.add(VlanIntent(42, "tenant-acme", MARKER, ["port1"])) == (
        "vlan 42 name tenant-acme note tenctl:0123456789ab:acme\ntrunk port1 add 42\n"
    )
    assert TemplateRegistry().source("example") == (
        "entry point example = tenctl_example_switch_template:ExampleTemplate of tenctl-example-switch-template 0.1.0"
    )
    assert templates.broken_templates() == {}


def test_an_unknown_driver_is_a_clear_error():
    message = refused(lambda: template_for("iosxr"))
    assert message.startswith(
        "no switch template for napalm driver 'iosxr': known drivers are eos, example, ios, junos, nxos"
    )


def make_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution in root: modules and a .dist-info with tenctl.switch_templates entry points."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")


THIRD_PARTY = """
from tenctl_example_switch_template import ExampleTemplate

class Lazy(ExampleTemplate):
    driver = "lazy"

LAZY = Lazy()

class NoRemove:
    driver = "noremove"
    marker_in_config = False
    def add(self, intent): return ""
    def check_name(self, name): pass
    def check_port(self, port): pass

class Misnamed(ExampleTemplate):
    driver = "something-else"

class Impostor(ExampleTemplate):
    driver = "eos"
"""


def test_broken_and_clashing_entry_points_are_reported_by_name(tmp_path, monkeypatch):
    registry = TemplateRegistry()  # made before the distributions exist: nothing is read until a lookup
    make_distribution(
        tmp_path,
        "tenctl-odd-templates",
        {
            "lazy": "tenctl_odd_templates:LAZY",
            "noremove": "tenctl_odd_templates:NoRemove",
            "misnamed": "tenctl_odd_templates:Misnamed",
            "eos": "tenctl_odd_templates:Impostor",
            "broken": "tenctl_broken_template:Template",
            "Bad-Name": "tenctl_odd_templates:LAZY",
        },
        {
            "tenctl_odd_templates": THIRD_PARTY,
            "tenctl_broken_template": 'raise RuntimeError("cannot start")\n',
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "tenctl_odd_templates" not in sys.modules

    assert registry.drivers() == ["example", "ios", "junos", "lazy", "nxos"]  # an object as the value works
    assert "tenctl_odd_templates" in sys.modules
    of = "of tenctl-odd-templates 0.0.1"
    assert registry.broken() == {
        "Bad-Name": f"switch template 'Bad-Name' (entry point Bad-Name = tenctl_odd_templates:LAZY {of}): "
        "a driver name is lower-case letters, digits, _",
        "broken": "switch template 'broken' (entry point broken = tenctl_broken_template:Template "
        f"{of}) cannot be used: RuntimeError: cannot start",
        "eos": "switch template 'eos' is registered twice: by tenctl-switch-napalm (built in) and by "
        f"entry point eos = tenctl_odd_templates:Impostor {of}; uninstall one of them",
        "misnamed": f"switch template 'misnamed' (entry point misnamed = tenctl_odd_templates:Misnamed {of}) "
        "cannot be used: TypeError: its driver is 'something-else', not the entry point's name",
        "noremove": f"switch template 'noremove' (entry point noremove = tenctl_odd_templates:NoRemove {of}) "
        "cannot be used: TypeError: it has no method remove",
    }
    assert refused(lambda: registry.get("broken")) == registry.broken()["broken"]
    assert refused(lambda: registry.get("eos")).startswith("switch template 'eos' is registered twice")
    assert refused(lambda: registry.get("nope")) == (
        "no switch template for napalm driver 'nope': known drivers are example, ios, junos, lazy, nxos "
        "(not loaded: Bad-Name, broken, eos, misnamed, noremove)"
    )
    assert registry.get("ios") is template_for("ios")
    for module in ("tenctl_odd_templates", "tenctl_broken_template"):
        sys.modules.pop(module, None)


def test_the_templates_import_no_device_library_and_read_entry_points_only_when_asked():
    code = (
        "import sys\n"
        "from tenctl_switch_napalm.templates import VlanIntent, template_for, known_drivers\n"
        "loaded = 'tenctl_example_switch_template' in sys.modules\n"
        "text = template_for('eos').add(VlanIntent(100, 'tenant-acme', 'tenctl:0123456789ab:acme', ['Ethernet1']))\n"
        "print(loaded, 'tenctl_example_switch_template' in sys.modules)\n"
        "print(sorted(m for m in ('napalm', 'netmiko', 'paramiko', 'pyeapi', 'jnpr.junos') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False True", "[]"]
