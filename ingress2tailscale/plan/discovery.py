"""Inventory -> a proposed migration: which exposures become slices, and what is left out and why.

Pure: it reads the inventory and decides; `flows.discover` writes the proposal as config YAML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import (
    CILIUM_POOL_KIND,
    FLUX_KUSTOMIZE_API,
    HELM_RELEASE_KIND,
    HOMEPAGE_HOSTS_ENV,
    HOMEPAGE_SERVICES_KEY,
    INGRESS_ROUTE_KIND,
    TRAEFIK_API_GROUPS,
)
from ingress2tailscale.model import Document, Notice
from ingress2tailscale.plan.candidates import (
    Candidate,
    LeftOut,
    body_of,
    classify_ingress,
    classify_ingressroute,
    classify_service,
    demoted_backends,
    dns_label,
    is_gated_repo,
)
from ingress2tailscale.plan.helm_values import values_exposures
from ingress2tailscale.plan.release_candidates import classify_release
from ingress2tailscale.repo.inventory import Inventory

LINKS_SLICE = "links"
EXPOSURE_KINDS = ("Ingress", "IngressRoute", "Service", HELM_RELEASE_KIND)
NOT_APPLIED = "not applied: no Flux Kustomization reaches its file"


@dataclass(frozen=True)
class ProposedSlice:
    name: str
    candidate: Candidate
    tags: tuple[str, ...]

    @property
    def explicit_hostname(self) -> bool:
        """tcp always names its host; https only when the default (old host label) is not it."""
        c = self.candidate
        return c.expose == "tcp" or not c.label_derived or self.name != c.label


@dataclass(frozen=True)
class HomepageRef:
    namespace: str
    configmap: str
    deployment: str


@dataclass(frozen=True)
class FluxTarget:
    """The Flux objects that apply the slices' folders (most specific Kustomization per file)."""

    namespace: str
    source: str
    branch: str | None
    kustomizations: tuple[str, ...]


@dataclass(frozen=True)
class Proposal:
    slices: tuple[ProposedSlice, ...]
    homepage: HomepageRef | None
    left_out: tuple[LeftOut, ...]
    flux: FluxTarget | None
    notes: tuple[Notice, ...] = ()  # what the scan could not read, or left out on purpose
    applied_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # file -> Flux ks

    def tag_ports(self) -> dict[str, list[int | str]]:
        """Every tag used, with the tailnet ports its devices serve (for tagOwners and ACLs)."""
        found: dict[str, list[int | str]] = {}
        for sl in self.slices:
            for tag in sl.tags:
                ports = found.setdefault(tag, [])
                ports.extend(p for p in sl.candidate.ports if p not in ports)
        return found


def propose_config(inventory: Inventory, tag: str = "tag:k8s") -> Proposal:
    """Classify every Traefik Ingress and LoadBalancer Service of the repo into slices or not."""
    notes = inventory.reading_notices()
    gated = is_gated_repo(inventory)
    ingresses: list[Candidate | LeftOut] = [
        classify_ingress(inventory, d, gated)
        for d in _readable(inventory.of_kind("Ingress", applied_only=True), notes)
    ]
    ingresses += [
        classify_ingressroute(inventory, d, gated)
        for d in _readable(inventory.of_kind(INGRESS_ROUTE_KIND, applied_only=True), notes)
        if d.api_version.startswith(TRAEFIK_API_GROUPS)
    ]
    ingresses += [
        found
        for release in _readable(inventory.of_kind(HELM_RELEASE_KIND, applied_only=True), notes)
        for found in classify_release(inventory, release, gated)
    ]
    https = [c for c in ingresses if isinstance(c, Candidate) and c.expose == "https"]
    https.sort(key=lambda c: (c.source.path, c.source.index))
    demoted = demoted_backends(https)
    pools = bool(inventory.of_kind(CILIUM_POOL_KIND, applied_only=True))
    services = [
        classify_service(d, demoted, pools)
        for d in _readable(inventory.of_kind("Service", applied_only=True), notes)
    ]
    tcp = [c for c in services if isinstance(c, Candidate)]
    tcp += [c for c in ingresses if isinstance(c, Candidate) and c.expose == "tcp"]
    named = assign_names([*tcp, *https], tag)
    homepage = find_homepage(inventory)
    paths = [s.candidate.source.path for s in named]
    if homepage is not None:
        cm = inventory.find("ConfigMap", homepage.namespace, homepage.configmap)
        paths += [cm.path] if cm else []
    flux = find_flux(inventory, paths)
    left = [x for x in ingresses + services if isinstance(x, LeftOut)]
    left += _unapplied_exposures(inventory)
    left.sort(key=lambda x: (x.document.path, x.document.index))
    applied_by = {
        path: tuple(str(ref).removeprefix("Kustomization ") for ref in inventory.appliers(path))
        for path in {s.candidate.source.path for s in named}
    }
    return Proposal(tuple(named), homepage, tuple(left), flux, tuple(notes), applied_by)


