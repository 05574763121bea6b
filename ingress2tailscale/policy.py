"""The tailnet policy file (HuJSON): parse it, and make it contain tag owners, access rules and
tests by splicing new text into it, so comments, trailing commas and indentation stay put."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import json5
from json5.loader import ModelLoader
from json5.model import JSONArray, JSONObject

from ingress2tailscale.errors import ConfigError
from ingress2tailscale.model import FileChange

# Old spellings Tailscale still accepts, mapped to the current ones, so equal rules compare equal.
LEGACY_FIELDS = {"users": "src", "ports": "dst", "user": "src", "allow": "accept"}
PORTS_PATTERN = re.compile(r"^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)$")

Container = JSONObject | JSONArray


@dataclass(frozen=True)
class PolicyEdit:
    """A policy text before and after an edit; `added` says in words what the edit added."""

    before: str
    after: str
    added: tuple[str, ...]


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Style:
    unit: str  # one level of indentation
    trailing: bool  # multi-line lists end with a comma


@dataclass
class _Plan:
    text: str
    root: JSONObject
    style: _Style
    splices: list[_Splice] = field(default_factory=list)
    sections: list[tuple[str, str, list[str]]] = field(default_factory=list)  # key, brackets, items
    added: list[str] = field(default_factory=list)


def parse_policy(text: str, source: str = "policy") -> dict[str, Any]:
    """The policy as plain data; a syntax error names `source`, line and column."""
    data = _decode(text, source, None)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a tailnet policy must be a JSON object {{...}} at the top")
    return data


def edit_policy(
    text: str,
    tag_owners: Mapping[str, list[str]],
    acls: Sequence[Mapping[str, Any]],
    tests: Sequence[Mapping[str, Any]],
    source: str = "policy",
) -> PolicyEdit:
    """Make the policy contain these tag owners, rules and tests; what is there already stays."""
    data = parse_policy(text, source)
    root = _decode(text, source, ModelLoader()).value
    plan = _Plan(text, root, _detect_style(text, root))
    _plan_tag_owners(plan, data, tag_owners)
    if "acls" not in data and "grants" in data:
        _plan_entries(plan, data, "grants", _to_grants(acls))
    else:
        _plan_entries(plan, data, "acls", list(acls))
    _plan_entries(plan, data, "tests", list(tests))
    if plan.sections:
        sections = _render_sections(text, root, plan)
        plan.splices += _append(text, root, sections, plan.style, gap=_has_gap(text, root))
    newline = "\r\n" if "\r\n" in text else "\n"
    return PolicyEdit(text, _apply(text, plan.splices, newline), tuple(plan.added))


def diff_policy(edit: PolicyEdit, path: str = "policy.hujson") -> str:
    """The edit as a unified diff (empty when nothing changed)."""
    return FileChange(path, "modify", edit.before, edit.after).diff


def _decode(text: str, source: str, loader: ModelLoader | None) -> Any:
    try:
        return json5.loads(text) if loader is None else json5.loads(text, loader=loader)
    except ValueError as exc:
        index = getattr(exc, "index", 0) or 0
        line = text.count("\n", 0, index) + 1
        column = index - text.rfind("\n", 0, index)
        reason = str(exc).split("primary error was:")[-1].strip().split(" at:")[0]
        raise ConfigError(
            f"{source}: line {line}, column {column}: not valid HuJSON ({reason}). Fix the syntax "
            "there (a missing comma, bracket or quote is the usual cause) and run again"
        ) from exc


# --- what to add -------------------------------------------------------------------------------


def _plan_tag_owners(plan: _Plan, data: Mapping[str, Any], wanted: Mapping[str, list[str]]) -> None:
    current = _section(data, "tagOwners", dict)
    node = _find(plan.root, "tagOwners")
    new: dict[str, list[str]] = {}
    for tag, owners in wanted.items():
        if tag not in current:
            new[tag] = list(dict.fromkeys(owners))
            plan.added.append(f"tagOwners: {tag} owned by {', '.join(new[tag]) or 'nobody'}")
            continue
        missing = [o for o in dict.fromkeys(owners) if o not in _section(current, tag, list)]
        owner_list = _container(_find(node, tag), f"tagOwners[{tag}]")
        if missing:
            plan.splices += _append(plan.text, owner_list, [json.dumps(o) for o in missing])
            plan.added.append(f"tagOwners: {', '.join(missing)} may now own {tag}")
    if new and isinstance(node, JSONObject):
        pairs = [_render_pair(plan.text, node, tag, _inline(owners)) for tag, owners in new.items()]
        plan.splices += _append(plan.text, node, pairs, plan.style)
    elif new:
        pairs = [f"{json.dumps(tag)}: {_inline(owners)}" for tag, owners in new.items()]
        plan.sections.append(("tagOwners", "{}", pairs))


def _plan_entries(plan: _Plan, data: Mapping[str, Any], key: str, wanted: list[Any]) -> None:
    """Add to the list `key` each wanted entry that no existing entry equals."""
    have = [_normalize(e) for e in _section(data, key, list)]
    missing: list[Any] = []
    for entry in wanted:
        if _normalize(entry) not in have:
            have.append(_normalize(entry))
            missing.append(dict(entry))
    if not missing:
        return
    plan.added += [f"{key}: {_describe(e)}" for e in missing]
    node = _find(plan.root, key)
    if node is None:
        plan.sections.append((key, "[]", [_inline(e) for e in missing]))
        return
    node = _container(node, key)
    rendered = [_render_entry(plan.text, node, e, plan.style) for e in missing]
    plan.splices += _append(plan.text, node, rendered, plan.style)


def _to_grants(acls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Access rules as grants: one grant per source list and destination tag, ports merged."""
    grouped: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for acl in acls:
        proto = acl.get("proto", "tcp")
        for dst in acl.get("dst", []):
            host, _, ports = str(dst).rpartition(":")
            if not host or not PORTS_PATTERN.match(ports):
                raise ConfigError(f"policy.acls: destination {dst!r} must look like tag:name:port")
            ips = ["*"] if ports == "*" else [f"{proto}:{p}" for p in ports.split(",")]
            merged = grouped.setdefault((tuple(acl.get("src", [])), host), [])
            merged += [ip for ip in ips if ip not in merged]
    return [{"src": list(s), "dst": [h], "ip": ips} for (s, h), ips in grouped.items()]


