"""What several areas of the Kubernetes adapter's tests share: the Flux objects, pods, and
`later` (a change another thread makes while a wait runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ingress2tailscale.kinds import (
    KUSTOMIZATION,
)
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator

FLUX_NS = "flux-system"
REVISION = "main@sha1:4507abc1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7"
SHORT_WAIT = 0.5  # deadlines of the timeout paths
LONG_WAIT = 10.0  # deadlines of the success paths (they end as soon as the change lands)
DELAY = 0.3  # how long after the wait starts another thread makes the change


@contextmanager
def later(action: Callable[[], object], delay: float = DELAY) -> Iterator[None]:
    """Run `action` in another thread after `delay`; its failure fails the test."""
    failures: list[BaseException] = []
    cancelled = threading.Event()

    def run() -> None:
        if cancelled.wait(delay):
            return
        try:
            action()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, name="test-controller")
    thread.start()
    try:
        yield
    finally:
        cancelled.set()
        thread.join(LONG_WAIT)
    if failures:
        raise failures[0]


def kustomization(name: str = "apps", status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": KUSTOMIZATION.api_version,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": FLUX_NS},
        "spec": {"interval": "10m", "path": "./apps", "prune": True},
    }
    if status is not None:
        obj["status"] = status
    return obj


def flux_status(
    ready: str, reason: str, message: str, applied: str, attempted: str
) -> dict[str, Any]:
    return {
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
        "lastAppliedRevision": applied,
        "lastAttemptedRevision": attempted,
    }


OLD = "main@sha1:1111111111111111111111111111111111111111"
STALE = flux_status("True", "ReconciliationSucceeded", f"Applied revision: {OLD}", OLD, OLD)


def set_status(emu: KubeEmulator, kind: str, ns: str, name: str, status: dict[str, Any]) -> None:
    emu.patch(kind, ns, name, {"status": status}, subresource="status")


def pod(name: str, app: str = "operator", ready: bool = False) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "tailscale", "labels": {"app": app}},
        "spec": {"containers": [{"name": "operator", "image": "tailscale/k8s-operator"}]},
        "status": {"phase": "Running" if ready else "Pending", "conditions": [condition]},
    }
