"""Drift as a user meets it: `flows.serve` schedules the `drift` deployment; after a slice is
migrated and the cluster shows it, a drift run passes; after changes behind the tool's back (the
tailnet Ingress deleted in the cluster, a rule removed from the tailnet policy) a drift run fails,
its artifact names both, and the automation calls the user's webhook."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import NO_CLUSTER, ROOT, make_gitops_repo
from tests.integration.conftest import TEST_CLIENT_SECRET
from tests.integration.prefect_server import (
    artifacts,
    prefect_server,
    serving,
    trigger,
    wait_for_state,
    wait_until,
)
from tests.integration.test_migrate_flow import flow_config

pytestmark = pytest.mark.e2e
FQDN = "grafana.magellanic-gondola.ts.net"
RULE = '"dst": ["tag:internal-apps:443"]'
SECRET_HOOK = "/hooks/T0TESTONLY/secret-path"


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_HOOK}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.received.append((self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def show_the_migration_in_the_cluster(cluster: KubeEmulator, state: TailnetState) -> None:
    """What Flux and the operator would have made of the migrated slice."""
    cluster.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "grafana-tailnet", "namespace": "monitoring"},
            "spec": {"ingressClassName": "tailscale"},
            "status": {"loadBalancer": {"ingress": [{"hostname": FQDN}]}},
        }
    )
    state.devices[:] = [d for d in state.devices if d["hostname"] != "grafana"]
    state.devices.append(
        {
            "id": "2001",
            "nodeId": "nTESTONLY2GRAF",
            "name": FQDN,
            "hostname": "grafana",
            "addresses": ["100.64.0.20"],
            "tags": ["tag:internal-apps"],
            "authorized": True,
        }
    )


def drift_rows(server: str, run: str) -> list[dict[str, str]]:
    found = {a["key"]: a for a in artifacts(server, run)}
    return list(json.loads(found["drift-report"]["data"]))


def test_drift_is_scheduled_passes_then_fails_and_notifies(
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
    receiver: Receiver,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    with KubeEmulator(tmp_path) as cluster, prefect_server(tmp_path / "p") as server:
        config.write_text(
            config.read_text() + "drift:\n  schedule: '*/30 * * * *'\n"
            "notify:\n  webhook_env: I2TS_TEST_WEBHOOK\n  allow_private_urls: true\n"
        )
        with serving(server, tmp_path, config, I2TS_TEST_WEBHOOK=receiver.url) as ids:
            drift, migrate = ids["drift"], ids["migrate"]
            schedules = httpx.get(f"{server}/deployments/{drift}/schedules", timeout=10).json()
            assert [s["schedule"]["cron"] for s in schedules] == ["*/30 * * * *"]

            run = trigger(server, migrate, {"slice": "grafana", "require_approval": False})
            migrated = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
            assert migrated["state_type"] == "COMPLETED", (tmp_path / "serve.log").read_text()[
                -3000:
            ]
            show_the_migration_in_the_cluster(cluster, seeded)
            # the migration ran without a cluster (no live checks); drift reads this one
            config.write_text(
                config.read_text().replace(
                    NO_CLUSTER,
                    f"kubernetes:\n  kubeconfig: {cluster.kubeconfig_path}\n"
                    f"  context: {cluster.context}\n",
                )
                # no name resolves here (no endpoint serves the slice in this test)
                + f"validate: {{resolve_file: {tmp_path / 'no-names.json'}}}\n"
            )

            clean = trigger(server, drift, {})
            passed = wait_for_state(server, clean, {"COMPLETED", "FAILED", "CRASHED"})
            assert passed["state_type"] == "COMPLETED", passed["state"]["message"]
            rows = drift_rows(server, clean)
            grafana = {r["check"]: r["drift"] for r in rows if r["slice"] == "grafana"}
            # a name that does not resolve here is inconclusive (reachability: optional)
            assert grafana.pop("reachability: dns") == "inconclusive"
            assert grafana.pop("reachability: https") == "inconclusive"
            assert set(grafana.values()) == {"no"}
            assert receiver.received == []

            cluster.delete("Ingress", "monitoring", "grafana-tailnet")  # behind the tool's back
            seeded.policy = "\n".join(
                line for line in seeded.policy.splitlines() if RULE not in line
            )
            dirty = trigger(server, drift, {})
            failed = wait_for_state(server, dirty, {"COMPLETED", "FAILED", "CRASHED"})
            wait_until(lambda: receiver.received, 60, "the webhook call")
            dirty_rows = drift_rows(server, dirty)
    assert failed["state_type"] == "FAILED"
    message = failed["state"]["message"]
    assert "cluster: tailnet status: found not in the cluster" in message
    assert "tailnet: acl" in message
    drifted = {(r["slice"], r["check"]) for r in dirty_rows if r["drift"] == "yes"}
    assert drifted == {("grafana", "cluster: tailnet status"), ("(tailnet)", "tailnet: acl")}
    path, body = receiver.received[0]
    assert path == SECRET_HOOK and "drift" in body and "failed" in body
    log = (tmp_path / "serve.log").read_text()
    assert SECRET_HOOK not in log and TEST_CLIENT_SECRET not in log


def test_the_drift_command_line_without_credentials_exits_2(tmp_path: Path) -> None:
    import os
    import subprocess

    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, "http://127.0.0.1:9", tmp_path / "none.tf")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "flows.drift", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error: the drift check reads the tailnet: set TS_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
