"""Editing one document of a manifest keeps every other byte: the other documents, comments,
quoting and key order, and the comments around the keys it deletes."""

from __future__ import annotations

from typing import Any

from ingress2tailscale.edit.manifests import (
    comment_out_document,
    edit_document,
    remove_document,
    strip_load_balancer,
)
from ingress2tailscale.model import Document
from ingress2tailscale.repo.inventory import scan_documents

FILE = """\
# Postgres, reachable from the LAN
apiVersion: v1
kind: Service
metadata:
  name: db-external
  annotations:
    metallb.io/loadBalancerIPs: "192.168.1.40"  # the LAN address
    example.com/owner: 'platform'
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  # the port clients use
  ports:
    - name: pg
      port: 5432
      nodePort: 30432
  selector: {app: db}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings   # keep me
data:
  mode: "fast"
"""


def _doc(text: str, kind: str) -> Document:
    return next(d for d in scan_documents("db.yaml", text, None) if d.kind == kind)


def test_an_edit_leaves_the_other_documents_byte_identical() -> None:
    def relabel(data: Any) -> None:
        data["metadata"]["labels"] = {"tier": "db"}

    after = edit_document(FILE, _doc(FILE, "Service"), relabel)
    before_cm = FILE[FILE.index("---") :]
    assert after.endswith(before_cm)
    assert "  labels:\n    tier: db\n" in after
    assert '"192.168.1.40"  # the LAN address' in after and "'platform'" in after


def test_load_balancer_to_cluster_ip_keeps_comments_and_other_annotations() -> None:
    after = edit_document(FILE, _doc(FILE, "Service"), strip_load_balancer)
    service = after[: after.index("---")]
    assert "metallb.io" not in service
    assert "example.com/owner: 'platform'" in service
    assert "type: ClusterIP" in service
    for gone in ("externalTrafficPolicy", "nodePort"):
        assert gone not in service
    assert "# the port clients use\n  ports:" in service
    assert service.startswith("# Postgres, reachable from the LAN\n")


def test_removing_a_document_keeps_the_rest_and_one_separator() -> None:
    after = remove_document(FILE, _doc(FILE, "Service"))
    assert after is not None
    assert after == FILE[FILE.index("---\n") + 4 :]


def test_removing_the_last_document_of_a_file_leaves_nothing() -> None:
    single = FILE[: FILE.index("---")]
    assert remove_document(single, _doc(single, "Service")) is None


def test_commenting_out_keeps_the_document_under_a_note() -> None:
    after = comment_out_document(FILE, _doc(FILE, "ConfigMap"), ["retired by the migration"])
    tail = after[after.index("---") :]
    assert tail.startswith("---\n# retired by the migration\n# apiVersion: v1\n")
    assert "#   name: settings   # keep me\n" in tail
    assert after[: after.index("---")] == FILE[: FILE.index("---")]
