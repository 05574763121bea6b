"""What a slice derives from the repo: the old exposure, its backend, and the new tailnet names."""

from __future__ import annotations

from typing import Any

from ingress2tailscale.config import MigrationConfig, ServiceSlice
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import HELM_RELEASE_KIND, INGRESS_ROUTE_KIND, MIDDLEWARE_ANNOTATION
from ingress2tailscale.model import Document, Notice, ResourceRef
from ingress2tailscale.plan.access import guards_of
from ingress2tailscale.plan.exposure_model import Exposure as Exposure
from ingress2tailscale.plan.exposure_model import build_exposure, dashboard_of, label_of
from ingress2tailscale.plan.exposure_model import first_host as first_host
from ingress2tailscale.plan.exposure_model import new_object_ref as new_object_ref
from ingress2tailscale.plan.exposure_model import stem as stem
from ingress2tailscale.plan.helm_source import from_release
from ingress2tailscale.plan.helm_values import releases_rendering, rendered_hint
from ingress2tailscale.plan.ingressroute import RouteView, ingress_paths, read_ingressroute
from ingress2tailscale.repo.inventory import Inventory, iter_backends, tls_secrets


def derive_exposure(config: MigrationConfig, inventory: Inventory, name: str) -> Exposure:
    """The slice's exposure on `inventory`: derived once per inventory and config."""
    key = ("exposure", name)
    kept = inventory.derived.get(key)
    if isinstance(kept, tuple) and kept[0] is config:
        exp: Exposure = kept[1]
        return exp
    exp = _derive_exposure(config, inventory, name)
    inventory.derived[key] = (config, exp)
    return exp


def _derive_exposure(config: MigrationConfig, inventory: Inventory, name: str) -> Exposure:
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
    if spec.source.kind == HELM_RELEASE_KIND:
        return from_release(config, inventory, name, source)
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
    return build_exposure(
        config,
        name,
        src,
        hostname=spec.hostname or label_of(old_host, config, name),
        backend=backend,
        old_host=old_host,
        tls_secret=secrets[0] if secrets else None,
        middlewares=tuple(middlewares),
        routes=tuple(_routes(body)) if spec.backend is None and len(distinct) > 1 else (),
        backends=tuple(distinct) if spec.backend is None else (backend,),
        gates=tuple(p for g in guards for p in g.phrases()),
        not_carried=tuple(f"{n} ({what})" for g in guards for n, what in g.others),
        dashboard=dashboard_of((body.get("metadata") or {}).get("annotations")),
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
    return build_exposure(
        config,
        name,
        src,
        hostname=spec.hostname or label_of(old_host, config, name),
        backend=backend,
        old_host=old_host,
        tls_secret=view.tls_secret,
        middlewares=view.references,
        routes=tuple(ingress_paths(view)) if copied else (),
        backends=tuple(distinct) if spec.backend is None else (backend,),
        gates=tuple(p for g in guards for p in g.phrases()),
        not_carried=tuple(f"{n} ({what})" for g in guards for n, what in g.others),
        remarks=tuple(_route_remarks(view, name, spec)),
        dashboard=dashboard_of((src.body.get("metadata") or {}).get("annotations")),
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
    return build_exposure(config, name, src, backend=(service, port))


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
    return build_exposure(config, name, src)


def _middlewares(body: Any) -> list[str]:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    raw = str(annotations.get(MIDDLEWARE_ANNOTATION, ""))
    return [m.strip() for m in raw.split(",") if m.strip()]
