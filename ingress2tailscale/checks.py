"""Static checks of the files a plan writes: YAML syntax, strict schemas, mis-indented top-level
fields, Service/Ingress rules of the API server and the Tailscale operator, kustomizations."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale import schemas
from ingress2tailscale.model import Level, Notice

YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API_GROUP = "kustomize.config.k8s.io"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
# Service fields only a LoadBalancer may carry (contract §C.4).
LOAD_BALANCER_FIELDS = (
    "externalTrafficPolicy",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "loadBalancerClass",
    "allocateLoadBalancerNodePorts",
    "healthCheckNodePort",
)
TAILSCALE_CLASS = "tailscale"
HOSTNAME_ANNOTATION = "tailscale.com/hostname"
TAGS_ANNOTATION = "tailscale.com/tags"
FORWARD_ANNOTATION = "tailscale.com/experimental-forward-cluster-traffic-via-ingress"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "ssh:")
KUBECTL_TIMEOUT_S = 30
YAML_MAP_TAG = "tag:yaml.org,2002:map"
KLOG_PREFIX = re.compile(r'^[EWIF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=')


def check_files(
    repo_root: Path,
    changed: Mapping[str, str | None],
    base: Mapping[str, str | None] | None = None,
) -> list[Notice]:
    """Check every file the plan writes. `changed` maps a repo-relative POSIX path to its new full
    text (None = the file is deleted). `base` holds earlier planned changes: part of the tree, but
    not checked again. Other files are read from `repo_root` as they are.
    Returns error/warning Notices (ingress2tailscale.model.Notice); empty = all good."""
    tree = _Tree(repo_root, changed, dict(base or {}))
    notices: list[Notice] = []
    for path, text in sorted(changed.items()):
        if text is not None and _is_yaml(path):
            notices += check_manifest_file(path, text)
    notices += check_kustomizations(tree)
    # kubectl would only repeat an error found already: build the folders that passed
    broken = {n.subject.rpartition(":")[0] for n in notices if n.level == "error"}
    return notices + build_kustomizations(tree, broken)


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
    elif not _is_dns_label(hostname):
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


def check_kustomizations(tree: _Tree) -> list[Notice]:
    """Resources of the kustomizations above each changed file exist; new files are listed."""
    notices: list[Notice] = []
    for kpath in sorted({k for p in tree.changed for k in tree.kustomizations_above(p)}):
        notices += _check_resources(tree, kpath)
    for path, text in sorted(tree.changed.items()):
        if (
            text is not None
            and _is_yaml(path)
            and posixpath.basename(path) not in KUSTOMIZATION_NAMES
        ):
            notices += _check_listed(tree, path, text)
    return notices


def build_kustomizations(tree: _Tree, broken: set[str]) -> list[Notice]:
    """`kubectl kustomize` each folder holding a changed file, on a copy with the changes; not
    the folders holding a `broken` file, nor those with remote bases (they need the network)."""
    kubectl = shutil.which("kubectl")
    if not tree.changed or kubectl is None:
        return []
    nearest = {k for p in tree.changed for k in tree.kustomizations_above(p)[:1]}
    kfiles = {k for k in nearest if not _remote_entries(tree, k) and not _holds(k, broken)}
    if not kfiles:
        return []
    with tempfile.TemporaryDirectory(prefix="i2ts-kustomize-") as scratch:
        copy = Path(scratch) / "repo"
        tree.materialize(copy, kfiles)
        return [n for k in sorted(kfiles) for n in _run_kustomize(kubectl, copy, k)]


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


@dataclass(frozen=True)
class _Tree:
    """The repo as the plan would leave it: `changed` applied over the files under `root`."""

    root: Path
    changed: Mapping[str, str | None]
    base: Mapping[str, str | None]

    @property
    def overlay(self) -> dict[str, str | None]:
        return {**self.base, **self.changed}

    def is_file(self, path: str) -> bool:
        overlay = self.overlay
        if path in overlay:
            return overlay[path] is not None
        return (self.root / path).is_file()

    def is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        added = any(p.startswith(prefix) and t is not None for p, t in self.overlay.items())
        return added or (self.root / path).is_dir()

    def read(self, path: str) -> str:
        text = self.overlay.get(path)
        return text if text is not None else (self.root / path).read_text(errors="replace")

    def kustomization_in(self, folder: str) -> str | None:
        names = (posixpath.join(folder, n) if folder else n for n in KUSTOMIZATION_NAMES)
        return next((p for p in names if self.is_file(p)), None)

    def kustomizations_above(self, path: str) -> list[str]:
        """Kustomization files of the folders holding `path`, nearest first."""
        found, folder = [], posixpath.dirname(path)
        while True:
            kfile = self.kustomization_in(folder)
            found += [kfile] if kfile else []
            if not folder:
                return found
            folder = posixpath.dirname(folder)

    def materialize(self, dest: Path, folders: set[str]) -> None:
        """Copy the folders kustomize will read (all of the repo if one reaches up with `..`)."""
        ignore = shutil.ignore_patterns(".git")
        reaches_up = any(".." in self.read(k) for k in folders)
        if reaches_up:
            shutil.copytree(self.root, dest, symlinks=True, ignore=ignore)
        else:
            for folder in {posixpath.dirname(k) for k in folders}:
                source = self.root / folder
                if source.is_dir():
                    shutil.copytree(source, dest / folder, symlinks=True, ignore=ignore)
        for path, text in self.overlay.items():
            if not reaches_up and not any(path.startswith(posixpath.dirname(k)) for k in folders):
                continue
            target = dest / path
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)


def _load_balancer_leftovers(doc: _Doc, spec: dict[str, Any], svc_type: object) -> list[Notice]:
    """Fields the API server rejects unless the Service is a LoadBalancer (contract §C.4)."""
    notices: list[Notice] = []
    for field in LOAD_BALANCER_FIELDS if svc_type != "LoadBalancer" else ():
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
    if not _is_dns_label(first):
        message = f"`spec.tls[0].hosts[0]` (`{host}`) must be a DNS label (a-z, 0-9, '-', ≤63)"
        return [doc.error(path, message)]
    if first != host:
        message = f"the operator uses only `{first}` of `{host}`: write `{first}`"
        return [doc.notice("warning", doc.line(*path), message)]
    return []


def _check_resources(tree: _Tree, kpath: str) -> list[Notice]:
    """Every local `resources` entry is a file, or a folder with a kustomization file."""
    node, data = _load_kustomization(tree, kpath)
    folder, notices = posixpath.dirname(kpath), []
    for index, entry in enumerate(data.get("resources") or []):
        target = _local_target(folder, entry)
        if target is None or tree.is_file(target) or tree.kustomization_in(target):
            continue
        why = "this plan deletes it" if target in tree.changed else "it does not exist"
        why = "it is a folder without a kustomization" if tree.is_dir(target) else why
        line = schemas.line_at(node, ["resources", index])
        message = f"`resources` lists `{entry}` but {why}: fix or remove the entry"
        notices.append(Notice("error", f"{kpath}:{line}", message))
    return notices


def _check_listed(tree: _Tree, path: str, text: str) -> list[Notice]:
    """A new manifest next to a kustomization is applied only if the kustomization names it."""
    folder = posixpath.dirname(path)
    kpath = tree.kustomization_in(folder)
    if kpath is None or not _holds_objects(text):
        return []
    _, data = _load_kustomization(tree, kpath)
    listed = {_local_target(folder, s) for s in _strings(data)}
    if path in listed:
        return []
    message = f"{posixpath.basename(path)} is not listed in {kpath}: it will not be applied; add it"
    return [Notice("warning", f"{path}:1", message)]


def _run_kustomize(kubectl: str, copy: Path, kpath: str) -> list[Notice]:
    folder = copy / posixpath.dirname(kpath)
    try:
        result = subprocess.run(
            [kubectl, "kustomize", str(folder)],
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [
            Notice(
                "error", f"{kpath}:1", f"`kubectl kustomize` timed out after {KUBECTL_TIMEOUT_S} s"
            )
        ]
    if result.returncode == 0:
        return []
    text = KLOG_PREFIX.sub("", result.stderr.strip()).replace(f"{copy}/", "")
    if len(text) > 1 and text[0] == text[-1] == '"':  # klog quotes the error: unwrap it
        text = text[1:-1].replace("\\'", "'").replace('\\"', '"')
    return [Notice("error", f"{kpath}:1", f"`kubectl kustomize` fails for this folder: {text}")]


def _load_kustomization(tree: _Tree, kpath: str) -> tuple[yaml.Node, dict[str, Any]]:
    """The kustomization's node and data; an unreadable one counts as empty (reported elsewhere)."""
    try:
        node = yaml.compose(tree.read(kpath), Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        node = None
    data = _mapping(schemas.to_data(node)) if node is not None else {}
    api_version = str(data.get("apiVersion", KUSTOMIZE_API_GROUP))
    if node is None or not api_version.startswith(KUSTOMIZE_API_GROUP):
        return yaml.MappingNode(YAML_MAP_TAG, []), {}  # not a kustomize config (e.g. Flux's)
    return node, data


def _holds(kpath: str, paths: set[str]) -> bool:
    """Whether the folder of a kustomization file holds any of these paths (at any depth)."""
    folder = posixpath.dirname(kpath)
    return any(not folder or p == kpath or p.startswith(folder + "/") for p in paths)


def _remote_entries(tree: _Tree, kpath: str) -> list[str]:
    _, data = _load_kustomization(tree, kpath)
    entries = [*(data.get("resources") or []), *(data.get("components") or [])]
    return [e for e in entries if isinstance(e, str) and _local_target("", e) is None]


def _local_target(folder: str, entry: object) -> str | None:
    """Repo-relative path of a local kustomize entry (`name=path` allowed); None if remote."""
    if not isinstance(entry, str) or "://" in entry or entry.startswith(REMOTE_PREFIXES):
        return None
    target = posixpath.normpath(posixpath.join(folder, entry.rpartition("=")[2]))
    return None if target.startswith("../") else target


def _syntax_notice(path: str, exc: yaml.YAMLError) -> Notice:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return Notice("error", f"{path}:1", f"{path} is not valid YAML: {problem}")
    line, column = mark.line + 1, mark.column + 1
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return Notice("error", f"{path}:{line}", f"{path} line {line}, column {column}: {detail}")


def _holds_objects(text: str) -> bool:
    try:
        docs = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return False
    return any(isinstance(d, dict) and "kind" in d for d in docs)


def _strings(data: object) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict | list):
        for item in data.values() if isinstance(data, dict) else data:
            yield from _strings(item)


def _is_yaml(path: str) -> bool:
    return path.endswith(YAML_SUFFIXES) or posixpath.basename(path) in KUSTOMIZATION_NAMES


def _is_dns_label(value: object) -> bool:
    return isinstance(value, str) and DNS_LABEL.fullmatch(value) is not None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
