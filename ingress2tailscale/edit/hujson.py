"""Splices of new text into HuJSON containers (as json5's model parses them), laid out like
their neighbours: indentation, trailing commas and blank lines follow the file; the rest is kept."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from json5.model import JSONArray, JSONObject

Container = JSONObject | JSONArray


@dataclass(frozen=True)
class Splice:
    """Replace text[start:end] with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Style:
    """How the file lays out a multi-line container."""

    unit: str  # one level of indentation
    trailing: bool  # multi-line lists end with a comma


def detect_style(text: str, root: JSONObject) -> Style:
    """The file's indentation unit (its first indented line) and its trailing-comma habit."""
    indents = [m.group(1) for m in re.finditer(r"^([ \t]+)\S", text, re.MULTILINE)]
    unit = "\t" if not indents or indents[0].startswith("\t") else " " * min(map(len, indents))
    trailing = root.trailing_comma is not None or not root.keys
    return Style(unit, trailing)


def render_sections(
    text: str, root: JSONObject, sections: list[tuple[str, str, list[str]]], style: Style
) -> list[str]:
    """New top-level sections: spread over lines, unless the whole document is on one line."""
    one_line = bool(root.keys) and "\n" not in text[_start(root) : _end(root)]
    flat = Style("", False)
    return [
        f"{json.dumps(key)}: " + _block(brackets, items, flat if one_line else style)
        for key, brackets, items in sections
    ]


def render_pair(text: str, node: JSONObject, key: str, value: str) -> str:
    """`"key": value`, aligned like the neighbours when they align their values."""
    key_text = json.dumps(key)
    offsets = {_start(v) - _start(k) for k, v in zip(node.keys, node.values, strict=True)}
    gaps = [text[_end(k) : _start(v)] for k, v in zip(node.keys, node.values, strict=True)]
    if len(offsets) == 1 and any(g != ": " for g in gaps) and "\n" not in "".join(gaps):
        width = offsets.pop() - len(key_text) - 1
        return f"{key_text}:{' ' * max(1, width)}{value}"
    return key_text + (gaps[-1] if gaps and "\n" not in gaps[-1] else ": ") + value


def render_entry(text: str, node: Container, entry: Mapping[str, Any], style: Style) -> str:
    """One entry on one line, or spread over lines when its neighbour is."""
    last = node.values[-1] if node.values else None
    if not isinstance(last, JSONObject) or "\n" not in text[_start(last) : _end(last)]:
        return render_inline(entry)
    inner = _indent_of(text, _start(last.keys[0])) if last.keys else ""
    outer = _indent_of(text, _start(last))
    unit = inner[len(outer) :] if inner.startswith(outer) and inner != outer else style.unit
    pairs = [f"{json.dumps(k)}: {render_inline(v)}" for k, v in entry.items()]
    return _block("{}", pairs, Style(unit, last.trailing_comma is not None))


def render_inline(value: Any) -> str:
    """A value as JSON on one line, spaced like hand-written HuJSON."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _block(brackets: str, items: Any, style: Style) -> str:
    """A container over several lines, indented relative to its first line; no unit: one line."""
    if not style.unit:
        return brackets[0] + ", ".join(items) + brackets[1]
    lines = [_indent_lines(item, style.unit) for item in items]
    body = ",\n".join(lines) + ("," if style.trailing else "")
    return f"{brackets[0]}\n{body}\n{brackets[1]}"


def append_entries(
    text: str, node: Container, entries: list[str], style: Style | None = None, gap: bool = False
) -> list[Splice]:
    """Splices adding `entries` at the end of a container, laid out like its items.

    `style` None means "keep it on one line when it is one line" (owner lists)."""
    opening, closing = _start(node), _end(node) - 1
    if "\n" in text[opening:closing]:
        return _append_lines(text, node, entries, style or Style("\t", True), gap)
    items = _items(node)
    if items:
        sep = text[items[-2][1] : items[-1][0]] if len(items) > 1 else ", "
        return [Splice(items[-1][1], items[-1][1], "".join(sep + e for e in entries))]
    if style is None:
        return [Splice(opening + 1, closing, ", ".join(entries))]
    block = _block(text[opening] + text[closing], entries, style)
    outer = _indent_of(text, opening)  # the first line continues the line it is on
    return [Splice(opening, closing + 1, _indent_lines(block, outer)[len(outer) :])]


def _append_lines(
    text: str, node: Container, entries: list[str], style: Style, gap: bool
) -> list[Splice]:
    """One line (or block) per entry, before the line of the closing bracket."""
    items, closing = _items(node), _end(node) - 1
    at = _line_start(text, closing)
    deeper = "" if text[at:closing].strip() else style.unit  # past the bracket's own indentation
    indent = _indent_of(text, items[-1][0]) if items else _indent_of(text, closing) + deeper
    trailing = node.trailing_comma is not None if items else style.trailing
    lines = [("\n" if gap else "") + _indent_lines(e, indent) + "," for e in entries]
    if not trailing:
        lines[-1] = lines[-1][:-1]
    if text[at:closing].strip() and items:
        # the closing bracket shares the last item's line: start a line per entry before it
        more = "".join(",\n" + _indent_lines(e, indent) for e in entries)
        return [Splice(items[-1][1], items[-1][1], more)]
    if text[at:closing].strip():  # only a comment before the bracket: give it its own line
        return [Splice(closing, closing, "".join("\n" + line for line in lines) + "\n")]
    comma = [] if trailing else [Splice(items[-1][1], items[-1][1], ",")]
    return [*comma, Splice(at, at, "".join(line + "\n" for line in lines))]


def apply_splices(text: str, splices: list[Splice], newline: str) -> str:
    """The text with the splices made."""
    # right to left so earlier positions stay valid; equal positions keep their planned order
    for _, s in sorted(enumerate(splices), key=lambda p: (p[1].start, p[0]), reverse=True):
        text = text[: s.start] + s.text.replace("\n", newline) + text[s.end :]
    return text


def find_member(node: JSONObject, key: str) -> Any:
    """The model node of `key` in an object; None when it has no such key."""
    found = None
    for k, v in zip(node.keys, node.values, strict=True):
        if getattr(k, "characters", getattr(k, "name", None)) == key:
            found = v  # the last duplicate wins, as in the parsed data
    return found


def has_gap(text: str, node: JSONObject) -> bool:
    """Whether the last two items are separated by an empty line (so new ones should be too)."""
    items = _items(node)
    between = text[items[-2][1] : items[-1][0]] if len(items) > 1 else ""
    return any(not part.strip() for part in between.split("\n")[1:-1])


def _start(node: Any) -> int:
    return int(node._tok.index)


def _end(node: Any) -> int:
    return int(node._end_tok.end)


def _items(node: Container) -> list[tuple[int, int]]:
    if isinstance(node, JSONObject):
        return [(_start(k), _end(v)) for k, v in zip(node.keys, node.values, strict=True)]
    return [(_start(v), _end(v)) for v in node.values]


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _indent_of(text: str, pos: int) -> str:
    line = text[_line_start(text, pos) : pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_lines(block: str, indent: str) -> str:
    return "\n".join(indent + line for line in block.split("\n"))
