"""The Kubernetes API through the official client, the only importer of `kubernetes`.

`connect.py` (`connect`, `connect_cluster`), `api.py` (`KubeApi`: every call through one
`_request`, waits that watch in windows and re-list after each, every fault mapped in one
`_error_for`), `client.py` (`KubeClient(KubeApi)`: Flux, the operator's objects, events, pods,
Secrets), `models.py` (the frozen records it returns). No token and no Secret value reaches a
message, a log line or a repr. Callers import from here.

May import: what `adapters/` may.
"""

from ingress2tailscale.adapters.kubernetes.client import KubeClient
from ingress2tailscale.adapters.kubernetes.connect import connect, connect_cluster
from ingress2tailscale.adapters.kubernetes.models import (
    Condition,
    KustomizationStatus,
    ProxySecret,
    WarningEvent,
)

__all__ = [
    "Condition",
    "KubeClient",
    "KustomizationStatus",
    "ProxySecret",
    "WarningEvent",
    "connect",
    "connect_cluster",
]
