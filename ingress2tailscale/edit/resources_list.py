"""A kustomization's `resources` list edited as text, for the plain shape whose ruamel.yaml
round trip is the identity: the splice writes exactly what the round trip would, without it.

The plain shape: a block of full-line comments, then top-level keys, each with a plain scalar
or a block sequence of plain scalars indented the way `make_yaml` would indent it; no blank
line, no other comment, no flow style, no quotes. Anything else returns None, and the caller
round-trips the document through ruamel.yaml.
"""

from __future__ import annotations

import re

from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

_STR_TAG = "tag:yaml.org,2002:str"
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_PLAIN = re.compile(r"(?:\.{1,2}/)*[A-Za-z0-9_][A-Za-z0-9_./-]*")
_MAX_LINE = 200
_RESOLVER = VersionedResolver()


class _Shape:
    """The lines of a plain kustomization, and where its `resources` items are."""

    def __init__(self, lines: list[str], items: list[int], indent: str) -> None:
        self.lines = lines
        self.items = items  # line numbers of the `resources` items, in order
        self.indent = indent

    def entries(self) -> list[str]:
        return [self.lines[i].removeprefix(self.indent + "- ") for i in self.items]


def add_entry(chunk: str, entry: str, indents: bool) -> str | None:
    """`chunk` with `entry` appended to `resources` unless listed (None: not the plain shape);
    `indents`: block sequences sit two spaces deeper than their key (`make_yaml`'s choice)."""
    shape = _plain_shape(chunk, "  " if indents else "")
    if shape is None or not shape.items:
        return None
    listed = [e.removeprefix("./") for e in shape.entries()]
    if entry.removeprefix("./") in listed:
        return chunk
    dotted = all(e.startswith("./") for e in shape.entries())
    value = f"./{entry}" if dotted else entry
    if not _plain(value):
        return None
    lines = list(shape.lines)
    lines.insert(shape.items[-1] + 1, f"{shape.indent}- {value}")
    return "\n".join(lines)


def remove_entry(chunk: str, entry: str, indents: bool) -> str | None:
    """`chunk` without the first `resources` item naming `entry` (None: not the plain shape,
    or the list would be left empty)."""
    shape = _plain_shape(chunk, "  " if indents else "")
    if shape is None:
        return None
    wanted = entry.removeprefix("./")
    entries = zip(shape.items, shape.entries(), strict=True)
    found = [i for i, e in entries if e.removeprefix("./") == wanted]
    if not found:
        return chunk
    if len(shape.items) == 1:
        return None  # ruamel writes `resources: []`: let it
    lines = list(shape.lines)
    del lines[found[0]]
    return "\n".join(lines)


def _plain_shape(chunk: str, indent: str) -> _Shape | None:
    lines = chunk.split("\n")
    body = lines[:-1] if chunk.endswith("\n") else lines
    items: list[int] = []
    in_resources = in_sequence = keys_seen = False
    for number, line in enumerate(body):
        if not line or len(line) > _MAX_LINE or line != line.rstrip():
            return None
        if line.startswith("#"):
            if keys_seen:
                return None
            continue
        keys_seen = True
        if line.startswith(indent + "- ") and line[0] in " -":
            if not _plain(line[len(indent) + 2 :]) or not in_sequence:
                return None
            if in_resources:
                items.append(number)
            continue
        key, colon, value = line.partition(":")
        if not colon or not _KEY.fullmatch(key):
            return None
        in_sequence = value == ""
        if not in_sequence and not (value.startswith(" ") and _plain(value[1:])):
            return None
        if in_sequence and not _is_item(body, number + 1, indent):
            return None
        in_resources = key == "resources"
    return _Shape(lines, items, indent)


def _is_item(body: list[str], number: int, indent: str) -> bool:
    return number < len(body) and body[number].startswith(indent + "- ")


def _plain(value: str) -> bool:
    """A plain scalar ruamel.yaml reads as a string and writes back as it is."""
    if not _PLAIN.fullmatch(value):
        return False
    tag: object = _RESOLVER.resolve(ScalarNode, value, (True, False))
    return tag == _STR_TAG
