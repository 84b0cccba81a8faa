"""Installing, updating and uninstalling tenctl on a cluster of three nodes simulated on loopback.

pve1 is the node the operator works on; pve2 and pve3 are SSH servers (tenctl_lab.sshnodes), each with its
own host key and a directory as its file system root, running what they receive with ``bash -c``. Every
node's root starts empty, so a node's file tree is exactly what tenctl put there. The lab's Proxmox
answers ``/cluster/status`` with the three nodes, as on a real cluster.

Cost: the wheels of tenctl and tenctl-linux-bridge are built once per module (pip wheel, ~5 s) and each
node's venv is a real one, made with ``python -m venv --without-pip`` and filled by pip running from the
wheelhouse's own pip wheel, ``--no-index`` (~5-10 s a node): the commands a real node runs.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # the lab, SSH servers, wheels and venvs: the end-to-end environment

REPO = Path(__file__).resolve().parent.parent
NODES = ("pve1", "pve2", "pve3")


# ----------------------------------------------------------------------------------------- helpers


def tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every path under root (the venv's own files summed up as one entry each for bin, lib...),
    with its kind and mode."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            kind = "link" if stat.S_ISLNK(info.st_mode) else "dir" if stat.S_ISDIR(info.st_mode) else "file"
            found[str(path.relative_to(root))] = (kind, stat.S_IMODE(info.st_mode))
    return found


def installed_version(root: Path, dist: str = "tenctl") -> list[str]:
    site = next((root / "opt/tenctl/lib").glob("python3*/site-packages"))
    return sorted(
        p.name.removesuffix(".dist-info").split("-", 1)[1] for p in site.glob(f"{dist}-*.dist-info")
    )


def registry_of(root: Path) -> list[str]:
    """The top-level names the node's own tenctl knows: its registered commands and the dispatcher words."""
    code = (
        "import typer; from tenctl_core.cli.app import make_app; from tenctl_core.plugins import get_plugin_manager; "
        "from tenctl_core.install import command_words; "
        "print(' '.join(command_words(typer.main.get_command(make_app(get_plugin_manager())))))"
    )
    done = subprocess.run(
        [str(root / "opt/tenctl/bin/python"), "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def with_version(wheel: Path, version: str, directory: Path) -> Path:
    """A copy of wheel that says it is version (its dist-info renamed, METADATA and RECORD rewritten)."""
    name, old = wheel.name.split("-")[:2]
    old_info, new_info = f"{name}-{old}.dist-info", f"{name}-{version}.dist-info"
    target = directory / wheel.name.replace(f"-{old}-", f"-{version}-")
    rows = []
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if item.filename == f"{old_info}/RECORD":
                continue
            data = src.read(item)
            member = item.filename.replace(old_info, new_info, 1)
            if member == f"{new_info}/METADATA":
                data = data.replace(f"\nVersion: {old}\n".encode(), f"\nVersion: {version}\n".encode(), 1)
            out.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append((member, f"sha256={digest}", str(len(data))))
        record = io.StringIO()
        csv.writer(record, lineterminator="\n").writerows([*rows, (f"{new_info}/RECORD", "", "")])
        out.writestr(f"{new_info}/RECORD", record.getvalue())
    return target


def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def complete(script: Path, *words: str) -> list[str]:
    """What bash completes for the words (the last one being completed), with the script sourced."""
    program = (
        f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _tenctl; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return sorted(line for line in done.stdout.splitlines() if line)


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """The wheels of this checkout's tenctl and tenctl-linux-bridge (a release), and the same release
    as version 0.2.0.post1 (the next one, for update-cli). Built from the checkout with pip, or where there
    is no pip (tox makes its environments with uv) packed again from what is installed from it."""
    import importlib.util

    from tenctl_core.wheelhouse import installed, repack

    base = tmp_path_factory.mktemp("wheels")
    release, following = base / "release", base / "next"
    release.mkdir()
    if importlib.util.find_spec("pip") is not None:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(release), str(REPO),
             str(REPO / "plugins" / "linux_bridge")],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    else:  # an environment made by uv has no pip, and tenctl is installed in it from this checkout
        for dist in ("tenctl", "tenctl-linux-bridge"):
            found = installed(dist)
            assert found is not None, dist
            repack(found, release)
    following.mkdir()
    for wheel in release.glob("*.whl"):
        with_version(wheel, "0.2.0.post1", following)
    return release, following


@pytest.fixture(scope="module")
def install_lab(tmp_path_factory, lab_pki):
    """A lab of this module's own: its tests remove every tenant, which a shared lab must not see."""
    from tenctl_lab.pytest_plugin import start_lab

    handle = start_lab(tmp_path_factory.mktemp("install-lab"), lab_pki)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture(scope="module")
def nodes(install_lab, tmp_path_factory):
    """The lab's three nodes: SSH servers with their own host keys, and a root directory for each node."""
    from tenctl_lab.sshnodes import SshNodes

    if shutil.which("ssh") is None:
        pytest.skip("no OpenSSH client here (apt install openssh-client): the cluster tests cannot run")

    base = tmp_path_factory.mktemp("nodes")
    served = SshNodes(base, NODES, config_path=str(install_lab.config)).start()
    try:
        yield served
    finally:
        served.stop()


def node_env(lab, nodes, known_hosts: Path) -> dict[str, str]:
    targets = nodes.targets_file(nodes.base / f"targets-{known_hosts.name}.toml", known_hosts)
    return dict(lab.env, TENCTL_NODE="pve1", TENCTL_INSTALL_TARGETS=str(targets))


# ------------------------------------------------------------------------------------------- tests
# The tests of this module follow one cluster through its life, in order: refused, installed, updated,
# uninstalled.


def test_a_node_with_a_wrong_host_key_is_refused_before_anything_changes(install_lab, nodes, wheels):
    root1 = nodes.nodes["pve1"].root
    bootstrap = run(
        [
            sys.executable,
            "-m",
            "tenctl_core",
            "install-local",
            "--root",
            str(root1),
            "--from",
            str(wheels[0]),
        ],
        dict(install_lab.env, TENCTL_NODE="pve1"),
    )
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert installed_version(root1) == ["0.2.0"]
    others = {name: tree(nodes.nodes[name].root) for name in ("pve2", "pve3")}
    assert others == {"pve2": {}, "pve3": {}}

    env = node_env(install_lab, nodes, nodes.known_hosts(nodes.base / "known_hosts"))
    install_lab.pve.set_node_offline("pve3")
    try:
        unconfirmed = run([str(root1 / "opt/tenctl/bin/tenctl"), "cluster", "install"], env)
    finally:
        install_lab.pve.set_node_offline("pve3", offline=False)
    assert "skipped: node pve3 is offline" in unconfirmed.stdout
    assert (
        unconfirmed.returncode == 2
        and "needs confirmation" in unconfirmed.stderr
        and "-y" in unconfirmed.stderr
    )
    assert {name: tree(nodes.nodes[name].root) for name in ("pve2", "pve3")} == others

    env = node_env(install_lab, nodes, nodes.known_hosts(nodes.base / "known_hosts_wrong", wrong=("pve3",)))
    result = run([str(root1 / "opt/tenctl/bin/tenctl"), "cluster", "install", "-y"], env)

    assert result.returncode == 1
    assert "node pve3" in result.stderr and "host key" in result.stderr and "refused" in result.stderr
    assert {name: tree(nodes.nodes[name].root) for name in ("pve2", "pve3")} == others
    # pve3 (offline, then with a key refused) was sent nothing; pve2 got the read-only pre-flight checks only
    assert nodes.nodes["pve3"].commands == []
    assert len(nodes.nodes["pve2"].commands) == 2
    assert all(c.startswith("python3 -c") for c in nodes.nodes["pve2"].commands)


def test_cluster_install_puts_the_same_installation_on_every_node(install_lab, nodes):
    root1 = nodes.nodes["pve1"].root
    env = node_env(install_lab, nodes, nodes.known_hosts(nodes.base / "known_hosts"))
    # pve3 cannot take the installation (a file stands where its /etc should be): it fails, pve2 goes on
    blocker = nodes.nodes["pve3"].root / "etc"
    blocker.write_text("")
    failed = run([str(root1 / "opt/tenctl/bin/tenctl"), "cluster", "install", "-y"], env)
    assert failed.returncode == 1
    assert "installed: pve2" in failed.stdout and "installed: pve3" not in failed.stdout
    assert f"{blocker}/bash_completion.d: Not a directory" in failed.stderr
    assert "1 node(s) not installed: pve3" in failed.stderr
    blocker.unlink()
    # run again once fixed: the same installation everywhere
    result = run([str(root1 / "opt/tenctl/bin/tenctl"), "cluster", "install", "-y"], env)
    assert result.returncode == 0, result.stderr

    config = install_lab.config
    named = [
        Path(p)
        for p in (install_lab._paths.token_secret, install_lab._paths.root_password, install_lab.ca_file)
    ]
    secrets = [
        install_lab._paths.token_secret.read_text().strip(),
        install_lab._paths.root_password.read_text().strip(),
    ]
    data = REPO / "tenctl_core" / "data"
    reference_links = None
    for name, node in nodes.nodes.items():
        root = node.root
        assert installed_version(root) == ["0.2.0"], name
        assert installed_version(root, "tenctl_linux_bridge") == ["0.2.0"], name
        assert (root / "etc/systemd/system/tenctl-watcher.service").read_bytes() == (
            data / "tenctl-watcher.service"
        ).read_bytes()
        assert (root / "etc/logrotate.d/tenctl").read_bytes() == (data / "logrotate").read_bytes()
        man = root / "usr/local/share/man/man1/tenctl.1"
        assert man.read_text().startswith('.TH TENCTL 1 "" "tenctl 0.2.0"')
        if shutil.which("groff"):  # the page is valid roff, without a single warning
            lint = subprocess.run(
                ["groff", "-man", "-Tutf8", "-ww", "-z", str(man)], capture_output=True, text=True
            )
            assert lint.returncode == 0 and lint.stderr == "", lint.stderr
        words = registry_of(root)
        bash = root / "etc/bash_completion.d/tenctl"
        zsh = (root / "usr/local/share/zsh/site-functions/_tenctl").read_text()
        assert complete(bash, "tenctl", "") == sorted(words)
        for word in words:  # every registered command (and word) has its program, completion and page entry
            link = root / "usr/local/bin" / f"tenctl-{word}"
            assert os.readlink(link) == str(root / "opt/tenctl/bin/tenctl"), word
            assert f" tenctl-{word}" in zsh.splitlines()[0], word
            assert f"tenctl\\-{word.replace('-', chr(92) + '-')}" in man.read_text(), word
        links = sorted(p.name for p in (root / "usr/local/bin").iterdir())
        assert reference_links is None or links == reference_links
        reference_links = links
        # completion lists tenants from the records directory of the node's configuration
        assert f"{install_lab._paths.tenants_dir}/*.toml" in bash.read_text(), name
        if name == "pve1":
            continue
        # this node's configuration and every file it names, same bytes, same modes
        for path in [config, *named]:
            copy = root / str(path).lstrip("/")
            assert copy.read_bytes() == path.read_bytes(), (name, path)
            assert stat.S_IMODE(copy.stat().st_mode) == stat.S_IMODE(path.stat().st_mode), (name, path)
        assert stat.S_IMODE((root / str(install_lab._paths.token_secret).lstrip("/")).stat().st_mode) == 0o600
        # no secret on a command line, and none printed
        assert not any(secret in command for command in node.commands for secret in secrets)
    assert not any(secret in result.stdout + result.stderr for secret in secrets)
    # one line in the audit trail, naming the nodes and the versions, never a secret
    trail = (Path(install_lab._paths.log_dir) / "tenant-management.log").read_text().splitlines()
    line = json.loads(next(t for t in reversed(trail) if '"cluster install"' in t))
    assert line["outcome"] == "success" and line["details"]["nodes"] == ["pve1", "pve2", "pve3"]
    assert "tenctl==0.2.0" in line["details"]["requirements"]
    assert not any(secret in json.dumps(line) for secret in secrets)
    # the registry each node has is core's commands plus the ones of the plugins installed there
    from tenctl_core.cli.app import CORE_COMMANDS

    assert set(CORE_COMMANDS) <= set(registry_of(nodes.nodes["pve2"].root))
    # the links work: tenctl-ls is tenctl list, tenctl-rm is tenctl remove, on another node
    listed = run([str(nodes.nodes["pve2"].root / "usr/local/bin/tenctl-ls"), "--help"], env)
    assert listed.returncode == 0 and listed.stdout.startswith("Usage: tenctl list"), listed.stderr
    removed = run([str(nodes.nodes["pve3"].root / "usr/local/bin/tenctl"), "rm", "--help"], env)
    assert removed.returncode == 0 and removed.stdout.startswith("Usage: tenctl remove"), removed.stderr


def test_update_cli_upgrades_this_node_then_each_other_node_once(install_lab, nodes, wheels):
    root1 = nodes.nodes["pve1"].root
    env = node_env(install_lab, nodes, nodes.known_hosts(nodes.base / "known_hosts"))
    # a bad targets file is refused before the first request to Proxmox and the first connection
    bad = nodes.base / "bad-targets.toml"
    bad.write_text('[nodes.pve2]\nhost = "127.0.0.1"\nport = 70000\n', encoding="utf-8")
    mark, sent = install_lab.mark(), sum(len(node.commands) for node in nodes.nodes.values())
    refused = run(
        [str(root1 / "opt/tenctl/bin/tenctl"), "update-cli", "-y", "--from", str(wheels[1])],
        dict(env, TENCTL_INSTALL_TARGETS=str(bad)),
    )
    assert refused.returncode == 2 and "node pve2: SSH port 70000" in refused.stderr
    assert install_lab.requests_since(mark) == 0
    assert sum(len(node.commands) for node in nodes.nodes.values()) == sent
    assert installed_version(root1) == ["0.2.0"]

    sent_before = {name: len(node.commands) for name, node in nodes.nodes.items()}
    result = run([str(root1 / "opt/tenctl/bin/tenctl"), "update-cli", "-y", "--from", str(wheels[1])], env)
    assert result.returncode == 0, result.stderr

    for name, node in nodes.nodes.items():
        assert installed_version(node.root) == ["0.2.0.post1"], name
        assert installed_version(node.root, "tenctl_linux_bridge") == ["0.2.0.post1"], name
        assert (node.root / "usr/local/bin/tenctl-list").is_symlink()
    for name in ("pve2", "pve3"):
        sent = nodes.nodes[name].commands[sent_before[name] :]
        assert sum("install-local" in command for command in sent) == 1, sent
        assert sum(command.startswith("rm -rf") and " tar -x " in command for command in sent) == 1, sent
    # this node is updated in place; the updated nodes reach no other node (no fan-out from every node)
    assert nodes.nodes["pve1"].commands[sent_before["pve1"] :] == []

    # Each node's watcher is restarted after its update if it runs there. Every root here is a staging
    # tree, which no systemd runs: restarting the host's tenctl-watcher (if it had one) would restart a
    # watcher this update did not touch, so tenctl calls no systemctl for such a root, here or over SSH, and
    # says so for each node. The real-root branch is test_the_watcher_is_restarted_only_where_it_runs.
    lines = result.stdout.splitlines()
    staging = "(staging root: watcher left alone, systemctl not called)"
    [local] = [line for line in lines if line.startswith("updated: pve1 (this node) to ")]
    assert local.endswith(staging)
    assert [line for line in lines if line.startswith("updated: pve") and "this node" not in line] == [
        f"updated: {name} {staging}" for name in ("pve2", "pve3")
    ]
    for name in ("pve2", "pve3"):
        assert not any("systemctl" in command for command in nodes.nodes[name].commands), name


def test_the_watcher_is_restarted_only_where_it_runs(nodes):
    """A node whose root is / is sent the restart after its update: ``systemctl try-restart`` guarded by
    systemd's presence and the unit being active. The update itself cannot be run against / here, so this
    calls the step update-cli runs after a node's update, against pve2's SSH server with root /. Where the
    tests run there is no systemd with a tenctl-watcher running (a container: no /run/systemd/system; a CI
    runner: systemd, but no such unit), so the restart itself is not exercised: what the node answered
    decides the note, and nothing was restarted on this machine."""
    from tenctl_core import install

    node = nodes.nodes["pve2"]
    target = install.Target(
        node="pve2",
        host="127.0.0.1",
        port=node.port,
        root="/",
        identity_file=str(nodes.client_key_file),
        known_hosts=str(nodes.known_hosts(nodes.base / "known_hosts-watcher")),
    )
    before = len(node.commands)
    note = install.restart_watcher_remote(target)
    [sent] = node.commands[before:]
    assert "systemctl try-restart tenctl-watcher.service" in sent
    assert "systemctl is-active --quiet tenctl-watcher.service" in sent
    assert "[ -d /run/systemd/system ]" in sent
    if Path("/run/systemd/system").is_dir():
        assert note == "watcher not running: left stopped"
    else:
        assert note == "no systemd: watcher not restarted"


def test_uninstall_full_purges_tenants_and_leaves_each_node_as_it_was(install_lab, nodes):
    root1 = nodes.nodes["pve1"].root
    env = node_env(install_lab, nodes, nodes.known_hosts(nodes.base / "known_hosts"))
    tenctl = str(root1 / "opt/tenctl/bin/tenctl")
    assert run([tenctl, "init"], env).returncode == 0
    added = run([tenctl, "add", "-n", "leaving"], env)
    assert added.returncode == 0, added.stderr
    assert "tenant_leaving" in install_lab.pve.pools

    result = run([tenctl, "uninstall", "--full", "--purge-tenants", "-f"], env)
    assert result.returncode == 0, result.stderr

    assert "tenant_leaving" not in install_lab.pve.pools  # removed through `tenctl remove`
    assert not (Path(install_lab._paths.tenants_dir) / "leaving.toml").exists()
    for name, node in nodes.nodes.items():
        assert tree(node.root) == {}, name  # each root started empty


def with_tenants(lab, *names: str) -> list[str]:
    """Make sure the tenants exist (made with `tenctl add`); every tenant name in the records directory."""
    env = dict(lab.env)
    assert run([sys.executable, "-m", "tenctl_core", "init"], env).returncode == 0
    for name in names:
        if not (Path(lab._paths.tenants_dir) / f"{name}.toml").exists():
            added = run([sys.executable, "-m", "tenctl_core", "add", "-n", name], env)
            assert added.returncode == 0, added.stderr
    return sorted(p.stem for p in Path(lab._paths.tenants_dir).glob("*.toml"))


def test_bash_completion_completes_commands_options_and_tenant_names(install_lab, tmp_path):
    env = dict(install_lab.env)
    with_tenants(install_lab, "acme", "beta")
    script = tmp_path / "tenctl.bash"
    printed = run([sys.executable, "-m", "tenctl_core", "completion", "bash"], env)
    assert printed.returncode == 0, printed.stderr
    script.write_text(printed.stdout)
    tenants = sorted(p.stem for p in Path(install_lab._paths.tenants_dir).glob("*.toml"))
    assert {"acme", "beta"} <= set(tenants)

    assert complete(script, "tenctl", "mo") == ["modify"]
    assert complete(script, "tenctl", "help", "mo") == ["modify"]
    assert complete(script, "tenctl", "cluster", "") == ["install", "status"]
    assert complete(script, "tenctl", "add", "--st") == ["--storage"]
    assert complete(script, "tenctl", "update-cli", "--") == ["--from", "--help", "--local-only", "--yes"]
    assert complete(script, "tenctl", "remove", "-n", "") == tenants
    assert complete(script, "tenctl-rm", "--name", "a") == [t for t in tenants if t.startswith("a")]
    assert complete(script, "tenctl", "--config", "x", "ls", "--js") == ["--json"]
    assert complete(script, "tenctl", "repair", "b") == [t for t in tenants if t.startswith("b")]
    assert complete(script, "tenctl-show", "-n", "acm") == ["acme"]


def test_zsh_completion_completes_commands_options_and_tenant_names(install_lab, tmp_path):
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed here: the zsh script is untested")
    env = dict(install_lab.env)
    printed = run([sys.executable, "-m", "tenctl_core", "completion", "zsh"], env)
    assert printed.returncode == 0, printed.stderr
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_tenctl").write_text(printed.stdout)
    tenants = with_tenants(install_lab, "acme", "beta")

    def zcomplete(*words: str) -> list[str]:
        # compadd is replaced by a function printing what it was given (after its -a/-- flags)
        program = f"""
            fpath=({functions} $fpath)
            compadd() {{
                local -a items
                if [[ $1 == -a ]]; then items=(${{(P)2}}); else items=("$@"); fi
                print -l -- $items
            }}
            _files() {{ print -- '<files>' }}
            autoload -Uz _tenctl
            words=({" ".join(repr(w) for w in words)})
            CURRENT=${{#words}}
            _tenctl
        """
        done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True)
        prefix = words[-1]
        return sorted(w for w in done.stdout.splitlines() if w and w.startswith(prefix))

    assert zcomplete("tenctl", "mo") == ["modify"]
    assert zcomplete("tenctl", "help", "mo") == ["modify"]
    assert zcomplete("tenctl", "cluster", "") == ["install", "status"]
    assert zcomplete("tenctl", "add", "--st") == ["--storage"]
    assert zcomplete("tenctl", "remove", "-n", "") == tenants
    assert zcomplete("tenctl-rm", "--name", "") == tenants
    assert zcomplete("tenctl", "repair", "") == sorted(tenants)


def test_bad_input_is_refused_with_exit_2_and_changes_nothing(install_lab, tmp_path):
    env = dict(install_lab.env)
    target = tmp_path / "root"
    target.mkdir()
    cases = [
        (["install-local", "--root", "relative/dir"], "--root 'relative/dir'"),
        (["install-local", "--root", str(target), "--from", str(tmp_path / "missing")], "no such directory"),
        (["install-local", "--root", str(target), "--from", str(tmp_path)], "no wheel of tenctl"),
        (["completion", "fish"], "shell 'fish'"),
        (["cluster", "install", "-y"], "not from an installation made by `tenctl install-local`"),
        (["update-cli", "-y"], "not from an installation made by `tenctl install-local`"),
        (["uninstall", "-f"], "not from an installation made by `tenctl install-local`"),
    ]
    for argv, message in cases:
        result = run([sys.executable, "-m", "tenctl_core", *argv], env)
        assert result.returncode == 2, (argv, result.stderr)
        assert message in result.stderr, (argv, result.stderr)
    assert tree(target) == {}

    # a path that cannot be made is a failure naming it (here a file stands where a directory must go)
    (target / "opt/tenctl").mkdir(parents=True)
    (target / "usr").write_text("")
    blocked = run(
        [sys.executable, "-m", "tenctl_core", "install-local", "--root", str(target), "--no-wheelhouse"], env
    )
    assert blocked.returncode == 1
    assert f"error: {target}/usr/local: Not a directory (fix that path" in blocked.stderr


def test_without_pip_the_wheelhouse_takes_the_pip_wheel_python_bundles(wheels, tmp_path, monkeypatch):
    """An environment made without pip (uv makes them so) still yields a wheelhouse that can install nodes."""
    from tenctl_core import wheelhouse

    bundled = wheelhouse.bundled_pip_wheel()
    if bundled is None:
        pytest.skip("this Python has no ensurepip: the fallback is untested here")
    closure = wheelhouse.requirement_closure
    monkeypatch.setattr(
        wheelhouse,
        "requirement_closure",
        lambda roots: [d for d in closure(roots) if d.metadata["Name"] != "pip"],
    )
    house = wheelhouse.build(tmp_path / "wheels", wheels[0])
    assert (
        house.pip_wheel == bundled.name
        and (tmp_path / "wheels" / bundled.name).read_bytes() == bundled.read_bytes()
    )
    assert f"pip=={wheelhouse.wheel_version(bundled)}" in house.requirements


def test_target_values_are_checked_before_any_connection():
    from tenctl_core.errors import UsageError
    from tenctl_core.install import make_target

    for override, message in [
        ({"host": "1.2.3.4; reboot"}, "is not an IP address or host name"),
        ({"host": "127.0.0.1", "port": 0}, "SSH port 0"),
        ({"host": "127.0.0.1", "root": "../x"}, "root '../x'"),
        ({"host": "127.0.0.1", "user": "root -oProxyCommand=x"}, "SSH user"),
    ]:
        with pytest.raises(UsageError, match=message.replace("(", r"\(")):
            make_target("pve2", None, override)
    with pytest.raises(UsageError, match="node name"):
        make_target("pve2;id", "127.0.0.1", None)
    with pytest.raises(UsageError, match="a path without spaces"):
        make_target("pve2", "127.0.0.1", {"known_hosts": "/tmp/a b"})
    # on a real node: the cluster's known_hosts files, by node name, and no unknown key accepted
    argv = make_target("pve2", "10.0.0.2", None).ssh_argv("true")
    assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv and "HostKeyAlias=pve2" in argv
    assert "UserKnownHostsFile=/etc/pve/nodes/pve2/ssh_known_hosts /etc/pve/priv/known_hosts" in argv
    assert argv[-3:] == ["root@10.0.0.2", "--", "true"]


def test_every_registered_command_has_its_program_completion_and_manual_entry(install_lab, tmp_path):
    """The registry as the plugin manager reports it (core's commands, every installed plugin's, the words)
    against what install-local writes: nothing is kept in a list by hand, so nothing can be missing."""
    from tenctl_core.cli.app import CORE_COMMANDS
    from tenctl_core.cli.words import DISPATCH_WORDS
    from tenctl_core.plugins import get_plugin_manager

    plugin_commands = set(get_plugin_manager().commands(set(CORE_COMMANDS)).entries)
    assert {"lab", "vyos"} <= plugin_commands  # the plugins installed in the test environment
    registered = set(CORE_COMMANDS) | plugin_commands
    root = tmp_path / "node"
    (root / "opt/tenctl").mkdir(parents=True)
    result = run(
        [sys.executable, "-m", "tenctl_core", "install-local", "--root", str(root), "--no-wheelhouse"],
        dict(install_lab.env),
    )
    assert result.returncode == 0, result.stderr

    bash = root / "etc/bash_completion.d/tenctl"
    first_word = complete(bash, "tenctl", "")
    compdef = (root / "usr/local/share/zsh/site-functions/_tenctl").read_text().splitlines()[0].split()
    complete_line = next(
        line for line in bash.read_text().splitlines() if line.startswith("complete -F _tenctl ")
    )
    man = (root / "usr/local/share/man/man1/tenctl.1").read_text()
    for name in sorted(registered | set(DISPATCH_WORDS)):
        assert (root / "usr/local/bin" / f"tenctl-{name}").is_symlink(), name
        assert name in first_word, name
        assert f"tenctl-{name}" in compdef and f" tenctl-{name}" in complete_line, name
        if name in registered:
            assert f'.SS "tenctl {name.replace("-", chr(92) + "-")}"' in man, name
    for name in sorted(set(DISPATCH_WORDS)):
        assert f"\\fBtenctl {name.replace('-', chr(92) + '-')}\\fR" in man, name
    # sub-commands too: each has its completion and its section
    assert complete(bash, "tenctl", "lock", "") == ["release", "status"]
    assert '.SS "tenctl lock status"' in man and '.SS "tenctl cluster install"' in man


def test_uninstall_leaves_what_was_there_before_and_foreign_files_are_refused(install_lab, wheels, tmp_path):
    root = tmp_path / "node"
    for directory in ("opt", "usr/local/bin", "etc/logrotate.d", "etc/tenctl"):
        (root / directory).mkdir(parents=True)
    (root / "usr/local/bin/other-tool").write_text("#!/bin/sh\n")
    (root / "etc/logrotate.d/apt").write_text("/var/log/apt/*.log {}\n")
    (root / "etc/tenctl/tenctl.toml").write_text("# the operator's\n")
    before = tree(root)
    env = dict(install_lab.env, TENCTL_NODE="pve1")

    installed = run(
        [sys.executable, "-m", "tenctl_core", "install-local", "--root", str(root), "--from", str(wheels[0])],
        env,
    )
    assert installed.returncode == 0, installed.stderr
    assert (root / "usr/local/bin/tenctl-rm").is_symlink() and (root / "etc/logrotate.d/tenctl").is_file()
    removed = run([str(root / "opt/tenctl/bin/tenctl"), "uninstall", "-f", "--local-only"], env)
    assert removed.returncode == 0, removed.stderr
    assert tree(root) == before  # /opt, /usr/local/bin and the configuration were there before: they stay

    # a file the installation did not make (here a Bash tenctl's) is refused before anything is made
    (root / "usr/local/bin/tenctl").write_text("#!/bin/bash\n# tenctl 2.0.0\n")
    before = tree(root)
    refused = run(
        [sys.executable, "-m", "tenctl_core", "install-local", "--root", str(root), "--from", str(wheels[0])],
        env,
    )
    assert refused.returncode == 1
    assert f"{root}/usr/local/bin/tenctl exists and was not installed by tenctl" in refused.stderr
    assert tree(root) == before


def test_the_words_stand_for_their_commands(install_lab):
    env = dict(install_lab.env)

    def tenctl(*args: str) -> str:
        done = run([sys.executable, "-m", "tenctl_core", *args], env)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    assert json.loads(tenctl("ls", "--json")) == json.loads(tenctl("list", "--json"))
    assert tenctl("help", "add") == tenctl("add", "--help")
    assert tenctl("--config", str(install_lab.config), "rm", "--help") == tenctl("remove", "--help")
    assert tenctl("version").startswith("tenctl ") and tenctl("version") == tenctl("--version")
    assert tenctl("help") == tenctl("--help")
    assert tenctl("cluster-status", "--json") == tenctl("cluster", "status", "--json")
    nodes = json.loads(tenctl("cluster-status", "--json"))
    assert [(n["node"], n["online"]) for n in nodes] == [("pve1", True), ("pve2", True), ("pve3", True)]


def test_a_plugin_cannot_take_a_word(tmp_path):
    """A plugin command named like a word would never run (the word is rewritten first): it is refused."""
    (tmp_path / "wordy.py").write_text(
        "from tenctl_core import hookimpl\n\n"
        "@hookimpl\n"
        "def tenctl_register_commands(register):\n"
        "    register.add('status', help='A status of its own.', loader='wordy:app')\n",
        encoding="utf-8",
    )
    info = tmp_path / "wordy-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wordy\nVersion: 0.0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[tenctl]\nwordy = wordy\n", encoding="utf-8")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))
    )
    result = run([sys.executable, "-m", "tenctl_core", "--help"], env)
    assert result.returncode == 1
    assert "plugin 'wordy' registers command 'status'" in result.stderr
