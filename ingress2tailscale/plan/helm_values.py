"""Exposures defined inside HelmRelease values, read: app-template's `ingress.<id>` and
`service.<id>` entries, a chart's conventional `ingress:` block, values a `valuesFrom` ConfigMap
holds. `select_entry` finds the one a slice names; a slice naming an object that only such
values render is told how to name the release instead of "not in the repo"."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from ingress2tailscale.errors import InventoryError, PlanError
from ingress2tailscale.kinds import (
    APP_TEMPLATE_CHART,
    EXPOSE_ANNOTATION,
    HELM_RELEASE_KIND,
    HELM_VALUES_KEY,
    LAN_LB_PREFIXES,
    TAILNET_ENTRY,
    TAILSCALE_CLASS,
)
from ingress2tailscale.manifest_yaml import load_manifest
from ingress2tailscale.model import Document, ResourceRef
from ingress2tailscale.repo.inventory import Inventory


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
    """Why discover does not propose an exposure already on the tailnet."""
    return f"already on the tailnet ({exposure.describe()})"


def rendered_hint(exposures: list[ValuesExposure]) -> str:
    """What to say of an object that only HelmRelease values define: name the release."""
    where = "; ".join(
        f"{e.release.ref} ({e.release.path}:{e.release.line}, {e.describe()})" for e in exposures
    )
    first = exposures[0]
    return (
        f"is not a manifest in the GitOps repo: it is defined in the values of {where}. Point "
        f"`from` at the release: {{kind: HelmRelease, namespace: {first.release.namespace}, "
        f"name: {first.release.name}, {_selector(first)}}}"
    )


def _selector(exposure: ValuesExposure) -> str:
    """The `from` key selecting `exposure` (app-template `ingress: <id>`, a block's path)."""
    path = exposure.where.split(".")
    if path[0] != "values":
        return "ingress: ... (its values come from valuesFrom: move it by hand)"
    field = "service" if exposure.kind == "Service" else "ingress"
    if len(path) == 3 and path[1] == field:
        return f"{field}: {path[2]}"
    return f"{field}: {'.'.join(path[1:])}"


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


# --- the entry a slice selects ---------------------------------------------------------------


@dataclass(frozen=True)
class ChartEntry:
    """The exposure a slice moves out of a release's inline values, as the repo has it now."""

    style: str  # "app-template" (`ingress.<id>`, `service.<id>` maps) or "chart" (a block)
    block: tuple[str, ...]  # keys under spec.values: ("ingress",), ("server", "ingress")
    entry: str | None  # the app-template identifier; None for a chart's block
    node: Mapping[str, Any] | None  # the old entry; None once phase 2 removed it
    tailnet: Mapping[str, Any] | None  # the app-template tailnet entry, once phase 1 added it
    major: int | None = None  # the app-template major version, when the chart says it

    @property
    def where(self) -> str:
        return ".".join(("values", *self.block, *([self.entry] if self.entry else [])))

    @property
    def retired(self) -> bool:
        """Phase 2 ran: the app-template entry is gone (or ClusterIP), the chart's block off."""
        if self.node is None:
            return True
        if self.style == "chart":
            return self.node.get("enabled") is False
        return self.block == ("service",) and not _is_load_balancer(self.node)


def select_entry(inventory: Inventory, release: Document, kind: str, key: str) -> ChartEntry:
    """The `ingress` or `service` entry `key` of `release`'s inline values; a PlanError says
    what to do when it is not there (values from a ConfigMap, another chart, a typo)."""
    spec = release.body.get("spec") or {}
    raw = spec.get("values")
    values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    app_template = is_app_template(inventory, release)
    entries = values.get(kind)
    if isinstance(entries, Mapping) and (app_template or isinstance(entries.get(key), Mapping)):
        node = entries.get(key)
        tailnet = entries.get(TAILNET_ENTRY)
        if isinstance(node, Mapping) or isinstance(tailnet, Mapping):
            return ChartEntry(
                APP_TEMPLATE_CHART,
                (kind,),
                key,
                node if isinstance(node, Mapping) else None,
                tailnet if isinstance(tailnet, Mapping) else None,
                app_template_major(inventory, release),
            )
    block = tuple(key.split("."))
    node = _at(values, block)
    if kind == "ingress" and not app_template and isinstance(node, Mapping) and "hosts" in node:
        return ChartEntry("chart", block, None, node, None)
    raise PlanError(_missing_entry(release, kind, key, values, spec))


def _missing_entry(
    release: Document, kind: str, key: str, values: Mapping[str, Any], spec: Mapping[str, Any]
) -> str:
    where = f"{release.ref} ({release.path}:{release.line})"
    if spec.get("valuesFrom"):
        names = ", ".join(
            f"{s.get('kind')} {s.get('name')}" for s in spec["valuesFrom"] if isinstance(s, Mapping)
        )
        return (
            f"{where} takes values from {names} (valuesFrom), which ingress2tailscale does not "
            f"edit; move the {kind} by hand (add a tailnet entry next to it, then remove the "
            "old one), or inline those values in the HelmRelease and plan again"
        )
    entries = values.get(kind)
    known = ", ".join(str(k) for k in entries) if isinstance(entries, Mapping) else "none"
    return (
        f"{where} has no {kind} entry {key!r} in its values (values.{kind} entries: {known}); "
        f"set from.{kind} to one of them (app-template: the identifier; another chart: the "
        "path of its ingress block, e.g. `ingress`). A chart not covered is moved by hand"
    )


def _at(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def is_app_template(inventory: Inventory, release: Document) -> bool:
    """The release installs bjw-s app-template (by chart name, or its OCIRepository's URL)."""
    return _chart_name(inventory, release).endswith(APP_TEMPLATE_CHART)


def app_template_major(inventory: Inventory, release: Document) -> int | None:
    version = _chart_version(inventory, release)
    head = version.lstrip("v").split(".")[0]
    return int(head) if head.isdigit() else None


def chart_fullname(inventory: Inventory, release: Document) -> str | None:
    """The name a chart following Helm's `fullname` convention gives its objects, when it is
    certain: `fullnameOverride`, or a release named like its chart (else `<release>-<chart>`,
    which charts spell differently)."""
    values = (release.body.get("spec") or {}).get("values") or {}
    if isinstance(values, Mapping) and values.get("fullnameOverride"):
        return str(values["fullnameOverride"])
    chart = _chart_name(inventory, release).rsplit("/", 1)[-1]
    if chart and chart in release.name and not (values or {}).get("nameOverride"):
        return release.name
    return None


def _chart_name(inventory: Inventory, release: Document) -> str:
    spec = release.body.get("spec") or {}
    chart = ((spec.get("chart") or {}).get("spec") or {}).get("chart")
    if chart:
        return str(chart)
    source = _chart_source(inventory, release)
    return str((source.body.get("spec") or {}).get("url") or "") if source else ""


def _chart_version(inventory: Inventory, release: Document) -> str:
    spec = release.body.get("spec") or {}
    version = ((spec.get("chart") or {}).get("spec") or {}).get("version")
    if version:
        return str(version)
    source = _chart_source(inventory, release)
    ref = ((source.body.get("spec") or {}).get("ref") or {}) if source else {}
    return str(ref.get("tag") or ref.get("semver") or "")


def _chart_source(inventory: Inventory, release: Document) -> Document | None:
    ref = (release.body.get("spec") or {}).get("chartRef") or {}
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    namespace = str(ref.get("namespace") or release.namespace)
    return inventory.find(str(ref.get("kind") or "OCIRepository"), namespace, str(ref["name"]))


def _is_load_balancer(node: Mapping[str, Any]) -> bool:
    annotations = node.get("annotations") or {}
    lan = isinstance(annotations, Mapping) and any(
        str(k).startswith(LAN_LB_PREFIXES) for k in annotations
    )
    return node.get("type") == "LoadBalancer" or lan
