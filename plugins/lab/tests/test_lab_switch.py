"""The lab's EOS switches, driven by napalm's own `eos` driver (pyeapi over HTTPS, unchanged), and by raw eAPI
where the wire format itself is the point. Assertions look at the switch model as well as at napalm's answers."""

import json
import os
import ssl
import stat
import threading
import time
import tomllib
from contextlib import contextmanager

import napalm
import pytest
import requests
from napalm.base.exceptions import CommitError, MergeConfigException
from pyeapi.eapilib import CommandError
from pyeapi.eapilib import ConnectionError as EapiConnectionError
from tenctl_lab import lab as labmod
from tenctl_lab.switch import CliError, EosSwitch, SwitchConfig
from tenctl_lab.switch.cli import EapiCli
from tenctl_lab.switch.config import ConfigEditor, format_vlan_list, parse_config, parse_vlan_list, render

# What tenctl pushes for a tenant on VLAN 100: the VLAN, named, added to both trunks.
TENANT_PUSH = """\
vlan 100
   name tenant-acme
!
interface Ethernet1
   switchport trunk allowed vlan add 100
interface Ethernet2
   switchport trunk allowed vlan add 100
"""

TENANT_DIFF = """\
@@ -7,14 +7,17 @@
 vlan 10
    name infra
 !
+vlan 100
+   name tenant-acme
+!
 interface Ethernet1
    description proxmox trunk
-   switchport trunk allowed vlan 1,10
+   switchport trunk allowed vlan 1,10,100
    switchport mode trunk
 !
 interface Ethernet2
    description proxmox trunk
-   switchport trunk allowed vlan 1,10
+   switchport trunk allowed vlan 1,10,100
    switchport mode trunk
 !
 interface Ethernet3"""


def driver_for(info, **optional):
    """napalm's eos driver for a switch of lab.switches_info, trusting the lab's CA (no verification off)."""
    context = ssl.create_default_context(cafile=info["ca_file"])
    args = {"transport": "https", "port": info["port"], "context": context, **optional}
    return napalm.get_network_driver("eos")(
        info["host"], info["user"], info["password"], timeout=10, optional_args=args
    )


@contextmanager
def opened(info, **optional):
    device = driver_for(info, **optional)
    device.open()
    try:
        yield device
    finally:
        device.close()


def info_of(lab, name):
    return next(entry for entry in lab.switches_info if entry["name"] == name)


@pytest.fixture
def switch(lab):
    return lab.switches["sw-a1"]


@pytest.fixture
def device(lab, switch):
    with opened(info_of(lab, "sw-a1")) as device:
        yield device


def sent(switch, mark=0, end=None):
    """Every command napalm sent from mark (to end), in order (enable included)."""
    lines = switch.log_lines(mark)[: None if end is None else end - mark]
    return [cmd for line in lines if line["transport"] == "eapi" for cmd in line["cmds"]]


# ------------------------------------------------------------------ getters


def test_napalm_reads_each_switch(lab):
    infos = lab.switches_info
    assert [(i["name"], i["site"], i["driver"], i["trunk_ports"]) for i in infos] == [
        ("sw-a1", "site-a", "eos", ["Ethernet1", "Ethernet2"]),
        ("sw-a2", "site-a", "eos", ["Ethernet1", "Ethernet2"]),
        ("sw-b1", "site-b", "eos", ["Ethernet1", "Ethernet2"]),
        ("sw-b2", "site-b", "eos", ["Ethernet1", "Ethernet2"]),
    ]
    assert len({i["port"] for i in infos}) == 4 and len({i["password"] for i in infos}) == 4
    for info in infos:
        model = lab.switches[info["name"]]
        with opened(info) as device:
            facts = device.get_facts()
        assert facts["hostname"] == facts["fqdn"] == info["name"]
        assert (facts["vendor"], facts["model"], facts["serial_number"]) == (
            "Arista",
            "cEOSLab",
            model.serial,
        )
        assert facts["os_version"].startswith("4.30.1F") and 0 <= facts["uptime"] < 600
        assert facts["interface_list"] == [f"Ethernet{n}" for n in range(1, 9)] + ["Management1"]


