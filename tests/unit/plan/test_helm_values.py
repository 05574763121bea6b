"""Exposures inside HelmRelease values: discover proposes the internal ones and says why it
leaves out the others; a slice naming what only values render is told how to name the release
(the fixture is tests/fixtures/homelab-k8s)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.conftest import HOMELAB_REPO


def homelab_config(tmp_path: Path, slices: str) -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"tailnet: tail1a2b3c.ts.net\ngitops:\n  path: {HOMELAB_REPO}\nslices:\n"
        + textwrap.indent(textwrap.dedent(slices), "  "),
        encoding="utf-8",
    )
    return path


def test_discover_proposes_internal_values_exposures_and_says_why_it_leaves_out_others() -> None:
    proposal = propose_config(read_inventory(HOMELAB_REPO))
    proposed = {
        (s.name, s.candidate.source.ref.name, s.candidate.expose, s.candidate.values_entry)
        for s in proposal.slices
        if s.candidate.source.kind == "HelmRelease"
    }
    assert proposed == {
        ("postgres", "postgres", "tcp", ("service", "app")),
        ("mosquitto", "mosquitto", "tcp", ("service", "app")),
        ("echo", "echo-internal", "https", ("ingress", "main")),
        ("hass", "home-assistant", "https", ("ingress", "app")),
        ("home", "homepage", "https", ("ingress", "app")),
        ("radarr", "radarr", "https", ("ingress", "app")),
        ("sonarr", "sonarr", "https", ("ingress", "app")),
        ("grafana", "grafana", "https", ("ingress", "ingress")),
    }
    reasons = {(x.document.ref, x.reason) for x in proposal.left_out}
    traefik = [r for ref, r in reasons if ref == ResourceRef("HelmRelease", "network", "traefik")]
    assert traefik == ["the ingress controller's own LoadBalancer (service at values.service)"]
    blog = [r for ref, r in reasons if ref == ResourceRef("HelmRelease", "default", "blog")]
    assert blog and blog[0].startswith("public: no forward-auth middleware")
    jellyfin = [r for ref, r in reasons if ref == ResourceRef("HelmRelease", "media", "jellyfin")]
    assert jellyfin == ["already on the tailnet (ingress at values.ingress.app, host jellyfin)"]
    uptime = [r for ref, r in reasons if ref.name == "uptime-kuma"]
    assert uptime and "ConfigMap observability/uptime-kuma-values values.yaml" in uptime[0]
    assert "valuesFrom" in uptime[0] and "move it by hand" in uptime[0]


def test_a_slice_from_an_object_of_helmrelease_values_is_an_error_saying_so(
    tmp_path: Path,
) -> None:
    config = load_config(
        homelab_config(
            tmp_path,
            """\
            radarr:
              expose: https
              from: {kind: Ingress, namespace: media, name: radarr}
            """,
        )
    )
    plan = plan_slice(config, RepoTree(HOMELAB_REPO), "radarr").plan
    [error] = [n for n in plan.notices if n.level == "error"]
    assert "Ingress media/radarr is not a manifest in the GitOps repo" in error.message
    assert (
        "values of HelmRelease media/radarr (kubernetes/apps/media/radarr/app/helmrelease.yaml:2"
        in (error.message)
    )
    assert (
        "Point `from` at the release: {kind: HelmRelease, namespace: media, name: radarr, "
        "ingress: app}" in error.message
    )
    assert "is not in the GitOps repo" not in error.message


def test_a_homepage_deployed_by_a_helmrelease_is_an_error_saying_what_to_do(
    tmp_path: Path,
) -> None:
    config = load_config(
        homelab_config(
            tmp_path,
            """\
            links:
              consumers:
                homepage: {namespace: home, configmap: homepage-config, deployment: homepage}
            """,
        )
    )
    plan = plan_slice(config, RepoTree(HOMELAB_REPO), "links").plan
    [error] = [n for n in plan.notices if n.level == "error"]
    assert "homepage is deployed by HelmRelease home/homepage" in error.message
    assert "by hand" in error.message
