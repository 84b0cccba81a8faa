"""A VyOS configuration tree: nested dicts checked against the schema, edited with set/delete paths.

Shapes: a container or a tag entry is a dict, a tag node is a dict of entries, a leaf is a str, a
multi-value leaf a list of str (in the order the values were set), a valueless flag an empty dict.
Parents stay when their last child is deleted, as on VyOS (``set ... vif 100`` alone is a valid line).
"""

from __future__ import annotations

import copy
import re
import shlex

from .schema import FLAG, LEAF, MULTI, NODE, SCHEMA, TAG, Spec


class EditError(Exception):
    """A set or delete VyOS refuses; lines are what VyOS prints, ending with "Set failed" or "Delete failed"."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def split_command(line: str) -> list[str]:
    """The words of a command line, with single or double quotes grouping words as in VyOS's shell."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def _walk(tokens: list[str], verb: str):
    """Check a path against the schema; returns [(key, spec)] down to the last node and the value, if any.

    Raises EditError with VyOS's text for a path it has no template for or a value it refuses.
    """
    failed = f"{verb.capitalize()} failed"
    if not tokens:
        raise EditError(["Configuration path: [] is not valid", failed])
    spec, steps, i = SCHEMA, [], 0

    def invalid():
        return EditError([f"Configuration path: [{' '.join(tokens)}] is not valid", failed])

    while i < len(tokens):
        word = tokens[i]
        if spec.kind == TAG:
            problem = spec.check(word) if spec.check else None
            if problem:
                raise EditError([*problem.splitlines(), "Value validation failed", failed])
            steps.append((word, Spec(NODE, spec.children)))
            spec = steps[-1][1]
            i += 1
            continue
        child = spec.children.get(word)
        if child is None or not word:
            raise invalid()
        steps.append((word, child))
        if child.kind in (LEAF, MULTI):
            if i + 1 == len(tokens):
                return steps, None
            if i + 2 < len(tokens):
                raise invalid()
            value = tokens[i + 1]
            problem = child.check(value) if child.check else None
            if problem and verb == "set":
                raise EditError([*problem.splitlines(), "Value validation failed", failed])
            return steps, value
        if child.kind == FLAG and i + 1 < len(tokens):
            raise invalid()
        spec = child
        i += 1
    return steps, None


def set_path(tree: dict, tokens: list[str]) -> None:
    """`set <tokens>` on tree (changed in place)."""
    steps, value = _walk(tokens, "set")
    last_key, last_spec = steps[-1]
    if last_spec.takes_value and value is None:
        raise EditError([f"Configuration path: [{' '.join(tokens)}] requires a value", "Set failed"])
    if last_spec.kind == TAG:
        raise EditError([f"Configuration path: [{' '.join(tokens)}] requires a value", "Set failed"])
    node = tree
    for key, _spec in steps[:-1]:
        node = node.setdefault(key, {})
    if last_spec.kind == LEAF:
        node[last_key] = value
    elif last_spec.kind == MULTI:
        values = node.setdefault(last_key, [])
        if value in values:
            raise EditError([f"Configuration path: [{' '.join(tokens)}] already exists", "Set failed"])
        values.append(value)
    else:
        node.setdefault(last_key, {})


