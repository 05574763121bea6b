"""Flux through the Kubernetes adapter: reconcile requests, the Kustomization's status and the
Ready wait (waking on a change, between watch windows, its failure and timeout paths), a
read-only client, a cluster without Flux."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kubernetes import config as k8s_config

from ingress2tailscale.adapters.kubernetes import KubeClient, connect
from ingress2tailscale.errors import ClusterError, ClusterNotFoundError
from ingress2tailscale.kinds import (
    CUSTOM_KINDS,
    RECONCILE_ANNOTATION,
)
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from tests.integration.kube_adapter.support import (
    FLUX_NS,
    LONG_WAIT,
    OLD,
    REVISION,
    SHORT_WAIT,
    STALE,
    flux_status,
    kustomization,
    later,
    pod,
    set_status,
)

APPLIED = flux_status(
    "True", "ReconciliationSucceeded", f"Applied revision: {REVISION}", REVISION, REVISION
)


@pytest.mark.parametrize("kind", ["GitRepository", "Kustomization"])
def test_request_reconcile_annotates_the_flux_object(
    emu: KubeEmulator, kube: KubeClient, kind: str
) -> None:
    obj = kustomization("flux-system")
    if kind == "GitRepository":
        obj = {**obj, "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository"}
    emu.create(obj)
    token = kube.request_reconcile(FLUX_NS, kind, "flux-system")
    stored = emu.get(kind, FLUX_NS, "flux-system")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {RECONCILE_ANNOTATION: token}
    assert stored["spec"] == obj["spec"]  # a merge patch: the rest is untouched


def test_a_read_only_client_reads_and_refuses_every_write(emu: KubeEmulator) -> None:
    emu.create(kustomization(status=APPLIED))
    emu.create(pod("operator-6d9f-abcde", ready=True))
    with connect(emu.kubeconfig_path, emu.context, read_only=True) as kube:
        assert kube.kustomization_status(FLUX_NS, "apps").last_applied_revision == REVISION
        for write in (
            lambda: kube.request_reconcile(FLUX_NS, "Kustomization", "apps"),
            lambda: kube.recycle_pods("tailscale", "app=operator", SHORT_WAIT),
            lambda: kube.force_sync_external_secret("pgadmin", "wildcard-tls"),
        ):
            with pytest.raises(ClusterError, match="read-only"):
                write()
    stored = emu.get("Kustomization", FLUX_NS, "apps")
    assert stored is not None and "annotations" not in stored["metadata"]
    assert emu.get("Pod", "tailscale", "operator-6d9f-abcde") is not None


def test_a_second_request_sets_a_new_token(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(kustomization())
    first = kube.request_reconcile(FLUX_NS, "Kustomization", "apps")
    second = kube.request_reconcile(FLUX_NS, "Kustomization", "apps")
    assert first != second
    stored = emu.get("Kustomization", FLUX_NS, "apps")
    assert stored is not None and stored["metadata"]["annotations"][RECONCILE_ANNOTATION] == second


def test_kustomization_status_reads_ready_and_the_revision(
    emu: KubeEmulator, kube: KubeClient
) -> None:
    emu.create(kustomization(status=APPLIED))
    status = kube.kustomization_status(FLUX_NS, "apps")
    assert status.ready is not None
    assert (status.ready.status, status.ready.reason) == ("True", "ReconciliationSucceeded")
    assert status.ready.message == f"Applied revision: {REVISION}"
    assert status.last_applied_revision == REVISION


def test_the_wait_wakes_when_flux_applies_the_revision(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(kustomization(status=STALE))
    started = time.monotonic()
    with later(lambda: set_status(emu, "Kustomization", FLUX_NS, "apps", APPLIED)):
        status = kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, LONG_WAIT)
    assert status.last_applied_revision == REVISION
    assert time.monotonic() - started < LONG_WAIT / 2  # woken by the change, not the deadline


def test_a_change_between_two_watch_windows_is_seen(emu: KubeEmulator) -> None:
    """Each window ends in a read timeout (kmock ignores timeoutSeconds); the next one lists
    the state again, so a change made while no watch was open is not missed."""
    emu.create(kustomization(status=STALE))
    api_client = k8s_config.new_client_from_config(str(emu.kubeconfig_path), emu.context)
    with (
        KubeClient(api_client, context=emu.context, watch_window_s=0.1) as kube,
        later(lambda: set_status(emu, "Kustomization", FLUX_NS, "apps", APPLIED), delay=0.5),
    ):
        status = kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, LONG_WAIT)
    assert status.last_applied_revision == REVISION


def test_the_wait_accepts_the_bare_commit_sha(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(kustomization(status=APPLIED))
    status = kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION.split(":")[1], SHORT_WAIT)
    assert status.last_applied_revision == REVISION


def test_a_failure_at_an_older_revision_is_waited_out(emu: KubeEmulator, kube: KubeClient) -> None:
    failed_old = flux_status("False", "BuildFailed", "kustomize build failed", OLD, OLD)
    emu.create(kustomization(status=failed_old))
    with later(lambda: set_status(emu, "Kustomization", FLUX_NS, "apps", APPLIED)):
        status = kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, LONG_WAIT)
    assert status.ready is not None and status.ready.status == "True"


def test_ready_false_at_the_revision_raises_fluxs_message(
    emu: KubeEmulator, kube: KubeClient
) -> None:
    emu.create(kustomization(status=STALE))
    message = "Service/tazlab-db/db-tailnet dry-run failed: spec.ports: Required value"
    failed = flux_status("False", "ReconciliationFailed", message, OLD, REVISION)
    started = time.monotonic()
    with (
        later(lambda: set_status(emu, "Kustomization", FLUX_NS, "apps", failed)),
        pytest.raises(ClusterError) as caught,
    ):
        kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, LONG_WAIT)
    assert "ReconciliationFailed" in str(caught.value)
    assert message in str(caught.value)
    assert time.monotonic() - started < LONG_WAIT / 2


def test_the_wait_times_out_naming_the_last_state(emu: KubeEmulator, kube: KubeClient) -> None:
    emu.create(kustomization(status=STALE))
    with pytest.raises(ClusterError) as caught:
        kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, SHORT_WAIT)
    text = str(caught.value)
    assert f"timed out after {SHORT_WAIT:g} s waiting for Kustomization flux-system/apps" in text
    assert f"to be Ready at {REVISION}" in text
    assert f"last: Ready=True (ReconciliationSucceeded: Applied revision: {OLD})" in text


def test_a_busy_stream_does_not_stretch_the_deadline(emu: KubeEmulator, kube: KubeClient) -> None:
    """Events about other objects keep the stream's reads from timing out; the deadline holds."""
    emu.create(kustomization(status=STALE))
    emu.create(kustomization("infrastructure"))
    stop = threading.Event()

    def churn() -> None:
        count = 0
        while not stop.wait(0.05):
            count += 1
            labels = {"metadata": {"labels": {"churn": str(count)}}}
            emu.patch("Kustomization", FLUX_NS, "infrastructure", labels)

    thread = threading.Thread(target=churn, name="test-churn")
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(ClusterError, match="timed out"):
            kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, SHORT_WAIT)
    finally:
        stop.set()
        thread.join(LONG_WAIT)
    assert time.monotonic() - started < SHORT_WAIT + 2.0


def test_a_missing_kustomization_is_not_found(kube: KubeClient) -> None:
    with pytest.raises(ClusterNotFoundError, match="Kustomization flux-system/apps"):
        kube.kustomization_status(FLUX_NS, "apps")


def test_a_cluster_without_flux_says_the_crd_is_not_installed(tmp_path: Path) -> None:
    others = tuple(k for k in CUSTOM_KINDS if k.crd_of != "Flux")
    with (
        KubeEmulator(tmp_path, custom_kinds=others) as emu,
        connect(emu.kubeconfig_path, emu.context) as kube,
        pytest.raises(ClusterError) as caught,
    ):
        kube.request_reconcile(FLUX_NS, "Kustomization", "apps")
    assert type(caught.value) is ClusterError
    assert "the CRD kustomizations.kustomize.toolkit.fluxcd.io is not installed" in str(
        caught.value
    )
