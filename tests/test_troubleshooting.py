"""Every error message (and warning) tenctl and its bundled plugins can print is in troubleshooting.rst.

The messages are read from the source with ``ast``, not by running anything: each call that builds an error
of the ``TenctlError`` tree or the lab's ``LabError`` (``raise UsageError(...)``, ``error = ConflictError(...)``,
``super().__init__(...)`` inside such a class, a helper of the same module that returns the text), each
``raise ValueError(...)`` of the configuration rules that ``ConfigError`` wraps, the lab's ``_fail(...)``, and
the warnings (``ctx.warn(...)``, ``print("warning: ...")``), which say as much about what to do. An f-string's literal parts are the constant text of its message; the page must hold each part of
five characters or more (case and line breaks aside), so a message documented as ``tenant ... is invalid``
matches ``f"tenant {name!r} is invalid"``. Parts made only of names and values (``f"{where}: {exc}"``) are
nothing to document and are left out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "troubleshooting.rst"

SOURCES = sorted(
    path
    for path in [*ROOT.glob("tenctl_core/**/*.py"), *ROOT.glob("plugins/*/tenctl_*/**/*.py")]
    if "tests" not in path.relative_to(ROOT).parts
)

RULE_MODULES = {"tenctl_core/rules.py"} | {
    str(path.relative_to(ROOT)) for path in ROOT.glob("plugins/*/tenctl_*/settings.py")
}
"""Modules whose ``ValueError`` texts are the configuration rules that ``ConfigError`` prints after the key."""

SHORTEST_PART = 5
"""A literal part shorter than this (``" is "``, ``": "``) says nothing on its own and is not looked for."""

NOT_FOR_USERS = {
    # pytest's own UsageError (not tenctl's) for a misused `lab` marker: it reaches authors of tests run
    # with the lab's pytest plugin, not users of tenctl (plugins.rst documents the marker).
    ("plugins/lab/tenctl_lab/pytest_plugin.py", "the lab marker takes time_scale= only, not"),
    # The switch provider makes its changes through one batched step per command; the engine never calls
    # its per-object create/update, which raise this only to make a misuse by a future caller loud.
    (
        "plugins/switch_napalm/tenctl_switch_napalm/provider.py",
        "switch VLANs change through the provider's batched step",
    ),
}
"""(module, literal text) of messages that cannot reach a user of an installed tenctl; say why for each."""


@dataclass(frozen=True)
class Message:
    where: str
    parts: tuple[str, ...]
    line: int = field(default=0, compare=False)

    @property
    def shown(self) -> str:
        return f"line {self.line}: " + " ... ".join(self.parts)


def literal_parts(node: ast.expr, functions: dict[str, ast.FunctionDef]) -> list[list[str | None]]:
    """The texts a message expression can have, each as its literal parts (None for a computed value)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [[node.value]]
    if isinstance(node, ast.JoinedStr):
        return [[v.value if isinstance(v, ast.Constant) else None for v in node.values]]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [
            a + b for a in literal_parts(node.left, functions) for b in literal_parts(node.right, functions)
        ]
    if isinstance(node, ast.IfExp):
        return literal_parts(node.body, functions) + literal_parts(node.orelse, functions)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return [[part for text in re.split(r"\{[^{}]*\}", node.func.value.value) for part in (text, None)]]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
        # A helper of the same module that builds the text (proxmox._tls_message).
        returned = [
            n.value for n in ast.walk(functions[node.func.id]) if isinstance(n, ast.Return) and n.value
        ]
        return [parts for value in returned for parts in literal_parts(value, functions)]
    return [[None]]


def significant(parts: list[str | None]) -> tuple[str, ...]:
    texts = (" ".join(p.split()).strip(" :;,.") for p in parts if p)
    return tuple(t for t in texts if len(t) >= SHORTEST_PART and re.search("[a-z]", t, re.IGNORECASE))


ROOT_ERRORS = {"TenctlError", "LabError"}
"""The bases of the errors printed to users: tenctl's tree, and the lab's (``tenctl lab`` prints those)."""

PRINTING_FUNCTIONS = {"_fail"}
"""Functions that print their first argument as an error (the lab's command line)."""


