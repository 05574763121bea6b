"""Consumers that follow migrated services: homepage `services.yaml` links and allowed hosts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from ingress2tailscale.config import HomepageConsumer
from ingress2tailscale.edit import manifests
from ingress2tailscale.errors import PlanError
from ingress2tailscale.kinds import HELM_RELEASE_KIND, HOMEPAGE_HOSTS_ENV
from ingress2tailscale.model import Notice, ResourceRef
from ingress2tailscale.plan.workspace import Workspace


def plan_homepage(
    ws: Workspace,
    consumer: HomepageConsumer,
    hosts: Mapping[str, str],
    own_hosts: Sequence[str],
) -> list[Notice]:
    """Point homepage links at the tailnet names and allow the homepage's own tailnet host."""
    cm_ref = ResourceRef("ConfigMap", consumer.namespace, consumer.configmap)
    deploy_ref = ResourceRef("Deployment", consumer.namespace, consumer.deployment)
    notices = []
    for ref in (cm_ref, deploy_ref):
        if ws.inventory.get(ref) is None:
            raise PlanError(f"consumers.homepage: {ref} is not in the GitOps repo" + _why(ws, ref))
        copies = ws.inventory.applied_copies(ref)
        if len(copies) > 1:
            where = ", ".join(f"{d.path}:{d.line}" for d in copies)
            raise PlanError(
                f"consumers.homepage: {ref} is defined {len(copies)} times ({where}); the links "
                "would follow in one of them only: keep one, then plan again"
            )
    cm = ws.inventory.get(cm_ref)
    assert cm is not None
    if consumer.key not in (cm.body.get("data") or {}):
        raise PlanError(f"{cm}: has no data key {consumer.key!r} (consumers.homepage.key)")
    _edit(ws, cm_ref, cm.path, lambda d: _relink(d, consumer.key, hosts))
    deploy = ws.inventory.get(deploy_ref)
    assert deploy is not None
    if not _has_env(deploy.body, consumer.env):
        notices.append(Notice("warning", str(deploy_ref), f"has no {consumer.env} env var"))
    elif own_hosts:
        _edit(ws, deploy_ref, deploy.path, lambda d: _allow(d, consumer.env, own_hosts))
    return notices


def _why(ws: Workspace, ref: ResourceRef) -> str:
    """A HelmRelease of the homepage's namespace that deploys it; else: check the names."""
    for release in ws.inventory.of_kind(HELM_RELEASE_KIND, ref.namespace, applied_only=True):
        if release.name == ref.name or HOMEPAGE_HOSTS_ENV in release.text:
            return (
                f": homepage is deployed by {release.ref} ({release.path}:{release.line}), whose "
                "values ingress2tailscale does not edit yet. Change its services.yaml links and "
                f"{HOMEPAGE_HOSTS_ENV} by hand, and remove the links slice (or its homepage)"
            )
    return "; check the names"


def _edit(ws: Workspace, ref: ResourceRef, path: str, edit: manifests.Edit) -> None:
    doc = ws.document(path, ref)
    ws.write(path, manifests.edit_document(ws.read(path) or "", doc, edit))


def _relink(data: CommentedMap, key: str, hosts: Mapping[str, str]) -> None:
    old = data["data"][key]
    new = manifests.replace_hosts(str(old), hosts)
    if new != old:
        data["data"][key] = (
            LiteralScalarString(new) if isinstance(old, LiteralScalarString) else new
        )


def _containers(body: Any) -> list[Any]:
    spec = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def _has_env(body: Any, name: str) -> bool:
    return any(e.get("name") == name for c in _containers(body) for e in c.get("env") or [])


def _allow(data: CommentedMap, name: str, own_hosts: Sequence[str]) -> None:
    for container in _containers(data):
        for env in container.get("env") or []:
            if env.get("name") != name or "value" not in env:
                continue
            value = env["value"]
            listed = [h.strip() for h in str(value).split(",") if h.strip()]
            missing = [h for h in own_hosts if h not in listed]
            if missing:
                kept = [str(value).rstrip(",")] if str(value).strip() else []
                env["value"] = type(value)(",".join([*kept, *missing]))
