"""The documentation keeps up with the code: hooks, commands, options and config keys are all documented."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tenctl_core import hookspecs
from tenctl_core.cli import make_app
from tenctl_core.config import SECTIONS
from tenctl_core.plugins import get_plugin_manager

DOCS = Path(__file__).resolve().parent.parent / "docs"

HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if name.startswith("tenctl_") and inspect.isfunction(obj)
)


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def core_commands() -> dict[str, object]:
    """Every core command by its full name (``config check``...), from the typer app itself."""
    group = typer.main.get_command(make_app(get_plugin_manager()))
    found: dict[str, object] = {}

    def walk(prefix: str, command: object) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found[prefix] = command

    walk("", group)
    return found


def program_blocks(text: str) -> dict[str, str]:
    """The text under each ``.. program::`` directive of cli.rst, up to the next one."""
    parts = re.split(r"^\.\. program:: (.+)$", text, flags=re.MULTILINE)
    return {name.strip(): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_there_are_hooks_to_document():
    assert len(HOOKS) >= 8


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_full_docstring(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(sentences(doc)) >= 2, f"{hook}: the docstring needs at least two sentences"


def test_plugins_page_renders_the_hookspecs():
    text = read("plugins.rst")
    assert re.search(r"^\.\. automodule:: tenctl_core\.hookspecs\n   :members:", text, re.MULTILINE)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_summary_table(hook):
    text = read("plugins.rst")
    table = re.search(r"^\.\. list-table:: Hook summary\n(?:   .*\n|\n)+", text, re.MULTILINE)
    assert table, "plugins.rst lost its 'Hook summary' list-table"
    assert f"``{hook}``" in table.group(0), f"{hook} is missing from the hook summary table of plugins.rst"


def test_core_commands_are_found():
    commands = core_commands()
    assert {"init", "add", "list", "remove", "config check", "config show"} <= set(commands)


@pytest.mark.parametrize("name", sorted(core_commands()))
def test_every_command_and_option_is_in_the_cli_reference(name):
    blocks = program_blocks(read("cli.rst"))
    block = blocks.get(f"tenctl {name}")
    assert block is not None, f"cli.rst has no `.. program:: tenctl {name}` section"
    command = core_commands()[name]
    for param in command.params:
        for flag in [*param.opts, *param.secondary_opts]:
            if not flag.startswith("-"):
                continue
            pattern = rf"^\.\. option:: (?:.*[ ,])?{re.escape(flag)}(?:[ ,<=]|$)"
            assert re.search(pattern, block, re.MULTILINE), (
                f"tenctl {name} {flag} is not documented in cli.rst"
            )


def test_global_options_are_in_the_cli_reference():
    group = typer.main.get_command(make_app(get_plugin_manager()))
    block = program_blocks(read("cli.rst"))["tenctl"]
    for param in group.params:
        for flag in param.opts:
            assert re.search(
                rf"^\.\. option:: (?:.*[ ,])?{re.escape(flag)}(?:[ ,<=]|$)", block, re.MULTILINE
            ), flag


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_config_key_is_in_the_configuration_page(section):
    text = read("configuration.rst")
    parts = re.split(r"^``\[([a-z_.<>]+)\]``\n~+\n", text, flags=re.MULTILINE)
    bodies = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert section in bodies, f"configuration.rst has no ``[{section}]`` section"
    for field in dataclasses.fields(SECTIONS[section]):
        assert re.search(rf"^``{field.name}``$", bodies[section], re.MULTILINE), (
            f"{section}.{field.name} is not documented in configuration.rst"
        )


def test_sphinx_build_has_no_warnings(tmp_path):
    import sphinx  # noqa: F401 - the docs build needs it; a missing Sphinx fails here
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