def test_get_vlans_interfaces_and_config(lab, switch, device):
    carried = ["Ethernet1", "Ethernet2"]
    assert device.get_vlans() == {
        "1": {"name": "default", "interfaces": carried},
        "10": {"name": "infra", "interfaces": carried},
    }
    interfaces = device.get_interfaces()
    assert interfaces["Ethernet1"]["is_up"] and interfaces["Ethernet1"]["description"] == "proxmox trunk"
    assert not interfaces["Ethernet3"]["is_up"] and interfaces["Ethernet3"]["is_enabled"]
    assert interfaces["Ethernet1"]["mtu"] == 9214 and interfaces["Ethernet1"]["speed"] == 10000.0
    assert interfaces["Management1"]["is_up"]
    config = device.get_config()
    assert config["running"] == switch.running_config()
    assert config["startup"].startswith("! Command: show startup-config\n! Startup-config last modified at")
    assert config["candidate"] == ""
    running = config["running"].splitlines()
    at = running.index("interface Ethernet1")
    assert running[at : at + 4] == [
        "interface Ethernet1",
        "   description proxmox trunk",
        "   switchport trunk allowed vlan 1,10",
        "   switchport mode trunk",
    ]
    # napalm's cli() with JSON: what a switch plugin reads for a trunk's allowed VLANs.
    port = device.cli(["show interfaces Ethernet1 switchport"], encoding="json")
    info = port["show interfaces Ethernet1 switchport"]["switchports"]["Ethernet1"]["switchportInfo"]
    assert (info["mode"], info["trunkAllowedVlans"]) == ("trunk", "1,10")
    assert switch.trunk_allowed("Ethernet1") == {1, 10}
    assert sent(switch)[:2] == ["enable", "show version"]


# ------------------------------------------------------------------ the push


def test_merge_compare_commit_adds_the_vlan_and_keeps_the_trunks_vlans(lab, switch, device):
    before = switch.running_config()
    mark = switch.mark()
    device.load_merge_candidate(config=TENANT_PUSH)
    assert device.compare_config() == TENANT_DIFF
    assert switch.running_config() == before  # a session changes nothing before its commit
    assert switch.session_states() == {device.config_session: "pending"}
    assert device.get_config(retrieve="candidate")["candidate"].count("vlan 100") == 1
    session = device.config_session

    device.commit_config()
    committed = switch.mark()
    assert switch.vlans()[100] == {
        "name": "tenant-acme",
        "status": "active",
        "interfaces": ["Ethernet1", "Ethernet2"],
    }
    assert switch.trunk_allowed("Ethernet1") == switch.trunk_allowed("Ethernet2") == {1, 10, 100}
    assert "vlan 100\n   name tenant-acme\n" in switch.startup_config()  # napalm wrote memory
    assert switch.session_states() == {session: "completed"}
    assert device.get_vlans()["100"] == {"name": "tenant-acme", "interfaces": ["Ethernet1", "Ethernet2"]}
    assert device.get_vlans()["10"]["interfaces"] == ["Ethernet1", "Ethernet2"]
    assert device.compare_config() == ""
    assert sent(switch, mark, committed) == [
        "enable",
        "show configuration sessions",  # napalm's lock check
        "enable",
        f"configure session {session}",
        "vlan 100",
        "name tenant-acme",
        "interface Ethernet1",
        "switchport trunk allowed vlan add 100",
        "interface Ethernet2",
        "switchport trunk allowed vlan add 100",
        "end",
        "enable",
        f"show session-config named {session} diffs",
        "enable",
        f"show session-config named {session}",  # get_config(candidate)
        "enable",
        "copy startup-config flash:rollback-0",
        f"configure session {session} commit",
        "write memory",
    ]
    for other in ("sw-a2", "sw-b1", "sw-b2"):
        assert 100 not in lab.switches[other].vlans()

    # The tenant goes away: its VLAN only, every other VLAN stays on the trunks.
    device.load_merge_candidate(
        config="no vlan 100\ninterface Ethernet1\n   switchport trunk allowed vlan remove 100\n"
        "interface Ethernet2\n   switchport trunk allowed vlan remove 100\n"
    )
    assert "-vlan 100\n-   name tenant-acme\n-!" in device.compare_config()
    device.commit_config()
    assert sorted(switch.vlans()) == [1, 10]
    assert switch.trunk_allowed("Ethernet1") == {1, 10}
    assert switch.running_config() == before


