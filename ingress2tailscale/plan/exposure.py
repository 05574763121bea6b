"""What a slice derives from the repo: the old exposure, its backend, and the new tailnet names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ingress2tailscale.config import MigrationConfig, ServiceSlice
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import (
    INGRESS_ROUTE_KIND,
    MIDDLEWARE_ANNOTATION,
    ROUTE_KINDS,
    ROUTE_MIDDLEWARES,
    is_dns_label,
)
from ingress2tailscale.model import Document, Notice, ResourceRef
from ingress2tailscale.plan.access import guards_of
from ingress2tailscale.plan.helm_values import releases_rendering, rendered_hint
from ingress2tailscale.plan.ingressroute import RouteView, ingress_paths, read_ingressroute
from ingress2tailscale.repo.inventory import Inventory, iter_backends, tls_secrets

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


def derive_exposure(config: MigrationConfig, inventory: Inventory, name: str) -> Exposure:
    spec = config.service_slices()[name]
    ref = ResourceRef(spec.source.kind, spec.source.namespace, spec.source.name)
    source = inventory.get(ref)
    copies = inventory.applied_copies(ref)
    if len(copies) > 1:
        raise PlanError(
            f"{config.source_path}: slices.{name}.from: {ref} is defined {len(copies)} times: "
            + ", ".join(f"{d.path}:{d.line}" for d in copies)
            + "; Flux applies them all, and the migration would change only one. Keep one "
            "(a stray copy can go; a variant belongs in a kustomize patch), then plan again"
        )
    if source is None:
        where = f"{config.source_path}: slices.{name}.from: {ref}"
        rendered = releases_rendering(inventory, ref)
        unapplied = _unapplied(inventory, ref)
        if rendered and not _same_name_elsewhere(inventory, ref):
            raise PlanError(f"{where} {rendered_hint(rendered)}" + unapplied)
        if unapplied:
            raise PlanError(
                f"{where} is only in files no Flux Kustomization applies{unapplied}; a slice "
                "moves what Flux applies: point `from` at the applied object, or add its folder "
                "to a Flux Kustomization first"
            )
        raise PlanError(
            f"{where} is not in the GitOps repo "
            f"{inventory.tree.root}; check the kind, namespace and name (or gitops.path)"
            + _same_name_elsewhere(inventory, ref)
        )
    if spec.expose == "https" and spec.source.kind == INGRESS_ROUTE_KIND:
        return _from_ingressroute(config, inventory, name, spec, source)
    if spec.expose == "https" and spec.source.kind != "Ingress":
        return _https_from_service(config, name, spec, source)
    if spec.expose == "https":
        return _from_ingress(config, inventory, name, spec, source)
    return _from_service(config, name, spec, source)


def _unapplied(inventory: Inventory, ref: ResourceRef) -> str:
    copies = inventory.unapplied_copies(ref)
    if not copies:
        return ""
    where = ", ".join(f"{d.path}:{d.line}" for d in copies)
    return f" (not applied by Flux: {where})"


def remark_notices(exp: Exposure) -> list[Notice]:
    """What the slice's old exposure does that the tailnet one will not."""
    return [Notice("warning", str(exp.source.ref), remark) for remark in exp.remarks]


def unapplied_notice(inventory: Inventory, exp: Exposure) -> list[Notice]:
    """The source also has copies Flux does not apply: the applied one is the slice's."""
    copies = inventory.unapplied_copies(exp.source.ref)
    if not copies:
        return []
    where = ", ".join(f"{d.path}:{d.line}" for d in copies)
    return [
        Notice(
            "info",
            str(exp.source.ref),
            f"also defined in files no Flux Kustomization applies ({where}); the slice uses the "
            f"applied one, {exp.source.path}:{exp.source.line}, and leaves those copies alone",
        )
    ]


def _same_name_elsewhere(inventory: Inventory, ref: ResourceRef) -> str:
    """A hint when the name exists under another namespace than the one configured."""
    found = [d for d in inventory.of_kind(ref.kind) if d.name == ref.name]
    if not found:
        return ""
    where = ", ".join(f"{d.path}:{d.line} (namespace {d.namespace or 'not set'})" for d in found)
    return f". Found {ref.kind} {ref.name} in {where}: set from.namespace to match"


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


def _from_ingress(
    config: MigrationConfig, inventory: Inventory, name: str, spec: ServiceSlice, src: Document
) -> Exposure:
    body = src.body
    middlewares = _middlewares(body)
    guards = guards_of(inventory, src.namespace, [(m, None) for m in middlewares])
    old_host = spec.old_host or first_host(body)
    backends = list(iter_backends(body))
    distinct = list(dict.fromkeys((svc, port) for svc, port, _ in backends))
    if spec.backend is not None:
        backend: tuple[str, int | str] = (spec.backend.service, spec.backend.port)
    elif backends:
        root = [(svc, port) for svc, port, path in backends if path == "/"]
        backend = root[0] if root else distinct[0]
    else:
        raise PlanError(
            f"{src.path}:{src.line}: {src.ref} has no backend Service; "
            f"set slices.{name}.backend in {config.source_path}"
        )
    secrets = tls_secrets(body)
    return _exposure(
        config,
        name,
        src,
        hostname=spec.hostname or _label_of(old_host, config, name),
        backend=backend,
        old_host=old_host,
        tls_secret=secrets[0] if secrets else None,
        middlewares=tuple(middlewares),
        routes=tuple(_routes(body)) if spec.backend is None and len(distinct) > 1 else (),
        backends=tuple(distinct) if spec.backend is None else (backend,),
        gates=tuple(p for g in guards for p in g.phrases()),
        not_carried=tuple(f"{n} ({what})" for g in guards for n, what in g.others),
    )


