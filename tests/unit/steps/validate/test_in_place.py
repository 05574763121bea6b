"""The live checks when everything is in place (a tcp and an https slice), and what is checked
without a cluster or without credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.kinds import RECONCILE_ANNOTATION
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.steps.validate import NO_CREDENTIALS, blocking
from tests.loopback import https_server
from tests.unit.steps.validate.support import (
    DB_CHECKS,
    DB_FQDN,
    FLUX_NS,
    KUSTOMIZATIONS,
    PGADMIN_FQDN,
    PROXY_AUTH_KEY,
    REVISION,
    by_name,
    db_config,
    make_config,
    resolve_lines,
    run_checks,
    seed_db,
    seed_flux,
    seed_pgadmin,
)

PGADMIN_CHECKS = [
    "flux infrastructure-instances",
    "flux apps",
    "tailnet status",
    "proxy secret",
    "warning events",
    "tailnet device",
    "dns",
    "https",
]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_a_provisioned_tcp_slice_passes_every_check(
    tmp_path: Path,
    emu: KubeEmulator,
    kube: KubeClient,
    tailnet: TailscaleClient,
    db_port: int,
) -> None:
    seed_flux(emu)
    seed_db(emu)
    checks = run_checks(db_config(tmp_path, emu, db_port), "db", kube, tailnet)
    assert [c.name for c in checks] == DB_CHECKS
    assert [c.status for c in checks] == ["pass"] * len(DB_CHECKS), checks
    found = by_name(checks)
    assert f"Applied revision: {REVISION}" in found["flux apps"].detail
    assert found["tailnet status"].detail.endswith(f"status.loadBalancer has {DB_FQDN}")
    assert "TailscaleProxyReady=True" in found["proxy ready"].detail
    assert found["tailnet device"].detail == f"{DB_FQDN} is on the tailnet, tagged tag:k8s"
    accepted = f"{DB_FQDN}:5432 accepted a connection at 127.0.0.1:{db_port}"
    assert found["tcp 5432"].detail == accepted
    assert all(c.seconds >= 0 for c in checks)
    assert all(PROXY_AUTH_KEY not in c.detail for c in checks)
    # Flux was asked to reconcile the source and every Kustomization
    asked = [("GitRepository", "flux-system")] + [("Kustomization", k) for k in KUSTOMIZATIONS]
    for kind, name in asked:
        annotations = (emu.get(kind, FLUX_NS, name) or {})["metadata"].get("annotations") or {}
        assert RECONCILE_ANNOTATION in annotations, (kind, name)


def test_a_provisioned_https_slice_passes_with_a_certificate_for_its_name(
    tmp_path: Path,
    emu: KubeEmulator,
    kube: KubeClient,
    tailnet: TailscaleClient,
    ca: trustme.CA,
) -> None:
    seed_flux(emu)
    seed_pgadmin(emu)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    with https_server(ca, PGADMIN_FQDN) as (port, hosts):
        validate = resolve_lines({PGADMIN_FQDN: {443: port}}) + "  ca_file: ca.pem\n"
        config = make_config(tmp_path, emu, validate=validate)
        checks = run_checks(config, "pgadmin", kube, tailnet)
    assert [c.name for c in checks] == PGADMIN_CHECKS
    assert [c.status for c in checks] == ["pass"] * len(PGADMIN_CHECKS), checks
    found = by_name(checks)
    assert f"https_endpoint {PGADMIN_FQDN}" in found["proxy secret"].detail
    assert found["https"].detail == (
        f"https://{PGADMIN_FQDN}/ answered 200 with a certificate valid for {PGADMIN_FQDN}"
    )
    assert hosts == [PGADMIN_FQDN]


def test_without_a_cluster_only_the_tailnet_and_reachability_are_checked(
    tmp_path: Path, tailnet: TailscaleClient, db_port: int
) -> None:
    checks = run_checks(db_config(tmp_path, None, db_port), "db", None, tailnet)
    assert [(c.name, c.status) for c in checks] == [
        ("tailnet device", "pass"),
        ("dns", "pass"),
        ("tcp 5432", "pass"),
    ]


def test_without_credentials_the_device_is_inconclusive_and_does_not_block(
    tmp_path: Path, db_port: int
) -> None:
    config = db_config(tmp_path, None, db_port, "  reachability: required\n")
    checks = run_checks(config, "db", None, None)
    device = by_name(checks)["tailnet device"]
    assert (device.status, device.detail) == ("inconclusive", NO_CREDENTIALS)
    assert blocking(checks, config) == []