MARKED_PUSH = """\
vlan 100
   !! tenctl:0123456789ab:acme
   name tenant-acme
!
"""


def test_a_vlan_comment_goes_through_napalm_and_stays_with_the_vlan(switch, device):
    # EOS keeps a comment per configuration section (the `comment` command, printed as `!!` lines); napalm's
    # eos driver sends a `!!` line of the text it loads as `comment` with the line as the command's input.
    before = switch.running_config()
    mark = switch.mark()
    device.load_merge_candidate(config=MARKED_PUSH)
    assert "+vlan 100\n+   !! tenctl:0123456789ab:acme\n+   name tenant-acme\n" in device.compare_config()
    session = device.config_session
    device.commit_config()
    assert sent(switch, mark)[3:7] == [
        f"configure session {session}",
        "vlan 100",
        "comment",
        "name tenant-acme",
    ]
    assert switch.running_copy().vlans[100].comment == ("tenctl:0123456789ab:acme",)
    block = "vlan 100\n   !! tenctl:0123456789ab:acme\n   name tenant-acme\n!\n"
    assert block in switch.running_config() and block in switch.startup_config()
    result = device.cli(["show running-config"], encoding="json")["show running-config"]
    assert result["cmds"]["vlan 100"] == {
        "cmds": {"name tenant-acme": None},
        "comments": ["tenctl:0123456789ab:acme"],
    }
    assert device.get_vlans()["100"]["name"] == "tenant-acme"

    switch.reboot()  # the comment comes back from the startup-config's `!!` line
    assert switch.running_copy().vlans[100].comment == ("tenctl:0123456789ab:acme",)
    device.load_merge_candidate(config="no vlan 100\n")
    device.commit_config()
    assert switch.running_config() == before


def test_comment_replaces_the_sections_comment_and_no_comment_removes_it(switch):
    def request(*cmds):
        """One eAPI request's commands: the Failure that stopped them, or None."""
        return EapiCli(switch, "json").run(["enable", "configure", *cmds, "end"])[1]

    assert request("interface Ethernet1", {"cmd": "comment", "input": "to pve1\nbond 0"}) is None
    text = switch.running_config()
    assert "interface Ethernet1\n   !! to pve1\n   !! bond 0\n   description proxmox trunk\n" in text
    assert switch.port_config("Ethernet1").comment == ("to pve1", "bond 0")
    failure = request("vlan 10", {"cmd": "comment", "input": "infra"}, "comment")
    assert failure.command == "comment" and failure.error.errors == ["Incomplete command"]  # no text given
    assert switch.running_copy().vlans[10].comment == ("infra",)
    failure = request("vlan 10", {"cmd": "comment", "input": "core"}, "interface Ethernet1", "no comment")
    assert failure is None
    assert switch.running_copy().vlans[10].comment == ("core",)
    assert switch.port_config("Ethernet1").comment == ()
    assert request("vlan 10", "name comment") is None  # a name, not the command
    assert switch.vlans()[10]["name"] == "comment"
    failure = request("comment")
    assert failure.error.errors == ["Invalid input (at token 0: 'comment')"]  # global mode: not modelled
    assert parse_config(switch.running_config(), 8) == switch.running_copy()


