"""What the operator simulator reads and makes: the tailscale-class parents it serves (contract
B.2, B.3), the bodies of the objects and the tailnet device of a proxy (B.4), and of what its
chart installs (B.1)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingress2tailscale.kinds import (
    DEPLOYMENT,
    EXPOSE_ANNOTATION,
    HOSTNAME_ANNOTATION,
    INGRESS,
    OPERATOR_CLIENT_ID_KEY,
    OPERATOR_CLIENT_SECRET_KEY,
    PARENT_NAMESPACE_LABEL,
    PARENT_RESOURCE_LABEL,
    PARENT_TYPE_LABEL,
    PARENT_TYPES,
    SERVICE,
    TAGS_ANNOTATION,
    TAILSCALE_CLASS,
    ApiKind,
)
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.tailnet.state import TailnetState

DEFAULT_PROXY_TAGS = ("tag:k8s",)  # PROXY_TAGS (B.1)
PROXY_GROUP_ANNOTATION = "tailscale.com/proxy-group"  # the HA reconciler's, not ours
MANAGED_LABEL = "tailscale.com/managed"
COMPONENT = "tailscale-operator"
CLIENT_VERSION = "1.96.5"
MAX_STATEFULSET_NAME = 52


@dataclass(frozen=True)
class Parent:
    """A tailscale-class Ingress or Service as the operator reads it."""

    kind: str
    namespace: str
    name: str
    hostname: str
    tags: tuple[str, ...]
    ports: tuple[int, ...]  # a Service's ports; an Ingress serves 443

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.namespace, self.name

    @property
    def api(self) -> ApiKind:
        return INGRESS if self.kind == "Ingress" else SERVICE

    @property
    def labels(self) -> dict[str, str]:
        """The labels of every proxy object, how the product finds them (B.4)."""
        return {
            MANAGED_LABEL: "true",
            PARENT_RESOURCE_LABEL: self.name,
            PARENT_NAMESPACE_LABEL: self.namespace,
            PARENT_TYPE_LABEL: PARENT_TYPES[self.kind],
        }


def parents_of(kube: KubeEmulator) -> list[Parent]:
    """Ingresses of class `tailscale` (not a ProxyGroup's) and Services the operator exposes:
    LoadBalancers of class `tailscale`, or any annotated `tailscale.com/expose` (not headless)."""
    found = []
    for obj in kube.list(INGRESS):
        if (obj.get("spec") or {}).get("ingressClassName") != TAILSCALE_CLASS:
            continue
        if PROXY_GROUP_ANNOTATION not in _annotations(obj):
            found.append(_parent("Ingress", obj, ingress_hostname(obj), (443,)))
    for obj in kube.list(SERVICE):
        spec = obj.get("spec") or {}
        exposed = _annotations(obj).get(EXPOSE_ANNOTATION) == "true"
        balanced = spec.get("type") == "LoadBalancer"
        balanced = balanced and spec.get("loadBalancerClass") == TAILSCALE_CLASS
        if not (exposed or balanced) or spec.get("clusterIP") == "None":
            continue
        meta = obj.get("metadata") or {}
        host = _annotations(obj).get(HOSTNAME_ANNOTATION)
        host = host or f"{meta.get('namespace')}-{meta.get('name')}"
        ports = tuple(
            int(p["port"])
            for p in spec.get("ports") or []
            if isinstance(p, Mapping) and "port" in p
        )
        found.append(_parent("Service", obj, str(host), ports))
    return found


def ingress_hostname(obj: Mapping[str, Any]) -> str:
    """First DNS label of `tls[0].hosts[0]`, else `<namespace>-<name>-ingress` (B.2)."""
    tls = (obj.get("spec") or {}).get("tls") or []
    hosts = (tls[0].get("hosts") or []) if tls and isinstance(tls[0], Mapping) else []
    if hosts:
        return str(hosts[0]).split(".")[0]
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}-{meta.get('name')}-ingress"


def _parent(kind: str, obj: Mapping[str, Any], host: str, ports: tuple[int, ...]) -> Parent:
    meta = obj.get("metadata") or {}
    raw = _annotations(obj).get(TAGS_ANNOTATION)
    tags = tuple(t.strip() for t in str(raw or "").split(",") if t.strip())
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name"))
    return Parent(kind, namespace, name, host, tags or DEFAULT_PROXY_TAGS, ports)


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def deployment_body(namespace: str, name: str) -> dict[str, Any]:
    """The operator's Deployment (chart `deployment.yaml`): its pods are `app: <name>`."""
    labels = {"app": name}
    return {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
    }


def oauth_secret_body(
    namespace: str, name: str, client_id: str, client_secret: str
) -> dict[str, Any]:
    """The OAuth Secret (the chart's `operator-oauth`), the credentials the operator reads at
    start (B.1)."""
    data = {OPERATOR_CLIENT_ID_KEY: client_id, OPERATOR_CLIENT_SECRET_KEY: client_secret}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def statefulset_body(api: ApiKind, namespace: str, parent: Parent) -> dict[str, Any]:
    """The proxy's StatefulSet, `ts-<parent>-<random>` (the name the operator generates)."""
    name = f"ts-{parent.name}-{secrets.token_hex(3)[:5]}"[:MAX_STATEFULSET_NAME]
    return {
        "apiVersion": api.api_version,
        "kind": api.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": parent.labels},
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}}},
    }


def secret_body(
    name: str, namespace: str, parent: Parent, data: Mapping[str, str]
) -> dict[str, Any]:
    """The proxy's state Secret, holding what the proxy wrote (B.4)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": parent.labels},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def event_body(parent: Parent, reason: str, message: str) -> dict[str, Any]:
    """A Warning event about the parent, as the operator records one."""
    now = now_text()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{parent.name}.{secrets.token_hex(8)}",
            "namespace": parent.namespace,
        },
        "involvedObject": {
            "kind": parent.kind,
            "namespace": parent.namespace,
            "name": parent.name,
            "apiVersion": parent.api.api_version,
        },
        "type": "Warning",
        "reason": reason,
        "message": message,
        "source": {"component": COMPONENT},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def add_device(tailnet: TailnetState, parent: Parent, tailnet_name: str) -> dict[str, Any]:
    """The proxy's device joins the tailnet; a hostname in use gets `-1`, `-2`… (#10604)."""
    with tailnet.lock:
        taken = {str(d.get("hostname")) for d in tailnet.devices}
        host, suffix = parent.hostname, 0
        while host in taken:
            suffix += 1
            host = f"{parent.hostname}-{suffix}"
        ids = [int(d["id"]) for d in tailnet.devices if str(d.get("id", "")).isdigit()]
        number = 1 + max(ids or [0])
        third, fourth = divmod(number % 62500, 250)
        device = {
            "id": str(number),
            "nodeId": f"n{secrets.token_hex(6)}CNTRL",
            "name": f"{host}.{tailnet_name}",
            "hostname": host,
            "addresses": [f"100.64.{third + 1}.{fourth + 1}", f"fd7a:115c:a1e0::{number:x}"],
            "tags": list(parent.tags),
            "authorized": True,
            "os": "linux",
            "isEphemeral": False,
            "connectedToControl": True,
            "clientVersion": CLIENT_VERSION,
            "lastSeen": now_text(),
        }
        tailnet.devices.append(device)
    return device


def remove_device(tailnet: TailnetState, device_id: str) -> None:
    with tailnet.lock:
        tailnet.devices[:] = [d for d in tailnet.devices if str(d.get("id")) != device_id]


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
