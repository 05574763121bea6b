"""Exposures defined inside HelmRelease values (an `ingress` block with hosts, a LoadBalancer
`service`): recognised, not migrated yet. Discover lists them as left out; a slice naming an
object that only such values render is told so, instead of "not in the repo"."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import (
    EXPOSE_ANNOTATION,
    HELM_RELEASE_KIND,
    HELM_VALUES_KEY,
    TAILSCALE_CLASS,
)
from ingress2tailscale.manifest_yaml import load_manifest
from ingress2tailscale.model import Document, ResourceRef
from ingress2tailscale.repo.inventory import Inventory

NOT_SUPPORTED = "defined in HelmRelease values: not supported yet"


@dataclass(frozen=True)
class ValuesExposure:
    """One exposure found in a release's values: what it renders and where it is written."""

    release: Document
    kind: str  # "Ingress" or "Service"
    where: str  # e.g. values.ingress.app
    host: str | None = None
    on_tailnet: bool = False

    def describe(self) -> str:
        what = "ingress" if self.kind == "Ingress" else "service"
        host = f", host {self.host}" if self.host else ""
        return f"{what} at {self.where}{host}"


def left_out_reason(exposure: ValuesExposure) -> str:
    """Why discover does not propose it."""
    if exposure.on_tailnet:
        return f"already on the tailnet ({exposure.describe()})"
    return f"{NOT_SUPPORTED} ({exposure.describe()})"


def rendered_hint(exposures: list[ValuesExposure]) -> str:
    """What to say of an object that only HelmRelease values define."""
    where = "; ".join(
        f"{e.release.ref} ({e.release.path}:{e.release.line}, {e.describe()})" for e in exposures
    )
    return (
        f"is not a manifest in the GitOps repo: it is defined in the values of {where}, which "
        "ingress2tailscale does not support yet. Move it by hand, or write it as a manifest "
        "(kubectl get -o yaml, cleaned) and point `from` at that"
    )


def values_exposures(inventory: Inventory, release: Document) -> list[ValuesExposure]:
    """The exposures a HelmRelease's values (inline, then `valuesFrom` ConfigMaps) define."""
    found: list[ValuesExposure] = []
    for where, values in _values(inventory, release):
        found += _walk(release, where, values, in_ingress=False, in_service=False)
    return found


def releases_rendering(inventory: Inventory, ref: ResourceRef) -> list[ValuesExposure]:
    """Exposures of `ref`'s kind in the values of the releases of its namespace that would
    name it (a chart names its objects after the release, or the release after a prefix)."""
    found = []
    for release in inventory.of_kind(HELM_RELEASE_KIND, ref.namespace, applied_only=True):
        name = release.name
        if not (name == ref.name or ref.name.startswith(f"{name}-") or name.startswith(ref.name)):
            continue
        found += [e for e in values_exposures(inventory, release) if e.kind == ref.kind]
    return found


def _values(inventory: Inventory, release: Document) -> Iterator[tuple[str, Any]]:
    try:
        spec = release.body.get("spec") or {}
    except InventoryError:
        return
    if isinstance(spec.get("values"), Mapping):
        yield "values", spec["values"]
    for source in spec.get("valuesFrom") or []:
        if not isinstance(source, Mapping) or source.get("kind") != "ConfigMap":
            continue
        cm = inventory.find("ConfigMap", release.namespace, str(source.get("name", "")))
        key = str(source.get("valuesKey") or HELM_VALUES_KEY)
        text = ((cm.body.get("data") or {}) if cm else {}).get(key)
        try:
            values = load_manifest(text) if isinstance(text, str) else None
        except yaml.YAMLError:
            continue
        if isinstance(values, Mapping):
            yield f"ConfigMap {cm.namespace}/{cm.name} {key}" if cm else key, values


def _walk(
    release: Document, where: str, node: Any, in_ingress: bool, in_service: bool
) -> list[ValuesExposure]:
    if not isinstance(node, Mapping) or node.get("enabled") is False:
        return []
    if in_ingress and node.get("hosts"):
        return [_ingress(release, where, node)]
    if in_service and (node.get("type") == "LoadBalancer" or _exposed(node)):
        return [_service(release, where, node)]
    found = []
    for key, child in node.items():
        word = str(key).lower()
        found += _walk(
            release,
            f"{where}.{key}",
            child,
            in_ingress or word == "ingress",
            in_service or word == "service",
        )
    return found


def _ingress(release: Document, where: str, node: Mapping[str, Any]) -> ValuesExposure:
    first = (node.get("hosts") or [None])[0]
    host = first.get("host") if isinstance(first, Mapping) else first
    ingress_class = node.get("className") or node.get("ingressClassName")
    on_tailnet = ingress_class == TAILSCALE_CLASS
    return ValuesExposure(release, "Ingress", where, str(host) if host else None, on_tailnet)


def _service(release: Document, where: str, node: Mapping[str, Any]) -> ValuesExposure:
    on_tailnet = node.get("loadBalancerClass") == TAILSCALE_CLASS or _exposed(node)
    return ValuesExposure(release, "Service", where, on_tailnet=on_tailnet)


def _exposed(node: Mapping[str, Any]) -> bool:
    """The operator's `tailscale.com/expose` annotation: the Service is on the tailnet."""
    annotations = node.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return False
    return str(annotations.get(EXPOSE_ANNOTATION, "")).lower() == "true"
