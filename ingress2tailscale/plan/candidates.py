"""The exposures discover weighs, one by one: a Traefik Ingress or IngressRoute is a candidate
when a forward-auth or an IP allow-list keeps it internal, a LoadBalancer Service when a LAN load
balancer (MetalLB, Cilium LB-IPAM) serves it; anything else is left out, with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import (
    EXPOSE_ANNOTATION,
    INGRESS_CLASS_ANNOTATION,
    INGRESS_ROUTE_KIND,
    LAN_LB_PREFIXES,
    MIDDLEWARE_ANNOTATION,
    MIDDLEWARE_KIND,
    TAILSCALE_CLASS,
    TRAEFIK_CLASS,
    is_dns_label,
)
from ingress2tailscale.model import Document, ResourceRef
from ingress2tailscale.plan.access import Guard, guards_of, is_internal
from ingress2tailscale.plan.exposure import first_host, stem
from ingress2tailscale.plan.ingressroute import read_ingressroute
from ingress2tailscale.repo.inventory import Inventory, iter_backends

CONTROLLER_MARKERS = ("traefik", "ingress-nginx", "haproxy", "contour", "envoy")
ENTRYPOINT_PORTS = frozenset({80, 443})
HTTPS_PORT = 443
DNS_PORT = 53


@dataclass(frozen=True)
class Candidate:
    """An old exposure worth moving: its document, wanted slice name, tailnet ports and auth."""

    expose: Literal["tcp", "https"]
    source: Document
    label: str  # wanted slice name and tailnet hostname
    label_derived: bool  # False: the old host gave no DNS label, the label is a guess
    ports: tuple[int | str, ...]
    old_host: str | None = None
    middlewares: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()  # middlewares not in the repo: assumed forward-auth
    gates: tuple[str, ...] = ()  # what phase 2 replaces: "the lan-only IP allow-list"
    allow_list_only: bool = False  # its gates are IP allow-lists, no login
    assumed_internal: bool = False  # a repo without gates: internal, to be checked
    remarks: tuple[str, ...] = ()  # TODO lines for the reviewer
    values_entry: tuple[str, str] | None = None  # a HelmRelease's ("ingress" | "service", key)


@dataclass(frozen=True)
class LeftOut:
    """An exposure that is not proposed, with the reason shown to the user."""

    document: Document
    reason: str


def dns_label(text: str) -> str:
    """`text` folded into a DNS label (lowercase, digits, '-', at most 63)."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower())[:63].strip("-")
    return label or "service"


# --- Ingresses -------------------------------------------------------------------------------


def classify_ingress(
    inventory: Inventory, doc: Document, gated_repo: bool = True
) -> Candidate | LeftOut:
    """An internal Traefik Ingress (behind forward-auth or an IP allow-list) is a candidate;
    anything else is not. In a repo with no gate at all (`gated_repo` False) every Traefik
    Ingress without middlewares is proposed, flagged for a check."""
    body = doc.body
    ingress_class = _ingress_class(body)
    if ingress_class == TAILSCALE_CLASS or ingress_class in tailnet_classes(inventory):
        return LeftOut(doc, f"already on the tailnet (ingress class {ingress_class})")
    if ingress_class != TRAEFIK_CLASS:
        return LeftOut(doc, f"ingress class {ingress_class or '(unset)'}, not Traefik")
    names = middleware_names(body)
    if not names and gated_repo:
        return LeftOut(doc, "public: no forward-auth middleware")
    guards = guards_of(inventory, doc.namespace, [(n, None) for n in names])
    if names and not is_internal(guards):
        return LeftOut(
            doc,
            f"public: its middlewares ({', '.join(names)}) are not forward-auth "
            "nor an IP allow-list",
        )
    return https_candidate(doc, first_host(body), guards, assumed=not names)


def https_candidate(
    doc: Document, host: str | None, guards: Sequence[Guard], assumed: bool = False
) -> Candidate:
    """The https candidate of a route to `host` behind `guards`."""
    label = (host or "").split(".")[0].lower()
    derived = is_dns_label(label)
    kept = [g for g in guards if g.gates or not g.found]
    return Candidate(
        expose="https",
        source=doc,
        label=label if derived else dns_label(doc.name),
        label_derived=derived,
        ports=(HTTPS_PORT,),
        old_host=host,
        middlewares=tuple(g.reference for g in kept),
        unverified=tuple(g.reference for g in kept if not g.found),
        gates=tuple(p for g in kept for p in g.phrases()),
        allow_list_only=bool(kept)
        and all(gate == "IP allow-list" for g in kept for _, gate in g.gates)
        and all(g.found for g in kept),
        assumed_internal=assumed,
    )


def classify_ingressroute(
    inventory: Inventory, doc: Document, gated_repo: bool = True
) -> Candidate | LeftOut:
    """An IngressRoute is classified like an Ingress: internal when a forward-auth or an IP
    allow-list stands in front of it; one whose only backend is Traefik's own is left out."""
    view = read_ingressroute(doc.body)
    if not view.backends:
        others = ", ".join(view.others) or "none"
        return LeftOut(
            doc,
            f"its backend is {others}, not a Kubernetes Service: nothing to put on the "
            "tailnet (it goes with Traefik)",
        )
    if not view.hosts:
        return LeftOut(doc, "no Host() in its routes: it answers every host")
    if not view.middlewares and gated_repo:
        return LeftOut(doc, "public: no forward-auth middleware")
    guards = guards_of(inventory, doc.namespace, view.middlewares)
    if view.middlewares and not is_internal(guards):
        return LeftOut(
            doc,
            f"public: its middlewares ({', '.join(view.references)}) are not forward-auth "
            "nor an IP allow-list",
        )
    candidate = https_candidate(doc, view.hosts[0], guards, assumed=not view.middlewares)
    if len(view.hosts) > 1:
        remark = (
            f"TODO check: it routes {', '.join(view.hosts)}; the tailnet name serves one host "
            "(one slice per host, or accept losing the others)"
        )
        candidate = replace(candidate, remarks=(remark,))
    return candidate