def _normalize(entry: Any) -> Any:
    """A comparable form of a rule or test: legacy names mapped, list order ignored."""
    if not isinstance(entry, Mapping):
        return entry
    pairs = {LEGACY_FIELDS.get(k, k): v for k, v in entry.items()}
    return {k: frozenset(map(str, v)) if isinstance(v, list) else v for k, v in pairs.items()}


def _describe(entry: Mapping[str, Any]) -> str:
    src = entry.get("src", "?")
    src = ", ".join(src) if isinstance(src, list) else src
    if "ip" in entry:
        return f"{src} -> {', '.join(entry['dst'])} ({', '.join(entry['ip'])})"
    if "action" in entry:
        return f"{entry['action']} {src} -> {', '.join(entry.get('dst', []))}"
    checks = [f"{k} {', '.join(entry[k])}" for k in ("accept", "deny") if entry.get(k)]
    return f"{src} must {'; '.join(checks)}"


def _section(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key, kind())
    if not isinstance(value, kind):
        raise ConfigError(f"policy: `{key}` must be {'a list' if kind is list else 'an object'}")
    return value


# --- how to write it ---------------------------------------------------------------------------


def _render_sections(text: str, root: JSONObject, plan: _Plan) -> list[str]:
    """New top-level sections: spread over lines, unless the whole policy is on one line."""
    one_line = bool(root.keys) and "\n" not in text[_start(root) : _end(root)]
    flat = _Style("", False)
    return [
        f"{json.dumps(key)}: " + _block(brackets, items, flat if one_line else plan.style)
        for key, brackets, items in plan.sections
    ]


def _render_pair(text: str, node: JSONObject, key: str, value: str) -> str:
    """`"key": value`, aligned like the neighbours when they align their values."""
    key_text = json.dumps(key)
    offsets = {_start(v) - _start(k) for k, v in zip(node.keys, node.values, strict=True)}
    gaps = [text[_end(k) : _start(v)] for k, v in zip(node.keys, node.values, strict=True)]
    if len(offsets) == 1 and any(g != ": " for g in gaps) and "\n" not in "".join(gaps):
        width = offsets.pop() - len(key_text) - 1
        return f"{key_text}:{' ' * max(1, width)}{value}"
    return key_text + (gaps[-1] if gaps and "\n" not in gaps[-1] else ": ") + value


