"""Start-up guard: commands that use no device never import the device libraries.

``import napalm`` alone costs about half a second. Each test runs tenctl's ``main()`` in a fresh
interpreter (a subprocess of ``sys.executable -c``) so that nothing imported by pytest or by other
tests can hide or fake an import, then prints which heavy modules ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("napalm", "netmiko", "paramiko", "asyncssh")
HTTP = ("requests", "urllib3", "proxmoxer", "rich")
"""Not needed to print help or the version: the HTTP client comes with the first request, and help is
printed without rich (rendering with it costs more than the rest of start-up)."""
MARKER = "HEAVY-MODULES:"

PROBE = f"""
import json, sys
from tenctl_core.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})
http = sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in {set(HTTP)!r}}})
print({MARKER!r} + json.dumps({{"code": code, "heavy": heavy, "http": http}}))
"""


def probe(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """(exit code of main, heavy modules imported, the command's own output) for main(argv)."""
    code, heavy, _, output = probe_all(argv, env)
    return code, heavy, output


def probe_all(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str], list[str], str]:
    """Like probe(), plus the HTTP and rendering libraries imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    output, _, report = done.stdout.rpartition(MARKER)
    result = json.loads(report)
    return result["code"], result["heavy"], result["http"], output + done.stderr


def test_the_probe_sees_a_heavy_import():
    """The guard is not vacuous: the libraries are installed and the probe notices them."""
    code = (
        "import json, sys, paramiko; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "paramiko" in json.loads(done.stdout)


def test_help_imports_no_device_library_and_no_http_client():
    code, heavy, http, output = probe_all(["tenctl", "--help"])
    assert code == 0
    assert heavy == [] and http == []
    # Plugin commands are listed from their registration, not by importing them.
    assert "lab" in output and "list" in output


def test_version_imports_no_device_library_and_no_http_client():
    code, heavy, http, output = probe_all(["tenctl", "--version"])
    assert code == 0, output
    assert heavy == [] and http == []
    assert "tenctl-switch-napalm" in output and "tenctl-vyos" in output


def test_the_probe_sees_the_http_client_of_a_command_that_makes_requests(lab):
    """The HTTP guard is not vacuous: a command that talks to Proxmox does import requests."""
    code, heavy, http, output = probe_all(["tenctl", "health"], env=lab.env)
    assert "proxmox-api" in output
    assert heavy == [] and "requests" in http


def test_list_against_the_lab_imports_no_device_library(lab):
    assert lab.run("init", "--force").exit_code == 0
    added = lab.run("add", "-n", "acme")
    assert added.exit_code == 0, added.stderr
    code, heavy, output = probe(["tenctl", "list"], env=lab.env)
    assert code == 0, output
    assert heavy == []
    assert "acme" in output and "tenant_acme" in output
    code, heavy, output = probe(["tenctl", "list", "--json"], env=lab.env)
    assert code == 0 and heavy == []
    assert "acme" in output


def test_plugins_and_health_import_no_device_library(lab):
    code, heavy, output = probe(["tenctl", "plugins"])
    assert code == 0, output
    assert heavy == []
    assert "switch_napalm (tenctl-switch-napalm" in output
    code, heavy, output = probe(["tenctl", "health"], env=lab.env)
    assert heavy == []
    assert "proxmox-api" in output


def test_the_plugin_api_module_is_light_and_complete():
    """`tenctl_core.api` names every public object and imports each only when it is used."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; import tenctl_core.api as api; light = sorted(m for m in sys.modules "
            "if m.startswith('tenctl_core')); [getattr(api, n) for n in api.__all__]; "
            "print(json.dumps({'light': light, 'names': len(api.__all__), 'exports': len(api.EXPORTS), "
            "'requests_after_use': 'requests' in sys.modules}))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["light"] == ["tenctl_core", "tenctl_core.api"]
    assert result["names"] == result["exports"]
    # Even with every name resolved (Context included), the HTTP client waits for the first request.
    assert result["requests_after_use"] is False
