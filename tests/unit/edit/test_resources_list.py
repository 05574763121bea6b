"""The text splice of a kustomization's `resources` writes what the ruamel.yaml round trip
writes, byte for byte, for every shape it accepts; the shapes it declines go to the round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.generate import generate_repo
from ingress2tailscale.edit import resources_list
from ingress2tailscale.edit.manifests import (
    add_resource,
    add_resource_by_round_trip,
    indents_sequences,
    remove_resource,
    remove_resource_by_round_trip,
)
from ingress2tailscale.model import Document
from ingress2tailscale.repo.inventory import split_documents

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

PLAIN = [
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    "  - deployment.yaml\n  - service.yaml\n",
    "# app, owned by team-01.\n# second line\napiVersion: kustomize.config.k8s.io/v1beta1\n"
    "kind: Kustomization\nnamespace: team-01\nresources:\n- a.yaml\n- b.yaml",
    "resources:\n  - ./a.yaml\n  - ./b\nnamespace: x\n",
    "resources:\n  - ./a.yaml\n  - b.yaml\ncomponents:\n  - ../c\n",
    "kind: Kustomization\nresources:\n  - only.yaml\n",
]
DECLINED = [
    "resources:\n  - a.yaml  # the app\n  - b.yaml\n",  # an end-of-line comment
    "resources:\n  - a.yaml\n\n  - b.yaml\n",  # a blank line
    "resources: [a.yaml, b.yaml]\n",  # flow style
    "resources:\n  - 'a.yaml'\n",  # quoted
    "resources:\n    - a.yaml\n",  # deeper than make_yaml writes
    "resources:\n- a.yaml\nnamespace: x\n# a comment after the keys\n",
    "resources:\n  - a.yaml\nlabels:\n  - pairs:\n      app: x\n",  # nested
    "resources:\n  - true\n",  # not a string
    "namespace:  x\nresources:\n  - a.yaml\n",  # two spaces
    "resources:\n  - a.yaml \n",  # trailing space
]
ENTRIES = ["tailnet-ingress.yaml", "a.yaml", "./b", "deployment.yaml", "only.yaml", "ingress.yaml"]


def _first_document(text: str) -> Document:
    for start, end, line in split_documents(text):
        if text[start:end].strip():
            chunk = text[start:end]
            return Document(
                "kustomization.yaml", 0, line, start, end, "Kustomization", "", "", "", chunk
            )
    raise AssertionError("no document")


def _kustomizations(tmp_path: Path) -> list[str]:
    repo = tmp_path / "repo"
    generate_repo(repo, 30)
    found = [*repo.rglob("kustomization.yaml"), *FIXTURES.rglob("kustomization.yaml")]
    return [p.read_text(encoding="utf-8") for p in sorted(found)]


def _same_as_round_trip(text: str) -> int:
    """Compares both ways for every entry; returns how many edits took the splice."""
    doc = _first_document(text)
    chunk = text[doc.start : doc.end]
    spliced = 0
    for entry in ENTRIES:
        assert add_resource(text, doc, entry) == add_resource_by_round_trip(text, doc, entry)
        assert remove_resource(text, doc, entry) == remove_resource_by_round_trip(text, doc, entry)
        indents = indents_sequences(chunk)
        spliced += resources_list.add_entry(chunk, entry, indents) is not None
        spliced += resources_list.remove_entry(chunk, entry, indents) is not None
    return spliced


@pytest.mark.parametrize("text", PLAIN)
def test_plain_shapes_are_spliced_as_the_round_trip_writes(text: str) -> None:
    assert _same_as_round_trip(text) == 2 * len(ENTRIES) - ("only.yaml" in text)


@pytest.mark.parametrize("text", DECLINED)
def test_other_shapes_go_to_the_round_trip(text: str) -> None:
    assert _same_as_round_trip(text) == 0


def test_every_kustomization_of_the_fixtures_and_the_bench_repo(tmp_path: Path) -> None:
    texts = _kustomizations(tmp_path)
    spliced = sum(_same_as_round_trip(t) for t in texts)
    assert len(texts) > 30 and spliced > 30 * len(ENTRIES)


def test_a_missing_list_is_added_by_the_round_trip() -> None:
    text = "namespace: x\n"
    assert resources_list.add_entry(text, "a.yaml", True) is None
    assert add_resource(text, _first_document(text), "a.yaml") == text + "resources:\n  - a.yaml\n"
    assert remove_resource(text, _first_document(text), "a.yaml") == text


def test_the_last_entry_is_left_to_the_round_trip() -> None:
    text = "resources:\n  - only.yaml\n"
    assert resources_list.remove_entry(text, "only.yaml", True) is None
    assert remove_resource(text, _first_document(text), "only.yaml") == "resources: []\n"
