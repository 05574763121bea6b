"""The repo edits of phase 1 (add the tailnet exposure) and phase 2 (remove the old one)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ingress2tailscale.checks.verdicts import (
    RENDER_STORE,
    inputs_key,
    read_kept_text,
    typed,
    verdict_store,
    write_kept_text,
)
from ingress2tailscale.edit import manifests
from ingress2tailscale.kinds import (
    FORWARD_ANNOTATION,
    HOSTNAME_ANNOTATION,
    ROUTE_KINDS,
    SHARED_IP_ANNOTATIONS,
    TAGS_ANNOTATION,
    TAILSCALE_CLASS,
)
from ingress2tailscale.model import Document, Notice, ResourceRef
from ingress2tailscale.plan.exposure_model import Exposure, dashboard_annotations
from ingress2tailscale.plan.workspace import Workspace
from ingress2tailscale.repo.inventory import tls_users

SECRET_SOURCE_KINDS = ("ExternalSecret", "Certificate")  # what makes an Ingress's TLS Secret


def plan_phase1(ws: Workspace, exp: Exposure) -> list[Notice]:
    """Write the new tailnet Service/Ingress next to the old manifest and list it."""
    if ws.inventory.get(exp.new_ref) is not None:
        return []
    obj = render_service(exp) if exp.spec.expose == "tcp" else render_ingress(exp)
    existing = ws.read(exp.new_path)
    style = ws.read(exp.source.path) or ""
    text = _render(ws, obj, [] if existing else _header(exp), style)
    if existing:
        text = existing + ("" if existing.endswith("\n") else "\n") + "---\n" + text
    ws.write(exp.new_path, text)
    _list_in_kustomization(ws, exp.new_path)
    return _phase1_notices(ws, exp)


def _render(ws: Workspace, obj: dict[str, Any], header: list[str], style: str) -> str:
    """The new manifest's text, or the same text kept from an earlier run that rendered the
    same object, header and sequence style with the same code."""
    try:
        key = inputs_key("render", typed(obj), header, manifests.indents_sequences(style))
    except TypeError:  # a value JSON cannot hold (a date): rendered, not kept
        return manifests.render([obj], header, style)
    store = verdict_store(ws.inventory.tree.root, RENDER_STORE)
    text = read_kept_text(store, key)
    if text is None:
        text = manifests.render([obj], header, style)
        write_kept_text(store, key, text)
    return text


def _header(exp: Exposure) -> list[str]:
    kind = "LoadBalancer Service" if exp.spec.expose == "tcp" else "Ingress"
    return [
        f"Tailscale {kind}: {exp.fqdn} on the tailnet.",
        f"Replaces {exp.source.ref}; added by ingress2tailscale (slice {exp.slice}, phase 1).",
    ]


def render_service(exp: Exposure) -> dict[str, Any]:
    old = exp.source.body
    spec = old.get("spec") or {}
    ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
    selector = exp.spec.selector if exp.spec.selector is not None else spec.get("selector")
    new_spec: dict[str, Any] = {"type": "LoadBalancer", "loadBalancerClass": TAILSCALE_CLASS}
    new_spec["ports"] = ports
    if selector:
        new_spec["selector"] = dict(selector)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(exp, {HOSTNAME_ANNOTATION: exp.hostname}),
        "spec": new_spec,
    }


def render_ingress(exp: Exposure) -> dict[str, Any]:
    assert exp.backend is not None
    service, port = exp.backend
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    spec: dict[str, Any] = {"ingressClassName": TAILSCALE_CLASS, "tls": [{"hosts": [exp.hostname]}]}
    old_default = (exp.source.body.get("spec") or {}).get("defaultBackend")
    if not exp.routes or old_default:
        spec["defaultBackend"] = {"service": {"name": service, "port": port_ref}}
    if exp.routes:
        # no `host`: the operator drops rules whose host is not the tailnet name
        spec["rules"] = [{"http": {"paths": [dict(r) for r in exp.routes]}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(exp, {FORWARD_ANNOTATION: "true"}, dashboard_annotations(exp)),
        "spec": spec,
    }


def _metadata(
    exp: Exposure, annotations: dict[str, str], carried: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": exp.new_name}
    old_meta = exp.source.body.get("metadata") or {}
    if old_meta.get("namespace"):
        meta["namespace"] = old_meta["namespace"]
    values = {**annotations, TAGS_ANNOTATION: ",".join(exp.spec.tags), **(carried or {})}
    meta["annotations"] = {k: DoubleQuotedScalarString(v) for k, v in values.items()}
    return meta


def _list_in_kustomization(ws: Workspace, path: str) -> None:
    found = ws.kustomization(path)
    if found is None:
        return
    kpath, kdoc = found
    entry = PurePosixPath(path).name
    ws.write(kpath, manifests.add_resource(ws.read(kpath) or "", kdoc, entry))


def _phase1_notices(ws: Workspace, exp: Exposure) -> list[Notice]:
    notices = []
    if exp.routes:
        notices.append(
            Notice(
                "info",
                str(exp.source.ref),
                f"routes to {len(exp.backends)} backends: its {len(exp.routes)} paths are copied "
                f"into the tailnet Ingress (set slices.{exp.slice}.backend to send all to one)",
            )
        )
    if exp.middlewares:
        notices.append(auth_notice(exp, blocking=False))
    return notices + not_carried_notice(exp)


def auth_notice(exp: Exposure, blocking: bool = True) -> Notice:
    """The security change of dropping what stood in front of the app (forward-auth, an IP
    allow-list): it blocks phase 2 until accepted."""
    names = ", ".join(exp.middlewares)
    accepted = exp.spec.accept_auth_change
    replaced = ", ".join(exp.gates) or f"the Traefik middleware {names}"
    login = any(g.endswith("forward-auth") for g in exp.gates) or not exp.gates
    headers = (
        " (the proxy adds Tailscale-User-Login / Tailscale-User-Name identity headers)"
        if login
        else ""
    )
    return Notice(
        "error" if blocking and not accepted else "warning",
        str(exp.source.ref),
        f"phase 2 removes {replaced} ({exp.middleware_field}: {names}): who may reach "
        f"{exp.fqdn} is then decided by the tailnet policy for {', '.join(exp.spec.tags)}"
        f"{headers}, not by {'it' if len(exp.gates) < 2 else 'them'}. "
        + (
            f"Accepted (slices.{exp.slice}.accept_auth_change)."
            if accepted
            else f"Set slices.{exp.slice}.accept_auth_change: true to allow phase 2."
        ),
    )


def not_carried_notice(exp: Exposure) -> list[Notice]:
    """Middlewares that are no gate (headers, redirects) are not carried to the tailnet."""
    if not exp.not_carried:
        return []
    return [
        Notice(
            "info",
            str(exp.source.ref),
            f"the tailnet Ingress does not carry the Traefik middleware "
            f"{', '.join(exp.not_carried)}",
        )
    ]


def plan_phase2(ws: Workspace, exp: Exposure) -> list[Notice]:
    """Remove the old exposure: Traefik Ingress, unused wildcard TLS, MetalLB LoadBalancer."""
    notices: list[Notice] = []
    if ws.inventory.get(exp.source.ref) is None:
        return notices
    new = ws.inventory.get(exp.new_ref)
    if new is None or not is_tailscale(new.body):
        return [
            Notice(
                "error",
                str(exp.source.ref),
                f"phase 2 would retire it, but its replacement {exp.new_ref} (class tailscale) is "
                f"not in the repo: run phase 1 of slice {exp.slice} first",
            )
        ]
    if exp.spec.source.kind in ROUTE_KINDS:
        _retire(ws, exp, exp.source)
        notices += _retire_tls(ws, exp)
        notices += _demote_backend(ws, exp)
        if exp.middlewares:
            notices.append(auth_notice(exp))
    elif exp.spec.cleanup == "comment-out":
        _comment_out(ws, exp, exp.source)
        notices += shared_ip_notice(ws, exp.source)
    else:
        _edit(ws, exp.source, manifests.strip_load_balancer)
        notices += shared_ip_notice(ws, exp.source)
    return notices


def shared_ip_notice(ws: Workspace, service: Document) -> list[Notice]:
    """A LAN address shared with other Services (`allow-shared-ip`) stays allocated until the
    last of them is migrated."""
    key = _sharing_key(service.body)
    if key is None:
        return []
    others = [
        d
        for d in ws.inventory.of_kind("Service", service.namespace, applied_only=True)
        if d.ref != service.ref and _sharing_key(d.body) == key
    ]
    if not others:
        return []
    names = ", ".join(str(d.ref) for d in others)
    return [
        Notice(
            "info",
            str(service.ref),
            f"shares its LAN address with {names} (sharing key {key!r}): the address stays "
            "allocated, and keeps answering for them, until the last Service sharing it is "
            "migrated",
        )
    ]


def _sharing_key(body: Any) -> str | None:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    for name in SHARED_IP_ANNOTATIONS:
        if annotations.get(name):
            return str(annotations[name])
    return None


def is_tailscale(body: Any) -> bool:
    spec = body.get("spec") or {}
    return TAILSCALE_CLASS in (spec.get("ingressClassName"), spec.get("loadBalancerClass"))


def _retire(ws: Workspace, exp: Exposure, doc: Document) -> None:
    if exp.spec.cleanup == "comment-out":
        _comment_out(ws, exp, doc)
    else:
        _remove(ws, doc)


def _comment_out(ws: Workspace, exp: Exposure, doc: Document) -> None:
    current = ws.document(doc.path, doc.ref)
    note = [
        f"Replaced by {exp.new_ref} ({exp.fqdn}), ingress2tailscale slice {exp.slice}.",
        "Kept for rollback: uncomment it, or git revert the phase-2 commit.",
    ]
    ws.write(doc.path, manifests.comment_out_document(ws.read(doc.path) or "", current, note))


def _remove(ws: Workspace, doc: Document) -> None:
    current = ws.document(doc.path, doc.ref)
    rest = manifests.remove_document(ws.read(doc.path) or "", current)
    ws.write(doc.path, rest)
    if rest is None:
        found = ws.kustomization(doc.path)
        if found is not None:
            kpath, kdoc = found
            entry = PurePosixPath(doc.path).name
            ws.write(kpath, manifests.remove_resource(ws.read(kpath) or "", kdoc, entry))


def _edit(ws: Workspace, doc: Document, edit: manifests.Edit) -> None:
    current = ws.document(doc.path, doc.ref)
    ws.write(doc.path, manifests.edit_document(ws.read(doc.path) or "", current, edit))


def _retire_tls(ws: Workspace, exp: Exposure) -> list[Notice]:
    secret, ns = exp.tls_secret, exp.source.namespace
    if secret is None:
        return []
    named = ws.inventory.mentioning(secret, ws.files_naming(secret), ns)
    users = [d for d in tls_users(named, secret) if d.ref != exp.source.ref]
    sources = [
        d
        for kind in SECRET_SOURCE_KINDS
        for d in ws.inventory.of_kind(kind, ns, applied_only=True)
        if _target(d) == secret
    ]
    users += _other_mentions(exp, secret, named, users + sources)
    if users:
        who = ", ".join(str(d.ref) for d in users)
        return [Notice("info", f"Secret {ns}/{secret}", f"kept its ExternalSecret: used by {who}")]
    for doc in sources:
        _retire(ws, exp, doc)
    if not sources:
        return [
            Notice("info", f"Secret {ns}/{secret}", "no ExternalSecret in the repo produces it")
        ]
    return []


def _other_mentions(
    exp: Exposure, secret: str, named: list[Document], known: list[Document]
) -> list[Document]:
    """Other objects of the namespace that name the secret (IngressRoutes, TLSStores, pods…):
    anything that might use it keeps it, whatever its kind. `named`: the documents of the
    namespace whose text holds it."""
    skip = {exp.source.ref, exp.new_ref, *(d.ref for d in known)}
    whole = re.compile(rf"(?<![-\w.]){re.escape(secret)}(?![-\w.])")
    return [d for d in named if d.ref not in skip and whole.search(d.text)]


def _target(doc: Document) -> str:
    """The Secret an ExternalSecret (spec.target.name) or a Certificate (spec.secretName) makes."""
    spec = doc.body.get("spec") or {}
    if doc.kind == "Certificate":
        return str(spec.get("secretName") or "")
    return str((spec.get("target") or {}).get("name") or doc.name)


def _demote_backend(ws: Workspace, exp: Exposure) -> list[Notice]:
    """Backend Services that were MetalLB LoadBalancers become ClusterIP."""
    notices = []
    for service, _ in exp.backends:
        ref = ResourceRef("Service", exp.source.namespace, service)
        doc = ws.inventory.get(ref)
        if doc is None:
            notices.append(
                Notice("info", str(ref), "not in the repo (rendered by a chart?): left as it is")
            )
            continue
        spec = doc.body.get("spec") or {}
        if spec.get("type") == "LoadBalancer" or manifests.metallb_annotations(doc.body):
            _edit(ws, doc, manifests.strip_load_balancer)
            notices += shared_ip_notice(ws, doc)
    return notices
