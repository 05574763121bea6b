"""Manifests' YAML read as Flux reads it: libyaml first (fast), with the two YAML 1.1 habits of
PyYAML that Flux's parser does not share taken out — `=` is a plain string, not the `value`
tag, and an anchor defined twice is legal (the last definition wins for the aliases after it)."""

from __future__ import annotations

import re
from typing import Any

import yaml

VALUE_TAG = "tag:yaml.org,2002:value"


def _without_value_tag(
    resolvers: dict[str, list[tuple[str, Any]]],
) -> dict[str, list[tuple[str, Any]]]:
    return {first: [r for r in rs if r[0] != VALUE_TAG] for first, rs in resolvers.items()}


class FastLoader(yaml.CSafeLoader):
    """libyaml's safe loader, where `=` is a string."""

    yaml_implicit_resolvers = _without_value_tag(yaml.CSafeLoader.yaml_implicit_resolvers)


class TolerantLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader where an anchor may be defined again (YAML 1.2 allows
    it) and `=` is a string; slower, so only for what libyaml refused."""

    yaml_implicit_resolvers = _without_value_tag(yaml.SafeLoader.yaml_implicit_resolvers)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML is untyped here
        anchor = getattr(event, "anchor", None)
        if anchor is not None and not isinstance(event, yaml.AliasEvent):
            self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


DUPLICATE_ANCHOR_NOTE = (
    "an anchor is defined twice in one document: read the way YAML 1.2 and Flux read it "
    "(each alias names the last definition before it)"
)
VALUE_NOTE = "`=` is read as the string '=' (YAML 1.2, as Flux reads it), not YAML 1.1's value tag"
_VALUE = re.compile(r"^[ \t-]*[^#\n]*:[ \t]+=[ \t]*(?:#.*)?$", re.M)


def load_manifest(text: str) -> Any:
    """One YAML document as Flux would read it; raises the libyaml error when it is not YAML."""
    return read_manifest(text)[0]


def read_manifest(text: str) -> tuple[Any, str | None]:
    """The document, and a note when it holds what PyYAML alone would refuse."""
    try:
        data = yaml.load(text, Loader=FastLoader)
    except yaml.composer.ComposerError as exc:
        if "duplicate anchor" not in str(exc):
            raise
        try:
            return yaml.load(text, Loader=TolerantLoader), DUPLICATE_ANCHOR_NOTE
        except yaml.YAMLError:
            raise exc from None
    return data, value_note(text)


def value_note(text: str) -> str | None:
    """The note for a plain `=` value (cheap: a substring test first)."""
    return VALUE_NOTE if ": =" in text and _VALUE.search(text) else None
