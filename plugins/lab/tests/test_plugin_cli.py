"""The tenctl entry point and the `tenctl lab` commands."""

import json
import subprocess
import sys

from tenctl_lab import cli
from typer.testing import CliRunner


def test_plugin_registers_the_lab_command_lazily():
    import pluggy
    from tenctl_lab import plugin

    from tenctl_core import hookspecs
    from tenctl_core.registry import CommandRegistry

    pm = pluggy.PluginManager("tenctl")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, "lab")
    register = CommandRegistry(set()).for_plugin("lab")
    pm.hook.tenctl_register_commands(register=register)
    entry = register.entries["lab"]
    assert entry.loader == "tenctl_lab.cli:app"


def test_entry_modules_import_nothing_heavy():
    code = (
        "import sys, tenctl_lab.cli, tenctl_lab.lab; "
        "heavy = {'fakepve', 'aiohttp', 'cryptography', 'requests', 'tenctl_lab.pve'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_up_status_down(tmp_path):
    runner = CliRunner()
    directory = str(tmp_path / "lab")
    try:
        result = runner.invoke(cli.app, ["up", "--dir", directory])
        assert result.exit_code == 0, result.output
        assert "running:       yes" in result.output
        assert "switch sw-b2:  eAPI https://127.0.0.1:" in result.output
        result = runner.invoke(cli.app, ["status", "--dir", directory, "--json"])
        info = json.loads(result.output)
        assert info["running"] and info["config"].endswith("tenctl.toml")
        assert set(info["proxmox"]) >= {
            "host",
            "port",
            "url",
            "ca_file",
            "user",
            "password",
            "token_id",
            "token_secret_file",
        }
    finally:
        result = runner.invoke(cli.app, ["down", "--dir", directory])
    assert "lab stopped" in result.output
    assert (
        json.loads(runner.invoke(cli.app, ["status", "--dir", directory, "--json"]).output)["running"]
        is False
    )


def test_demo_steps_cover_the_tenant_lifecycle(tmp_path):
    steps = cli.demo_steps("demo1a2b", tmp_path / "pw")
    assert [s[0] for s in steps] == [
        "init",
        "vyos",
        "add",
        "list",
        "show",
        "vyos",
        "switch",
        "modify",
        "suspend",
        "resume",
        "remove",
        "list",
    ]
    assert "--password-file" in steps[2]
    assert "--backup" in steps[10]  # into the lab's backups/ (paths.backup_dir)
    assert steps[1][:2] == ["vyos", "configure"] and steps[5] == ["vyos", "show", "-n", "demo1a2b"]
