"""Fixtures of the live checks' tests: the Kubernetes emulator and a client of it, the tailnet
emulator (one for the folder, a fresh state per test) and a client of it, a TCP listener."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ingress2tailscale.adapters.kubernetes import KubeClient, connect
from ingress2tailscale.adapters.tailscale_api import ApiKey, RetryPolicy, TailscaleClient
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.loopback import tcp_listener
from tests.unit.steps.validate.support import (
    API_KEY,
    TAILNET,
    device,
)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    (tmp_path / "cluster").mkdir()
    with KubeEmulator(tmp_path / "cluster") as emulator:
        yield emulator


@pytest.fixture(scope="package")  # one emulator; `state` gives each test a fresh tailnet
def tailnet_emulator() -> Iterator[TailnetEmulator]:
    with TailnetEmulator(TailnetState()) as emulator:
        yield emulator


@pytest.fixture
def state(tailnet_emulator: TailnetEmulator) -> TailnetState:
    """A fresh tailnet with the proxies' devices, served from now on."""
    fresh = TailnetState(tailnet=TAILNET, api_keys=[API_KEY])
    fresh.devices += [device("tazlab-db", ["tag:k8s"]), device("pgadmin", ["tag:internal-apps"])]
    tailnet_emulator.use_state(fresh)
    return fresh


@pytest.fixture
def tailnet(tailnet_emulator: TailnetEmulator, state: TailnetState) -> Iterator[TailscaleClient]:
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_total_wait=0.1)
    credentials = ApiKey(SecretStr(API_KEY))
    with TailscaleClient(credentials, api_url=tailnet_emulator.url, retry=retry) as client:
        yield client


@pytest.fixture
def kube(emu: KubeEmulator) -> Iterator[KubeClient]:
    with connect(emu.kubeconfig_path, emu.context) as client:
        yield client


@pytest.fixture
def db_port() -> Iterator[int]:
    with tcp_listener() as port:
        yield port