def delete_path(tree: dict, tokens: list[str]) -> str | None:
    """`delete <tokens>` on tree; returns VyOS's note when there was nothing to delete (not an error)."""
    steps, value = _walk(tokens, "delete")
    node = tree
    for key, _spec in steps[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return "Nothing to delete (the specified node does not exist)"
    last_key, last_spec = steps[-1]
    if last_key not in node:
        return "Nothing to delete (the specified node does not exist)"
    if value is None:
        del node[last_key]
        _prune_empty_tags(tree, steps)
        return None
    current = node[last_key]
    if last_spec.kind == MULTI and value in current:
        current.remove(value)
        if not current:
            del node[last_key]
        return None
    if last_spec.kind == LEAF and current == value:
        del node[last_key]
        return None
    return "Nothing to delete (the specified value does not exist)"


def _prune_empty_tags(tree: dict, steps) -> None:
    """A tag node goes when its last entry goes (`interfaces ethernet eth1 vif` is no line of its own)."""
    for depth in range(len(steps) - 1, 0, -1):
        parents = [tree]
        for key, _spec in steps[:depth]:
            parents.append(parents[-1][key])
        key, spec = steps[depth - 1]
        if spec.kind == TAG and not parents[-1]:
            del parents[-2][key]
        else:
            break


def lookup(tree: dict, tokens: list[str]):
    """(found, node) for a path of names (and an optional last value of a leaf)."""
    node = tree
    for i, word in enumerate(tokens):
        if isinstance(node, str):
            return (i == len(tokens) - 1 and node == word), node
        if isinstance(node, list):
            return (i == len(tokens) - 1 and word in node), node
        if word not in node:
            return False, None
        node = node[word]
    return True, node


# ------------------------------------------------------------------ rendering


def natural_key(name: str):
    """VyOS orders tag entries naturally: rule 2 before rule 10, eth2 before eth10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _children(node: dict, spec: Spec):
    for name in sorted(node, key=natural_key):
        if spec.kind == TAG:
            yield name, node[name], Spec(NODE, spec.children)
        else:
            yield name, node[name], spec.children.get(name, Spec(NODE))


def quote_command_value(value: str) -> str:
    """`show configuration commands` puts every value in single quotes (VyOS 1.3 and later)."""
    return "'" + value + "'"


def to_commands(tree: dict, spec: Spec = SCHEMA, prefix: tuple = ()) -> list[str]:
    """The tree as `set` lines, in the order `show configuration commands` prints them."""
    lines = []
    for name, value, child in _children(tree, spec):
        path = " ".join((*prefix, name))
        if isinstance(value, str):
            lines.append(f"set {path} {quote_command_value(value)}")
        elif isinstance(value, list):
            lines.extend(f"set {path} {quote_command_value(v)}" for v in value)
        elif not value:
            lines.append(f"set {path}")
        else:
            lines.extend(to_commands(value, child, (*prefix, name)))
    return lines


def to_json(tree):
    """The tree as the HTTP API's showConfig gives it: a multi-value leaf with one value is a plain string."""
    if isinstance(tree, list):
        return tree[0] if len(tree) == 1 else list(tree)
    if isinstance(tree, str):
        return tree
    return {name: to_json(value) for name, value in tree.items()}


_BARE = re.compile(r"[A-Za-z0-9_./:@+\-!]+")


def quote_curly_value(value: str) -> str:
    """config.boot quotes a value only when it needs it."""
    return value if _BARE.fullmatch(value) else '"' + value + '"'


def to_curly(tree: dict, spec: Spec = SCHEMA, indent: int = 0) -> list[str]:
    """The tree in VyOS's curly-brace format (config.boot, `show`, `compare`)."""
    pad = "    " * indent
    lines = []
    for name, value, child in _children(tree, spec):
        if child.kind == TAG and isinstance(value, dict):
            for entry, body, entry_spec in _children(value, child):
                lines.extend(_curly_block(f"{name} {entry}", body, entry_spec, indent))
            continue
        if isinstance(value, str):
            lines.append(f"{pad}{name} {quote_curly_value(value)}")
        elif isinstance(value, list):
            lines.extend(f"{pad}{name} {quote_curly_value(v)}" for v in value)
        else:
            lines.extend(_curly_block(name, value, child, indent))
    return lines


def _curly_block(head: str, body: dict, spec: Spec, indent: int) -> list[str]:
    pad = "    " * indent
    if not body:
        return [f"{pad}{head}"]
    return [f"{pad}{head} {{", *to_curly(body, spec, indent + 1), f"{pad}}}"]


# ------------------------------------------------------------------ differences


def diff_commands(old: dict, new: dict, spec: Spec = SCHEMA, prefix: tuple = ()) -> list[str]:
    """`compare commands`: the delete and set lines that turn old into new."""
    lines = []
    for name in sorted(set(old) | set(new), key=natural_key):
        child = Spec(NODE, spec.children) if spec.kind == TAG else spec.children.get(name, Spec(NODE))
        path = (*prefix, name)
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if child.kind == TAG:
            lines.extend(diff_commands(a or {}, b or {}, child, path))
            continue
        if b is None:
            lines.append("delete " + " ".join(path))
        elif a is None or type(a) is not type(b):
            if a is not None:
                lines.append("delete " + " ".join(path))
            lines.extend(to_commands({name: b}, spec, prefix))
        elif isinstance(b, str):
            lines.append(f"set {' '.join(path)} {quote_command_value(b)}")
        elif isinstance(b, list):
            lines.extend(f"delete {' '.join(path)} {quote_command_value(v)}" for v in a if v not in b)
            lines.extend(f"set {' '.join(path)} {quote_command_value(v)}" for v in b if v not in a)
        else:
            if not b and a:
                lines.append("delete " + " ".join(path))
                lines.append("set " + " ".join(path))
            else:
                lines.extend(diff_commands(a, b, child, path))
    return lines


def diff_context(old: dict, new: dict) -> list[str]:
    """`compare`: VyOS's context diff, a `[edit <path>]` header over +/- lines in curly format."""
    out: list[str] = []
    _diff_into(old, new, SCHEMA, (), out)
    return out


def _diff_into(old: dict, new: dict, spec: Spec, prefix: tuple, out: list[str]) -> None:
    header = "[edit" + ("" if not prefix else " " + " ".join(prefix)) + "]"
    local: list[str] = []
    nested = []

    def compare(label: tuple, a, b, child: Spec, render) -> None:
        if a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict) and a and b:
            nested.append((a, b, child, (*prefix, *label)))
            return
        if a is not None:
            local.extend("-" + line for line in render(a))
        if b is not None:
            local.extend("+" + line for line in render(b))

    for name in sorted(set(old) | set(new), key=natural_key):
        a, b = old.get(name), new.get(name)
        child = spec.children.get(name, Spec(NODE))
        if child.kind == TAG and isinstance(a or {}, dict) and isinstance(b or {}, dict):
            a, b = a or {}, b or {}
            entry_spec = Spec(NODE, child.children)
            for entry in sorted(set(a) | set(b), key=natural_key):
                compare(
                    (name, entry),
                    a.get(entry),
                    b.get(entry),
                    entry_spec,
                    lambda body, head=f"{name} {entry}", es=entry_spec: _curly_block(head, body, es, 0),
                )
            continue
        compare((name,), a, b, child, lambda value, n=name: to_curly({n: value}, spec))
    if local:
        out.append(header)
        out.extend(local)
    for a, b, child, path in nested:
        _diff_into(a, b, child, path, out)


def copy_tree(tree: dict) -> dict:
    return copy.deepcopy(tree)
