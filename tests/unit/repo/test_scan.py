"""The cheap scan: documents split on `---`, identities read by anchored regexes, and the YAML
walk only where the regexes cannot be sure."""

from __future__ import annotations

import pytest

from ingress2tailscale.repo.scan import PROBLEM, forced_namespace, scan_idents, split_documents

TWO_DOCS = """\
# a comment before the first separator
---
apiVersion: v1
kind: Service
metadata:
  name: web   # the app's Service
  namespace: team-a
---   # a separator with a comment
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: "web", namespace: 'team-a'}
"""


def _ids(text: str, path: str = "apps/web/all.yaml") -> list[tuple[str, str, str, str, int]]:
    return [(i[5], i[6], i[7], i[8], i[2]) for i in scan_idents(path, text)]


def test_documents_are_found_with_their_kind_name_namespace_and_first_line() -> None:
    assert _ids(TWO_DOCS) == [
        ("Service", "v1", "web", "team-a", 3),
        ("Ingress", "networking.k8s.io/v1", "web", "team-a", 9),
    ]


def test_document_spans_cover_the_text_between_separators() -> None:
    spans = list(split_documents(TWO_DOCS))
    assert [TWO_DOCS[s:e].splitlines()[0] for s, e, _ in spans] == [
        "# a comment before the first separator",
        "apiVersion: v1",
        "apiVersion: networking.k8s.io/v1",
    ]
    assert [line for _, _, line in spans] == [1, 3, 9]


def test_a_comment_only_document_is_not_a_resource() -> None:
    text = "# nothing here\n---\n# nor here\n"
    assert _ids(text) == []


def test_names_the_regexes_cannot_be_sure_of_are_read_by_parsing() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &n cfg\n  labels: {app: *n}\n"
    assert _ids(text) == [("ConfigMap", "v1", "cfg", "", 1)]


def test_a_document_that_is_not_yaml_is_a_problem_row_naming_its_line_not_an_error() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\nkind: [Secret\n"
    rows = scan_idents("apps/bad.yaml", text)
    assert [(r[5], r[7]) for r in rows if r[5] != PROBLEM] == [("ConfigMap", "ok")]
    problems = [r for r in rows if r[5] == PROBLEM]
    assert len(problems) == 1 and problems[0][6] == "warning"
    assert "line 5, column" in problems[0][7] and "left out of the scan" in problems[0][7]


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("apps/web/kustomization.yaml", "namespace: team-b\nresources: [a.yaml]\n", "team-b"),
        ("apps/web/kustomization.yaml", 'namespace: "team-c"  # forced\n', "team-c"),
        ("apps/web/kustomization.yaml", "resources: [a.yaml]\n", ""),
        ("apps/web/deployment.yaml", "namespace: not-a-kustomization\n", ""),
    ],
)
def test_only_a_kustomization_file_forces_a_namespace(path: str, text: str, expected: str) -> None:
    assert forced_namespace(path, text) == expected
