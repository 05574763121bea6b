"""Reachability: a refused port fails after its retries, a name that does not resolve here is
inconclusive (blocking only when required), an inconclusive probe is retried until it settles."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.probes import StaticResolver
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.steps.validate import blocking
from tests.loopback import closed_port
from tests.unit.steps.validate.support import (
    DB_FQDN,
    TAILNET,
    by_name,
    db_config,
    make_config,
    resolve_lines,
    run_checks,
    seed_db,
    seed_flux,
)


def test_a_refused_port_fails_after_its_retries(
    tmp_path: Path, emu: KubeEmulator, kube: KubeClient, tailnet: TailscaleClient
) -> None:
    seed_flux(emu)
    seed_db(emu)
    port = closed_port()
    config = db_config(tmp_path, emu, port)
    checks = run_checks(config, "db", kube, tailnet)
    tcp = by_name(checks)["tcp 5432"]
    assert tcp.status == "fail"
    assert f"{DB_FQDN}:5432 at 127.0.0.1:{port}: connection refused" in tcp.detail
    assert blocking(checks, config) == [tcp]


@pytest.mark.parametrize(("mode", "blocks"), [("optional", False), ("required", True)])
def test_a_name_that_does_not_resolve_here_is_inconclusive(
    tmp_path: Path,
    emu: KubeEmulator,
    kube: KubeClient,
    tailnet: TailscaleClient,
    mode: str,
    blocks: bool,
) -> None:
    seed_flux(emu)
    seed_db(emu)
    other = {f"grafana.{TAILNET}": {443: closed_port()}}  # a map without the slice's name
    config = make_config(tmp_path, emu, validate=resolve_lines(other) + f"  reachability: {mode}\n")
    checks = run_checks(config, "db", kube, tailnet)
    found = by_name(checks)
    assert found["dns"].status == "inconclusive"
    assert f"this machine cannot resolve {DB_FQDN}" in found["dns"].detail
    assert found["tcp 5432"].status == "inconclusive"
    assert found["tcp 5432"].detail == f"not run: {DB_FQDN} does not resolve here"
    assert [c.name for c in blocking(checks, config)] == (["dns", "tcp 5432"] if blocks else [])


class LateResolver:
    """Knows the name from its second lookup on (a MagicDNS record that appears late)."""

    def __init__(self, table: StaticResolver) -> None:
        self.table = table
        self.lookups = 0

    def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        self.lookups += 1
        return self.table.resolve(host, port) if self.lookups > 1 else []


def test_an_inconclusive_probe_is_retried_until_it_settles(
    tmp_path: Path, tailnet: TailscaleClient, db_port: int
) -> None:
    config = make_config(tmp_path, None, validate="  deadline_s: 30\n")
    resolver = LateResolver(StaticResolver({DB_FQDN: {5432: ("127.0.0.1", db_port)}}))
    found = by_name(run_checks(config, "db", None, tailnet, resolver=resolver))
    assert found["dns"].status == "pass"
    assert found["tcp 5432"].status == "pass"
    assert resolver.lookups == 3  # dns twice, then tcp once
