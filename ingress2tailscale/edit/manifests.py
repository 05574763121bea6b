"""Render new manifests and edit existing ones with ruamel.yaml, touching only what changes.

Edits work on one document at a time: its text is cut out of the file, round-tripped through
ruamel.yaml, and put back, so the other documents of a file stay byte-identical.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from ingress2tailscale.edit import resources_list
from ingress2tailscale.kinds import FLUX_VARIABLE, LAN_LB_PREFIXES
from ingress2tailscale.model import Document
from ingress2tailscale.repo.inventory import split_documents

# Fields the API server rejects (or drops) once a Service is no longer a LoadBalancer.
LOAD_BALANCER_ONLY = (
    "externalTrafficPolicy",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "loadBalancerClass",
    "allocateLoadBalancerNodePorts",
    "healthCheckNodePort",
)

Edit = Callable[[CommentedMap], None]


def make_yaml(sample: str = "") -> YAML:
    """A round-trip YAML that writes sequences the way `sample` indents them."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    if indents_sequences(sample):
        yaml.indent(mapping=2, sequence=4, offset=2)
    else:
        yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def indents_sequences(sample: str) -> bool:
    """True when block sequences sit two spaces deeper than their key (the common style)."""
    lines = sample.splitlines()
    for key_line, item in itertools.pairwise(lines):
        if key_line.rstrip().endswith(":") and item.lstrip().startswith("- "):
            return _indent(item) > _indent(key_line)
    return True


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def dump(data: Any, yaml: YAML) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def edit_document(file_text: str, doc: Document, edit: Edit) -> str:
    """Apply `edit` to one document of a file; the rest of the file is left as it was."""
    chunk = file_text[doc.start : doc.end]
    yaml = make_yaml(chunk)
    data = yaml.load(chunk)
    edit(data)
    new_chunk = dump(data, yaml)
    if not chunk.endswith("\n"):
        new_chunk = new_chunk.rstrip("\n")
    return _replace_chunk(file_text, doc, new_chunk)


def _replace_chunk(file_text: str, doc: Document, new_chunk: str) -> str:
    return file_text[: doc.start] + new_chunk + file_text[doc.end :]


def remove_document(file_text: str, doc: Document) -> str | None:
    """The file without `doc` (and one separator); None when nothing but comments is left."""
    spans = list(split_documents(file_text))
    position = next(i for i, (start, _, _) in enumerate(spans) if start == doc.start)
    if position + 1 < len(spans):
        cut_start, cut_end = doc.start, spans[position + 1][0]
    elif position > 0:
        cut_start, cut_end = _separator_start(file_text, doc.start), doc.end
    else:
        return None
    rest = file_text[:cut_start] + file_text[cut_end:]
    if not any(_has_content(rest[s:e]) for s, e, _ in split_documents(rest)):
        return None
    return rest


def _separator_start(text: str, doc_start: int) -> int:
    """Offset of the `---` line just before a document that starts at `doc_start`."""
    return text.rfind("\n", 0, max(doc_start - 1, 0)) + 1


def _has_content(chunk: str) -> bool:
    return any(s and not s.startswith("#") for s in (x.strip() for x in chunk.splitlines()))


def comment_out_document(file_text: str, doc: Document, note: Iterable[str]) -> str:
    """Keep `doc` in the file as comments, under a note saying why and how to restore it."""
    chunk = file_text[doc.start : doc.end]
    body = [f"# {line}" if line.strip() else "#" for line in chunk.rstrip("\n").split("\n")]
    lines = [f"# {n}" for n in note] + body
    new_chunk = "\n".join(lines) + ("\n" if chunk.endswith("\n") else "")
    return file_text[: doc.start] + new_chunk + file_text[doc.end :]


def add_resource(kustomization_text: str, doc: Document, entry: str) -> str:
    """Append `entry` to a kustomization's `resources` unless it is listed already."""
    chunk = kustomization_text[doc.start : doc.end]
    spliced = resources_list.add_entry(chunk, entry, indents_sequences(chunk))
    if spliced is not None:  # the plain shape: what the round trip would write
        return _replace_chunk(kustomization_text, doc, spliced)
    return add_resource_by_round_trip(kustomization_text, doc, entry)


def add_resource_by_round_trip(kustomization_text: str, doc: Document, entry: str) -> str:
    def edit(data: CommentedMap) -> None:
        resources = data.get("resources")
        if resources is None:
            data["resources"] = resources = CommentedSeq()
        listed = [str(r).removeprefix("./") for r in resources]
        if entry.removeprefix("./") not in listed:
            dotted = bool(listed) and all(str(r).startswith("./") for r in resources)
            resources.append(f"./{entry}" if dotted else entry)  # in the file's own style

    return edit_document(kustomization_text, doc, edit)


def remove_resource(kustomization_text: str, doc: Document, entry: str) -> str:
    """Remove `entry` from a kustomization's `resources`."""
    chunk = kustomization_text[doc.start : doc.end]
    spliced = resources_list.remove_entry(chunk, entry, indents_sequences(chunk))
    if spliced is not None:  # the plain shape: what the round trip would write
        return _replace_chunk(kustomization_text, doc, spliced)
    return remove_resource_by_round_trip(kustomization_text, doc, entry)


