"""A slice's exposure: what it derives from its `from` object (the old exposure, its backend,
the tailnet names), and the names the tailnet object gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ingress2tailscale.config import MigrationConfig, ServiceSlice
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import (
    DASHBOARD_PREFIXES,
    DASHBOARD_URL_ANNOTATIONS,
    INGRESS_ROUTE_KIND,
    MIDDLEWARE_ANNOTATION,
    ROUTE_KINDS,
    ROUTE_MIDDLEWARES,
    is_dns_label,
)
from ingress2tailscale.model import Document, ResourceRef
from ingress2tailscale.plan.helm_values import ChartEntry

NAME_SUFFIXES = ("-external", "-metallb", "-loadbalancer", "-lb", "-public")
NEW_FILES = {"tcp": "tailnet-service.yaml", "https": "tailnet-ingress.yaml"}


@dataclass(frozen=True)
class Exposure:
    """Everything a slice needs to know, derived from its `from` object and overrides."""

    slice: str
    spec: ServiceSlice
    source: Document
    hostname: str
    fqdn: str
    new_name: str
    new_path: str
    backend: tuple[str, int | str] | None  # https: (service, port)
    old_host: str | None
    tls_secret: str | None
    middlewares: tuple[str, ...]
    routes: tuple[
        dict[str, Any], ...
    ] = ()  # copied paths when the old Ingress had several backends
    backends: tuple[tuple[str, int | str], ...] = ()  # every backend (service, port) it used
    gates: tuple[str, ...] = ()  # what phase 2 replaces: "the authentik forward-auth"
    not_carried: tuple[str, ...] = ()  # middlewares that are no gate: "secure-headers (headers)"
    remarks: tuple[str, ...] = ()  # what the tailnet Ingress cannot carry over (warnings)
    helm: ChartEntry | None = None  # the entry of HelmRelease values it moves
    dashboard: tuple[tuple[str, str], ...] = ()  # homepage/hajimari annotations to carry

    @property
    def middleware_field(self) -> str:
        """Where the old exposure names its middlewares."""
        return (
            ROUTE_MIDDLEWARES if self.source.kind == INGRESS_ROUTE_KIND else MIDDLEWARE_ANNOTATION
        )

    @property
    def new_ref(self) -> ResourceRef:
        kind = "Service" if self.spec.expose == "tcp" else "Ingress"
        return ResourceRef(kind, self.source.namespace, self.new_name)


def new_object_ref(config: MigrationConfig, name: str) -> ResourceRef:
    """The tailnet object a slice adds, known from the config alone (also once phase 2 ran)."""
    spec = config.service_slices()[name]
    kind = "Service" if spec.expose == "tcp" else "Ingress"
    if spec.name:
        new_name = spec.name
    elif spec.source.kind in ROUTE_KINDS:
        new_name = f"{spec.source.name}-tailnet"
    else:
        new_name = f"{stem(spec.source.name)}-tailnet"
    return ResourceRef(kind, spec.source.namespace, new_name)


def build_exposure(
    config: MigrationConfig,
    name: str,
    src: Document,
    hostname: str | None = None,
    backend: tuple[str, int | str] | None = None,
    old_host: str | None = None,
    tls_secret: str | None = None,
    middlewares: tuple[str, ...] = (),
    routes: tuple[dict[str, Any], ...] = (),
    backends: tuple[tuple[str, int | str], ...] = (),
    gates: tuple[str, ...] = (),
    not_carried: tuple[str, ...] = (),
    remarks: tuple[str, ...] = (),
    helm: ChartEntry | None = None,
    dashboard: tuple[tuple[str, str], ...] = (),
) -> Exposure:
    spec = config.service_slices()[name]
    hostname = hostname or spec.hostname or _default_service_hostname(src.name)
    return Exposure(
        slice=name,
        spec=spec,
        source=src,
        hostname=hostname,
        fqdn=f"{hostname}.{config.tailnet}",
        new_name=new_object_ref(config, name).name,
        new_path=sibling(src.path, NEW_FILES[spec.expose]),
        backend=backend,
        old_host=old_host or spec.old_host,
        tls_secret=tls_secret,
        middlewares=middlewares,
        routes=routes,
        backends=backends or ((backend,) if backend else ()),
        gates=gates,
        not_carried=not_carried,
        remarks=remarks,
        helm=helm,
        dashboard=dashboard,
    )


def first_host(body: Any) -> str | None:
    spec = body.get("spec") or {}
    for rule in spec.get("rules") or []:
        if rule.get("host"):
            return str(rule["host"])
    for tls in spec.get("tls") or []:
        for host in tls.get("hosts") or []:
            return str(host)
    return None


def label_of(host: str | None, config: MigrationConfig, name: str) -> str:
    label = (host or "").split(".")[0].lower()
    if not is_dns_label(label) or label == "*":
        raise PlanError(
            f"{config.source_path}: slices.{name}: cannot derive a tailnet hostname from "
            f"host {host!r}; set slices.{name}.hostname"
        )
    return label


def stem(name: str) -> str:
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _default_service_hostname(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", stem(name).lower())[:63].strip("-")


def sibling(path: str, name: str) -> str:
    parent = PurePosixPath(path).parent
    return name if str(parent) == "." else str(parent / name)


def dashboard_of(annotations: Any) -> tuple[tuple[str, str], ...]:
    """The dashboard annotations (homepage, hajimari) of an old exposure, to carry over."""
    if not hasattr(annotations, "items"):
        return ()
    return tuple(
        (str(k), str(v)) for k, v in annotations.items() if str(k).startswith(DASHBOARD_PREFIXES)
    )


def dashboard_annotations(exp: Exposure) -> dict[str, str]:
    """The carried dashboard annotations, each dashboard's link set to the tailnet URL."""
    found = dict(exp.dashboard)
    for prefix, url_key in DASHBOARD_URL_ANNOTATIONS.items():
        if any(key.startswith(prefix) for key in found):
            found[url_key] = f"https://{exp.fqdn}"
    return found
