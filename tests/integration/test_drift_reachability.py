"""Reachability in drift: the migrate flow's probes of every migrated slice's tailnet name, over
real sockets to loopback servers (the sandbox's endpoints: a TCP listener, an HTTPS server with
a certificate of the sandbox CA), reached through `validate.resolve_file` and `ca_file` as a
sandbox config reaches them. The slices are migrated by the product's own repo steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingress2tailscale.config import load_config
from ingress2tailscale.sandbox.endpoints import Endpoints
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from ingress2tailscale.steps.drift import DriftReport, Finding, find_drift
from ingress2tailscale.steps.prereq import make_client
from ingress2tailscale.steps.repo import apply_repo_step, open_repo
from tests.conftest import make_gitops_repo, write_config
from tests.integration.conftest import TEST_API_KEY

DB = "tazlab-db.magellanic-gondola.ts.net"
GRAFANA = "grafana.magellanic-gondola.ts.net"
SLICES = ("db", "grafana")
NO_PROBES = "validate: {tailnet: off, reachability: off}"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone (bare origin) where `db` (tcp) and `grafana` (https) went through phase 1 and 2."""
    where = tmp_path_factory.mktemp("drift-reachability")
    repo = make_gitops_repo(where)
    config = load_config(write_config(where, repo))
    git_repo = open_repo(config)
    for name in SLICES:
        for step in ("phase-1", "phase-2"):
            result = apply_repo_step(config, git_repo, name, step, "run-drift-test")
            assert result.commit is not None, (name, step, result.step.reason)
    return repo


@pytest.fixture
def endpoints(tmp_path: Path) -> Iterator[Endpoints]:
    served = Endpoints(tmp_path / "endpoints")
    served.open_tcp(DB, 5432)
    served.open_https(GRAFANA)
    yield served
    served.close_all()


@dataclass
class Drift:
    """Drift of the migrated repo, for a `validate` section and a names file."""

    where: Path
    repo: Path
    tailnet_url: str

    def run(self, validate: str, names: dict[str, object] | None) -> DriftReport:
        names_file = self.where / "names.json"
        names_file.write_text(json.dumps(names or {}), encoding="utf-8")

        def edit(text: str) -> str:
            text = text.replace(NO_PROBES, f"validate: {{tailnet: off, {validate}}}")
            text = text.replace("resolve_file: NAMES", f"resolve_file: {names_file}")
            return text.replace(
                "tailscale:\n  https: true",
                f"tailscale:\n  api_url: {self.tailnet_url}\n  https: true",
            )

        config = load_config(write_config(self.where, self.repo, edit))
        client = make_client(config, {"TS_API_KEY": TEST_API_KEY}, read_only=True)
        assert client is not None
        with client:
            return find_drift(config, client, None, concurrency=4)


@pytest.fixture
def drift(
    tmp_path: Path, migrated: Path, tailnet_emulator: TailnetEmulator, tailnet_state: TailnetState
) -> Drift:
    return Drift(tmp_path, migrated, tailnet_emulator.url)


def reachability(report: DriftReport) -> dict[tuple[str, str], Finding]:
    return {(f.slice, f.check): f for f in report.findings if f.check.startswith("reachability")}


def trusted(endpoints: Endpoints, mode: str = "optional") -> str:
    return f"reachability: {mode}, ca_file: {endpoints.ca_path}, resolve_file: NAMES"


def test_reachable_endpoints_are_no_drift(drift: Drift, endpoints: Endpoints) -> None:
    report = drift.run(trusted(endpoints), endpoints.names())
    assert set(report.slices) == set(SLICES)
    found = reachability(report)
    assert set(found) == {
        ("db", "reachability: dns"),
        ("db", "reachability: tcp 5432"),
        ("grafana", "reachability: dns"),
        ("grafana", "reachability: https"),
    }
    assert not [f for f in found.values() if f.drifted or f.inconclusive], found
    assert "accepted a connection" in found["db", "reachability: tcp 5432"].found
    assert f"certificate valid for {GRAFANA}" in found["grafana", "reachability: https"].found
    assert not any("reachability" in why for why in report.skipped)


def test_stopped_endpoints_are_drift_naming_host_and_port(
    drift: Drift, endpoints: Endpoints
) -> None:
    names = endpoints.names()  # the names still resolve; nothing listens there any more
    endpoints.close_all()
    found = reachability(drift.run(trusted(endpoints), names))
    tcp, https = found["db", "reachability: tcp 5432"], found["grafana", "reachability: https"]
    db_port, grafana_port = names[DB][5432][1], names[GRAFANA][443][1]
    assert tcp.drifted and tcp.expected == f"{DB}:5432 accepts a connection"
    assert tcp.found == f"{DB}:5432 at 127.0.0.1:{db_port}: connection refused"
    assert https.drifted
    assert https.found == f"https://{GRAFANA}/ at 127.0.0.1:{grafana_port}: connection refused"
    assert not found["db", "reachability: dns"].drifted


def test_a_certificate_the_trust_store_does_not_hold_is_drift(
    drift: Drift, endpoints: Endpoints, tmp_path: Path
) -> None:
    other = Endpoints(tmp_path / "other-ca")  # another CA: the probe must not trust the server
    try:
        validate = f"reachability: optional, ca_file: {other.ca_path}, resolve_file: NAMES"
        https = reachability(drift.run(validate, endpoints.names()))[
            "grafana", "reachability: https"
        ]
    finally:
        other.close_all()
    assert https.drifted and "the certificate is not valid" in https.found


@pytest.mark.parametrize(("mode", "drifted"), [("optional", False), ("required", True)])
def test_a_name_that_does_not_resolve_here_is_drift_only_when_required(
    drift: Drift, endpoints: Endpoints, mode: str, drifted: bool
) -> None:
    found = reachability(drift.run(trusted(endpoints, mode), {}))
    dns = found["grafana", "reachability: dns"]
    assert dns.inconclusive and dns.found.startswith(
        f"inconclusive: this machine cannot resolve {GRAFANA}"
    )
    assert dns.drifted is drifted
    https = found["grafana", "reachability: https"]
    assert (
        https.inconclusive
        and https.found == f"inconclusive: not run: {GRAFANA} does not resolve here"
    )
    assert {f.drifted for f in found.values()} == {drifted}


def test_reachability_off_is_not_probed_and_the_report_says_so(
    drift: Drift, endpoints: Endpoints
) -> None:
    report = drift.run("reachability: off", endpoints.names())
    assert reachability(report) == {}
    assert "reachability: validate.reachability is off" in report.skipped
