"""The exposures of HelmRelease values that discover weighs: an app-template ingress entry or a
chart's `ingress:` block is a candidate when a forward-auth or an IP allow-list keeps it internal,
an app-template LoadBalancer service entry when a LAN load balancer serves it; values from a
`valuesFrom` source, another chart's Service, and the ingress controller's own are left out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ingress2tailscale.kinds import (
    APP_TEMPLATE_CHART,
    LAN_LB_PREFIXES,
    MIDDLEWARE_ANNOTATION,
    TRAEFIK_CLASS,
)
from ingress2tailscale.model import Document
from ingress2tailscale.plan.access import guards_of, is_internal
from ingress2tailscale.plan.candidates import (
    CONTROLLER_MARKERS,
    DNS_PORT,
    Candidate,
    LeftOut,
    dns_label,
    https_candidate,
)
from ingress2tailscale.plan.helm_values import (
    ValuesExposure,
    chart_fullname,
    is_app_template,
    left_out_reason,
    values_exposures,
)
from ingress2tailscale.repo.inventory import Inventory

BY_HAND = "move it by hand"


def classify_release(
    inventory: Inventory, release: Document, gated_repo: bool = True
) -> list[Candidate | LeftOut]:
    """Each exposure a release's values define, as a candidate slice or left out."""
    app_template = is_app_template(inventory, release)
    found: list[Candidate | LeftOut] = []
    for exposure in values_exposures(inventory, release):
        found.append(_classify(inventory, release, exposure, app_template, gated_repo))
    return found


def _classify(
    inventory: Inventory,
    release: Document,
    exposure: ValuesExposure,
    app_template: bool,
    gated_repo: bool,
) -> Candidate | LeftOut:
    if exposure.on_tailnet:
        return LeftOut(release, left_out_reason(exposure))
    if not exposure.where.startswith("values."):
        return LeftOut(
            release,
            f"{exposure.describe()}: values from a valuesFrom source, which ingress2tailscale "
            f"does not edit; {BY_HAND} (a tailnet entry next to it, then remove the old one), "
            "or inline the values in the HelmRelease",
        )
    path = exposure.where.split(".")[1:]
    node = _at(release, path)
    if exposure.kind == "Service":
        return _service(release, exposure, path, node, app_template)
    if app_template and not (len(path) == 2 and path[0] == "ingress"):
        return LeftOut(release, f"{exposure.describe()}: not an app-template entry; {BY_HAND}")
    key = path[1] if app_template else ".".join(path)
    return _ingress(inventory, release, exposure, node, key, gated_repo)


def _ingress(
    inventory: Inventory,
    release: Document,
    exposure: ValuesExposure,
    node: Mapping[str, Any],
    key: str,
    gated_repo: bool,
) -> Candidate | LeftOut:
    ingress_class = str(node.get("className") or node.get("ingressClassName") or "")
    if ingress_class and ingress_class != TRAEFIK_CLASS:
        return LeftOut(
            release, f"{exposure.describe()}: ingress class {ingress_class}, not Traefik"
        )
    annotations = node.get("annotations") or {}
    raw = (
        str(annotations.get(MIDDLEWARE_ANNOTATION) or "")
        if isinstance(annotations, Mapping)
        else ""
    )
    names = [m.strip() for m in raw.split(",") if m.strip()]
    if not names and gated_repo:
        return LeftOut(release, f"public: no forward-auth middleware ({exposure.describe()})")
    guards = guards_of(inventory, release.namespace, [(n, None) for n in names])
    if names and not is_internal(guards):
        return LeftOut(
            release,
            f"public: its middlewares ({', '.join(names)}) are not forward-auth nor an IP "
            f"allow-list ({exposure.describe()})",
        )
    candidate = https_candidate(release, exposure.host, guards, assumed=not names)
    remarks = [f"values entry {exposure.where}"]
    chart_block = key == ".".join(exposure.where.split(".")[1:])
    if chart_block and (key != "ingress" or chart_fullname(inventory, release) is None):
        remarks.append(
            "TODO set backend: {service: NAME, port: PORT}: the chart's Service name is not certain"
        )
    return replace(candidate, values_entry=("ingress", key), remarks=tuple(remarks))


def _service(
    release: Document,
    exposure: ValuesExposure,
    path: list[str],
    node: Mapping[str, Any],
    app_template: bool,
) -> Candidate | LeftOut:
    words = f"{release.name} {exposure.where}".lower()
    if any(marker in words for marker in CONTROLLER_MARKERS):
        return LeftOut(
            release, f"the ingress controller's own LoadBalancer ({exposure.describe()})"
        )
    if not (app_template and len(path) == 2 and path[0] == "service"):
        return LeftOut(
            release,
            f"{exposure.describe()}: a Service of a chart not covered ({APP_TEMPLATE_CHART} "
            f"is); {BY_HAND}",
        )
    annotations = node.get("annotations") or {}
    lan = isinstance(annotations, Mapping) and any(
        str(k).startswith(LAN_LB_PREFIXES) for k in annotations
    )
    if not (lan or node.get("loadBalancerIP")):
        return LeftOut(release, f"{exposure.describe()}: its load balancer is unknown")
    ports = tuple(
        p["port"]
        for p in (node.get("ports") or {}).values()
        if isinstance(p, Mapping) and "port" in p
    )
    if ports and set(ports) <= {DNS_PORT}:
        return LeftOut(
            release,
            "a LAN DNS server (port 53): the LAN devices that use it cannot reach a tailnet",
        )
    return Candidate(
        "tcp",
        release,
        dns_label(release.name),
        True,
        ports,
        values_entry=("service", path[1]),
        remarks=(f"values entry {exposure.where}",),
    )


def _at(release: Document, path: list[str]) -> Mapping[str, Any]:
    node: Any = (release.body.get("spec") or {}).get("values") or {}
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}
