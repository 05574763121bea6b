"""What a slice derives from the repo: the old exposure, its backend, and the new tailnet names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ingress2tailscale.config import MigrationConfig, ServiceSlice
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import MIDDLEWARE_ANNOTATION, is_dns_label
from ingress2tailscale.model import Document, ResourceRef
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

    @property
    def new_ref(self) -> ResourceRef:
        kind = "Service" if self.spec.expose == "tcp" else "Ingress"
        return ResourceRef(kind, self.source.namespace, self.new_name)


def derive_exposure(config: MigrationConfig, inventory: Inventory, name: str) -> Exposure:
    spec = config.service_slices()[name]
    ref = ResourceRef(spec.source.kind, spec.source.namespace, spec.source.name)
    source = inventory.get(ref)
    copies = inventory.copies(ref)
    if len(copies) > 1:
        raise PlanError(
            f"{config.source_path}: slices.{name}.from: {ref} is defined {len(copies)} times: "
            + ", ".join(f"{d.path}:{d.line}" for d in copies)
            + "; Flux applies them all, and the migration would change only one. Keep one "
            "(a stray copy can go; a variant belongs in a kustomize patch), then plan again"
        )
    if source is None:
        raise PlanError(
            f"{config.source_path}: slices.{name}.from: {ref} is not in the GitOps repo "
            f"{inventory.tree.root}; check the kind, namespace and name (or gitops.path)"
            + _same_name_elsewhere(inventory, ref)
        )
    if spec.expose == "https" and spec.source.kind != "Ingress":
        return _https_from_service(config, name, spec, source)
    if spec.expose == "https":
        return _from_ingress(config, name, spec, source)
    return _from_service(config, name, spec, source)


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
    elif spec.source.kind == "Ingress":
        new_name = f"{spec.source.name}-tailnet"
    else:
        new_name = f"{stem(spec.source.name)}-tailnet"
    return ResourceRef(kind, spec.source.namespace, new_name)


def _from_ingress(
    config: MigrationConfig, name: str, spec: ServiceSlice, src: Document
) -> Exposure:
    body = src.body
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
        middlewares=tuple(_middlewares(body)),
        routes=tuple(_routes(body)) if spec.backend is None and len(distinct) > 1 else (),
        backends=tuple(distinct) if spec.backend is None else (backend,),
    )


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
