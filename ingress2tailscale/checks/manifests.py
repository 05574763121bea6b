"""Static checks of the files a plan writes: YAML syntax, strict schemas, mis-indented top-level
fields, Service/Ingress rules of the API server and the Tailscale operator (kustomizations:
`kustomize_checks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale.checks import schemas
from ingress2tailscale.checks.kustomize import (
    PlannedTree,
    build_kustomizations,
    check_kustomizations,
    is_yaml_path,
)
from ingress2tailscale.checks.verdicts import (
    CHECKS_STORE,
    inputs_key,
    read_traced,
    verdict_store,
    write_traced,
)
from ingress2tailscale.edit.manifests import LOAD_BALANCER_ONLY
from ingress2tailscale.errors import yaml_problem
from ingress2tailscale.kinds import (
    FORWARD_ANNOTATION,
    HOSTNAME_ANNOTATION,
    KUSTOMIZE_API_GROUP,
    TAGS_ANNOTATION,
    TAILSCALE_CLASS,
    is_dns_label,
)
from ingress2tailscale.model import Level, Notice

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def check_files(
    repo_root: Path,
    changed: Mapping[str, str | None],
    base: Mapping[str, str | None] | None = None,
    base_paths: Sequence[str] | None = None,
) -> list[Notice]:
    """Check every file the plan writes. `changed` maps a repo-relative POSIX path to its new full
    text (None = the file is deleted). `base` holds earlier planned changes: part of the tree, but
    not checked again (`base_paths`: its paths sorted, when the caller keeps them). Other files
    are read from `repo_root` as they are.
    Returns error/warning Notices (ingress2tailscale.model.Notice); empty = all good."""
    tree = PlannedTree(repo_root, changed, base or {}, base_paths)
    notices = remembered_static_checks(tree)
    # kubectl would only repeat an error found already: build the folders that passed
    broken = {n.subject.rpartition(":")[0] for n in notices if n.level == "error"}
    return notices + build_kustomizations(tree, broken)


def remembered_static_checks(tree: PlannedTree) -> list[Notice]:
    """`static_checks`, or their verdict from an earlier run on the same inputs: the same
    planned texts, the same code, and a tree (earlier planned changes over the disk) that answers
    every question they asked the same: what else was planned before is not part of the key."""
    store = verdict_store(tree.root, CHECKS_STORE)
    key = inputs_key(str(tree.root), sorted(tree.changed.items()))
    notices = read_traced(store, key, tree.answer)
    if notices is None:
        notices = static_checks(tree)
        write_traced(store, key, tree.probe_list(), notices)
    return notices


def static_checks(tree: PlannedTree) -> list[Notice]:
    """Every changed manifest on its own, then the kustomizations around the changes."""
    notices: list[Notice] = []
    for path, text in sorted(tree.changed.items()):
        if text is not None and is_yaml_path(path):
            notices += check_manifest_file(path, text)
    return notices + check_kustomizations(tree)


def check_manifest_file(path: str, text: str) -> list[Notice]:
    """Syntax, structure, schema and our own rules for every document of one YAML file."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        return [_syntax_notice(path, exc)]
    notices: list[Notice] = []
    for node in nodes:
        if isinstance(node, yaml.MappingNode):
            notices += check_object(_Doc(path, node, schemas.to_data(node)))
    return notices


def check_object(doc: _Doc) -> list[Notice]:
    """One document: a mis-indented field alone (one clear message), else schema and rules."""
    if not isinstance(doc.data.get("kind"), str) or doc.is_kustomize_config:
        return []
    misplaced = schemas.find_misplaced_field(doc.node, doc.kind, doc.path)
    if misplaced is not None:
        return [doc.notice("error", *misplaced)]
    problems = schemas.iter_schema_problems(doc.node, doc.data)
    notices = [doc.notice("error", line, message) for line, message in problems]
    notices += check_unknown_kind(doc)
    if doc.kind == "Service":
        notices += check_service(doc)
    elif doc.kind == "Ingress":
        notices += check_ingress(doc)
    return notices