def error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """The root errors and every class that derives from one, in any module."""
    found = set(ROOT_ERRORS)
    grown = True
    while grown:
        grown = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in found:
                    bases = {
                        b.id if isinstance(b, ast.Name) else getattr(b, "attr", None) for b in node.bases
                    }
                    if bases & found:
                        found.add(node.name)
                        grown = True
    return found


def called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def messages_in(where: str, tree: ast.Module, errors: set[str]) -> list[Message]:
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: list[Message] = []

    def add(node: ast.expr | None, scope: ast.AST, line: int) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            # `message = f"..."` then `raise UsageError(message)`: the assignments in the same function.
            for assign in ast.walk(scope):
                if isinstance(assign, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == node.id for t in assign.targets
                ):
                    if not isinstance(assign.value, ast.Name):
                        add(assign.value, scope, line)
            return
        for parts in literal_parts(node, functions):
            kept = significant(parts)
            if kept:
                found.append(Message(where, kept, line))

    def visit(scope: ast.AST, error_class: bool) -> None:
        for node in ast.walk(scope):
            if node is not scope and isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.Call):
                name = called_name(node)
                message = (
                    node.args[0]
                    if node.args
                    else next((k.value for k in node.keywords if k.arg == "message"), None)
                )
                if name in errors or name in PRINTING_FUNCTIONS:
                    add(message, scope, node.lineno)
                elif name == "warn" and isinstance(node.func, ast.Attribute):
                    add(message, scope, node.lineno)  # ctx.warn(...): "warning: ..." on stderr
                elif (
                    name == "print"
                    and message is not None
                    and any(
                        parts and isinstance(parts[0], str) and parts[0].startswith("warning: ")
                        for parts in literal_parts(message, functions)
                    )
                ):
                    add(message, scope, node.lineno)
                elif name == "__init__" and error_class and isinstance(node.func, ast.Attribute):
                    add(message, scope, node.lineno)
            elif isinstance(node, ast.Raise) and where in RULE_MODULES:
                exc = node.exc
                if isinstance(exc, ast.Call) and called_name(exc) == "ValueError" and exc.args:
                    add(exc.args[0], scope, node.lineno)
        for node in ast.walk(scope):
            if node is scope:
                continue
            if isinstance(node, ast.FunctionDef):
                visit(node, error_class)
            elif isinstance(node, ast.ClassDef):
                visit(node, node.name in errors)

    visit(tree, False)
    return found


def all_messages() -> list[Message]:
    trees = {str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}
    errors = error_classes(trees)
    unique: dict[tuple[str, tuple[str, ...]], Message] = {}
    for where, tree in trees.items():
        for message in messages_in(where, tree, errors):
            unique.setdefault((where, message.parts), message)
    return list(unique.values())


def normalized(text: str) -> str:
    return " ".join(text.split()).lower()


def excluded(message: Message) -> bool:
    return any(message.where == where and text in message.parts for where, text in NOT_FOR_USERS)


MESSAGES = all_messages()


def test_the_walk_finds_the_messages():
    """A guard against a walk that silently finds nothing: tenctl has a few hundred messages."""
    assert len(MESSAGES) > 200
    assert any(part.startswith("no free VLAN in") for m in MESSAGES for part in m.parts)


def test_every_exclusion_still_names_a_message():
    for where, text in NOT_FOR_USERS:
        assert any(m.where == where and text in m.parts for m in MESSAGES), (
            f"{where}: {text!r} is no longer a message; remove it from NOT_FOR_USERS"
        )


@pytest.mark.parametrize("where", sorted({m.where for m in MESSAGES}))
def test_every_error_message_is_in_the_troubleshooting_page(where):
    page = normalized(PAGE.read_text(encoding="utf-8"))
    missing = [
        m.shown
        for m in MESSAGES
        if m.where == where and not excluded(m) and not all(normalized(part) in page for part in m.parts)
    ]
    assert not missing, (
        f"troubleshooting.rst does not document these messages of {where} (each literal part must appear; "
        "write the message with ... for its values, and its cause and fix):\n  " + "\n  ".join(missing)
    )
