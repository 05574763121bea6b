"""The structure of Kubernetes objects as composed YAML nodes: mis-indented top-level fields, and
strict schema validation with the schemas bundled in `kubernetes-validate` (validators cached)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# jsonschema ships no type information (no py.typed); referencing does.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

SCHEMA_PACKAGE = "kubernetes_validate"
SCHEMA_FOLDER = "kubernetes-json-schema"
STRICT_SUFFIX = "-local-strict"
DEFINITIONS_FILE = "_definitions.json"
MESSAGE_LIMIT = 200  # jsonschema quotes whole instances; keep a notice readable
YAML_TAG = "tag:yaml.org,2002:"
GROUP_OF_API_VERSION = re.compile(r"^([^./]*)(?:\.[^/]*)?/")

# Scalars typed the way the API server's YAML decoder types them; everything else (timestamps
# included: the API server sees them as strings) stays a string.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_BUILDERS: dict[str, Any] = {
    YAML_TAG + "int": _CONSTRUCTOR.construct_yaml_int,
    YAML_TAG + "float": _CONSTRUCTOR.construct_yaml_float,
    YAML_TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
    YAML_TAG + "null": _CONSTRUCTOR.construct_yaml_null,
}

# Fields that live at the top of a Kubernetes object: found under `metadata` they are mis-indented.
TOP_LEVEL_FIELDS = frozenset(
    "spec status data stringData binaryData type immutable rules subjects roleRef webhooks "  # noqa: SIM905 - a word list reads better than 14 lines
    "secrets imagePullSecrets template".split()
)
# The fields of ObjectMeta: anything else found under `metadata` is misplaced too.
META_FIELDS = frozenset(
    "name namespace labels annotations generateName uid resourceVersion generation "  # noqa: SIM905 - as above
    "creationTimestamp deletionTimestamp deletionGracePeriodSeconds ownerReferences finalizers "
    "managedFields selfLink".split()
)
SHALLOW_CANDIDATES = ("name", "namespace", "labels", "annotations")

PathKey = str | int


def to_data(node: yaml.Node) -> Any:
    """Plain Python data of a composed node (what a loader would give, timestamps kept as text)."""
    if isinstance(node, yaml.MappingNode):
        data: dict[Any, Any] = {}
        for key, value in node.value:
            if key.tag == YAML_TAG + "merge":
                merged = to_data(value)
                data.update({k: v for k, v in merged.items() if k not in data} if merged else {})
            else:
                data[_key_of(key)] = to_data(value)
        return data
    if isinstance(node, yaml.SequenceNode):
        return [to_data(item) for item in node.value]
    build = _SCALAR_BUILDERS.get(node.tag)
    return build(node) if build else str(node.value)


def find_node(node: yaml.Node, path: Sequence[PathKey]) -> yaml.Node:
    """The deepest node along `path` (the node itself when the path leaves the tree early)."""
    for step in path:
        found = _entry(node, step)
        if found is None:
            return node
        node = found[1]
    return node


def line_at(node: yaml.Node, path: Sequence[PathKey]) -> int:
    """1-based line of the deepest entry along `path`: its key's line for a mapping entry (so a
    missing `spec.ports` points at `spec:`), its own line for a list item."""
    line = line_of(node)
    for step in path:
        found = _entry(node, step)
        if found is None:
            break
        line, node = line_of(found[0]), found[1]
    return line


def find_key(node: yaml.Node, key: PathKey) -> yaml.Node | None:
    """The key node of `key` in a mapping node (where a misplaced key is written)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if _key_of(key_node) == key:
                found: yaml.Node = key_node
                return found
    return None


def line_of(node: yaml.Node) -> int:
    """1-based line where a node starts."""
    return int(node.start_mark.line) + 1


def dotted(path: Sequence[PathKey]) -> str:
    """`spec.ports[0].port`; keys with dots or slashes are bracketed (annotation keys)."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(step)):
            out += f".{step}" if out else str(step)
        else:
            out += f'["{step}"]'
    return out


def find_misplaced_field(node: yaml.MappingNode, kind: str, path: str) -> tuple[int, str] | None:
    """(line, message) for `spec:` (or another top-level field) nested under `metadata` or its
    labels/annotations, or for `name:` beside an empty `metadata:`. The rule is structural, so it
    holds for custom resources too."""
    meta = _child(node, "metadata")
    if not isinstance(meta, yaml.MappingNode):
        return _shallow_metadata(node, kind, path) if meta is not None else None
    for holder, where in _metadata_holders(meta):
        for key_node, value_node in holder.value:
            nested = not isinstance(value_node, yaml.ScalarNode) or not value_node.value
            if key_node.value in TOP_LEVEL_FIELDS and (where == "metadata" or nested):
                return _deep_field(key_node, where, meta, kind, path)
    return None


def has_schema(api_version: str, kind: str) -> bool:
    """Whether a bundled schema exists for this kind (built-in kinds only; CRDs have none)."""
    return find_validator(api_version, kind) is not None


def iter_schema_problems(node: yaml.Node, data: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(line, message) for every strict-schema violation of one object; none for unknown kinds."""
    validator = find_validator(str(data.get("apiVersion")), str(data.get("kind")))
    if validator is None:
        return
    for error in validator.iter_errors(data):
        yield from _describe(node, data, error)


