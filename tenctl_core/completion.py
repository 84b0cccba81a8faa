"""Shell completion for bash and zsh, generated from the command tree that runs (core's commands, the
plugins' and their options), so it cannot go stale: ``tenctl install-local`` writes it again at each
install and update, and ``tenctl completion bash|zsh`` prints it.

Completing is fast and offline: the scripts hold the commands and options as data and list tenant names
from the records directory (one directory listing; no API call, no Python start-up).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from typer import _click

from tenctl_core.cli.words import DISPATCH_WORDS


def is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


TENANT_OPTIONS = ("--name", "-n")
TENANT_ARGUMENTS = ("name", "tenant")


@dataclass
class Node:
    """One command (or group) of the tree: what may follow it."""

    subcommands: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    valued: list[str] = field(default_factory=list)
    """Options that take a value (the value is not a command word)."""
    tenant_options: list[str] = field(default_factory=list)
    tenant_argument: bool = False


def command_tree(group: Any) -> dict[str, Node]:
    """path ("" for tenctl itself, "lock status" for a sub-command) -> its node, for every command."""
    tree: dict[str, Node] = {}

    def visit(command: Any, path: str, ctx: _click.Context) -> None:
        node = Node()
        for param in command.params:
            if param.param_type_name == "option":
                if param.hidden:
                    continue
                flags = [*param.opts, *param.secondary_opts]
                node.options.extend(flags)
                if not param.is_flag and not param.count:
                    if set(param.opts) & set(TENANT_OPTIONS):
                        node.tenant_options.extend(param.opts)
                    else:
                        node.valued.extend(param.opts)
            elif param.param_type_name == "argument" and param.name in TENANT_ARGUMENTS:
                node.tenant_argument = True
        node.options.extend(["--help", "-h"])
        if is_group(command):
            names = command.list_commands(ctx)
            node.subcommands = sorted(names) + (sorted(DISPATCH_WORDS) if not path else [])
            for name in names:
                sub = command.get_command(ctx, name)
                if sub is None or getattr(sub, "hidden", False):
                    continue
                visit(sub, f"{path} {name}".strip(), _click.Context(sub, info_name=name, parent=ctx))
        node.options = sorted(dict.fromkeys(node.options))
        tree[path] = node

    visit(group, "", _click.Context(group, info_name="tenctl"))
    # `tenctl help COMMAND` is `tenctl COMMAND --help`: after the word come the commands
    tree["help"] = Node(subcommands=[c for c in tree[""].subcommands if c not in DISPATCH_WORDS])
    return dict(sorted(tree.items()))


def word_targets() -> dict[str, str]:
    """dispatcher word -> the command path it completes as (words standing for options complete nothing)."""
    return {word: " ".join(args) for word, args in DISPATCH_WORDS.items() if not args[0].startswith("-")}


def program_names(tree: dict[str, Node]) -> list[str]:
    return ["tenctl", *(f"tenctl-{word}" for word in tree[""].subcommands)]


def _label(path: str) -> str:
    return shlex.quote(path) if path else "''"


def _words(items: list[str]) -> str:
    return shlex.quote(" ".join(items))


def bash_script(tree: dict[str, Node], tenants_dir: str) -> str:
    cases = []
    for path, node in tree.items():
        cases.append(
            f"        {_label(path)}) "
            f"_tenctl_sub={_words(node.subcommands)} _tenctl_opt={_words(node.options)} "
            f"_tenctl_val={_words(node.valued)} _tenctl_ten={_words(node.tenant_options)} "
            f"_tenctl_arg={int(node.tenant_argument)} ;;"
        )
    words = "\n".join(
        f"        {shlex.quote(w)}) printf '%s' {shlex.quote(p)} ;;" for w, p in word_targets().items()
    )
    return f"""# bash completion for tenctl and its tenctl-<command> links.
# Written by `tenctl install-local` from the commands this installation has; `tenctl completion bash`
# prints it again. Tenant names come from the records directory below (no API call).

_tenctl_tenants() {{
    local f
    for f in {shlex.quote(tenants_dir)}/*.toml; do
        [[ -e $f ]] || continue
        f=${{f##*/}}
        [[ $f == .* ]] && continue
        printf '%s\\n' "${{f%.toml}}"
    done
}}

_tenctl_word() {{
    case $1 in
{words}
        *) printf '%s' "$1" ;;
    esac
}}

_tenctl_node() {{
    case $1 in
{chr(10).join(cases)}
        *) return 1 ;;
    esac
}}

