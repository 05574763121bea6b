"""The tailnet policy file (HuJSON): parse it, and make it contain tag owners, access rules and
tests; the new text is spliced in by `hujson_splice`, so comments and layout stay put."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import json5
from json5.loader import ModelLoader
from json5.model import JSONArray, JSONObject

from ingress2tailscale.edit.hujson import (
    Container,
    Splice,
    Style,
    append_entries,
    apply_splices,
    detect_style,
    find_member,
    has_gap,
    render_entry,
    render_inline,
    render_pair,
    render_sections,
)
from ingress2tailscale.errors import ConfigError
from ingress2tailscale.model import FileChange

# Old spellings Tailscale still accepts, mapped to the current ones, so equal rules compare equal.
LEGACY_FIELDS = {"users": "src", "ports": "dst", "user": "src", "allow": "accept"}
PORTS_PATTERN = re.compile(r"^(\*|\d+(-\d+)?(,\d+(-\d+)?)*)$")


@dataclass(frozen=True)
class PolicyEdit:
    """A policy text before and after an edit; `added` says in words what the edit added."""

    before: str
    after: str
    added: tuple[str, ...]


@dataclass
class _Plan:
    text: str
    root: JSONObject
    style: Style
    splices: list[Splice] = field(default_factory=list)
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
    plan = _Plan(text, root, detect_style(text, root))
    _plan_tag_owners(plan, data, tag_owners)
    if "acls" not in data and "grants" in data:
        _plan_entries(plan, data, "grants", _to_grants(acls))
    else:
        _plan_entries(plan, data, "acls", list(acls))
    _plan_entries(plan, data, "tests", list(tests))
    if plan.sections:
        sections = render_sections(text, root, plan.sections, plan.style)
        plan.splices += append_entries(text, root, sections, plan.style, gap=has_gap(text, root))
    newline = "\r\n" if "\r\n" in text else "\n"
    return PolicyEdit(text, apply_splices(text, plan.splices, newline), tuple(plan.added))


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


def _plan_tag_owners(plan: _Plan, data: Mapping[str, Any], wanted: Mapping[str, list[str]]) -> None:
    current = _section(data, "tagOwners", dict)
    node = find_member(plan.root, "tagOwners")
    new: dict[str, list[str]] = {}
    for tag, owners in wanted.items():
        if tag not in current:
            new[tag] = list(dict.fromkeys(owners))
            plan.added.append(f"tagOwners: {tag} owned by {', '.join(new[tag]) or 'nobody'}")
            continue
        missing = [o for o in dict.fromkeys(owners) if o not in _section(current, tag, list)]
        owner_list = _container(find_member(node, tag), f"tagOwners[{tag}]")
        if missing:
            plan.splices += append_entries(plan.text, owner_list, [json.dumps(o) for o in missing])
            plan.added.append(f"tagOwners: {', '.join(missing)} may now own {tag}")
    if new and isinstance(node, JSONObject):
        pairs = [
            render_pair(plan.text, node, tag, render_inline(owners)) for tag, owners in new.items()
        ]
        plan.splices += append_entries(plan.text, node, pairs, plan.style)
    elif new:
        pairs = [f"{json.dumps(tag)}: {render_inline(owners)}" for tag, owners in new.items()]
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
    node = find_member(plan.root, key)
    if node is None:
        plan.sections.append((key, "[]", [render_inline(e) for e in missing]))
        return
    node = _container(node, key)
    rendered = [render_entry(plan.text, node, e, plan.style) for e in missing]
    plan.splices += append_entries(plan.text, node, rendered, plan.style)


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


def _container(node: Any, where: str) -> Container:
    if not isinstance(node, JSONObject | JSONArray):
        raise ConfigError(f"policy: `{where}` must be a list or an object")
    return node
