"""pytest fixtures for any test suite that drives tenctl against the lab:
``lab``, ``lab_session``, ``lab_pki``.

``lab`` serves a fresh LabPve (nodes pve1..pve3, root@pam with a random password, the API token
root@pam!tenctl) on 127.0.0.1 with a port the system picks, on its own event loop in a thread, and writes a
tenctl.toml for it into a temporary directory. The handle it yields runs the tenctl command line in a
subprocess and reads the request log::

    def test_add(lab):
        mark = lab.mark()
        result = lab.run("add", "-n", "acme", ...)
        assert result.exit_code == 0, result.stderr
        assert "tenant_acme" in lab.pve.pools
        assert lab.requests_since(mark) < 40

``lab.vyos`` is the lab's simulated VyOS router (started on first use; see tenctl_lab.vyos) and
``lab.vyos_info`` says how to reach it over SSH and the HTTPS API. ``lab.switches`` are the lab's four EOS
switches by name (started on first use; see tenctl_lab.switch), ``lab.switches_info`` how to reach them.

The heavy imports (fakepve, aiohttp, asyncssh) happen when a fixture is first used, not when pytest loads the plugin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

HOST = "127.0.0.1"
START_TIMEOUT = 30


@dataclasses.dataclass
class RunResult:
    """What a tenctl command line did."""

    args: tuple
    exit_code: int
    stdout: str
    stderr: str


class ServedLab:
    """A LabPve listening on its own event loop in a daemon thread."""

    def __init__(self, pve, certfile: str, keyfile: str):
        self.pve = pve
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tenctl-lab", daemon=True)
        self.thread.start()
        try:
            self.call(pve.start(certfile, keyfile))
        except BaseException:
            self._end_loop()
            raise

    def call(self, coro, timeout: float = START_TIMEOUT):
        """Run a coroutine on the lab's loop and return its result (lab.serving.call(pve.backup(100)))."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _end_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()

    def stop(self) -> None:
        try:
            self.call(self.pve.stop())
        finally:
            self._end_loop()