_tenctl() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev='' path='' w i skip=0
    local _tenctl_sub _tenctl_opt _tenctl_val _tenctl_ten _tenctl_arg
    (( COMP_CWORD > 0 )) && prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local prog=${{COMP_WORDS[0]##*/}}
    [[ $prog == tenctl-* ]] && path=$(_tenctl_word "${{prog#tenctl-}}")
    COMPREPLY=()
    _tenctl_node "$path" || return 0
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w=${{COMP_WORDS[i]}}
        if (( skip )); then skip=0; continue; fi
        if [[ $w == -* ]]; then
            [[ " $_tenctl_val $_tenctl_ten " == *" $w "* ]] && skip=1
            continue
        fi
        if [[ " $_tenctl_sub " == *" $w "* ]]; then
            [[ -z $path ]] && w=$(_tenctl_word "$w")
            path=${{path:+$path }}$w
            _tenctl_node "$path" || return 0
        fi
    done
    if [[ -n $prev && " $_tenctl_ten " == *" $prev "* ]]; then
        COMPREPLY=( $(compgen -W "$(_tenctl_tenants)" -- "$cur") )
    elif [[ -n $prev && " $_tenctl_val " == *" $prev "* ]]; then
        COMPREPLY=( $(compgen -f -- "$cur") )
    elif [[ $cur == -* ]]; then
        COMPREPLY=( $(compgen -W "$_tenctl_opt" -- "$cur") )
    else
        local words=$_tenctl_sub
        (( _tenctl_arg )) && words="$words $(_tenctl_tenants)"
        COMPREPLY=( $(compgen -W "$words" -- "$cur") )
    fi
    return 0
}}

complete -F _tenctl {" ".join(program_names(tree))}
"""


def zsh_script(tree: dict[str, Node], tenants_dir: str) -> str:
    cases = []
    for path, node in tree.items():
        cases.append(
            f"        {_label(path)}) "
            f"sub=({' '.join(map(shlex.quote, node.subcommands))}) opt=({' '.join(map(shlex.quote, node.options))}) "
            f"val=({' '.join(map(shlex.quote, node.valued))}) ten=({' '.join(map(shlex.quote, node.tenant_options))}) "
            f"arg={int(node.tenant_argument)} ;;"
        )
    words = "\n".join(
        f"        {shlex.quote(w)}) REPLY={shlex.quote(p)} ;;" for w, p in word_targets().items()
    )
    return f"""#compdef {" ".join(program_names(tree))}
# zsh completion for tenctl and its tenctl-<command> links.
# Written by `tenctl install-local` from the commands this installation has; `tenctl completion zsh`
# prints it again. Tenant names come from the records directory below (no API call).

_tenctl_word() {{
    case $1 in
{words}
        *) REPLY=$1 ;;
    esac
}}

_tenctl_node() {{
    case $1 in
{chr(10).join(cases)}
        *) return 1 ;;
    esac
}}

_tenctl() {{
    local -a sub opt val ten tenants
    local arg=0 path='' w prev REPLY
    local -i i skip=0
    local prog=${{words[1]:t}}
    if [[ $prog == tenctl-* ]]; then _tenctl_word ${{prog#tenctl-}}; path=$REPLY; fi
    _tenctl_node "$path" || return 1
    for (( i = 2; i < CURRENT; i++ )); do
        w=${{words[i]}}
        if (( skip )); then skip=0; continue; fi
        if [[ $w == -* ]]; then
            (( ${{val[(Ie)$w]}} || ${{ten[(Ie)$w]}} )) && skip=1
            continue
        fi
        if (( ${{sub[(Ie)$w]}} )); then
            if [[ -z $path ]]; then _tenctl_word $w; w=$REPLY; fi
            path=${{path:+$path }}$w
            _tenctl_node "$path" || return 1
        fi
    done
    prev=${{words[CURRENT-1]}}
    tenants=({shlex.quote(tenants_dir)}/[^.]*.toml(N:t:r))
    if (( ${{ten[(Ie)$prev]}} )); then
        compadd -a tenants
    elif (( ${{val[(Ie)$prev]}} )); then
        _files
    elif [[ ${{words[CURRENT]}} == -* ]]; then
        compadd -a opt
    else
        compadd -a sub
        (( arg )) && compadd -a tenants
    fi
    return 0
}}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _tenctl "$@"
else
    compdef _tenctl {" ".join(program_names(tree))}
fi
"""
