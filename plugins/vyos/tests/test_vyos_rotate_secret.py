"""`tenctl vyos rotate-secret` against the lab's router: the logins the router accepts are checked with a
client of the test's own (asyncssh), not through tenctl."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
import requests


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def router_accepts(lab, password: str) -> bool:
    """An SSH login to the lab's router with the user tenctl uses, checking the router's host key."""
    import asyncssh

    info = lab.vyos_info

    async def attempt() -> bool:
        try:
            conn = await asyncssh.connect(
                info["host"],
                port=info["ssh_port"],
                username=info["user"],
                password=password,
                known_hosts=info["known_hosts"],
                client_keys=None,
                agent_path=None,
                preferred_auth="password",
            )
        except asyncssh.PermissionDenied:
            return False
        conn.close()
        return True

    return asyncio.run(attempt())


@pytest.fixture
def edge(lab):
    config = lab.edge_config("ssh")

    def run(*args, **kwargs):
        return lab.run("--config", str(config), *args, **kwargs)

    return lab, run, Path(lab.vyos_info["password_file"])


def logs(lab, *results) -> str:
    trail = (lab.dir / "log" / "tenant-management.log").read_text(encoding="utf-8")
    router_log = json.dumps(lab.vyos_log())
    return "\n".join([trail, router_log, *(r.stdout + r.stderr for r in results)])


def test_rotate_secret_changes_the_routers_login_and_the_file(edge):
    lab, run, password_file = edge
    old = password_file.read_text().strip()
    assert router_accepts(lab, old)
    result = ok(run("vyos", "rotate-secret"))
    new = password_file.read_text().strip()
    assert new != old and stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert router_accepts(lab, new)
    assert not router_accepts(lab, old)
    # Committed and saved: the router has only the hash, also after a reboot.
    running = [line for line in lab.vyos.running_commands() if "system login" in line]
    assert running and all("encrypted-password" in line and new not in line for line in running)
    lab.vyos.reboot()
    assert router_accepts(lab, new)
    assert [p.name for p in password_file.parent.iterdir() if p.name.endswith(".rotating")] == []
    text = logs(lab, result)
    assert old not in text and new not in text
    ok(run("vyos", "test"))  # tenctl goes on working with the new file


def test_a_refused_commit_keeps_the_old_password_everywhere(edge):
    lab, run, password_file = edge
    old = password_file.read_text().strip()
    lab.vyos.faults.fail_commit = "system login: simulated failure"
    result = run("vyos", "rotate-secret")
    assert result.exit_code == 1
    assert "kept its password" in result.stderr and "simulated failure" in result.stderr
    assert password_file.read_text().strip() == old
    assert router_accepts(lab, old)
    assert [p.name for p in password_file.parent.iterdir() if p.name.endswith(".rotating")] == []
    assert old not in logs(lab, result)


def test_an_interrupted_rotation_is_finished_by_the_next_run(edge):
    """As if killed after the commit and before the swap: the router has the staged password."""
    lab, run, password_file = edge
    staged = password_file.with_name(f".{password_file.name}.rotating")
    staged.write_text("Interrupted2rotation9pass\n")
    staged.chmod(0o600)
    lab.vyos.configure("set system login user vyos authentication plaintext-password Interrupted2rotation9pass")
    dry = json.loads(ok(run("vyos", "rotate-secret", "--dry-run", "--json")).stdout)
    assert any(str(staged) in step for step in dry["steps"])
    ok(run("vyos", "rotate-secret"))
    assert password_file.read_text().strip() == "Interrupted2rotation9pass"
    assert not staged.exists()
    ok(run("vyos", "test"))


def test_rotate_secret_needs_a_password_file(edge, tmp_path):
    lab, run, password_file = edge
    config = lab.edge_config("ssh", password_file=None, password_env="LAB_VYOS_PW")
    mark = len(lab.vyos_log())
    result = lab.run("--config", str(config), "vyos", "rotate-secret", env={"LAB_VYOS_PW": "x"})
    assert result.exit_code == 2 and "LAB_VYOS_PW" in result.stderr and "vyos.password_file" in result.stderr
    assert len(lab.vyos_log()) == mark  # refused before the router was touched


# ------------------------------------------------------------------------------------------ API key


def api_accepts(lab, key: str) -> bool:
    """One request to the router's HTTP API with this key, as any client would make it."""
    info = lab.vyos_info
    session = requests.Session()
    session.trust_env = False
    answer = session.post(
        f"https://{info['host']}:{info['api_port']}/retrieve",
        data={"key": key, "data": json.dumps({"op": "showConfig", "path": []})},
        verify=info["ca_file"],
        timeout=10,
    )
    return answer.status_code == 200


@pytest.fixture
def api_edge(lab):
    config = lab.edge_config("api")

    def run(*args, **kwargs):
        return lab.run("--config", str(config), *args, **kwargs)

    return lab, run, Path(lab.vyos_info["api_key_file"])


def test_rotate_secret_over_the_api_replaces_the_key(api_edge):
    lab, run, key_file = api_edge
    old = key_file.read_text().strip()
    assert api_accepts(lab, old)
    result = ok(run("vyos", "rotate-secret", "--json"))
    new = key_file.read_text().strip()
    assert new != old and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert api_accepts(lab, new) and not api_accepts(lab, old)
    key_id = json.loads(result.stdout)["key_id"]
    assert f"set service https api keys id {key_id} key '{new}'" in lab.vyos.saved_commands()  # saved
    assert not [line for line in lab.vyos.running_commands() if "keys id" in line and key_id not in line]
    assert old not in logs(lab, result) and new not in logs(lab, result)
    ok(run("vyos", "test"))
    # A second rotation deletes the first one's id.
    ok(run("vyos", "rotate-secret"))
    assert not api_accepts(lab, new) and api_accepts(lab, key_file.read_text().strip())
    assert not [line for line in lab.vyos.running_commands() if key_id in line]


def test_a_refused_api_change_keeps_the_old_key(api_edge):
    lab, run, key_file = api_edge
    old = key_file.read_text().strip()
    lab.vyos.faults.fail_commit = "https: simulated failure"
    result = run("vyos", "rotate-secret")
    assert result.exit_code == 1 and "kept its API keys" in result.stderr
    assert key_file.read_text().strip() == old and api_accepts(lab, old)
    assert not [p for p in key_file.parent.iterdir() if p.name.endswith(".rotating")]