class LabHandle:
    """What the ``lab`` fixtures yield: the simulated Proxmox, its files, and a way to run tenctl at it."""

    def __init__(self, pve, directory: Path, serving: ServedLab):
        from .lab import LabPaths

        paths = LabPaths(directory)
        self.pve = pve
        self.serving = serving
        self.dir = paths.dir
        self.config = paths.config
        self.request_log = paths.request_log
        self.ca_file = paths.ca_file
        self.password = pve.password
        self.token_id = "root@pam!tenctl"  # noqa: S105 - an id, not a secret
        self.token_secret = pve.apitokens[self.token_id]
        self.env = dict(os.environ, TENCTL_CONFIG=str(self.config), TENCTL_NODE="pve1")
        self._paths = paths
        self._vyos = None
        self._switches: dict | None = None

    @property
    def vyos(self):
        """The lab's VyOS router (tenctl_lab.vyos.VyosRouter), serving SSH and the HTTPS API on loopback.

        It starts on first use, on the lab's event loop, so that tests which do not need it pay nothing.
        """
        if self._vyos is None:
            from .server import build_router

            router = build_router(self._paths)
            self.serving.call(
                router.start(HOST, certfile=str(self._paths.ca_file), keyfile=str(self._paths.key_file))
            )
            self._vyos = router
        return self._vyos

    @property
    def vyos_info(self) -> dict:
        """How to reach the router: host, ssh_port, api_port, user, password, api_key, ca_file, known_hosts
        (the "vyos" part of `tenctl lab status --json`), plus password_file and api_key_file."""
        info = self.vyos.info()
        info["password_file"] = str(self._paths.vyos_password)
        info["api_key_file"] = str(self._paths.vyos_api_key)
        return info

    @property
    def switches(self) -> dict:
        """The lab's EOS switches by name (tenctl_lab.switch.EosSwitch): sw-a1 and sw-a2 of site-a, sw-b1 and
        sw-b2 of site-b, each serving eAPI over HTTPS on its own loopback port with its own state and log.

        They start on first use, on the lab's event loop, so that tests which do not need them pay nothing.
        """
        if self._switches is None:
            from .server import build_switches

            switches = {}
            try:
                for switch in build_switches(self._paths):
                    self.serving.call(
                        switch.start(HOST, certfile=str(self._paths.ca_file), keyfile=str(self._paths.key_file))
                    )
                    switches[switch.name] = switch
            except BaseException:
                for switch in switches.values():
                    self.serving.call(switch.stop())
                raise
            self._switches = switches
        return self._switches

    @property
    def switches_info(self) -> list[dict]:
        """How to reach each switch: the "switches" list of `tenctl lab status --json` (name, site, driver,
        host, port, user, password, trunk_ports, password_file, ca_file, request_log)."""
        from .lab import switches_status

        served = [switch.info() for switch in self.switches.values()]
        return switches_status(self._paths, served)

    def edge_config(self, transport: str = "ssh", **extra) -> Path:
        """A copy of the lab's configuration with a [vyos] table that drives the lab's router over
        `transport` (ssh or api), plus any [vyos] keys given (None leaves a key out); returns its path."""
        import tomllib

        import tomli_w

        info = self.vyos_info
        data = tomllib.loads(self.config.read_text(encoding="utf-8"))
        data["vyos"] = {
            "transport": transport,
            "host": info["host"],
            "ssh_port": info["ssh_port"],
            "api_port": info["api_port"],
            "user": info["user"],
            "password_file": info["password_file"],
            "api_key_file": info["api_key_file"],
            "known_hosts_file": info["known_hosts"],
            "ca_file": info["ca_file"],
            "lan_interface": "eth1",
            "wan_interface": "eth0",
            **extra,
        }
        data["vyos"] = {key: value for key, value in data["vyos"].items() if value is not None}
        path = self.dir / f"edge-{transport}.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
        return path

    def vyos_log(self, mark: int = 0) -> list[dict]:
        """The router's request log lines (SSH commands and API calls) since mark (see vyos.mark())."""
        return self.vyos.log_lines(mark)

    def close(self) -> None:
        """Stop the router and the switches (those started) and the simulated Proxmox."""
        try:
            for switch in (self._switches or {}).values():
                self.serving.call(switch.stop())
            if self._vyos is not None:
                self.serving.call(self._vyos.stop())
        finally:
            self.serving.stop()

    @property
    def url(self) -> str:
        return self.pve.url

    def _log_lines(self) -> list[dict]:
        if not self.request_log.exists():
            return []
        with open(self.request_log, encoding="utf-8") as log:
            return [json.loads(line) for line in log if line.strip()]

    def mark(self) -> int:
        """A position in the request log, for requests_since()."""
        return len(self._log_lines())

    def requests_since(self, mark: int = 0) -> int:
        """How many API requests the lab served since mark."""
        return len(self._log_lines()) - mark

    def requests_log_since(self, mark: int = 0) -> list[dict]:
        """The request log lines (time, method, path, status) since mark."""
        return self._log_lines()[mark:]

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict | None = None,  # noqa: A002 - subprocess's word
        node: str | None = None,
        timeout: float = 120,
    ) -> RunResult:
        """Run ``python -m tenctl_core ARGS`` against the lab in a subprocess."""
        full_env = dict(self.env)
        if env:
            full_env.update(env)
        if node:
            full_env["TENCTL_NODE"] = node
        done = subprocess.run(
            [sys.executable, "-m", "tenctl_core", *map(str, args)],
            input=input,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        return RunResult(args=args, exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr)


def start_lab(directory: Path, pki: tuple[str, str], time_scale: float = 0) -> LabHandle:
    """Serve a fresh lab Proxmox for files in directory, with the certificate pki = (certfile, keyfile)."""
    import secrets

    from .lab import NODES, LabPaths, write_config, write_secret
    from .pve import LabPve

    paths = LabPaths(directory)
    paths.make()
    for src, dst in zip(pki, (paths.ca_file, paths.key_file), strict=True):
        if not dst.exists():
            dst.write_bytes(Path(src).read_bytes())
            os.chmod(dst, 0o600 if dst == paths.key_file else 0o644)
    password = secrets.token_urlsafe(18)
    token = secrets.token_urlsafe(24)
    write_secret(paths.root_password, password)
    write_secret(paths.token_secret, token)
    pve = LabPve(user="root@pam", password=password, host=HOST, port=0, request_log=paths.request_log)
    pve.sdn_lock_file = paths.cluster_dir / "sdn" / ".lock"
    pve.use_storage_dir(paths.storage_dir)
    pve.time_scale = time_scale
    for node in NODES:
        pve.add_node(node)
    pve.add_token("root@pam!tenctl", token, privsep=False, comment="tenctl lab")
    serving = ServedLab(pve, str(paths.ca_file), str(paths.key_file))
    write_config(paths.dir, pve.port, HOST)
    return LabHandle(pve, paths.dir, serving)


def _time_scale(request) -> float:
    marker = request.node.get_closest_marker("lab")
    if marker is None:
        return 0
    unknown = set(marker.kwargs) - {"time_scale"}
    if unknown or marker.args:
        raise pytest.UsageError(
            "the lab marker takes time_scale= only, not {}".format(sorted(unknown) or "args")
        )
    return float(marker.kwargs.get("time_scale", 0))


def pytest_configure(config):
    config.addinivalue_line("markers", "lab(time_scale=0): options for the tenctl lab fixture")
    # Suites that use the lab run tenctl in many subprocesses: let them cache bytecode even where the
    # environment turns that off, or every start-up recompiles what it imports.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory):
    """(certfile, keyfile) of a self-signed certificate for 127.0.0.1; clients trust the certfile as CA."""
    from fakepve.certs import make_cert

    certfile, keyfile, _ = make_cert(str(tmp_path_factory.mktemp("tenctl-lab-pki")), hosts=(HOST,))
    return certfile, keyfile


@pytest.fixture
def lab(request, tmp_path, lab_pki):
    """A fresh lab for one test (see LabHandle); time_scale 0 unless the ``lab`` marker says otherwise."""
    handle = start_lab(tmp_path / "lab", lab_pki, _time_scale(request))
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture(scope="session")
def lab_session(tmp_path_factory, lab_pki):
    """One lab for the whole session; its state carries over from test to test."""
    handle = start_lab(tmp_path_factory.mktemp("tenctl-lab"), lab_pki)
    try:
        yield handle
    finally:
        handle.close()
