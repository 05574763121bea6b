"""Phase 1 and phase 2 of a slice whose old exposure is an entry of HelmRelease values.

app-template: phase 1 adds a `tailnet` entry next to the old one in the same values (an ingress
of class tailscale, or a LoadBalancer service of class tailscale with the same controller and
ports); phase 2 removes the old ingress entry, or makes the old service entry ClusterIP. Another
chart's `ingress:` block: phase 1 writes a standalone tailnet Ingress next to the HelmRelease,
targeting the chart's Service; phase 2 sets the block's `enabled: false`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from ruamel.yaml.error import ReusedAnchorWarning
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ingress2tailscale.edit import helm_values, manifests
from ingress2tailscale.kinds import (
    FORWARD_ANNOTATION,
    HOSTNAME_ANNOTATION,
    SHARED_IP_ANNOTATIONS,
    TAGS_ANNOTATION,
    TAILNET_ENTRY,
    TAILSCALE_CLASS,
)
from ingress2tailscale.model import Notice
from ingress2tailscale.plan.exposure_model import Exposure, dashboard_annotations
from ingress2tailscale.plan.helm_values import ChartEntry
from ingress2tailscale.plan.phases import (
    auth_notice,
    is_tailscale,
    not_carried_notice,
    plan_phase1,
    plan_phase2,
)
from ingress2tailscale.plan.workspace import Workspace

LOAD_BALANCER_ONLY_PORT_KEYS = ("nodePort",)


def release_phase1(ws: Workspace, exp: Exposure) -> list[Notice]:
    """Phase 1 of any slice: a values entry when the slice moves one, else the tailnet object."""
    entry = exp.helm
    if entry is None:
        return plan_phase1(ws, exp)
    if entry.style == "chart":
        return plan_phase1(ws, exp)
    if entry.tailnet is not None or entry.node is None or entry.entry is None:
        return []
    new = _service_entry(exp, entry.node) if exp.spec.expose == "tcp" else _ingress_entry(exp)
    edits = [helm_values.add_entry(entry.block, entry.entry, TAILNET_ENTRY, new)]
    notices = [_naming_notice(exp, entry)]
    if exp.spec.expose == "tcp":
        edits += _keep_name(exp, entry)
    _edit(ws, exp, edits)
    if exp.middlewares:
        notices.append(auth_notice(exp, blocking=False))
    return notices + not_carried_notice(exp)


def release_phase2(ws: Workspace, exp: Exposure) -> list[Notice]:
    """Phase 2 of any slice: retire the values entry when the slice moves one."""
    entry = exp.helm
    if entry is None:
        return plan_phase2(ws, exp)
    if entry.retired:
        return []
    if not _replacement_there(ws, exp, entry):
        return [
            Notice(
                "error",
                str(exp.source.ref),
                f"phase 2 would retire {entry.where}, but its replacement {exp.new_ref} (class "
                f"tailscale) is not in the repo: run phase 1 of slice {exp.slice} first",
            )
        ]
    if entry.style == "chart":
        _edit(ws, exp, [helm_values.set_value(entry.block, "enabled", False)])
    elif exp.spec.expose == "tcp":
        _edit(ws, exp, [helm_values.strip_service_load_balancer((*entry.block, str(entry.entry)))])
        return _shared_ip_notice(ws, exp, entry)
    else:
        _edit(ws, exp, [helm_values.remove_entry(entry.block, str(entry.entry))])
    return [auth_notice(exp)] if exp.middlewares else []


def _replacement_there(ws: Workspace, exp: Exposure, entry: ChartEntry) -> bool:
    if entry.style == "chart":
        new = ws.inventory.get(exp.new_ref)
        return new is not None and is_tailscale(new.body)
    return entry.tailnet is not None


def _ingress_entry(exp: Exposure) -> dict[str, Any]:
    assert exp.helm is not None and exp.helm.node is not None
    old = exp.helm.node
    first = next((h for h in old.get("hosts") or [] if isinstance(h, Mapping)), {})
    paths = [dict(p) for p in first.get("paths") or [] if isinstance(p, Mapping)]
    new: dict[str, Any] = {"enabled": True} if "enabled" in old else {}
    new["className"] = TAILSCALE_CLASS
    annotations = {FORWARD_ANNOTATION: "true", TAGS_ANNOTATION: ",".join(exp.spec.tags)}
    annotations |= dashboard_annotations(exp)
    new["annotations"] = {k: DoubleQuotedScalarString(v) for k, v in annotations.items()}
    new["hosts"] = [{"host": exp.hostname, "paths": paths or [{"path": "/"}]}]
    new["tls"] = [{"hosts": [exp.hostname]}]
    return new


def _service_entry(exp: Exposure, old: Mapping[str, Any]) -> dict[str, Any]:
    new: dict[str, Any] = {"enabled": True} if "enabled" in old else {}
    if "controller" in old:
        new["controller"] = old["controller"]
    new["type"] = "LoadBalancer"
    new["loadBalancerClass"] = TAILSCALE_CLASS
    annotations = {HOSTNAME_ANNOTATION: exp.hostname, TAGS_ANNOTATION: ",".join(exp.spec.tags)}
    new["annotations"] = {k: DoubleQuotedScalarString(v) for k, v in annotations.items()}
    ports = old.get("ports") or {}
    new["ports"] = {
        name: {k: v for k, v in port.items() if k not in LOAD_BALANCER_ONLY_PORT_KEYS}
        for name, port in ports.items()
        if isinstance(port, Mapping)
    }
    return new


def _keep_name(exp: Exposure, entry: ChartEntry) -> list[manifests.Edit]:
    """app-template names a Service after the release only while it is the only one (v4) or
    the primary one (v2, v3): the old entry keeps that name, so in-cluster clients still reach
    `<release>.<namespace>.svc`."""
    node = entry.node or {}
    where = (*entry.block, str(entry.entry))
    if entry.major is not None and entry.major >= 4:
        if "forceRename" in node:
            return []
        return [helm_values.set_value(where, "forceRename", exp.source.name, before="controller")]
    if "primary" in node:
        return []
    return [helm_values.set_value(where, "primary", True, before="controller")]


def _naming_notice(exp: Exposure, entry: ChartEntry) -> Notice:
    what = "Service" if exp.spec.expose == "tcp" else "Ingress"
    kept = (
        f"; the old entry is marked to keep the name {exp.source.name} (in-cluster clients "
        f"use {exp.source.name}.{exp.source.namespace}.svc)"
        if exp.spec.expose == "tcp"
        else ""
    )
    return Notice(
        "info",
        str(exp.source.ref),
        f"phase 1 adds {'.'.join(('values', *entry.block, TAILNET_ENTRY))} next to "
        f"{entry.where}: the chart renders it as {what} {exp.new_ref.name}{kept}",
    )


def _shared_ip_notice(ws: Workspace, exp: Exposure, entry: ChartEntry) -> list[Notice]:
    """Its LAN address is shared with Services that stay (`allow-shared-ip`)."""
    annotations = (entry.node or {}).get("annotations") or {}
    key = next((str(annotations[a]) for a in SHARED_IP_ANNOTATIONS if annotations.get(a)), None)
    if key is None:
        return []
    others = [
        str(d.ref)
        for d in ws.inventory.of_kind("Service", applied_only=True)  # MetalLB: any namespace
        if any(
            str(((d.body.get("metadata") or {}).get("annotations") or {}).get(a)) == key
            for a in SHARED_IP_ANNOTATIONS
        )
    ]
    if not others:
        return []
    return [
        Notice(
            "info",
            f"{exp.source.ref} {entry.where}",
            f"shares its LAN address with {', '.join(others)} (sharing key {key!r}): the "
            "address stays allocated, and keeps answering for them, until the last Service "
            "sharing it is migrated",
        )
    ]


def _edit(ws: Workspace, exp: Exposure, edits: list[manifests.Edit]) -> None:
    doc = ws.document(exp.source.path, exp.source.ref)

    def edit(data: Any) -> None:
        for one in edits:
            one(data)

    with warnings.catch_warnings():  # an anchor defined twice is legal YAML 1.2 (and Flux's)
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        before = ws.read(exp.source.path) or ""
        text = manifests.edit_document(before, doc, edit)
    ws.write(exp.source.path, helm_values.keep_spacing(before, text))