def test_load_replace_candidate_replaces_the_whole_config(switch, device):
    text = device.get_config()["running"].replace("   name infra\n", "   name infra-renamed\n")
    text = text.replace("interface Ethernet2\n   description proxmox trunk\n", "interface Ethernet2\n")
    device.load_replace_candidate(config=text)
    diff = device.compare_config()
    assert "-   name infra\n+   name infra-renamed" in diff and "-   description proxmox trunk" in diff
    device.commit_config()
    assert switch.vlans()[10]["name"] == "infra-renamed" and switch.port_config("Ethernet2").description == ""
    assert switch.trunk_allowed("Ethernet2") == {1, 10}


def test_commit_with_revert_in_then_confirm(switch, device):
    device.load_merge_candidate(config=TENANT_PUSH)
    device.commit_config(revert_in=300)
    assert device.has_pending_commit()
    assert switch.commit_timer_pending() == device.config_session
    assert 100 in switch.vlans()
    assert "vlan 100" not in switch.startup_config()  # saved only when confirmed
    device.confirm_commit()
    assert not device.has_pending_commit() and switch.commit_timer_pending() is None
    assert "vlan 100" in switch.startup_config()
    assert switch.fire_commit_timer() is False
    assert 100 in switch.vlans()


def test_the_commit_timer_running_out_rolls_back(switch, device):
    device.load_merge_candidate(config=TENANT_PUSH)
    device.commit_config(revert_in=60)
    mark = switch.mark()
    assert switch.fire_commit_timer() is True
    assert sorted(switch.vlans()) == [1, 10] and switch.trunk_allowed("Ethernet1") == {1, 10}
    assert [(x["transport"], x["outcome"]) for x in switch.log_lines(mark)] == [("timer", "rolled back")]
    assert not device.has_pending_commit()
    assert "100" not in device.get_vlans()
    with pytest.raises(CommitError, match="No pending commit-confirm found"):
        device.confirm_commit()


def test_closing_napalm_before_the_confirm_rolls_back(lab, switch):
    # napalm's close() aborts its session; EOS rolls back a session that waits on its commit timer when it
    # is aborted (napalm's rollback() relies on that). A client must confirm before it closes.
    with opened(info_of(lab, "sw-a1")) as device:
        device.load_merge_candidate(config=TENANT_PUSH)
        device.commit_config(revert_in=300)
        assert 100 in switch.vlans()
    assert 100 not in switch.vlans() and switch.commit_timer_pending() is None


def test_the_commit_timer_is_a_real_timer():
    switch = EosSwitch("sw-t", timer_scale=0.001)  # a second of the timer lasts a millisecond
    results, failure = EapiCli(switch, "json").run(
        ["enable", "configure session t1", "vlan 300", "end", "configure session t1 commit timer 00:00:30"]
    )
    assert failure is None and 300 in switch.vlans()
    deadline = time.monotonic() + 5
    while switch.commit_timer_pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert switch.commit_timer_pending() is None and 300 not in switch.vlans()


def test_discard_leaves_nothing(switch, device):
    before = switch.running_config()
    device.load_merge_candidate(config=TENANT_PUSH)
    device.discard_config()
    assert switch.session_states() == {}
    assert device.compare_config() == ""
    assert switch.running_config() == before


def test_rollback_restores_the_config_before_the_last_commit(switch, device):
    before = switch.running_config()
    device.load_merge_candidate(config=TENANT_PUSH)
    device.commit_config()
    mark = switch.mark()
    device.rollback()
    assert switch.running_config() == before
    assert "vlan 100" not in switch.startup_config()
    assert "configure replace flash:rollback-0" in sent(switch, mark)


def test_rollback_during_a_commit_timer_aborts_the_session(switch, device):
    before = switch.running_config()
    device.load_merge_candidate(config=TENANT_PUSH)
    device.commit_config(revert_in=300)
    session = device.config_session
    mark = switch.mark()
    device.rollback()
    assert switch.running_config() == before and switch.commit_timer_pending() is None
    assert f"configure session {session} abort" in sent(switch, mark)


