"""The Bash tool's ``KEY=value`` files, read as data: never sourced, evaluated or run.

The Bash tool kept its global configuration (``tenant.conf``) and its tenant records (``<name>.conf``) as
shell scripts and ``source``d them, so any line could run a command as root. tenctl reads only the lines a
shell would take as the plain assignment of a literal:

* ``KEY=value``, ``KEY="value"`` and ``KEY='value'``, each optionally after ``export``, with an optional
  comment after white space;
* blank lines and comment lines.

Any other line (a command substitution ``$(...)`` or in backquotes, a variable expansion ``$X``, ``;``, a
pipe or a redirection, a value continued on the next lines, any command) is kept as a :class:`RefusedLine`
with its line number and the reason, and nothing of it is used. When such a line sets a key, an earlier
plain value of that key is dropped too: the Bash tool would have used the refused line's outcome, which
tenctl cannot know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tenctl_core.errors import UsageError

KEY = r"[A-Za-z_][A-Za-z0-9_]*"
PLAIN_ASSIGNMENT_RE = re.compile(
    rf"""[ \t]*(?:export[ \t]+)?(?P<key>{KEY})=
    (?:"(?P<double>[^"$`\\]*)"          # double quotes without expansion or escapes
      |'(?P<single>[^']*)'               # single quotes: literal in any shell
      |(?P<bare>[A-Za-z0-9_.,:/@%+=#-]*) # a word that no shell expands
    )
    (?:[ \t]+\#.*|[ \t]*)""",
    re.VERBOSE,
)
ASSIGNED_KEY_RE = re.compile(rf"[ \t]*(?:export[ \t]+)?(?P<key>{KEY})=")
MAX_SIZE = 1024 * 1024
"""A configuration or record of the Bash tool is a few hundred bytes; anything near this is not one."""


@dataclass(frozen=True)
class Assignment:
    """``KEY=value`` on line ``line`` (the value without its quotes)."""

    key: str
    value: str
    line: int


@dataclass(frozen=True)
class RefusedLine:
    """A line (or, for a value continued over several, lines ``line`` to ``last_line``) that is not a plain
    assignment; ``key`` is the key it would set, when it names one."""

    line: int
    last_line: int
    key: str | None
    reason: str

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.last_line == self.line else f"lines {self.line}-{self.last_line}"


@dataclass
class BashFile:
    """What a ``KEY=value`` file holds: the effective assignments and what was not used, with line numbers."""

    path: Path
    assignments: dict[str, Assignment] = field(default_factory=dict)
    """The value each key ends up with, as the shell would have it (the last plain assignment wins)."""
    overridden: list[tuple[Assignment, int]] = field(default_factory=list)
    """Assignments a later line of the same key replaced, with that line's number."""
    refused: list[RefusedLine] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        return {key: a.value for key, a in self.assignments.items()}

    def line_of(self, key: str) -> int | None:
        assignment = self.assignments.get(key)
        return assignment.line if assignment else None


def read_bash_file(path: Path) -> BashFile:
    """Parse a file of the Bash tool; UsageError when it cannot be read or is not text."""
    try:
        if path.stat().st_size > MAX_SIZE:
            raise UsageError(f"{path}: larger than {MAX_SIZE // 1024} KiB: not a configuration of the Bash tool")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", hint="give the Bash tool's tenant.conf with --bash-config") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not the Bash tool's tenant.conf") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_bash_text(text, path)


def parse_bash_text(text: str, path: Path) -> BashFile:
    """The assignments and refused lines of the text of a ``KEY=value`` file (see the module's docstring)."""
    parsed = BashFile(path)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no line of its own
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PLAIN_ASSIGNMENT_RE.fullmatch(line)
        if match:
            value = next(v for v in match.group("double", "single", "bare") if v is not None)
            _assign(parsed, Assignment(match["key"], value, number))
            continue
        logical = line
        while _continues(logical) and index < len(lines):
            logical += "\n" + lines[index]
            index += 1
        named = ASSIGNED_KEY_RE.match(line)
        refused = RefusedLine(number, index, named["key"] if named else None, _why_not_plain(logical))
        parsed.refused.append(refused)
        if refused.key is not None and refused.key in parsed.assignments:
            parsed.overridden.append((parsed.assignments.pop(refused.key), number))
    return parsed


def _assign(parsed: BashFile, assignment: Assignment) -> None:
    earlier = parsed.assignments.get(assignment.key)
    if earlier is not None:
        parsed.overridden.append((earlier, assignment.line))
    parsed.assignments[assignment.key] = assignment


def _continues(text: str) -> bool:
    """True when a shell would read on: a quote is still open, or the text ends in an unquoted backslash."""
    quote: str | None = None
    escaped = False
    word_start = True
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        plain = False
        if escaped:
            escaped = False
        elif quote == "'":
            quote = None if char == "'" else quote
        elif quote == '"':
            if char == "\\":
                escaped = True
            elif char == '"':
                quote = None
        elif char == "\\":
            escaped = True
        elif char in "'\"":
            quote = char
        elif char == "#" and word_start:
            # A comment runs to the end of its line, quotes in it included.
            newline = text.find("\n", index)
            if newline < 0:
                return False
            index = newline
        else:
            plain = True
        word_start = plain and char in " \t\n;|&()"
    return quote is not None or escaped


def _why_not_plain(text: str) -> str:
    """The reason a line is not a plain assignment, in the words an administrator would look for."""
    if "\n" in text:
        return "it continues over several lines"
    if _continues(text):
        return "a quote or a line continuation is never closed"
    if "$(" in text or "`" in text:
        return "it holds a command substitution"
    if "$" in text:
        return "it holds a variable expansion"
    if any(char in text for char in ";|&<>"):
        return "it holds a command separator, a pipe or a redirection"
    if not ASSIGNED_KEY_RE.match(text):
        return "it is a command, not KEY=value"
    return "its value is not a literal word or a quoted string"
