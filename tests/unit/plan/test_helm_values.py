"""Exposures inside HelmRelease values: not migrated yet, but never silence — discover lists
them, and a slice naming one is told where it is (the fixture is tests/fixtures/homelab-k8s)."""

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


def test_discover_lists_values_exposures_as_left_out_and_tailnet_ones_as_already_there() -> None:
    proposal = propose_config(read_inventory(HOMELAB_REPO))
    reasons = {(x.document.ref, x.reason) for x in proposal.left_out}
    radarr = ResourceRef("HelmRelease", "media", "radarr")
    assert (
        radarr,
        "defined in HelmRelease values: not supported yet "
        "(ingress at values.ingress.app, host radarr.${SECRET_DOMAIN})",
    ) in reasons
    jellyfin = [r for ref, r in reasons if ref == ResourceRef("HelmRelease", "media", "jellyfin")]
    assert jellyfin == ["already on the tailnet (ingress at values.ingress.app, host jellyfin)"]
    uptime = [r for ref, r in reasons if ref.name == "uptime-kuma"]
    assert uptime and "ConfigMap observability/uptime-kuma-values values.yaml" in uptime[0]


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
    assert "does not support yet" in error.message
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
