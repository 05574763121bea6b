"""Fixtures of the Kubernetes adapter's tests: the emulator, and a client connected to it
through its generated kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress2tailscale.adapters.kubernetes import KubeClient, connect
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    with KubeEmulator(tmp_path) as emulator:
        yield emulator


@pytest.fixture
def kube(emu: KubeEmulator) -> Iterator[KubeClient]:
    with connect(emu.kubeconfig_path, emu.context) as client:
        yield client