def _render_entry(text: str, node: Container, entry: Mapping[str, Any], style: _Style) -> str:
    """One entry on one line, or spread over lines when its neighbour is."""
    last = node.values[-1] if node.values else None
    if not isinstance(last, JSONObject) or "\n" not in text[_start(last) : _end(last)]:
        return _inline(entry)
    inner = _indent_of(text, _start(last.keys[0])) if last.keys else ""
    outer = _indent_of(text, _start(last))
    unit = inner[len(outer) :] if inner.startswith(outer) and inner != outer else style.unit
    pairs = [f"{json.dumps(k)}: {_inline(v)}" for k, v in entry.items()]
    return _block("{}", pairs, _Style(unit, last.trailing_comma is not None))


def _inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _block(brackets: str, items: Any, style: _Style) -> str:
    """A container over several lines, indented relative to its first line; no unit: one line."""
    if not style.unit:
        return brackets[0] + ", ".join(items) + brackets[1]
    lines = [_indent_lines(item, style.unit) for item in items]
    body = ",\n".join(lines) + ("," if style.trailing else "")
    return f"{brackets[0]}\n{body}\n{brackets[1]}"


def _append(
    text: str, node: Container, entries: list[str], style: _Style | None = None, gap: bool = False
) -> list[_Splice]:
    """Splices adding `entries` at the end of a container, laid out like its items.

    `style` None means "keep it on one line when it is one line" (owner lists)."""
    opening, closing = _start(node), _end(node) - 1
    if "\n" in text[opening:closing]:
        return _append_lines(text, node, entries, style or _Style("\t", True), gap)
    items = _items(node)
    if items:
        sep = text[items[-2][1] : items[-1][0]] if len(items) > 1 else ", "
        return [_Splice(items[-1][1], items[-1][1], "".join(sep + e for e in entries))]
    if style is None:
        return [_Splice(opening + 1, closing, ", ".join(entries))]
    block = _block(text[opening] + text[closing], entries, style)
    outer = _indent_of(text, opening)  # the first line continues the line it is on
    return [_Splice(opening, closing + 1, _indent_lines(block, outer)[len(outer) :])]


def _append_lines(
    text: str, node: Container, entries: list[str], style: _Style, gap: bool
) -> list[_Splice]:
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
        return [_Splice(items[-1][1], items[-1][1], more)]
    if text[at:closing].strip():  # only a comment before the bracket: give it its own line
        return [_Splice(closing, closing, "".join("\n" + line for line in lines) + "\n")]
    comma = [] if trailing else [_Splice(items[-1][1], items[-1][1], ",")]
    return [*comma, _Splice(at, at, "".join(line + "\n" for line in lines))]


def _apply(text: str, splices: list[_Splice], newline: str) -> str:
    # right to left so earlier positions stay valid; equal positions keep their planned order
    for _, s in sorted(enumerate(splices), key=lambda p: (p[1].start, p[0]), reverse=True):
        text = text[: s.start] + s.text.replace("\n", newline) + text[s.end :]
    return text


# --- positions in the parsed model -------------------------------------------------------------


def _start(node: Any) -> int:
    return int(node._tok.index)


def _end(node: Any) -> int:
    return int(node._end_tok.end)


def _items(node: Container) -> list[tuple[int, int]]:
    if isinstance(node, JSONObject):
        return [(_start(k), _end(v)) for k, v in zip(node.keys, node.values, strict=True)]
    return [(_start(v), _end(v)) for v in node.values]


def _find(node: JSONObject, key: str) -> Any:
    found = None
    for k, v in zip(node.keys, node.values, strict=True):
        if getattr(k, "characters", getattr(k, "name", None)) == key:
            found = v  # the last duplicate wins, as in the parsed data
    return found


def _container(node: Any, where: str) -> Container:
    if not isinstance(node, JSONObject | JSONArray):
        raise ConfigError(f"policy: `{where}` must be a list or an object")
    return node


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _indent_of(text: str, pos: int) -> str:
    line = text[_line_start(text, pos) : pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_lines(block: str, indent: str) -> str:
    return "\n".join(indent + line for line in block.split("\n"))


def _has_gap(text: str, node: JSONObject) -> bool:
    """Whether the last two items are separated by an empty line (so new ones should be too)."""
    items = _items(node)
    between = text[items[-2][1] : items[-1][0]] if len(items) > 1 else ""
    return any(not part.strip() for part in between.split("\n")[1:-1])


def _detect_style(text: str, root: JSONObject) -> _Style:
    indents = [m.group(1) for m in re.finditer(r"^([ \t]+)\S", text, re.MULTILINE)]
    unit = "\t" if not indents or indents[0].startswith("\t") else " " * min(map(len, indents))
    trailing = root.trailing_comma is not None or not root.keys
    return _Style(unit, trailing)
