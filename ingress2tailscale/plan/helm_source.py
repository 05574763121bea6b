"""What a slice derives from a HelmRelease: the entry of its values it moves (an app-template
`ingress.<id>` or `service.<id>`, or a chart's `ingress:` block), its old host, backend and
middlewares, and the tailnet names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import MIDDLEWARE_ANNOTATION
from ingress2tailscale.model import Document
from ingress2tailscale.plan.access import guards_of
from ingress2tailscale.plan.exposure_model import (
    Exposure,
    build_exposure,
    dashboard_of,
    label_of,
)
from ingress2tailscale.plan.helm_values import ChartEntry, chart_fullname, select_entry
from ingress2tailscale.repo.inventory import Inventory


def from_release(
    config: MigrationConfig, inventory: Inventory, name: str, src: Document
) -> Exposure:
    spec = config.service_slices()[name]
    kind = "ingress" if spec.source.ingress else "service"
    entry = select_entry(inventory, src, kind, spec.source.ingress or spec.source.service or "")
    if kind == "service":
        if entry.node is None:
            raise PlanError(
                f"{src.path}:{src.line}: {src.ref} has no {entry.where} any more; "
                f"check slices.{name}.from.service in {config.source_path}"
            )
        return build_exposure(config, name, src, helm=entry)
    node = entry.node if entry.node is not None else entry.tailnet
    assert node is not None  # select_entry finds one of them
    old_host = spec.old_host or (entry_hosts(node)[0] if entry.node is not None else None)
    if entry.node is None:  # phase 2 ran: the tailnet entry names the host
        hostname = spec.hostname or label_of(entry_hosts(node)[0], config, name)
    else:
        hostname = spec.hostname or label_of(old_host, config, name)
    middlewares = _middlewares(node) if entry.node is not None else []
    guards = guards_of(inventory, src.namespace, [(m, None) for m in middlewares])
    return build_exposure(
        config,
        name,
        src,
        hostname=hostname,
        backend=_backend(config, inventory, name, src, entry, node),
        old_host=old_host,
        middlewares=tuple(middlewares),
        gates=tuple(p for g in guards for p in g.phrases()),
        not_carried=tuple(f"{n} ({what})" for g in guards for n, what in g.others),
        helm=entry,
        dashboard=dashboard_of(node.get("annotations")) if entry.node is not None else (),
    )


def entry_hosts(node: Mapping[str, Any]) -> list[str]:
    """The hosts of an ingress entry: `hosts[].host` (app-template and most charts) or plain
    strings (`hosts: [a.example.com]`), then `tls[].hosts`."""
    hosts = [
        str(h.get("host") if isinstance(h, Mapping) else h)
        for h in node.get("hosts") or []
        if h and (not isinstance(h, Mapping) or h.get("host"))
    ]
    hosts += [str(h) for t in node.get("tls") or [] for h in (t or {}).get("hosts") or []]
    return hosts or [""]


def root_path(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The app-template path serving `/` (else the first one) of an ingress entry."""
    paths = [
        p
        for h in node.get("hosts") or []
        if isinstance(h, Mapping)
        for p in h.get("paths") or []
        if isinstance(p, Mapping)
    ]
    root = [p for p in paths if p.get("path") == "/"]
    return (root or paths or [{}])[0]


def _backend(
    config: MigrationConfig,
    inventory: Inventory,
    name: str,
    src: Document,
    entry: ChartEntry,
    node: Mapping[str, Any],
) -> tuple[str, int | str]:
    spec = config.service_slices()[name]
    if spec.backend is not None:
        return spec.backend.service, spec.backend.port
    if entry.style != "chart":
        service = root_path(node).get("service") or {}
        return src.name, service.get("port") or "http"
    # the chart's own Service is the one of a top-level block; a nested one (`server.ingress`)
    # targets a component's Service, which charts name as they like
    fullname = chart_fullname(inventory, src) if entry.block == ("ingress",) else None
    values = (src.body.get("spec") or {}).get("values") or {}
    port = (values.get("service") or {}).get("port") if isinstance(values, Mapping) else None
    if fullname is None or not isinstance(port, int):
        raise PlanError(
            f"{src.path}:{src.line}: the Service the chart of {src.ref} renders for "
            f"{entry.where} is not certain (name: {fullname or 'unknown'}, port: "
            f"{port if isinstance(port, int) else 'not in values.service.port'}); set "
            f"slices.{name}.backend: {{service: NAME, port: PORT}} in {config.source_path} "
            "(kubectl get services shows what the chart made)"
        )
    return fullname, port


def _middlewares(node: Mapping[str, Any]) -> list[str]:
    annotations = node.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return []
    raw = str(annotations.get(MIDDLEWARE_ANNOTATION, ""))
    return [m.strip() for m in raw.split(",") if m.strip()]