def test_a_refused_commit_applies_nothing(switch, device):
    before = switch.running_config()
    switch.fail_next_commit("Commit failed: the configuration is locked by another session")
    device.load_merge_candidate(config=TENANT_PUSH)
    with pytest.raises(CommandError) as refused:
        device.commit_config()
    assert refused.value.error_code == 1000
    assert "failed: could not run command" in str(refused.value)
    assert "the configuration is locked by another session" in str(refused.value)
    assert switch.running_config() == before
    assert switch.session_states() == {device.config_session: "pending"}
    device.commit_config()  # the fault was for one commit
    assert 100 in switch.vlans()


def test_a_line_the_switch_does_not_take_fails_the_push(switch, device):
    before = switch.running_config()
    with pytest.raises(MergeConfigException, match=r"Invalid input \(at token 4: 'ad'\)"):
        device.load_merge_candidate(config="interface Ethernet1\n   switchport trunk allowed vlan ad 100\n")
    assert switch.session_states() == {}  # napalm aborted the session
    with pytest.raises(MergeConfigException, match=r"Invalid input \(at token 0: 'ip'\)"):
        device.load_merge_candidate(config="vlan 100\nip routing\n")  # not modelled: refused
    with pytest.raises(MergeConfigException, match=r"Invalid input \(at token 1: 'Ethernet9'\)"):
        device.load_merge_candidate(config="interface Ethernet9\n   description x\n")
    assert switch.running_config() == before and switch.session_states() == {}


def test_a_wrong_password_is_refused(lab, switch):
    mark = switch.mark()
    info = dict(info_of(lab, "sw-a1"), password="guessed")
    with pytest.raises(EapiConnectionError, match="Unauthorized"):
        driver_for(info).open()
    assert [(x["status"], x["outcome"]) for x in switch.log_lines(mark)] == [(401, "refused")]
    assert "guessed" not in switch.log_path.read_text()


def test_an_enable_secret_needs_napalms_enable_password(lab):
    switch = EosSwitch("sw-e", "admin", "pw", enable_secret="s3cret-enable")
    keyfile = lab.dir / "pki" / "fakepve.key"
    lab.serving.call(switch.start("127.0.0.1", certfile=str(lab.ca_file), keyfile=str(keyfile)))
    try:
        info = dict(switch.info())
        with pytest.raises(CommandError) as denied:
            driver_for(info).open()
        assert denied.value.error_code == 1005
        assert "'enable' failed: permission to run command denied" in str(denied.value)
        with opened(info, enable_password="s3cret-enable") as device:
            assert device.get_facts()["hostname"] == "sw-e"
        assert "s3cret-enable" not in json.dumps(switch.log_lines())
    finally:
        lab.serving.call(switch.stop())


# ------------------------------------------------------------------ faults


def test_a_lost_answer_after_the_commit_ran(switch, device):
    device.load_merge_candidate(config=TENANT_PUSH)
    switch.lose_nth(1)
    with pytest.raises(EapiConnectionError):
        device.commit_config()
    assert 100 in switch.vlans() and "vlan 100" in switch.startup_config()  # applied, answer lost
    assert switch.log_lines()[-1]["outcome"] == "lost"


def test_a_dropped_or_refused_request_applies_nothing(switch, device):
    before = switch.running_config()
    device.load_merge_candidate(config=TENANT_PUSH)
    switch.drop_nth(1)
    with pytest.raises(EapiConnectionError):
        device.commit_config()
    assert switch.running_config() == before
    switch.refuse_nth(1, "Internal error: agent busy")
    with pytest.raises(CommandError, match="agent busy"):
        device.commit_config()
    assert switch.running_config() == before
    assert [x["outcome"] for x in switch.log_lines()[-2:]] == ["dropped", "refused"]
    device.commit_config()
    assert 100 in switch.vlans()


def test_a_held_request_runs_late(switch, device):
    device.load_merge_candidate(config=TENANT_PUSH)
    switch.hold_nth(1, 0.5)
    errors = []

    def commit():
        try:
            device.commit_config()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=commit)
    worker.start()
    deadline = time.monotonic() + 5
    while switch.holding == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert switch.holding == 1 and 100 not in switch.vlans()
    worker.join(10)
    assert not errors and switch.holding == 0 and 100 in switch.vlans()


