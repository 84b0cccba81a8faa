"""VyOS's interactive shell, line by line: what a user (or netmiko's `vyos` driver) sees over SSH.

Op mode prompt ``vyos@vyos:~$ ``; `configure` enters configuration mode, whose prompt is the line
``[edit]`` followed by ``vyos@vyos# `` after every command. Output never contains ``#`` before the
prompt (netmiko takes a ``#`` for the configuration prompt).
"""

from __future__ import annotations

import dataclasses

from . import tree as cfgtree
from .router import VERSION_TEXT, CommitFailed, ConfigSession, VyosRouter
from .tree import EditError, split_command


@dataclasses.dataclass
class Reply:
    """What the shell answers to one line: the output (without the prompt), whether it failed, whether the
    session ends."""

    output: str = ""
    failed: bool = False
    logout: bool = False


def _indented(lines: list[str]) -> str:
    """VyOS frames set/delete errors with a blank line and two spaces of indentation."""
    return "\n" + "\n".join("  " + line if line else "" for line in lines) + "\n"


class Shell:
    """One SSH login's shell state: the mode, the configuration session, a pending yes/no question."""

    def __init__(self, router: VyosRouter):
        self.router = router
        self.session: ConfigSession | None = None
        self._question = None  # (callback) waiting for the answer to "Proceed ? [Y/n]"

    @property
    def prompt(self) -> str:
        if self._question is not None:
            return ""
        if self.session is not None:
            return f"[edit]\n{self.router.user}@{self.router.hostname}# "
        return f"{self.router.user}@{self.router.hostname}:~$ "

    def handle(self, line: str) -> Reply:
        if self._question is not None:
            answer, self._question = self._question, None
            return answer(line.strip().lower())
        try:
            words = split_command(line)
        except ValueError:
            return Reply("\n  Invalid command: unbalanced quotes\n", failed=True)
        if not words:
            return Reply()
        if self.session is None:
            return self._op_mode(words)
        return self._config_mode(words)

    # ------------------------------------------------------------------ op mode
    def _op_mode(self, words: list[str]) -> Reply:
        if words[0] == "configure":
            self.session = self.router.session()
            return Reply()
        if words[0] == "set" and words[1:2] == ["terminal"]:
            return Reply()  # width, length, pager: nothing to do for a simulated terminal
        if words[0] == "show":
            return self._show(words[1:])
        if words[0] in ("exit", "logout"):
            return Reply(logout=True)
        return Reply(f"\n  Invalid command: [{' '.join(words)}]\n", failed=True)

    def _show(self, words: list[str]) -> Reply:
        if words == ["configuration", "commands"]:
            return Reply("\n".join(self.router.running_commands()))
        if words == ["configuration"]:
            return Reply("\n".join(cfgtree.to_curly(self.router.running_copy())))
        if words == ["version"]:
            return Reply(VERSION_TEXT)
        return Reply(f"\n  Invalid command: show [{' '.join(words)}]\n", failed=True)

    # ------------------------------------------------------------------ configuration mode
    def _config_mode(self, words: list[str]) -> Reply:
        verb, args = words[0], words[1:]
        session = self.session
        assert session is not None
        if verb == "set":
            try:
                session.set(args)
            except EditError as exc:
                return Reply(_indented(exc.lines), failed=True)
            return Reply()
        if verb == "delete":
            try:
                note = session.delete(args)
            except EditError as exc:
                return Reply(_indented(exc.lines), failed=True)
            return Reply(_indented([note]) if note else "")
        if verb == "commit":
            if args[:1] == ["confirm"]:
                return Reply("Use commit-confirm command", failed=True)
            comment = args[1] if args[:1] == ["comment"] and len(args) > 1 else None
            return self._commit(lambda: session.commit(comment))
        if verb == "commit-confirm":
            return self._commit_confirm(args)
        if verb == "confirm":
            return Reply(self.router.confirm())
        if verb == "compare":
            return Reply("\n".join(session.compare(commands=args[:1] == ["commands"])))
        if verb == "save":
            lines = []
            if session.changed():
                lines.append("Warning: you have uncommitted changes that will not be saved.")
            lines += self.router.save()
            return Reply("\n".join(lines))
        if verb == "discard":
            if not session.changed():
                return Reply("No changes have been discarded")
            session.discard()
            return Reply("Changes have been discarded")
        if verb == "exit":
            if args and args != ["discard"]:
                return Reply(f"Invalid argument \"{' '.join(args)}\" for 'exit'", failed=True)
            if session.changed() and not args:
                return Reply(
                    "Cannot exit: configuration modified.\nUse 'exit discard' to discard the changes and exit.",
                    failed=True,
                )
            self.session = None
            return Reply("exit")
        if verb == "run":
            return self._op_mode(args) if args else Reply()
        if verb == "show":
            if not args:
                return Reply("\n".join(cfgtree.to_curly(session.candidate)))
            found, node = cfgtree.lookup(session.candidate, args)
            if not found or not isinstance(node, dict):
                return Reply("Configuration under specified path is empty")
            return Reply("\n".join(cfgtree.to_curly(node, _spec_at(args))))
        return Reply(f"\n  Invalid command: [{' '.join(words)}]\n", failed=True)

    def _commit(self, run) -> Reply:
        try:
            lines = run()
        except CommitFailed as exc:
            # "No configuration changes to commit" is not a failure netmiko should raise on.
            return Reply("\n".join(exc.lines), failed=exc.lines[-1] == "Commit failed")
        return Reply("\n".join(lines))

    def _commit_confirm(self, args: list[str]) -> Reply:
        minutes = int(args[0]) if args and args[0].isdigit() else 10
        session = self.session
        assert session is not None
        if not session.changed():
            return Reply("No configuration changes to commit")

        def answer(text: str) -> Reply:
            if text not in ("", "y", "yes"):
                return Reply("commit-confirm canceled")
            return self._commit(lambda: session.commit_confirm(minutes))

        self._question = answer
        return Reply(
            f"commit-confirm will automatically reload previous config in {minutes} minutes\n"
            "unless changes are confirmed.\nProceed ? [Y/n] "
        )


def _spec_at(words: list[str]):
    from .schema import NODE, SCHEMA, TAG, Spec

    spec = SCHEMA
    expect_entry = False
    for word in words:
        if expect_entry:
            spec, expect_entry = Spec(NODE, spec.children), False
            continue
        spec = spec.children.get(word, Spec(NODE))
        expect_entry = spec.kind == TAG
    return spec
