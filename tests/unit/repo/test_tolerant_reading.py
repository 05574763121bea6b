"""Tolerant reading: files PyYAML alone would refuse, and Helm charts, never stop discover or a
plan; each is said once, as a notice naming the file (and line)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from ingress2tailscale.config import load_config
from ingress2tailscale.errors import InventoryError
from ingress2tailscale.manifest_yaml import load_manifest
from ingress2tailscale.model import Notice, ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import plan_slices
from ingress2tailscale.plan.proposal import render_proposal
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.conftest import FIXTURE_REPO, HOMELAB_REPO, write_config

CHART_TEMPLATE = """\
{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mychart.fullname" . }}
{{- end }}
"""

DUPLICATE_ANCHOR = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: radarr
  namespace: media
spec:
  values:
    controllers:
      app:
        resources: &resources
          limits: {memory: 1Gi}
    sidecar:
      resources: &resources
        limits: {memory: 128Mi}
      again: *resources
"""

VALUE_TAG = """\
apiVersion: monitoring.coreos.com/v1alpha1
kind: AlertmanagerConfig
metadata:
  name: homelab
  namespace: monitoring
spec:
  route:
    matchers:
      - name: severity
        matchType: =
        value: critical
"""

FILES = {
    "charts/mychart/Chart.yaml": "apiVersion: v2\nname: mychart\nversion: 0.1.0\n",
    "charts/mychart/values.yaml": "enabled: true\n",
    "charts/mychart/templates/deployment.yaml": CHART_TEMPLATE,
    "apps/monitoring/radarr.yaml": DUPLICATE_ANCHOR,
    "apps/monitoring/alertmanagerconfig.yaml": VALUE_TAG,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The seed's repo with a Helm chart folder and the two files PyYAML refuses."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, root)
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def by_file(notices: list[Notice] | tuple[Notice, ...]) -> dict[str, list[Notice]]:
    found: dict[str, list[Notice]] = {}
    for notice in notices:
        found.setdefault(notice.subject, []).append(notice)
    return found


def test_manifests_are_read_as_yaml_1_2_the_way_flux_reads_them() -> None:
    body = load_manifest(DUPLICATE_ANCHOR)
    sidecar = body["spec"]["values"]["sidecar"]
    assert sidecar["again"] == {"limits": {"memory": "128Mi"}}  # the last anchor wins
    assert load_manifest(VALUE_TAG)["spec"]["route"]["matchers"][0]["matchType"] == "="
    assert load_manifest("enabled: yes\n") == {"enabled": True}  # as sigs.k8s.io/yaml reads it


def test_each_unreadable_kind_is_one_notice_and_the_objects_are_still_there(repo: Path) -> None:
    inventory = read_inventory(repo)
    notices = by_file(inventory.reading_notices())
    assert set(notices) == {
        "charts/mychart/Chart.yaml",
        "apps/monitoring/radarr.yaml",
        "apps/monitoring/alertmanagerconfig.yaml",
    }
    assert all(len(found) == 1 for found in notices.values())
    assert "Helm chart" in notices["charts/mychart/Chart.yaml"][0].message
    assert "line 1: an anchor is defined twice" in notices["apps/monitoring/radarr.yaml"][0].message
    assert "`=`" in notices["apps/monitoring/alertmanagerconfig.yaml"][0].message
    # read (not listed in a kustomization, so Flux does not apply them: `copies`, not `get`)
    assert inventory.copies(ResourceRef("HelmRelease", "media", "radarr"))
    assert inventory.copies(ResourceRef("AlertmanagerConfig", "monitoring", "homelab"))
    assert not [d for d in inventory.documents if d.path.startswith("charts/")]


def test_discover_works_and_lists_what_it_could_not_read(repo: Path) -> None:
    proposal = propose_config(read_inventory(repo))
    assert len(proposal.slices) == len(propose_config(read_inventory(FIXTURE_REPO)).slices)
    text = render_proposal(proposal, str(repo), "t.ts.net")
    assert "# Note: charts/mychart/Chart.yaml: a Helm chart" in text
    assert "# Note: apps/monitoring/radarr.yaml: line 1: an anchor" in text


def test_the_plan_works_and_says_each_notice_once(repo: Path, tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, repo))
    plans = plan_slices(config, RepoTree(repo), config.slice_names())
    assert not any(p.has_errors for p in plans)
    said = [n for p in plans for n in p.notices if n.subject in FILES or "charts/" in n.subject]
    assert len(said) == 3
    assert all(n in plans[0].notices for n in said)


def test_a_manifest_that_is_not_yaml_is_a_warning_and_the_rest_is_read(tmp_path: Path) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: [x\ndata: {}\n"
    ok = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: x}\n"
    (tmp_path / "cm.yaml").write_text(f"{ok}---\n{broken}", encoding="utf-8")
    (tmp_path / "app.yml").write_text("a: [b\n", encoding="utf-8")  # no kind: an app's config
    inventory = read_inventory(tmp_path)
    [notice] = inventory.reading_notices()
    assert (notice.level, notice.subject) == ("warning", "cm.yaml")
    assert "line 8, column 5: not valid YAML" in notice.message
    assert [d.name for d in inventory.documents] == ["b"]


def test_a_body_that_cannot_be_parsed_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: apps
        spec:
          ports: [{port: 80}
        """)
    (tmp_path / "svc.yaml").write_text(text, encoding="utf-8")
    doc = read_inventory(tmp_path).find("Service", "apps", "web")
    assert doc is not None
    with pytest.raises(InventoryError, match=r"svc\.yaml: line 8, column 1: not valid YAML"):
        doc.body  # noqa: B018


def test_the_homelab_fixture_plans_with_its_three_unreadable_files_said_once(
    tmp_path: Path,
) -> None:
    """tests/fixtures/homelab-k8s holds a Helm chart, a HelmRelease with an anchor defined
    twice, and an AlertmanagerConfig with `matchType: =` (its FIXTURE.md says so)."""
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {HOMELAB_REPO}}}\nslices:\n"
        "  paperless: {expose: https, accept_auth_change: true,\n"
        "              from: {kind: IngressRoute, namespace: default, name: paperless}}\n"
        "  z2m: {expose: https, accept_auth_change: true,\n"
        "        from: {kind: IngressRoute, namespace: home, name: zigbee2mqtt}}\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    plans = plan_slices(config, RepoTree(HOMELAB_REPO), config.slice_names())
    assert not any(p.has_errors for p in plans)
    reading = {
        "kubernetes/charts/mychart/Chart.yaml",
        "kubernetes/apps/media/radarr/app/helmrelease.yaml",
        "kubernetes/apps/observability/alertmanager/app/alertmanagerconfig.yaml",
    }
    said = [n.subject for p in plans for n in p.notices if n.subject in reading]
    assert sorted(said) == sorted(reading)  # one each, all with the first slice
    assert {n.subject for n in plans[0].notices} >= reading
    proposal = propose_config(read_inventory(HOMELAB_REPO))
    assert sorted(n.subject for n in proposal.notes) == sorted(reading)