@cache
def find_validator(api_version: str, kind: str) -> Any:
    """The cached strict validator of a built-in kind, or None when none is bundled."""
    group, _, version = api_version.rpartition("/")
    prefix = GROUP_OF_API_VERSION.sub(r"\1-", api_version)
    schema_file = _schema_dir() / f"{kind.lower()}-{prefix}.json"
    if not schema_file.is_file():
        return None
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    wanted = {"group": group, "version": version, "kind": kind}
    if wanted not in schema.get("x-kubernetes-group-version-kind", []):
        return None  # e.g. a CRD whose group merely starts like a built-in one
    return Draft202012Validator(schema, registry=_registry())


@lru_cache(maxsize=1)
def _schema_dir() -> Path:
    """The strict schemas of the newest Kubernetes version the package bundles."""
    root = Path(str(resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER)))
    strict = [d for d in root.iterdir() if d.name.endswith(STRICT_SUFFIX)]
    return max(strict, key=lambda d: tuple(int(p) for p in d.name[1:].split("-")[0].split(".")))


@lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    """The shared definitions every kind's schema refers to (1.8 MB: load once)."""
    contents = json.loads((_schema_dir() / DEFINITIONS_FILE).read_text(encoding="utf-8"))
    resource: Resource[Any] = Resource.from_contents(contents)
    return resource @ Registry()


def _metadata_holders(meta: yaml.MappingNode) -> Iterator[tuple[yaml.MappingNode, str]]:
    yield meta, "metadata"
    for key_node, value_node in meta.value:
        if key_node.value in ("labels", "annotations") and isinstance(value_node, yaml.MappingNode):
            yield value_node, f"metadata.{key_node.value}"


def _deep_field(
    key: yaml.Node, where: str, meta: yaml.MappingNode, kind: str, path: str
) -> tuple[int, str]:
    line = line_of(key)
    others = [k.value for k, _ in meta.value if k is not key and k.value not in META_FIELDS]
    also = f"; `{'`, `'.join(others)}` also sit under `metadata`" if others else ""
    message = (
        f"check the indentation of `{key.value}` in {path} line {line}: it is nested "
        f"under `{where}`, it belongs at the top level of the {kind}{also}"
    )
    return line, message


def _shallow_metadata(node: yaml.MappingNode, kind: str, path: str) -> tuple[int, str] | None:
    for key in SHALLOW_CANDIDATES:
        key_node = find_key(node, key)
        if key_node is not None:
            line = line_of(key_node)
            message = (
                f"check the indentation of `{key}` in {path} line {line}: it is at the top "
                f"level of the {kind}, it belongs under `metadata`"
            )
            return line, message
    return None


def _describe(node: yaml.Node, data: dict[str, Any], error: Any) -> Iterator[tuple[int, str]]:
    path: list[PathKey] = list(error.absolute_path)
    owner = f"{data.get('kind')} ({data.get('apiVersion')})"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        parent = find_node(node, path)
        for extra in sorted((k for k in error.instance if k not in known), key=str):
            key_node = find_key(parent, extra) or parent
            where = dotted([*path, extra])
            yield (
                line_of(key_node),
                (f"`{where}` is not a field of {owner}: remove it, or check its indentation"),
            )
        return
    message = str(error.message)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "…"
    yield line_at(node, path), f"`{dotted(path) or '(document)'}`: {message}"


def _child(node: yaml.Node, step: PathKey) -> yaml.Node | None:
    found = _entry(node, step)
    return None if found is None else found[1]


def _entry(node: yaml.Node, step: PathKey) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node or item node, value node) of one step into a mapping or a list."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if _key_of(key_node) == step:
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step], node.value[step]
    return None


def _key_of(node: yaml.Node) -> Any:
    value = to_data(node) if isinstance(node, yaml.ScalarNode) else str(node.value)
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
