"""The pytest fixtures other test suites use."""

import tomllib


def test_lab_fixture_handle(lab, root):
    assert (
        lab.config.exists()
        and lab.env["TENCTL_CONFIG"] == str(lab.config)
        and lab.env["TENCTL_NODE"] == "pve1"
    )
    config = tomllib.loads(lab.config.read_text())
    assert config["proxmox"]["port"] == lab.pve.port
    assert open(config["proxmox"]["token_secret_file"]).read().strip() == lab.token_secret
    assert sorted(lab.pve.nodes) == ["pve1", "pve2", "pve3"]
    mark = lab.mark()
    root.ok("GET", "/version")
    root.ok("GET", "/nodes")
    assert lab.requests_since(mark) == 2
    assert lab.request_log == lab.dir / "logs" / "pve-requests.jsonl"


def test_lab_run_runs_tenctl_in_a_subprocess(lab):
    result = lab.run("--help")
    assert result.exit_code == 0, result.stderr
    assert "lab" in result.stdout


def test_lab_session_keeps_state_between_uses(lab_session):
    lab_session.pve.pools.setdefault("tenant_shared", set())
    assert "tenant_shared" in lab_session.pve.pools