def remove_resource_by_round_trip(kustomization_text: str, doc: Document, entry: str) -> str:
    def edit(data: CommentedMap) -> None:
        resources = data.get("resources") or []
        for i, value in enumerate(list(resources)):
            if str(value).removeprefix("./") == entry.removeprefix("./"):
                del resources[i]
                break

    return edit_document(kustomization_text, doc, edit)


def strip_load_balancer(data: CommentedMap) -> None:
    """LoadBalancer -> ClusterIP: drop MetalLB (both prefixes) and Cilium LB-IPAM annotations,
    and LB-only fields."""
    metadata = data.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, CommentedMap) else None
    if isinstance(annotations, CommentedMap):
        carried = ""
        for key in [k for k in annotations if str(k).startswith(LAN_LB_PREFIXES)]:
            carried += remove_key(annotations, key)
        if not annotations:
            carried = remove_key(metadata, "annotations", carried)
        _attach_after_last(metadata, carried)
    spec = data.get("spec")
    if not isinstance(spec, CommentedMap):
        return
    if "type" in spec:
        spec["type"] = "ClusterIP"
    for key in LOAD_BALANCER_ONLY:
        if key in spec:
            _attach_after_last(spec, remove_key(spec, key))
    for port in spec.get("ports") or []:
        if isinstance(port, CommentedMap) and "nodePort" in port:
            _attach_after_last(port, remove_key(port, "nodePort"))


def remove_key(mapping: CommentedMap, key: Any, carried: str = "") -> str:
    """Delete `key`, keeping the comment lines that followed its value (they describe what
    comes next): they move to the entry before it. Returns what found no entry to go to."""
    keys = list(mapping)
    position = keys.index(key)
    lines = _full_line_comments(_trailing_comment(mapping, key)) + carried
    del mapping[key]
    if not lines:
        return ""
    if position == 0:
        return lines
    _append_comment(mapping, keys[position - 1], lines)
    return ""


def _attach_after_last(mapping: CommentedMap, lines: str) -> None:
    if lines and len(mapping):
        _append_comment(mapping, list(mapping)[-1], lines)


def _trailing_comment(container: Any, key: Any) -> str:
    """The text of the comment token after the value at `key` (deepest last element)."""
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value):
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _trailing_comment(value, last)
    tokens = container.ca.items.get(key)
    index = 2 if isinstance(container, CommentedMap) else 0
    token = tokens[index] if tokens and len(tokens) > index else None
    return str(token.value) if token is not None else ""


def _full_line_comments(text: str) -> str:
    """Drop the end-of-line comment (it belonged to the deleted line); keep the lines after."""
    newline = text.find("\n")
    rest = text[newline + 1 :] if newline >= 0 else ""
    return "".join(line for line in rest.splitlines(keepends=True) if line.strip())


def _append_comment(container: Any, key: Any, lines: str) -> None:
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value):
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        _append_comment(value, last, lines)
        return
    index = 2 if isinstance(container, CommentedMap) else 0
    tokens = container.ca.items.setdefault(key, [None] * (4 if index == 2 else 2))
    token = tokens[index]
    if token is None:
        tokens[index] = CommentToken("\n" + lines, CommentMark(0), None)
    else:
        token.value = str(token.value) + lines


def metallb_annotations(body: Mapping[str, Any]) -> list[str]:
    """The LAN load balancer's annotations (MetalLB, Cilium LB-IPAM)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return [k for k in annotations if str(k).startswith(LAN_LB_PREFIXES)]


def render(objects: list[dict[str, Any]], header: Iterable[str], style_sample: str) -> str:
    """A new manifest file: a header comment, then the objects as YAML documents."""
    yaml = make_yaml(style_sample)
    parts = [dump(_commented(obj), yaml) for obj in objects]
    head = "".join(f"# {line}\n" for line in header)
    return head + "---\n".join(parts)


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _commented(v)
        return out
    if isinstance(value, list):
        return CommentedSeq(_commented(v) for v in value)
    return value


def replace_hosts(text: str, hosts: Mapping[str, str]) -> str:
    """Point `href:` URLs whose host is a key of `hosts` at `https://<new host>` (a tailnet
    Ingress serves HTTPS on 443 only, so scheme and port change too); other text stays."""

    def swap(match: re.Match[str]) -> str:
        new = hosts.get(match.group("host").lower())
        return f"{match.group('lead')}https://{new}" if new else match.group(0)

    return _HREF.sub(swap, text)


_HREF = re.compile(  # a host may hold Flux substitutions: `grafana.${SECRET_DOMAIN}`
    r"(?m)^(?P<lead>\s*-?\s*href:\s*[\"']?)https?://(?P<host>(?:[A-Za-z0-9.-]|"
    + FLUX_VARIABLE
    + r")+)(?::\d+)?(?=[/\"'\s#?]|$)"
)