def check_unknown_kind(doc: _Doc) -> list[Notice]:
    """A built-in API group (no dot in it) with a kind we have no schema for is likely a typo."""
    group = doc.api_version.rpartition("/")[0]
    if "." in group or schemas.has_schema(doc.api_version, doc.kind):
        return []
    message = f"no Kubernetes kind `{doc.kind}` exists in `{doc.api_version}`: check its spelling"
    return [doc.notice("warning", doc.line("kind"), message)]


def check_service(doc: _Doc) -> list[Notice]:
    """What the API server rejects in a Service, and what the Tailscale operator needs."""
    spec = _mapping(doc.data.get("spec"))
    svc_type = spec.get("type", "ClusterIP")
    notices: list[Notice] = []
    if svc_type not in SERVICE_TYPES:
        message = f"`spec.type` is `{svc_type}`: use one of {', '.join(SERVICE_TYPES)}"
        notices.append(doc.error(("spec", "type"), message))
    if svc_type != "ExternalName" and not spec.get("ports"):
        message = (
            f"Service {doc.name} has no `spec.ports`; the API server rejects it "
            "(spec.ports: Required value): add its ports"
        )
        notices.append(doc.error(("spec",), message))
    notices += _load_balancer_leftovers(doc, spec, svc_type)
    if spec.get("loadBalancerClass") == TAILSCALE_CLASS:
        notices += check_tailscale_service(doc, svc_type)
    return notices


def check_tailscale_service(doc: _Doc, svc_type: object) -> list[Notice]:
    """`loadBalancerClass: tailscale` needs type LoadBalancer and a DNS-label hostname."""
    notices: list[Notice] = []
    if svc_type != "LoadBalancer":
        message = (
            "`loadBalancerClass: tailscale` needs `type: LoadBalancer` "
            "(the API server rejects the class on any other type)"
        )
        notices.append(doc.error(("spec", "loadBalancerClass"), message))
    hostname = doc.annotations.get(HOSTNAME_ANNOTATION)
    if hostname is None:
        message = f"no `{HOSTNAME_ANNOTATION}` annotation: the device will be `<namespace>-<name>`"
        notices.append(doc.notice("warning", doc.line("metadata"), message))
    elif not is_dns_label(hostname):
        message = (
            f"`{HOSTNAME_ANNOTATION}: {hostname}` is not a DNS label (a-z, 0-9, '-', at most "
            "63 characters): the operator marks the Service ProxyInvalid"
        )
        notices.append(doc.error(("metadata", "annotations", HOSTNAME_ANNOTATION), message))
    return notices


def check_ingress(doc: _Doc) -> list[Notice]:
    """A tailscale Ingress: both annotations, a TLS host, and rules only for that host."""
    spec = _mapping(doc.data.get("spec"))
    if spec.get("ingressClassName") != TAILSCALE_CLASS:
        return []
    notices = _tailscale_annotations(doc)
    tls = spec.get("tls")
    first = tls[0] if isinstance(tls, list) and tls and isinstance(tls[0], dict) else {}
    hosts = first.get("hosts") if isinstance(first.get("hosts"), list) else []
    host = hosts[0] if hosts else None
    if not isinstance(host, str):
        message = "a tailscale Ingress needs `spec.tls[0].hosts[0]`: the device is named after it"
        return [*notices, doc.error(("spec",), message)]
    notices += _tls_host_notices(doc, host)
    for index, rule in enumerate(spec.get("rules") or []):
        rule_host = rule.get("host") if isinstance(rule, dict) else None
        if rule_host not in (None, "", host):
            message = (
                f"rule host `{rule_host}` differs from `spec.tls[0].hosts[0]` (`{host}`): "
                "the operator drops this rule; use the same host or none"
            )
            notices.append(doc.error(("spec", "rules", index, "host"), message))
    return notices


