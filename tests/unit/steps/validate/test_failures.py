"""Each failed live check says why and blocks the slice (a `Case` table); the other checks of
its area still run; an Ingress proxy without HTTPS; a cluster that stops answering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.tailnet.emulator import TailnetState
from ingress2tailscale.steps.validate import blocking
from tests.unit.steps.validate.support import (
    API_KEY,
    DB_FQDN,
    OLD_REVISION,
    PROXY_AUTH_KEY,
    PROXY_CREATED,
    REVISION,
    SHA,
    TAILNET,
    by_name,
    db_config,
    flux_status,
    make_config,
    run_checks,
    seed_db,
    seed_flux,
    seed_pgadmin,
)


def event(kind: str, obj: str, namespace: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj}.{reason.lower()}", "namespace": namespace},
        "involvedObject": {"kind": kind, "name": obj, "namespace": namespace},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "lastTimestamp": "2026-12-01T10:00:00Z",
    }


@dataclass(frozen=True)
class Case:
    id: str
    seed: Callable[[KubeEmulator, TailnetState], None]
    failed: str  # the check that fails
    fragments: tuple[str, ...]  # in its detail
    not_run: tuple[str, ...] = ()  # later checks reported "not run"


def flux_failed(emu: KubeEmulator, state: TailnetState) -> None:
    message = "Service/tazlab-db/tazlab-db-tailnet dry-run failed: spec.ports: Required value"
    seed_flux(emu, flux_status("False", "ReconciliationFailed", message, REVISION))
    seed_db(emu)


def flux_stale(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu, flux_status("True", "ReconciliationSucceeded", "old", OLD_REVISION))
    seed_db(emu)


def no_source(emu: KubeEmulator, state: TailnetState) -> None:
    seed_db(emu)


def no_status(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu, hostname=None)


def other_name(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu, hostname=f"tazlab-db-1.{TAILNET}")


def invalid_proxy(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    invalid = {**PROXY_CREATED, "status": "False", "reason": "ProxyInvalid", "message": "bad tag"}
    seed_db(emu, condition=invalid)


def no_device_fqdn(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu, fqdn=None)


def warnings(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu)
    message = "requested tags [tag:k8s] are invalid or not permitted"
    emu.create(event("Service", "tazlab-db-tailnet", "tazlab-db", "ProxyFailed", message))


def no_device(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu)
    state.devices[:] = [d for d in state.devices if d["hostname"] != "tazlab-db"]


def wrong_tags(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu)
    state.devices[0]["tags"] = ["tag:other"]


def api_down(emu: KubeEmulator, state: TailnetState) -> None:
    seed_flux(emu)
    seed_db(emu)
    state.fail_next(500, count=1000)


CASES = [
    Case(
        "flux-failed",
        flux_failed,
        "flux infrastructure-instances",
        ("Flux could not apply", "ReconciliationFailed", "spec.ports: Required value"),
        ("tailnet status", "tailnet device", "tcp 5432"),
    ),
    Case(
        "flux-timeout",
        flux_stale,
        "flux infrastructure-instances",
        ("timed out after", "to be Ready at", SHA, f"lastAppliedRevision {OLD_REVISION}"),
        ("proxy ready", "dns"),
    ),
    Case(
        "no-git-repository",
        no_source,
        "flux infrastructure-instances",
        ("could not ask Flux to reconcile", "GitRepository flux-system/flux-system"),
        ("tailnet status",),
    ),
    Case(
        "no-status",
        no_status,
        "tailnet status",
        ("timed out after", "tazlab-db/tazlab-db-tailnet", "status.loadBalancer is empty"),
        ("tailnet device", "dns", "tcp 5432"),
    ),
    Case(
        "another-name",
        other_name,
        "tailnet status",
        (f"has tazlab-db-1.{TAILNET}, not {DB_FQDN}", "remove that device"),
        ("tailnet device",),
    ),
    Case(
        "proxy-invalid",
        invalid_proxy,
        "proxy ready",
        ("TailscaleProxyReady=False (ProxyInvalid: bad tag)",),
        ("tailnet device",),
    ),
    Case(
        "no-device-fqdn",
        no_device_fqdn,
        "proxy secret",
        ("timed out", "the proxy Secret of Service tazlab-db/tazlab-db-tailnet", "no device_fqdn"),
        ("dns",),
    ),
    Case(
        "warning-events",
        warnings,
        "warning events",
        ("ProxyFailed: requested tags [tag:k8s] are invalid or not permitted",),
        ("tailnet device", "tcp 5432"),
    ),
    Case("no-device", no_device, "tailnet device", (f"no device {DB_FQDN}",), ("dns",)),
    Case("wrong-tags", wrong_tags, "tailnet device", ("lacks tag:k8s", "tag:other"), ("dns",)),
    Case("api-500", api_down, "tailnet device", ("the Tailscale API did not answer", "500"), ()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_failed_check_says_why_and_blocks_the_slice(
    tmp_path: Path,
    emu: KubeEmulator,
    kube: KubeClient,
    tailnet: TailscaleClient,
    state: TailnetState,
    db_port: int,
    case: Case,
) -> None:
    case.seed(emu, state)
    config = db_config(tmp_path, emu, db_port)
    checks = run_checks(config, "db", kube, tailnet)
    found = by_name(checks)
    failed = found[case.failed]
    assert failed.status == "fail", checks
    for fragment in case.fragments:
        assert fragment in failed.detail
    assert failed in blocking(checks, config)
    for name in case.not_run:
        assert found[name].status == "inconclusive"
        assert found[name].detail == f"not run: {case.failed} failed"
    assert all(PROXY_AUTH_KEY not in c.detail and API_KEY not in c.detail for c in checks)


def test_the_cluster_checks_of_one_area_all_run_after_one_failed(
    tmp_path: Path, emu: KubeEmulator, kube: KubeClient, tailnet: TailscaleClient, db_port: int
) -> None:
    """No status yet, and a Warning event says why: both are reported."""
    seed_flux(emu)
    seed_db(emu, hostname=None)
    emu.create(event("Service", "tazlab-db-tailnet", "tazlab-db", "ProxyFailed", "tags refused"))
    checks = by_name(run_checks(db_config(tmp_path, emu, db_port), "db", kube, tailnet))
    assert checks["tailnet status"].status == "fail"
    assert checks["warning events"].status == "fail"
    assert checks["warning events"].detail.endswith("ProxyFailed: tags refused")


def test_an_ingress_whose_proxy_has_no_https_fails_the_secret_check(
    tmp_path: Path, emu: KubeEmulator, kube: KubeClient, tailnet: TailscaleClient
) -> None:
    seed_flux(emu)
    seed_pgadmin(emu, https_endpoint="no-https")
    config = make_config(tmp_path, emu, validate="  reachability: off\n")
    found = by_name(run_checks(config, "pgadmin", kube, tailnet))
    assert found["proxy secret"].status == "fail"
    assert "https_endpoint no-https" in found["proxy secret"].detail


def test_a_cluster_that_stops_answering_fails_naming_what_it_asked(
    tmp_path: Path, emu: KubeEmulator, kube: KubeClient, tailnet: TailscaleClient, db_port: int
) -> None:
    config = db_config(tmp_path, emu, db_port)
    emu.stop()
    checks = run_checks(config, "db", kube, tailnet)
    flux, others = checks[:2], checks[2:]
    for check in flux:
        assert check.status == "fail"
        assert "could not ask Flux to reconcile: cannot reach the API server" in check.detail
    assert {c.detail for c in others} == {"not run: flux infrastructure-instances failed"}
