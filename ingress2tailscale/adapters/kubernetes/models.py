"""What `adapters.kubernetes` returns: small frozen records read out of API objects (plain
dicts as the API serves them), never the objects themselves, and never a Secret's value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ingress2tailscale.kinds import (
    LAN_LB_PREFIXES,
    PROXY_READY_CONDITION,
    READY_CONDITION,
    ApiKind,
)


@dataclass(frozen=True)
class Target:
    """What a request is about, for messages: `Kustomization flux-system/apps`."""

    api: ApiKind
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        where = "/".join(part for part in (self.namespace, self.name) if part)
        return f"{self.api.kind} {where}" if where else f"{self.api.plural}"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True", "False" or "Unknown"
    reason: str = ""
    message: str = ""

    def __str__(self) -> str:
        why = f" ({self.reason}: {self.message})" if self.reason or self.message else ""
        return f"{self.type}={self.status}{why}"


@dataclass(frozen=True)
class KustomizationStatus:
    ready: Condition | None
    last_applied_revision: str | None
    last_attempted_revision: str | None

    def __str__(self) -> str:
        ready = str(self.ready) if self.ready else "no Ready condition"
        return f"{ready}, lastAppliedRevision {self.last_applied_revision or 'none'}"


@dataclass(frozen=True)
class ProxySecret:
    """The operator's state Secret of one proxy: which keys it holds and the two non-secret
    ones the checks need. Other values (auth keys, node keys) are never read into it."""

    name: str
    keys: tuple[str, ...]
    device_fqdn: str | None
    https_endpoint: str | None


@dataclass(frozen=True)
class Exposed:
    """How the cluster serves an Ingress or a Service now (what drift compares)."""

    kind: str
    namespace: str
    name: str
    ingress_class: str | None  # Ingress: spec.ingressClassName
    service_type: str | None  # Service: spec.type
    load_balancer_class: str | None  # Service: spec.loadBalancerClass
    hostname: str | None  # status.loadBalancer.ingress[].hostname
    proxy_ready: Condition | None  # Service: TailscaleProxyReady
    lan_annotations: tuple[str, ...] = ()  # MetalLB / Cilium LB-IPAM annotation keys it has


@dataclass(frozen=True)
class WarningEvent:
    reason: str
    message: str


def conditions_of(obj: Mapping[str, Any]) -> list[Condition]:
    """`status.conditions` of an object as served (camelCase keys)."""
    found = (obj.get("status") or {}).get("conditions") or []
    return [
        Condition(
            str(c.get("type", "")),
            str(c.get("status", "Unknown")),
            str(c.get("reason") or ""),
            str(c.get("message") or ""),
        )
        for c in found
        if isinstance(c, Mapping)
    ]


def condition_of(obj: Mapping[str, Any], type: str) -> Condition | None:
    return next((c for c in conditions_of(obj) if c.type == type), None)


def kustomization_status_of(obj: Mapping[str, Any]) -> KustomizationStatus:
    status = obj.get("status") or {}
    return KustomizationStatus(
        condition_of(obj, READY_CONDITION),
        status.get("lastAppliedRevision") or None,
        status.get("lastAttemptedRevision") or None,
    )


def hostname_of(obj: Mapping[str, Any]) -> str | None:
    """The first `status.loadBalancer.ingress[].hostname` (the tailnet FQDN), if any."""
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return next(
        (str(e["hostname"]) for e in entries if isinstance(e, Mapping) and e.get("hostname")), None
    )


def same_revision(applied: str | None, wanted: str) -> bool:
    """Flux writes `<branch>@sha1:<sha>`; a bare commit sha names the same revision."""
    if not applied:
        return False
    return applied == wanted or applied.endswith(f"sha1:{wanted}")


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy an equality-based selector (`a=b,c==d,e!=f,g,!h`).

    The API server filters by the selector already; the adapter looks again because a server
    may ignore it (kmock does) and a wrong pod deleted is worse than a second look.
    """
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "(" in term:
            raise ValueError(f"set-based selector terms are not supported: {term!r}")
        if "!=" in term:
            key, value = (p.strip() for p in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (p.strip() for p in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def exposed_of(kind: str, obj: Mapping[str, Any]) -> Exposed:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    annotations = meta.get("annotations") or {}
    return Exposed(
        kind,
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
        spec.get("ingressClassName"),
        spec.get("type"),
        spec.get("loadBalancerClass"),
        hostname_of(obj),
        condition_of(obj, PROXY_READY_CONDITION),
        tuple(sorted(k for k in annotations if str(k).startswith(LAN_LB_PREFIXES))),
    )


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})