def _ingress_class(body: Mapping[str, Any]) -> str:
    spec_class = (body.get("spec") or {}).get("ingressClassName")
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(spec_class or annotations.get(INGRESS_CLASS_ANNOTATION) or "")


def middleware_names(body: Mapping[str, Any]) -> list[str]:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    raw = str(annotations.get(MIDDLEWARE_ANNOTATION) or "")
    return [m.strip() for m in raw.split(",") if m.strip()]


def is_gated_repo(inventory: Inventory) -> bool:
    """Whether the repo uses Traefik middlewares at all (then no middleware means public)."""
    if inventory.of_kind(MIDDLEWARE_KIND, applied_only=True):
        return True
    if any(middleware_names(body_of(d)) for d in inventory.of_kind("Ingress")):
        return True
    routes = inventory.of_kind(INGRESS_ROUTE_KIND)
    return any(read_ingressroute(body_of(d)).middlewares for d in routes)


def tailnet_classes(inventory: Inventory) -> set[str]:
    """Ingress classes whose controller already sits behind the tailnet: a Service of class
    tailscale (or `tailscale.com/expose`) named after the class, or selecting its pods."""
    found = set()
    for service in inventory.of_kind("Service", applied_only=True):
        body = body_of(service)
        if not _on_tailnet(body):
            continue
        selector = (body.get("spec") or {}).get("selector") or {}
        found |= {service.name, *(str(v) for v in selector.values())}
    return found


def _on_tailnet(body: Mapping[str, Any]) -> bool:
    spec = body.get("spec") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    exposed = str(annotations.get(EXPOSE_ANNOTATION, "")).lower() == "true"
    return spec.get("loadBalancerClass") == TAILSCALE_CLASS or exposed


def demoted_backends(https: Sequence[Candidate]) -> dict[ResourceRef, ResourceRef]:
    """Service -> the proposed Ingress whose phase 2 turns it into ClusterIP (its first backend)."""
    demoted: dict[ResourceRef, ResourceRef] = {}
    for c in https:
        if c.source.kind == INGRESS_ROUTE_KIND:
            backends = [svc for svc, _ in read_ingressroute(c.source.body).backends]
        else:
            backends = [svc for svc, _, _ in iter_backends(c.source.body)]
        if backends:
            demoted[ResourceRef("Service", c.source.namespace, backends[0])] = c.source.ref
    return demoted


# --- LoadBalancer Services -------------------------------------------------------------------


def classify_service(
    doc: Document, demoted: Mapping[ResourceRef, ResourceRef], cilium_pools: bool = False
) -> Candidate | LeftOut | None:
    """A MetalLB LoadBalancer is a tcp candidate, unless it is an ingress controller's entrypoint
    or the backend of a proposed Ingress; a Service that is no LoadBalancer is not mentioned."""
    spec = doc.body.get("spec") or {}
    if _on_tailnet(doc.body):
        how = "loadBalancerClass tailscale" if spec.get("loadBalancerClass") else EXPOSE_ANNOTATION
        return LeftOut(doc, f"already on the tailnet ({how})")
    if spec.get("type") != "LoadBalancer":
        return None
    if spec.get("loadBalancerClass"):
        return LeftOut(doc, f"loadBalancerClass {spec['loadBalancerClass']}, not MetalLB")
    if not _is_lan_lb(doc.body, cilium_pools):
        return LeftOut(
            doc,
            "no MetalLB or Cilium LB-IPAM annotation nor loadBalancerIP: its load balancer "
            "is unknown",
        )
    if doc.ref in demoted:
        return LeftOut(
            doc, f"backend of the proposed {demoted[doc.ref]}: its phase 2 makes it ClusterIP"
        )
    ports = tuple(_port_numbers(spec))
    if ports and set(ports) <= {DNS_PORT}:
        return LeftOut(
            doc, "a LAN DNS server (port 53): the LAN devices that use it cannot reach a tailnet"
        )
    if set(ports) <= ENTRYPOINT_PORTS and _selects_controller(spec):
        return LeftOut(doc, "public entrypoint of an ingress controller: ports 80/443 only")
    return Candidate("tcp", doc, _service_label(doc.name), True, ports)


def _is_lan_lb(body: Mapping[str, Any], cilium_pools: bool) -> bool:
    """A LAN load balancer: MetalLB or Cilium LB-IPAM annotations, a loadBalancerIP, or any
    LoadBalancer when the repo has Cilium LB-IPAM pools."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    marked = any(str(key).startswith(LAN_LB_PREFIXES) for key in annotations)
    return marked or cilium_pools or bool((body.get("spec") or {}).get("loadBalancerIP"))


def _port_numbers(spec: Mapping[str, Any]) -> Iterable[int | str]:
    for port in spec.get("ports") or []:
        value = port.get("port")
        if value is not None:
            yield value if isinstance(value, int) else str(value)


def _selects_controller(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("selector") or {}
    words = [str(w).lower() for pair in selector.items() for w in pair]
    return any(marker in word for word in words for marker in CONTROLLER_MARKERS)


def _service_label(name: str) -> str:
    return dns_label(stem(name))


def body_of(doc: Document) -> Mapping[str, Any]:
    """A document's body, or an empty one when it does not parse (the scan reported it, or
    the exposure that needs it will)."""
    try:
        return doc.body
    except InventoryError:
        return {}
