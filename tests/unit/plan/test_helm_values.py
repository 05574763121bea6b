"""Exposures inside HelmRelease values: discover proposes the internal ones and says why it
leaves out the others; a slice naming what only values render is told how to name the release
(the fixture is tests/fixtures/homelab-k8s)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ingress2tailscale.config import load_config
from ingress2tailscale.errors import ConfigError
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


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{kind: HelmRelease, namespace: media, name: sonarr}", "names one entry of its values"),
        (
            "{kind: HelmRelease, namespace: media, name: sonarr, ingress: app, service: app}",
            "names one entry of its values",
        ),
        ("{kind: Ingress, namespace: media, name: sonarr, ingress: app}", "kind is Ingress"),
    ],
)
def test_a_release_source_names_exactly_one_entry(
    tmp_path: Path, source: str, fragment: str
) -> None:
    path = homelab_config(tmp_path, f"sonarr: {{expose: https, from: {source}}}\n")
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_config(path)
    assert "slices.sonarr" in str(caught.value)


def test_tcp_needs_a_service_entry_and_https_an_ingress_entry(tmp_path: Path) -> None:
    path = homelab_config(
        tmp_path,
        "pg: {expose: tcp, from: {kind: HelmRelease, namespace: database, name: postgres, "
        "ingress: app}}\n",
    )
    with pytest.raises(ConfigError, match=r"from\.service"):
        load_config(path)


def plan_errors(tmp_path: Path, slices: str) -> list[str]:
    config = load_config(homelab_config(tmp_path, slices))
    name = next(iter(config.slices))
    plan = plan_slice(config, RepoTree(HOMELAB_REPO), name).plan
    return [n.message for n in plan.notices if n.level == "error"]


def test_values_from_a_configmap_are_an_error_saying_to_move_it_by_hand(tmp_path: Path) -> None:
    [error] = plan_errors(
        tmp_path,
        """\
        uptime:
          expose: https
          from: {kind: HelmRelease, namespace: observability, name: uptime-kuma, ingress: main}
        """,
    )
    assert "takes values from ConfigMap uptime-kuma-values (valuesFrom)" in error
    assert "move the ingress by hand" in error


def test_an_entry_that_is_not_there_is_an_error_listing_the_entries(tmp_path: Path) -> None:
    [error] = plan_errors(
        tmp_path,
        """\
        sonarr:
          expose: https
          from: {kind: HelmRelease, namespace: media, name: sonarr, ingress: web}
          accept_auth_change: true
        """,
    )
    assert "has no ingress entry 'web' in its values (values.ingress entries: app)" in error


def test_a_chart_whose_service_name_is_not_certain_needs_a_backend(tmp_path: Path) -> None:
    """authentik's chart keeps its ingress under `server`, which targets
    a component's Service: only a top-level block's is certain, so `backend` is asked for."""
    [error] = plan_errors(
        tmp_path,
        """\
        auth:
          expose: https
          from: {kind: HelmRelease, namespace: network, name: authentik, ingress: server.ingress}
        """,
    )
    assert "is not certain" in error and "set slices.auth.backend" in error
    config = load_config(
        homelab_config(
            tmp_path,
            """\
            auth:
              expose: https
              from:
                {kind: HelmRelease, namespace: network, name: authentik, ingress: server.ingress}
              backend: {service: authentik-server, port: 80}
            """,
        )
    )
    plan = plan_slice(config, RepoTree(HOMELAB_REPO), "auth").plan
    assert not plan.has_errors, plan.notices
    [new] = [c for c in plan.file_changes if c.op == "create"]
    assert "name: authentik-server" in (new.after or "")
    [release] = [c for c in plan.file_changes if c.path.endswith("authentik/app/helmrelease.yaml")]
    assert "-        enabled: true\n+        enabled: false" in release.diff
