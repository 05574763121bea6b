"""Pod recycling through the Kubernetes adapter (the new pod Ready, a timeout, no matching pod)
and the ExternalSecret force-sync."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.errors import ClusterError
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from tests.integration.kube_adapter.support import (
    DELAY,
    LONG_WAIT,
    SHORT_WAIT,
    pod,
)


@contextmanager
def deployment_controller(emu: KubeEmulator, old: str, new: str) -> Iterator[None]:
    """Plays the Deployment controller: once `old` is gone, a Pending `new` pod appears,
    then turns Ready (a controller watching would do the same; this one polls)."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while emu.get("Pod", "tailscale", old) is not None:
                if stop.wait(0.02):
                    return
            emu.create(pod(new))
            if not stop.wait(DELAY):
                emu.patch("Pod", "tailscale", new, {"status": pod(new, ready=True)["status"]})
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, name="test-deployment-controller")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(LONG_WAIT)
    if failures:
        raise failures[0]


def test_recycle_pods_returns_the_new_ready_pod(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(pod("operator-6d9f-abcde", ready=True))
    emu.create(pod("homepage-1234-zzzzz", app="homepage", ready=True))
    with deployment_controller(emu, "operator-6d9f-abcde", "operator-6d9f-fghij"):
        new = kube.recycle_pods("tailscale", "app=operator", LONG_WAIT)
    assert new == "operator-6d9f-fghij"
    assert emu.get("Pod", "tailscale", "operator-6d9f-abcde") is None
    assert emu.get("Pod", "tailscale", "homepage-1234-zzzzz") is not None  # selector honoured


def test_recycle_pods_times_out_when_no_pod_comes_back(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(pod("operator-6d9f-abcde", ready=True))
    with pytest.raises(ClusterError) as caught:
        kube.recycle_pods("tailscale", "app=operator", SHORT_WAIT)
    assert "waiting for a new pod matching 'app=operator' to be Ready" in str(caught.value)


def test_recycle_pods_without_a_matching_pod_says_what_to_check(
    emu: KubeEmulator, kube: KubeClient
) -> None:
    emu.create(pod("homepage-1234-zzzzz", app="homepage", ready=True))
    with pytest.raises(ClusterError, match=r"kubernetes\.operator"):
        kube.recycle_pods("tailscale", "app=operator", SHORT_WAIT)
    assert emu.get("Pod", "tailscale", "homepage-1234-zzzzz") is not None


def test_force_sync_annotates_the_external_secret(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(
        {
            "apiVersion": "external-secrets.io/v1beta1",
            "kind": "ExternalSecret",
            "metadata": {"name": "wildcard-tls", "namespace": "pgadmin"},
            "spec": {"refreshInterval": "1h", "target": {"name": "wildcard-tls"}},
        }
    )
    token = kube.force_sync_external_secret("pgadmin", "wildcard-tls")
    stored = emu.get("ExternalSecret", "pgadmin", "wildcard-tls")
    assert stored is not None and stored["metadata"]["annotations"] == {"force-sync": token}