@dataclass(frozen=True)
class _Doc:
    """One composed document of a file, with its data and helpers to place notices."""

    path: str
    node: yaml.MappingNode
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str(_mapping(self.data.get("metadata")).get("name", "?"))

    @property
    def annotations(self) -> dict[str, Any]:
        return _mapping(_mapping(self.data.get("metadata")).get("annotations"))

    @property
    def is_kustomize_config(self) -> bool:
        return self.api_version.startswith(KUSTOMIZE_API_GROUP + "/")

    def line(self, *path: schemas.PathKey) -> int:
        return schemas.line_at(self.node, path)

    def notice(self, level: Level, line: int, message: str) -> Notice:
        return Notice(level, f"{self.path}:{line}", message)

    def error(self, path: tuple[schemas.PathKey, ...], message: str) -> Notice:
        return self.notice("error", self.line(*path), message)


def _load_balancer_leftovers(doc: _Doc, spec: dict[str, Any], svc_type: object) -> list[Notice]:
    """Fields the API server rejects unless the Service is a LoadBalancer (contract §C.4)."""
    notices: list[Notice] = []
    for field in LOAD_BALANCER_ONLY if svc_type != "LoadBalancer" else ():
        allowed = field == "externalTrafficPolicy" and svc_type == "NodePort"
        tailscale = field == "loadBalancerClass" and spec.get(field) == TAILSCALE_CLASS
        if field in spec and not (allowed or tailscale):
            message = (
                f"`spec.{field}` on a {svc_type} Service: the API server rejects it; remove it"
            )
            notices.append(doc.error(("spec", field), message))
    ports = spec.get("ports") if svc_type == "ClusterIP" else None
    for index, port in enumerate(ports if isinstance(ports, list) else []):
        if isinstance(port, dict) and "nodePort" in port:
            message = "`nodePort` on a ClusterIP Service: the API server rejects it; remove it"
            notices.append(doc.error(("spec", "ports", index, "nodePort"), message))
    return notices


def _tailscale_annotations(doc: _Doc) -> list[Notice]:
    """The two annotations every tailscale Ingress of this project carries."""
    notices: list[Notice] = []
    tags = doc.annotations.get(TAGS_ANNOTATION)
    bad = [t for t in str(tags or "").split(",") if not t.strip().startswith("tag:")]
    if tags is None or bad:
        message = f"`{TAGS_ANNOTATION}` must list the device's tags, each starting with `tag:`"
        notices.append(doc.error(("metadata", "annotations", TAGS_ANNOTATION), message))
    forward = doc.annotations.get(FORWARD_ANNOTATION)
    if forward != "true":
        message = f'`{FORWARD_ANNOTATION}` must be the string "true" (quoted), found {forward!r}'
        notices.append(doc.error(("metadata", "annotations", FORWARD_ANNOTATION), message))
    return notices


def _tls_host_notices(doc: _Doc, host: str) -> list[Notice]:
    """The TLS host names the device; only its first DNS label is used."""
    path = ("spec", "tls", 0, "hosts", 0)
    first = host.split(".")[0]
    if not is_dns_label(first):
        message = f"`spec.tls[0].hosts[0]` (`{host}`) must be a DNS label (a-z, 0-9, '-', ≤63)"
        return [doc.error(path, message)]
    if first != host:
        message = f"the operator uses only `{first}` of `{host}`: write `{first}`"
        return [doc.notice("warning", doc.line(*path), message)]
    return []


def _syntax_notice(path: str, exc: yaml.YAMLError) -> Notice:
    line, column, problem = yaml_problem(exc)
    if line is None:
        return Notice("error", f"{path}:1", f"{path} is not valid YAML: {problem}")
    return Notice("error", f"{path}:{line}", f"{path} line {line}, column {column}: {problem}")


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
