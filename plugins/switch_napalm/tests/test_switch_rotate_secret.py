"""`tenctl switch rotate-secret` against the lab's EOS switches: which password each switch accepts is asked
of the switch with an eAPI request of the test's own, not through tenctl."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import requests
import tomli_w

SITES = {"site-a": ("pve1", "pve2"), "site-b": ("pve3",)}


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def inventory(lab, shared: tuple[str, ...] = ()) -> tuple[Path, dict[str, Path]]:
    """The lab's configuration with its four switches; those in `shared` use one password file (a copy of
    the first one's). Returns the configuration and each switch's password file."""
    data = tomllib.loads(lab.config.read_text())
    files: dict[str, Path] = {}
    shared_file = lab.dir / "secrets" / "shared-switch-password"
    sites = []
    for site, nodes in SITES.items():
        entries = []
        for info in lab.switches_info:
            if info["site"] != site:
                continue
            files[info["name"]] = Path(info["password_file"])
            if info["name"] in shared:
                if not shared_file.exists():
                    shared_file.write_text(Path(info["password_file"]).read_text())
                    shared_file.chmod(0o600)
                files[info["name"]] = shared_file
            entries.append(
                {
                    "name": info["name"],
                    "driver": "eos",
                    "host": info["host"],
                    "port": info["port"],
                    "user": info["user"],
                    "password_file": str(files[info["name"]]),
                    "ca_file": info["ca_file"],
                    "trunk_ports": list(info["trunk_ports"]),
                }
            )
        sites.append({"name": site, "nodes": list(nodes), "switches": entries})
    data["switches"] = {"sites": sites}
    path = lab.dir / "switches.toml"
    path.write_text(tomli_w.dumps(data))
    return path, files


def accepts(lab, name: str, password: str) -> bool:
    """One eAPI request to the switch with its user and this password."""
    info = next(i for i in lab.switches_info if i["name"] == name)
    session = requests.Session()
    session.trust_env = False
    answer = session.post(
        f"https://{info['host']}:{info['port']}/command-api",
        json={"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 1, "cmds": ["show version"]}, "id": 1},
        auth=(info["user"], password),
        verify=info["ca_file"],
        timeout=10,
    )
    return answer.status_code == 200


def everything_logged(lab, *results) -> str:
    trail = (lab.dir / "log" / "tenant-management.log").read_text(encoding="utf-8")
    devices = json.dumps([switch.log_lines() for switch in lab.switches.values()])
    return "\n".join([trail, devices, *(r.stdout + r.stderr for r in results)])


def secret(path: Path) -> str:
    return path.read_text().strip()


def test_every_switch_gets_a_new_secret_and_its_file(lab):
    config, files = inventory(lab)
    old = {name: secret(path) for name, path in files.items()}
    result = ok(lab.run("--config", config, "switch", "rotate-secret"))
    for name, path in files.items():
        new = secret(path)
        assert new != old[name] and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert accepts(lab, name, new), name
        assert not accepts(lab, name, old[name]), name
        assert lab.switches[name].commit_timer_pending() is None  # confirmed, not waiting to revert
        assert "username admin secret sha512" in lab.switches[name].startup_config()  # saved
        assert new not in lab.switches[name].running_config()
    text = everything_logged(lab, result)
    for name, path in files.items():
        assert old[name] not in text and secret(path) not in text
    assert not list(files["sw-a1"].parent.glob(".*.rotating"))
    ok(lab.run("--config", config, "switch", "status"))  # tenctl reaches them with the new files


def test_a_switch_that_refuses_keeps_its_secret_and_the_others_rotate(lab):
    config, files = inventory(lab)
    old = {name: secret(path) for name, path in files.items()}
    lab.switches["sw-b2"].fail_next_commit()
    result = lab.run("--config", config, "switch", "rotate-secret", "--site", "site-b")
    assert result.exit_code == 1
    assert "sw-b2" in result.stderr and "rotated: sw-b1" in result.stderr
    assert secret(files["sw-b2"]) == old["sw-b2"] and accepts(lab, "sw-b2", old["sw-b2"])
    assert secret(files["sw-b1"]) != old["sw-b1"] and accepts(lab, "sw-b1", secret(files["sw-b1"]))
    assert not accepts(lab, "sw-b1", old["sw-b1"])
    for name in ("sw-a1", "sw-a2"):  # not chosen: untouched
        assert secret(files[name]) == old[name] and accepts(lab, name, old[name])
    assert old["sw-b2"] not in result.stderr


def test_switches_sharing_a_file_change_together_or_not_at_all(lab):
    # sw-a2 takes sw-a1's password, as two switches configured with one file would have.
    first = Path(next(i for i in lab.switches_info if i["name"] == "sw-a1")["password_file"]).read_text().strip()
    lab.switches["sw-a2"].password = first
    config, files = inventory(lab, shared=("sw-a1", "sw-a2"))
    lab.switches["sw-a2"].fail_next_commit()
    result = lab.run("--config", config, "switch", "rotate-secret", "--site", "site-a")
    assert result.exit_code == 1 and "unchanged" in result.stderr
    assert secret(files["sw-a1"]) == first
    for name in ("sw-a1", "sw-a2"):
        assert accepts(lab, name, first), name
        assert lab.switches[name].commit_timer_pending() is None  # sw-a1's commit was aborted, not left to time out
    assert not list(files["sw-a1"].parent.glob(".*.rotating"))

    ok(lab.run("--config", config, "switch", "rotate-secret", "--site", "site-a"))
    new = secret(files["sw-a1"])
    assert new != first
    for name in ("sw-a1", "sw-a2"):
        assert accepts(lab, name, new) and not accepts(lab, name, first), name


def test_rotating_part_of_a_shared_file_is_refused(lab):
    config, files = inventory(lab, shared=("sw-a1", "sw-b1"))
    before = {name: switch.running_config() for name, switch in lab.switches.items()}
    result = lab.run("--config", config, "switch", "rotate-secret", "--site", "site-a")
    assert result.exit_code == 2 and "sw-b1" in result.stderr and "together" in result.stderr
    assert {name: switch.running_config() for name, switch in lab.switches.items()} == before


def test_dry_run_and_bad_names_change_nothing(lab):
    config, files = inventory(lab)
    before = {name: secret(path) for name, path in files.items()}
    dry = json.loads(ok(lab.run("--config", config, "switch", "rotate-secret", "--dry-run", "--json")).stdout)
    assert sorted(n for g in dry["groups"] for n in g["switches"]) == sorted(files)
    bad = lab.run("--config", config, "switch", "rotate-secret", "--switch", "sw-zz")
    assert bad.exit_code == 2 and "sw-zz" in bad.stderr
    assert {name: secret(path) for name, path in files.items()} == before
    for name, password in before.items():
        assert accepts(lab, name, password)


def test_a_killed_rotation_is_finished_by_the_next_run(lab):
    """Killed after the switch confirmed and before the file was swapped: the staged file holds the secret
    the switch has; the next run swaps it in instead of rotating again."""
    config, files = inventory(lab)
    path = files["sw-b1"]
    lab.switches["sw-b1"].configure("username admin secret Confirmed2but9not4swapped")
    staged = path.with_name(f".{path.name}.rotating")
    staged.write_text("Confirmed2but9not4swapped\n")
    staged.chmod(0o600)
    result = ok(lab.run("--config", config, "switch", "rotate-secret", "--switch", "sw-b1"))
    assert "interrupted" in result.stdout
    assert secret(path) == "Confirmed2but9not4swapped" and not staged.exists()
    assert accepts(lab, "sw-b1", secret(path))
