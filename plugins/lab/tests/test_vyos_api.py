"""The router's HTTPS API with requests: VyOS's form fields, answers and refusals."""

import json

import pytest
import requests


class VyosApi:
    def __init__(self, info):
        self.base = "https://{}:{}".format(info["host"], info["api_port"])
        self.key = info["api_key"]
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify= here
        self.session.verify = info["ca_file"]

    def post(self, endpoint, data, key=None):
        return self.session.post(
            self.base + endpoint, data={"key": key or self.key, "data": json.dumps(data)}, timeout=10
        )


@pytest.fixture
def api(lab):
    return VyosApi(lab.vyos_info)


def ok(answer):
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["error"] is None
    return body["data"]


def test_configure_a_list_commits_it_together(lab, api):
    ops = [
        {"op": "set", "path": ["interfaces", "ethernet", "eth1", "vif", "100", "address", "10.100.0.1/24"]},
        {
            "op": "set",
            "path": ["interfaces", "ethernet", "eth1", "vif", "100", "description"],
            "value": "tenant acme",
        },
        {"op": "set", "path": ["nat", "source", "rule", "100", "source", "address", "10.100.0.0/24"]},
        {"op": "set", "path": ["nat", "source", "rule", "100", "translation", "address", "masquerade"]},
    ]
    assert ok(api.post("/configure", ops)) is None
    assert "set interfaces ethernet eth1 vif 100 description 'tenant acme'" in lab.vyos.running_commands()
    vif = ok(
        api.post("/retrieve", {"op": "showConfig", "path": ["interfaces", "ethernet", "eth1", "vif", "100"]})
    )
    assert vif == {"address": "10.100.0.1/24", "description": "tenant acme"}
    whole = ok(api.post("/retrieve", {"op": "showConfig", "path": []}))
    assert whole == lab.vyos.running_tree()
    assert ok(api.post("/retrieve", {"op": "showConfig", "path": ["system", "host-name"]})) == {
        "host-name": "vyos"
    }
    assert ok(api.post("/retrieve", {"op": "returnValue", "path": ["system", "host-name"]})) == "vyos"
    assert ok(
        api.post("/retrieve", {"op": "returnValues", "path": ["interfaces", "ethernet", "eth0", "address"]})
    ) == ["dhcp"]
    assert ok(api.post("/retrieve", {"op": "exists", "path": ["nat", "source", "rule", "100"]})) is True
    assert ok(api.post("/retrieve", {"op": "exists", "path": ["nat", "source", "rule", "101"]})) is False
    # One op alone, and a delete of something missing (VyOS only notes it).
    ok(api.post("/configure", {"op": "delete", "path": ["nat", "source", "rule", "100"]}))
    ok(api.post("/configure", {"op": "delete", "path": ["nat", "source", "rule", "100"]}))
    # As on VyOS, the last tag entry takes its tag node along; the plain parents stay.
    assert lab.vyos.running_tree()["nat"] == {"source": {}}
    assert "set nat source" in lab.vyos.running_commands()


def test_a_failing_op_leaves_nothing_applied(lab, api):
    before = lab.vyos.running_commands()
    answer = api.post(
        "/configure",
        [
            {"op": "set", "path": ["system", "name-server", "192.0.2.53"]},
            {"op": "set", "path": ["interfaces", "ethernet", "eth1", "vif", "100", "mtu", "9000"]},
        ],
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "success": False,
        "error": "Configuration path: [interfaces ethernet eth1 vif 100 mtu 9000] is not valid\nSet failed\n",
        "data": None,
    }
    assert lab.vyos.running_commands() == before


def test_a_failing_commit_is_reported_and_discarded(lab, api):
    answer = api.post(
        "/configure",
        [
            {"op": "set", "path": ["firewall", "ipv4", "forward", "filter", "rule", "10", "action", "drop"]},
            {
                "op": "set",
                "path": [
                    "firewall",
                    "ipv4",
                    "forward",
                    "filter",
                    "rule",
                    "10",
                    "source",
                    "group",
                    "network-group",
                    "NOPE",
                ],
            },
        ],
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert 'Invalid network-group "NOPE" on firewall rule' in error and error.endswith("Commit failed\n")
    assert "firewall" not in lab.vyos.running_tree()
    lab.vyos.fail_next_commit("injected failure")
    answer = api.post("/configure", {"op": "set", "path": ["system", "name-server", "192.0.2.53"]})
    assert answer.status_code == 400 and answer.json()["error"] == "injected failure\n\nCommit failed\n"


def test_wrong_key_and_malformed_requests(api):
    answer = api.post("/retrieve", {"op": "showConfig", "path": []}, key="guessed")
    assert answer.status_code == 401
    assert answer.json() == {"success": False, "error": "Valid API key is required", "data": None}
    answer = api.post("/configure", {"path": ["system"]})
    assert answer.status_code == 400 and "missing 'op' field" in answer.json()["error"]
    answer = api.post("/retrieve", {"op": "showConfig", "path": ["nat"]})
    assert answer.status_code == 400
    assert answer.json()["error"] == "Configuration under specified path is empty"


def test_config_file_save_load_and_show(lab, api):
    ok(api.post("/configure", {"op": "set", "path": ["system", "name-server", "192.0.2.53"]}))
    assert (
        ok(api.post("/config-file", {"op": "save"}))
        == "Saving configuration to '/config/config.boot'...\nDone\n"
    )
    ok(api.post("/configure", {"op": "delete", "path": ["system", "name-server"]}))
    ok(api.post("/config-file", {"op": "load", "file": "/config/config.boot"}))
    assert "set system name-server '192.0.2.53'" in lab.vyos.running_commands()
    answer = api.post("/config-file", {"op": "load"})
    assert answer.status_code == 400 and answer.json()["error"] == 'Missing required field "file"'
    assert ok(api.post("/show", {"op": "show", "path": ["version"]})).startswith("Version:          VyOS 1.4")
    shown = ok(api.post("/show", {"op": "show", "path": ["configuration", "commands"]}))
    assert shown.splitlines() == lab.vyos.running_commands()


def test_api_faults_unreachable_and_slow_and_the_log(lab, api):
    mark = lab.vyos.mark()
    lab.vyos.api_unreachable()
    with pytest.raises(requests.ConnectionError):
        api.post("/retrieve", {"op": "exists", "path": ["system"]})
    lab.vyos.api_unreachable(False)
    assert ok(api.post("/retrieve", {"op": "exists", "path": ["system"]})) is True
    api.post("/retrieve", {"op": "exists", "path": ["system"]}, key="guessed")
    lines = lab.vyos_log(mark)
    assert [(x["transport"], x["endpoint"], x["status"], x["outcome"]) for x in lines] == [
        ("api", "/retrieve", 200, "ok"),
        ("api", "/retrieve", 401, "failed"),
    ]
    assert lines[0]["ops"] == ["exists system"]
    assert lab.vyos.api_key not in lab.vyos.log_path.read_text()
    lab.vyos.slow(0.3)
    answer = api.post("/retrieve", {"op": "exists", "path": ["system"]})
    assert answer.elapsed.total_seconds() >= 0.3