def _from_ingressroute(
    config: MigrationConfig, inventory: Inventory, name: str, spec: ServiceSlice, src: Document
) -> Exposure:
    view = read_ingressroute(src.body)
    guards = guards_of(inventory, src.namespace, view.middlewares)
    old_host = spec.old_host or (view.hosts[0] if view.hosts else None)
    distinct = list(view.backends)
    if spec.backend is not None:
        backend: tuple[str, int | str] = (spec.backend.service, spec.backend.port)
    elif distinct:
        root = [(svc, port) for path, svc, port in view.paths if path == "/"]
        backend = root[0] if root else distinct[0]
    else:
        others = ", ".join(view.others) or "none"
        raise PlanError(
            f"{src.path}:{src.line}: {src.ref} routes to no Kubernetes Service of its namespace "
            f"(its services: {others}); a TraefikService or api@internal has no tailnet "
            f"equivalent: set slices.{name}.backend in {config.source_path}, or leave it out"
        )
    copied = spec.backend is None and (len(distinct) > 1 or any(p != "/" for p, _, _ in view.paths))
    return _exposure(
        config,
        name,
        src,
        hostname=spec.hostname or _label_of(old_host, config, name),
        backend=backend,
        old_host=old_host,
        tls_secret=view.tls_secret,
        middlewares=view.references,
        routes=tuple(ingress_paths(view)) if copied else (),
        backends=tuple(distinct) if spec.backend is None else (backend,),
        gates=tuple(p for g in guards for p in g.phrases()),
        not_carried=tuple(f"{n} ({what})" for g in guards for n, what in g.others),
        remarks=tuple(_route_remarks(view, name, spec)),
    )


def _route_remarks(view: RouteView, name: str, spec: ServiceSlice) -> list[str]:
    remarks = []
    if len(view.hosts) > 1:
        kept = spec.old_host or view.hosts[0]
        dropped = ", ".join(h for h in view.hosts if h != kept)
        remarks.append(
            f"routes {len(view.hosts)} hosts ({', '.join(view.hosts)}); the tailnet Ingress has "
            f"one name, so {dropped} is not carried over: make one slice per host "
            f"(slices.{name}.old_host and hostname), or accept losing it"
        )
    if view.others:
        remarks.append(
            f"also routes to {', '.join(view.others)}, which the tailnet Ingress cannot reach "
            "(a TraefikService or api@internal has no tailnet equivalent): not carried over"
        )
    return remarks


def _routes(body: Any) -> list[dict[str, Any]]:
    """The old Ingress's HTTP paths, to copy when they go to more than one backend."""
    spec = body.get("spec") or {}
    return [
        dict(path)
        for rule in spec.get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    ]


def _https_from_service(
    config: MigrationConfig, name: str, spec: ServiceSlice, src: Document
) -> Exposure:
    ports = (src.body.get("spec") or {}).get("ports") or [{}]
    port: int | str = spec.backend.port if spec.backend else ports[0].get("port", 80)
    service = spec.backend.service if spec.backend else src.name
    return _exposure(config, name, src, backend=(service, port))


def _from_service(
    config: MigrationConfig, name: str, spec: ServiceSlice, src: Document
) -> Exposure:
    if not spec.selector and not (src.body.get("spec") or {}).get("selector"):
        raise PlanError(
            f"{config.source_path}: slices.{name}.from: {src.ref} ({src.path}:{src.line}) has "
            "no selector: its endpoints are kept by hand (an Endpoints/EndpointSlice object), "
            "and a tailnet LoadBalancer without a selector would have none. Set "
            f"slices.{name}.selector to the labels of the pods it should reach"
        )
    return _exposure(config, name, src)


def _exposure(
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
        new_path=_sibling(src.path, NEW_FILES[spec.expose]),
        backend=backend,
        old_host=old_host or spec.old_host,
        tls_secret=tls_secret,
        middlewares=middlewares,
        routes=routes,
        backends=backends or ((backend,) if backend else ()),
        gates=gates,
        not_carried=not_carried,
        remarks=remarks,
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


def _label_of(host: str | None, config: MigrationConfig, name: str) -> str:
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


def _middlewares(body: Any) -> list[str]:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    raw = str(annotations.get(MIDDLEWARE_ANNOTATION, ""))
    return [m.strip() for m in raw.split(",") if m.strip()]


def _sibling(path: str, name: str) -> str:
    parent = PurePosixPath(path).parent
    return name if str(parent) == "." else str(parent / name)