def _unapplied_exposures(inventory: Inventory) -> list[LeftOut]:
    """Exposures in files no Flux Kustomization applies (an archive, a disabled app): routes,
    LoadBalancer Services, and releases whose values expose something."""
    found = []
    for kind in EXPOSURE_KINDS:
        for doc in inventory.of_kind(kind):
            if not inventory.is_applied(doc.path) and _exposes(inventory, doc):
                found.append(LeftOut(doc, NOT_APPLIED))
    return found


def _exposes(inventory: Inventory, doc: Document) -> bool:
    if doc.kind == "Service":
        return (body_of(doc).get("spec") or {}).get("type") == "LoadBalancer"
    if doc.kind == HELM_RELEASE_KIND:
        return bool(values_exposures(inventory, doc))
    return True


def _readable(docs: Iterable[Document], notes: list[Notice]) -> list[Document]:
    """The documents whose body parses, in file order; each other one becomes a note."""
    found = []
    for doc in _in_file_order(docs):
        try:
            doc.body  # noqa: B018  # parsed here so that one bad file is a note, not the end
        except InventoryError as exc:
            notes.append(Notice("warning", doc.path, f"{exc}; left out"))
            continue
        found.append(doc)
    return found


def assign_names(candidates: Sequence[Candidate], tag: str) -> list[ProposedSlice]:
    """Slice name = tailnet hostname = the wanted label; a clash adds the namespace."""
    counts = Counter(c.label for c in candidates)
    taken = {LINKS_SLICE}
    named = []
    for c in candidates:
        name = c.label
        if counts[name] > 1 or name in taken:
            name = dns_label(f"{c.label}-{c.source.namespace}")
        name = _unused(name, taken)
        taken.add(name)
        named.append(ProposedSlice(name, c, (tag,)))
    return named


def _unused(name: str, taken: set[str]) -> str:
    n, found = 2, name
    while found in taken:
        suffix = f"-{n}"
        found, n = dns_label(name[: 63 - len(suffix)] + suffix), n + 1
    return found


# --- consumers and Flux ----------------------------------------------------------------------


def find_homepage(inventory: Inventory) -> HomepageRef | None:
    """A gethomepage.dev install: a ConfigMap with services.yaml and a Deployment with its env."""
    for cm in _in_file_order(inventory.of_kind("ConfigMap", applied_only=True)):
        if HOMEPAGE_SERVICES_KEY not in (body_of(cm).get("data") or {}):
            continue
        for deployment in _in_file_order(
            inventory.of_kind("Deployment", cm.namespace, applied_only=True)
        ):
            if HOMEPAGE_HOSTS_ENV in _env_names(body_of(deployment)):
                return HomepageRef(cm.namespace, cm.name, deployment.name)
    return None


def _env_names(body: Mapping[str, Any]) -> set[str]:
    pod = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
    return {str(e.get("name")) for c in containers for e in c.get("env") or []}


def find_flux(inventory: Inventory, paths: Sequence[str]) -> FluxTarget | None:
    """The Flux Kustomizations applying `paths` (the deepest `spec.path` holding each file)."""
    flux = [
        k
        for k in inventory.of_kind("Kustomization")
        if k.api_version.startswith(FLUX_KUSTOMIZE_API)
    ]
    chosen: list[Document] = []
    for path in paths:
        appliers = [inventory.get(ref) for ref in inventory.appliers(path)]
        holders = [k for k in appliers if k is not None] or [k for k in flux if _holds(k, path)]
        best = max(holders, key=lambda k: len(_flux_path(k)), default=None)
        if best is not None and best not in chosen:
            chosen.append(best)
    if not chosen:
        return None
    first = chosen[0]
    source = (body_of(first).get("spec") or {}).get("sourceRef") or {}
    name, namespace = str(source.get("name", "")), str(source.get("namespace") or first.namespace)
    git = inventory.find("GitRepository", namespace, name)
    branch = ((body_of(git).get("spec") or {}).get("ref") or {}).get("branch") if git else None
    same_ns = tuple(k.name for k in chosen if k.namespace == first.namespace)
    return FluxTarget(first.namespace, name, str(branch) if branch else None, same_ns)


def _flux_path(kustomization: Document) -> str:
    raw = str((body_of(kustomization).get("spec") or {}).get("path") or ".")
    return str(PurePosixPath(raw.lstrip("/")))


def _holds(kustomization: Document, path: str) -> bool:
    folder = _flux_path(kustomization)
    return folder == "." or path.startswith(f"{folder}/")


def _in_file_order(docs: Iterable[Document]) -> list[Document]:
    return sorted(docs, key=lambda d: (d.path, d.index))
