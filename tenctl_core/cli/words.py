"""The dispatcher words the Bash tenctl accepted beside its commands: ``tenctl ls`` is ``tenctl list``,
``tenctl-rm`` is ``tenctl remove``, and so on. Each word is rewritten to what it stands for before the
command line is parsed, so a word has no code of its own and cannot drift from its command.
"""

from __future__ import annotations

DISPATCH_WORDS: dict[str, tuple[str, ...]] = {
    "ls": ("list",),
    "rm": ("remove",),
    "status": ("health",),
    "cluster-status": ("cluster", "status"),
    "version": ("--version",),
    "help": ("--help",),
}
"""word -> the arguments it stands for. ``help CMD`` is ``CMD --help``."""

VALUE_OPTIONS = ("--config", "--profile")
"""The global options that take a value (the word comes after them)."""


def expand_words(args: list[str]) -> list[str]:
    """The arguments with a leading dispatcher word replaced by what it stands for."""
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in VALUE_OPTIONS else 1
    if index >= len(args) or args[index] not in DISPATCH_WORDS:
        return args
    word, rest = args[index], args[index + 1 :]
    if word == "help" and rest:
        return [*args[:index], *rest, "--help"]
    return [*args[:index], *DISPATCH_WORDS[word], *rest]
