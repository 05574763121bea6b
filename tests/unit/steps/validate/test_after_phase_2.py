"""The live checks after phase 2: the old Service is no LAN LoadBalancer, an old Ingress still
served fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from tests.unit.steps.validate.support import (
    DB_CHECKS,
    by_name,
    db_config,
    make_config,
    run_checks,
    seed_db,
    seed_flux,
    seed_pgadmin,
)


def old_db_service(emu: KubeEmulator, lan: bool) -> None:
    spec: dict[str, Any] = {"ports": [{"port": 5432}], "selector": {"app": "db"}}
    annotations = {"metallb.io/loadBalancerIPs": "192.168.1.240"} if lan else {}
    spec["type"] = "LoadBalancer" if lan else "ClusterIP"
    emu.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "tazlab-db-external",
                "namespace": "tazlab-db",
                "annotations": annotations,
            },
            "spec": spec,
        }
    )


@pytest.mark.parametrize(
    ("old", "status", "fragment"),
    [
        (None, "pass", "Service tazlab-db/tazlab-db-external is gone from the cluster"),
        (False, "pass", "Service tazlab-db/tazlab-db-external is now ClusterIP"),
        (True, "fail", "still a LAN load balancer (type LoadBalancer, metallb.io/loadBalancerIPs)"),
    ],
    ids=["pruned", "cluster-ip", "still-lan"],
)
def test_after_phase_2_the_old_service_is_no_lan_load_balancer(
    tmp_path: Path,
    emu: KubeEmulator,
    kube: KubeClient,
    tailnet: TailscaleClient,
    db_port: int,
    old: bool | None,
    status: str,
    fragment: str,
) -> None:
    seed_flux(emu)
    seed_db(emu)
    if old is not None:
        old_db_service(emu, lan=old)
    checks = run_checks(db_config(tmp_path, emu, db_port), "db", kube, tailnet, phase="2")
    assert [c.name for c in checks] == [*DB_CHECKS[:2], "old exposure retired", *DB_CHECKS[2:]]
    retired = by_name(checks)["old exposure retired"]
    assert retired.status == status
    assert fragment in retired.detail
    assert {c.status for c in checks if c is not retired} == (
        {"pass"} if status == "pass" else {"pass", "inconclusive"}
    )


def test_after_phase_2_an_old_ingress_still_served_fails(
    tmp_path: Path, emu: KubeEmulator, kube: KubeClient, tailnet: TailscaleClient
) -> None:
    seed_flux(emu)
    seed_pgadmin(emu)
    emu.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "pgadmin", "namespace": "pgadmin"},
            "spec": {"ingressClassName": "traefik"},
        }
    )
    config = make_config(tmp_path, emu, validate="  reachability: off\n")
    checks = run_checks(config, "pgadmin", kube, tailnet, phase="2")
    retired = by_name(checks)["old exposure retired"]
    assert retired.status == "fail"
    assert retired.detail.startswith("Ingress pgadmin/pgadmin is still in the cluster")
