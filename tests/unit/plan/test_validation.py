"""The plan's `validate` line lists exactly the live checks this config runs, and says which
are skipped and why: `kubernetes.enabled: false`, no Flux Kustomizations, reachability off;
the tailnet device always says it needs credentials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingress2tailscale.config import load_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from tests.conftest import FIXTURE_REPO, write_config

TAILNET = "magellanic-gondola.ts.net"
KUBERNETES = "kubernetes:\n  operator: {namespace: tailscale, deployment: operator}\n"
FLUX = "    kustomizations: [infrastructure-instances, apps]\n"
DISABLED = "kubernetes: {enabled: false}\n"


def validate_line(tmp_path: Path, name: str, edit: Callable[[str], str] = lambda t: t) -> str:
    config = load_config(write_config(tmp_path, FIXTURE_REPO, edit, cluster=True))
    plan = plan_slice(config, RepoTree(FIXTURE_REPO), name, "all").plan
    (step,) = [s for s in plan.steps if s.name == "validate"]
    assert step.action == "none"
    return step.reason


def test_the_example_config_runs_every_check(tmp_path: Path) -> None:
    assert validate_line(tmp_path, "db") == (
        "after phase 1: Flux infrastructure-instances, apps Ready at the pushed revision; "
        f"Service tazlab-db/tazlab-db-tailnet status has tazlab-db.{TAILNET}; "
        "TailscaleProxyReady True; proxy Secret has device_fqdn; no Warning events; "
        "tailnet device tazlab-db tagged tag:k8s (needs credentials); "
        "reachability (optional): DNS, TCP 5432. "
        "After phase 2: the same, and Service tazlab-db/tazlab-db-external no longer a LAN "
        "LoadBalancer (or gone)"
    )


def test_an_https_slice_checks_its_certificate_and_its_ingress_goes(tmp_path: Path) -> None:
    line = validate_line(tmp_path, "pgadmin")
    assert f"Ingress pgadmin/pgadmin-tailnet status has pgadmin.{TAILNET}" in line
    assert "proxy Secret has device_fqdn and https_endpoint" in line
    assert "TailscaleProxyReady" not in line  # an Ingress has no conditions
    assert "reachability (optional): DNS, HTTPS with a certificate for the name" in line
    assert line.endswith(
        "After phase 2: the same, and Ingress pgadmin/pgadmin gone from the cluster"
    )


def test_without_a_cluster_only_the_tailnet_and_reachability_are_listed(tmp_path: Path) -> None:
    line = validate_line(tmp_path, "db", lambda t: t.replace(KUBERNETES, DISABLED))
    assert line == (
        "after phase 1: tailnet device tazlab-db tagged tag:k8s (needs credentials); "
        "reachability (optional): DNS, TCP 5432. After phase 2: the same. "
        "Skipped: Flux and cluster: kubernetes.enabled is false (no cluster to check)"
    )


def test_without_a_kubernetes_section_the_default_cluster_is_checked(tmp_path: Path) -> None:
    assert validate_line(tmp_path, "db", lambda t: t.replace(KUBERNETES, "")) == validate_line(
        tmp_path, "db"
    )


def test_without_flux_kustomizations_flux_is_skipped_and_the_cluster_still_checked(
    tmp_path: Path,
) -> None:
    line = validate_line(tmp_path, "db", lambda t: t.replace(FLUX, ""))
    assert "Flux infrastructure-instances" not in line
    assert line.startswith("after phase 1: Service tazlab-db/tazlab-db-tailnet status has")
    assert line.endswith(
        "Skipped: Flux: no gitops.flux.kustomizations in the config (nothing to wait for)"
    )


@pytest.mark.parametrize("mode", ["off", "'off'"])
def test_reachability_off_is_skipped_and_said(tmp_path: Path, mode: str) -> None:
    line = validate_line(tmp_path, "db", lambda t: t + f"validate:\n  reachability: {mode}\n")
    assert "DNS" not in line and "TCP" not in line
    assert line.endswith("Skipped: reachability: validate.reachability is off")


def test_required_reachability_is_said(tmp_path: Path) -> None:
    line = validate_line(tmp_path, "db", lambda t: t + "validate:\n  reachability: required\n")
    assert "reachability (required): DNS, TCP 5432" in line
