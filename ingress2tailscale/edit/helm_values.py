"""Edits of a HelmRelease's inline values with ruamel.yaml (one document round-tripped, the
rest of the file untouched; comments, anchors, quoting and key order kept): add an entry next
to another, remove one, set a key, turn a LoadBalancer service entry into ClusterIP."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ingress2tailscale.edit.manifests import (
    LOAD_BALANCER_ONLY,
    Edit,
    _attach_after_last,  # the manifests' own comment keeper, shared within edit/
    remove_key,
)
from ingress2tailscale.kinds import LAN_LB_PREFIXES


def values_at(data: CommentedMap, block: Sequence[str]) -> CommentedMap:
    """The mapping at `spec.values.<block>` of a HelmRelease document."""
    node: Any = data["spec"]["values"]
    for key in block:
        node = node[key]
    if not isinstance(node, CommentedMap):
        raise TypeError(f"spec.values.{'.'.join(block)} is not a mapping")
    return node


def add_entry(block: Sequence[str], after: str, key: str, value: dict[str, Any]) -> Edit:
    """Insert `key: value` into `spec.values.<block>` right after the entry `after`."""

    def edit(data: CommentedMap) -> None:
        entries = values_at(data, block)
        if key in entries:
            return
        keys = list(entries)
        position = keys.index(after) + 1 if after in keys else len(keys)
        entries.insert(position, key, fresh(value))

    return edit


def remove_entry(block: Sequence[str], key: str) -> Edit:
    """Delete the entry `key` of `spec.values.<block>` (the comments after it stay)."""

    def edit(data: CommentedMap) -> None:
        entries = values_at(data, block)
        if key in entries:
            _drop(entries, key)

    return edit


def set_value(block: Sequence[str], key: str, value: Any, before: str | None = None) -> Edit:
    """Set `key` of the mapping `spec.values.<block>`; a new key goes right before `before`
    when that key is there (else first): the comments written above the next key stay there."""

    def edit(data: CommentedMap) -> None:
        node = values_at(data, block)
        if key in node:
            node[key] = value
            return
        keys = list(node)
        node.insert(keys.index(before) if before in keys else 0, key, value)

    return edit


def strip_service_load_balancer(block: Sequence[str]) -> Edit:
    """An app-template service entry becomes ClusterIP: no `type` (ClusterIP is the default), no
    MetalLB or Cilium LB-IPAM annotations, no LoadBalancer-only fields or node ports."""

    def edit(data: CommentedMap) -> None:
        node = values_at(data, block)
        annotations = node.get("annotations")
        if isinstance(annotations, CommentedMap):
            for key in [k for k in annotations if str(k).startswith(LAN_LB_PREFIXES)]:
                _drop(annotations, key)
            if not annotations:
                _drop(node, "annotations")
        if node.get("type") == "LoadBalancer":
            _drop(node, "type")
        for key in LOAD_BALANCER_ONLY:
            if key in node:
                _drop(node, key)
        ports = node.get("ports")
        for port in ports.values() if isinstance(ports, CommentedMap) else []:
            if isinstance(port, CommentedMap) and "nodePort" in port:
                _drop(port, "nodePort")

    return edit


def _drop(mapping: CommentedMap, key: str) -> None:
    """Delete `key`; comment lines that had no entry before them go after the last one."""
    _attach_after_last(mapping, remove_key(mapping, key))


def fresh(value: Any) -> Any:
    """A new node tree for `value`: plain scalars, new maps and lists (never a node of the
    file, which ruamel would write as an alias or with its anchor)."""
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[str(k)] = fresh(v)
        return out
    if isinstance(value, list | tuple):
        return CommentedSeq(fresh(v) for v in value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(str(value))
    return str(value) if isinstance(value, str) else value


def keep_spacing(before: str, after: str) -> str:
    """`after` with each line the edit did not mean to change as `before` wrote it: ruamel
    re-spaces flow collections (`{ drop: [ALL] }` becomes `{drop: [ALL]}`); a human would not."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    defined = Counter(_ANCHOR.findall(before))
    once = {anchor for anchor, count in defined.items() if count == 1}
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            pairs = zip(old[i1:i2], new[j1:j2], strict=True)
            out += [a if _same(a, b, once) else b for a, b in pairs]
        else:
            out += new[j1:j2]
    return "".join(out)


def _same(a: str, b: str, anchors: set[str]) -> bool:
    """The same YAML line but for spacing, or for one of `anchors` that ruamel dropped (no
    alias named it). An anchor defined twice stays dropped: legal YAML 1.2, as Flux reads it,
    but the static checks (and PyYAML) refuse it."""
    kept = _ANCHOR.sub(lambda m: "" if m.group(0) in anchors else m.group(0), a)
    return "".join(kept.split()) == "".join(b.split())


_ANCHOR = re.compile(r"(?<=\s)&[^\s,\[\]{}]+")