def test_slow_and_unreachable(lab, switch, device):
    switch.slow(0.2)
    started = time.monotonic()
    device.get_facts()
    assert time.monotonic() - started >= 0.2
    switch.clear_faults()
    switch.unreachable()
    with pytest.raises(EapiConnectionError, match="Connection refused"):
        device.get_facts()
    switch.unreachable(False)
    assert device.get_facts()["hostname"] == "sw-a1"  # the same port again


def test_each_switch_keeps_its_own_state_and_log(lab):
    marks = {name: sw.mark() for name, sw in lab.switches.items()}
    with opened(info_of(lab, "sw-b2")) as device:
        device.load_merge_candidate(config=TENANT_PUSH)
        device.commit_config()
    assert 100 in lab.switches["sw-b2"].vlans()
    assert all(100 not in lab.switches[n].vlans() for n in ("sw-a1", "sw-a2", "sw-b1"))
    assert all(lab.switches[n].log_lines(marks[n]) == [] for n in ("sw-a1", "sw-a2", "sw-b1"))
    logged = [json.loads(x) for x in open(lab.dir / "logs" / "switch-sw-b2-requests.jsonl")]
    assert logged[-1]["cmds"][-1] == "write memory" and logged[-1]["switch"] == "sw-b2"


# ------------------------------------------------------------------ the wire


