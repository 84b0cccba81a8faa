"""The manual page ``tenctl(1)``, written in roff from the command tree that runs (core's commands, the
plugins' and their options), so that it describes this installation and not a list kept by hand."""

from __future__ import annotations

import inspect
from typing import Any

from typer import _click

from tenctl_core import __version__
from tenctl_core.cli.words import DISPATCH_WORDS


def is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


EXIT_STATUS = (
    ("0", "success"),
    ("1", "failure: the error names the object and what to do"),
    ("2", "invalid usage or input, nothing changed; for health, a critical finding or the API unreachable"),
    ("130", "interrupted"),
)
FILES = (
    ("/etc/tenctl/tenctl.toml", "the configuration (secrets live in the files it names, mode 0600)"),
    ("/etc/pve/tenants/", "the tenant records, replicated to every node by pmxcfs"),
    ("/var/log/tenctl/tenant-management.log", "the audit trail, rotated by /etc/logrotate.d/tenctl"),
    ("/opt/tenctl/", "the installation: its virtual environment, wheelhouse (wheels/) and receipt"),
    ("/etc/systemd/system/tenctl-watcher.service", "the usage watcher"),
)


def escape(text: str) -> str:
    """Text safe in roff: backslashes, dashes and non-ASCII characters escaped, no line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)  # roff input is ASCII
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.splitlines())


def _help(command: Any) -> str:
    return inspect.cleandoc(command.help or command.short_help or "")


def _options(command: Any) -> list[str]:
    lines = []
    for param in command.params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        flags = ", ".join(f"\\fB{escape(flag)}\\fR" for flag in [*param.opts, *param.secondary_opts])
        if not param.is_flag and not param.count:
            flags += f" \\fI{escape((param.metavar or param.name or 'value').upper())}\\fR"
        lines += [".TP", flags, escape(" ".join((param.help or "").split())) or "\\&"]
    return lines


def render(group: Any, words: list[str]) -> str:
    ctx = _click.Context(group, info_name="tenctl")
    out = [
        f'.TH TENCTL 1 "" "tenctl {escape(__version__)}" "tenctl manual"',
        ".SH NAME",
        "tenctl \\- turn a Proxmox VE cluster into a multi\\-tenant platform",
        ".SH SYNOPSIS",
        ".B tenctl",
        "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".br",
        ".B tenctl\\-\\fICOMMAND\\fR",
        "[\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        escape(_help(group)),
        ".PP",
        escape(
            "Each command is also a program of its own: tenctl-add -n acme is tenctl add -n acme. "
            "Commands check every value before the first request and append one line to the audit trail."
        ),
        ".SH GLOBAL OPTIONS",
        *_options(group),
        ".SH COMMANDS",
    ]

    def visit(command: Any, path: str, cctx: _click.Context) -> None:
        out.extend([f'.SS "tenctl {escape(path)}"', escape(_help(command)) or "\\&", *_options(command)])
        if is_group(command):
            for name in command.list_commands(cctx):
                sub = command.get_command(cctx, name)
                if sub is not None and not getattr(sub, "hidden", False):
                    visit(sub, f"{path} {name}", _click.Context(sub, info_name=name, parent=cctx))

    assert is_group(group)
    for name in group.list_commands(ctx):
        command: Any = group.get_command(ctx, name)
        if command is not None and not getattr(command, "hidden", False):
            visit(command, name, _click.Context(command, info_name=name, parent=ctx))
    out += [".SH WORDS", escape("Words the Bash tenctl accepted, kept as other names of commands:")]
    for word, args in DISPATCH_WORDS.items():
        meaning = " ".join(args)
        out += [
            ".TP",
            f"\\fBtenctl {escape(word)}\\fR, \\fBtenctl\\-{escape(word)}\\fR",
            f"tenctl {escape(meaning)}",
        ]
    out += [
        ".SH PROGRAMS",
        escape("Installed in /usr/local/bin, each running tenctl with its command: ")
        + ", ".join(f"\\fBtenctl\\-{escape(w)}\\fR" for w in words)
        + ".",
        ".SH FILES",
    ]
    for path, text in FILES:
        out += [".TP", f"\\fI{escape(path)}\\fR", escape(text)]
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", escape(text)]
    out += [".SH SEE ALSO", "\\fBpvesh\\fR(1), \\fBpvecm\\fR(1), \\fBlogrotate\\fR(8), \\fBsystemctl\\fR(1)"]
    return "\n".join(out) + "\n"