def test_eapi_answers_and_errors_as_eos_shapes_them(lab, switch):
    info = info_of(lab, "sw-a1")
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_file"]
    url = "https://{}:{}/command-api".format(info["host"], info["port"])

    def call(cmds, fmt="json", auth=(info["user"], info["password"]), **extra):
        body = {"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 1, "cmds": cmds, "format": fmt}}
        body["id"] = "t1"
        body.update(extra)
        return session.post(url, data=json.dumps(body), auth=auth, timeout=10)

    answer = call(["show hostname", "show bogus"]).json()
    assert answer["id"] == "t1"
    assert answer["error"] == {
        "code": 1002,
        "message": "CLI command 2 of 2 'show bogus' failed: invalid command",
        "data": [{"hostname": "sw-a1", "fqdn": "sw-a1"}, {"errors": ["Invalid input (at token 1: 'bogus')"]}],
    }
    answer = call(["show hostname", "show bogus"], "text").json()
    assert answer["error"]["data"] == [
        {"output": "Hostname: sw-a1\nFQDN:     sw-a1\n"},
        {
            "output": "% Invalid input (at token 1: 'bogus')\n",
            "errors": ["Invalid input (at token 1: 'bogus')"],
        },
    ]
    assert (
        call(["vlan 1000"]).json()["error"]["message"]
        == "CLI command 1 of 1 'vlan 1000' failed: invalid command"
    )
    error = call(["show vlan 999"]).json()["error"]
    assert error["code"] == 1000 and error["data"][0]["errors"] == [
        "VLAN 999 not found in current VLAN database"
    ]
    error = call(["configure session x", "show session-config diffs"]).json()["error"]
    assert error["code"] == 1003 and "set format='text'" in error["data"][-1]["errors"][0]
    assert call(["configure session x abort"]).json()["result"] == [{}]
    assert call(["show version"], jsonrpc=None).json()["error"]["code"] == -32600
    assert call(["show version"], auth=("admin", "nope")).status_code == 401
    result = call(["show running-config"]).json()["result"][0]
    assert result["cmds"]["vlan 10"] == {"cmds": {"name infra": None}, "comments": []}
    assert result["cmds"]["hostname sw-a1"] is None
    text = call(["show running-config | section Ethernet1"], "text").json()["result"][0]["output"]
    assert text.splitlines()[0] == "interface Ethernet1" and "Ethernet2" not in text
    assert switch.session_states() == {}


# ------------------------------------------------------------------ the configuration model


def test_configuration_text_parses_back_to_the_same_state():
    switch = EosSwitch("sw-m", vlans={10: "infra"})
    switch.configure(
        "vlan 200-201",
        "vlan 300",
        "name tenant-x",
        "state suspend",
        "interface Ethernet3",
        "description uplink to core",
        "switchport mode trunk",
        "switchport trunk allowed vlan none",
        "interface Ethernet4",
        "switchport mode trunk",
        "switchport trunk allowed vlan remove 100",
        "hostname sw-renamed",
    )
    cfg = switch.running_copy()
    again = parse_config(switch.running_config(), 8)
    assert again == cfg
    text = switch.running_config()
    assert (
        "interface Ethernet4\n   switchport trunk allowed vlan 1-99,101-4094\n   switchport mode trunk\n"
        in text
    )
    assert (
        "interface Ethernet3\n   description uplink to core\n   switchport trunk allowed vlan none\n" in text
    )
    assert "vlan 300\n   name tenant-x\n   state suspend\n!" in text
    assert switch.vlans()[300]["status"] == "suspended" and switch.vlans()[200]["name"] == "VLAN0200"


def test_configuration_mode_rules():
    cfg = SwitchConfig.clean(4)
    editor = ConfigEditor(cfg)
    for line in ("interface Ethernet1", "switchport mode trunk", "vlan 100", "name a", "exit", "vlan 101"):
        editor.run(line)
    assert sorted(cfg.vlans) == [1, 100, 101] and cfg.ports["Ethernet1"].mode == "trunk"
    editor.run("interface Et2")
    editor.run("switchport trunk allowed vlan 1,100")
    editor.run("switchport trunk allowed vlan add 101-102")
    assert cfg.ports["Ethernet2"].allowed == {1, 100, 101, 102}
    for line, error in (
        ("name two words", "Invalid input (at token 0: 'name')"),  # name is no interface command
        ("descriptin x", "Invalid input (at token 0: 'descriptin')"),
        ("switchport trunk allowed vlan 5000", "Invalid input (at token 4: '5000')"),
        ("no vlan 1", "Default VLAN 1 may not be deleted"),
        ("vlan", "Incomplete command"),
    ):
        with pytest.raises(CliError) as refused:
            editor.run(line)
        assert refused.value.errors == [error], line
    editor.run("vlan 100")
    with pytest.raises(CliError, match=r"at token 2: 'words'"):
        editor.run("name two words")
    assert editor.run("end") is False
    assert format_vlan_list({1, 100, 101, 102, 4094}) == "1,100-102,4094"
    assert parse_vlan_list("1,100-102") == {1, 100, 101, 102}
    assert "vlan 101\n!" in "\n".join(render(cfg, ["! device: x"]))


# ------------------------------------------------------------------ the lab process


def test_lab_up_serves_the_switches_and_keeps_their_startup_config(tmp_path):
    directory = tmp_path / "lab"
    try:
        info = labmod.up(directory)
        switches = info["switches"]
        assert [s["name"] for s in switches] == ["sw-a1", "sw-a2", "sw-b1", "sw-b2"]
        assert all(s["port"] and s["user"] == "admin" and s["password"] for s in switches)
        for name in ("sw-a1", "sw-a2", "sw-b1", "sw-b2"):
            assert stat.S_IMODE(os.stat(directory / "secrets" / f"switch-{name}-password").st_mode) == 0o600
        assert tomllib.loads((directory / "tenctl.toml").read_text())["switches"] == labmod.switches_config_table(directory)
        first = switches[0]
        with opened(first) as device:
            device.load_merge_candidate(config=TENANT_PUSH)
            device.commit_config()  # written to startup-config
            device.device.run_commands(["configure", "vlan 200", "end"])  # running only: not written
            assert "200" in device.get_vlans()
        assert labmod.down(directory)
        assert not labmod.status(directory)["running"]

        again = labmod.up(directory)["switches"][0]
        assert again["password"] == first["password"]
        with opened(again) as device:
            vlans = device.get_vlans()
        assert "100" in vlans and "200" not in vlans
        assert (directory / "switches" / "sw-a1" / "flash" / "startup-config").exists()
    finally:
        labmod.down(directory)
