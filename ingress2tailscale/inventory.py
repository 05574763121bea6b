"""GitOps tree -> Inventory: every Kubernetes document with its file, index and line (read-only).

Scanning is cheap on purpose: files are split into documents on `---` lines and the identity of
each document (kind, apiVersion, name, namespace) is read with a few anchored regexes. Bodies are
parsed with libyaml only when a plan asks for them (`Document.body`). A document the scan cannot
read with confidence (flow style, anchors, tags) is parsed right away instead. What a scan finds
is kept in a persistent cache (`scan_cache`): an unchanged file is neither read nor scanned again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.model import Document, ResourceRef, yaml_problem
from ingress2tailscale.scan_cache import Ident, ScannedFile, open_scan_cache

YAML_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API = "kustomize.config.k8s.io"
SKIP_DIRS = {".git", "node_modules", ".venv", "__pycache__"}

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.M)
_TOP = re.compile(r"^(kind|apiVersion|namespace):[ \t]*(.*?)[ \t]*$", re.M)
_METADATA = re.compile(r"^metadata:[ \t]*(?:#.*)?\n((?:(?:[ \t]+.*|[ \t]*#.*|[ \t]*)\n?)*)", re.M)
_NAMESPACE = re.compile(r"^namespace:[ \t]*(.+?)[ \t]*$", re.M)
_CONTENT = re.compile(r"^\s*[^\s#]", re.M)  # a line that is neither blank nor a comment
_PLAIN = re.compile(r"^(?:\"([^\"\\]*)\"|'([^']*)'|([^\s#'\"{}\[\]&*!|>][^#]*?))[ \t]*(?:#.*)?$")


class RepoTree:
    """The files of a GitOps repo: the folder on disk, with planned changes laid over it."""

    def __init__(self, root: Path, overrides: Mapping[str, str | None] | None = None) -> None:
        self.root = root
        self.overrides = dict(overrides or {})

    def read(self, path: str) -> str | None:
        if path in self.overrides:
            return self.overrides[path]
        try:
            with open(os.path.join(self.root, path), encoding="utf-8") as file:
                return file.read()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{path}: cannot read the file ({exc})") from exc

    def exists(self, path: str) -> bool:
        if path in self.overrides:
            return self.overrides[path] is not None
        return (self.root / path).is_file()

    def yaml_files(self) -> list[str]:
        found = set(_walk_yaml(self.root))
        for path, text in self.overrides.items():
            if path.endswith(YAML_SUFFIXES) or PurePosixPath(path).name in KUSTOMIZATION_FILES:
                (found.add if text is not None else found.discard)(path)
        return sorted(found)

    def with_changes(self, changes: Mapping[str, str | None]) -> RepoTree:
        return RepoTree(self.root, {**self.overrides, **changes})


@dataclass
class Inventory:
    """Every Kubernetes document of the tree, indexed by identity, file and kind."""

    tree: RepoTree
    documents: list[Document]
    kustomize_namespaces: dict[str, str] = field(default_factory=dict)
    _by_ref: dict[ResourceRef, list[Document]] = field(default_factory=dict, repr=False)
    _by_path: dict[str, list[Document]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self._by_ref or self._by_path:
            return  # indexes handed over by `_replaced`
        for doc in self.documents:
            self._by_ref.setdefault(doc.ref, []).append(doc)
            self._by_path.setdefault(doc.path, []).append(doc)

    def get(self, ref: ResourceRef) -> Document | None:
        found = self._by_ref.get(ref, [])
        return found[0] if found else None

    def find(self, kind: str, namespace: str, name: str) -> Document | None:
        return self.get(ResourceRef(kind, namespace, name))

    def in_file(self, path: str) -> list[Document]:
        return list(self._by_path.get(path, []))

    def of_kind(self, kind: str, namespace: str | None = None) -> list[Document]:
        return [
            d
            for d in self.documents
            if d.kind == kind and (namespace is None or d.namespace == namespace)
        ]

    def kustomization_for(self, path: str) -> str | None:
        """The kustomization file of the folder holding `path`, if the folder has one."""
        folder = PurePosixPath(path).parent
        for name in KUSTOMIZATION_FILES:
            candidate = str(folder / name) if str(folder) != "." else name
            if self.tree.exists(candidate):
                return candidate
        return None

    def ingresses_using_secret(self, namespace: str, secret: str) -> list[Document]:
        """Ingresses of a namespace whose TLS section names `secret`."""
        ingresses = self.of_kind("Ingress", namespace)
        # the text test spares parsing the Ingresses that cannot name the secret
        return [d for d in ingresses if secret in d.text and secret in tls_secrets(d.body)]

    def with_changes(self, changes: Mapping[str, str | None]) -> Inventory:
        """The inventory once `changes` are applied: only the changed files are scanned again."""
        tree = self.tree.with_changes(changes)
        namespaces = dict(self.kustomize_namespaces)
        namespaces.update(_kustomize_namespaces({p: t or "" for p, t in changes.items()}))
        for path, text in changes.items():
            if _is_kustomization(path) and not (text and _NAMESPACE.search(text)):
                namespaces.pop(_folder(path), None)
        if namespaces != self.kustomize_namespaces:
            return build_inventory(tree)  # a folder's namespace changed: rescope everything
        added = [
            doc
            for path, text in sorted(changes.items())
            if text is not None and _is_yaml_path(path)
            for doc in scan_documents(path, text, namespaces.get(_folder(path)))
        ]
        return self._replaced(tree, set(changes), added)

    def _replaced(self, tree: RepoTree, paths: set[str], added: list[Document]) -> Inventory:
        """A copy whose documents of `paths` are `added`; indexes updated, not rebuilt."""
        gone = [d for p in paths for d in self._by_path.get(p, [])]
        docs = [d for d in self.documents if d.path not in paths] if gone else list(self.documents)
        docs += added
        by_ref = dict(self._by_ref)
        for doc in gone:
            by_ref[doc.ref] = [d for d in by_ref[doc.ref] if d.path not in paths]
        for doc in added:
            by_ref[doc.ref] = [*by_ref.get(doc.ref, []), doc]
        by_path = {p: v for p, v in self._by_path.items() if p not in paths}
        for doc in added:
            by_path.setdefault(doc.path, []).append(doc)
        return Inventory(tree, docs, dict(self.kustomize_namespaces), by_ref, by_path)

    def services_selecting(self, namespace: str, name: str) -> list[Document]:
        return [d for d in self.of_kind("Service", namespace) if d.name == name]


def read_inventory(root: Path, overrides: Mapping[str, str | None] | None = None) -> Inventory:
    """Scan a GitOps folder (plus planned changes) into an Inventory; raises InventoryError."""
    if not root.is_dir():
        raise InventoryError(f"{root}: the GitOps repo folder does not exist (check gitops.path)")
    return build_inventory(RepoTree(root, overrides))


def build_inventory(tree: RepoTree) -> Inventory:
    files = _scan_tree(tree)
    namespaces = _kustomize_namespaces({path: f.text for path, f in files.items()})
    docs: list[Document] = []
    for path, scanned in files.items():
        docs.extend(_file_documents(path, scanned, namespaces.get(_folder(path))))
    return Inventory(tree, docs, namespaces)


def _scan_tree(tree: RepoTree) -> dict[str, ScannedFile]:
    """Every YAML file scanned: planned changes afresh, files on disk through the repo's scan
    cache (read and scanned only when new or changed)."""
    files: dict[str, ScannedFile] = {}
    cache = open_scan_cache(tree.root)
    prefix = os.path.join(tree.root, "")

    def read(path: str) -> str:
        return tree.read(path) or ""

    with cache.lock:
        for path in tree.yaml_files():
            if path in tree.overrides:
                text = tree.overrides[path] or ""
                files[path] = ScannedFile(text, scan_idents(path, text))
            else:
                files[path] = cache.read_scanned(path, prefix + path, read, scan_idents)
        if not tree.overrides:  # planned deletions and edits say nothing about the disk
            cache.keep_only(set(files))
        cache.save()
    return files


def _file_documents(path: str, scanned: ScannedFile, forced: str | None) -> tuple[Document, ...]:
    found = scanned.documents.get(forced)
    if found is None:
        found = tuple(_documents(path, scanned.text, scanned.idents, forced))
        scanned.documents[forced] = found
    return found


def scan_documents(path: str, text: str, forced_namespace: str | None = None) -> Iterator[Document]:
    """Split one file into its Kubernetes documents (those with a top-level `kind`)."""
    return _documents(path, text, scan_idents(path, text), forced_namespace)


def scan_idents(path: str, text: str) -> tuple[Ident, ...]:
    """(index, line, start, end, kind, apiVersion, name, namespace) of each Kubernetes document."""
    found: list[Ident] = []
    index = 0
    for start, end, line in split_documents(text):
        chunk = text[start:end]
        if not _CONTENT.search(chunk):
            continue
        ident = _identify(chunk) or _identify_by_parsing(path, chunk, line)
        if ident is not None and ident[0]:
            found.append((index, line, start, end, *ident))
        index += 1
    return tuple(found)


def _documents(
    path: str, text: str, idents: Iterable[Ident], forced_namespace: str | None
) -> Iterator[Document]:
    for index, line, start, end, kind, api, name, namespace in idents:
        ns = forced_namespace if forced_namespace and kind != "Namespace" else namespace
        yield Document(path, index, line, start, end, kind, api, name, ns, text[start:end])


def split_documents(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, first line) of each document's text; separators are not included."""
    start, line = 0, 1
    for match in _SEPARATOR.finditer(text):
        yield start, match.start(), line
        line += text.count("\n", start, match.end()) + 1
        start = match.end() + 1 if match.end() < len(text) else match.end()
    yield start, len(text), line


def _identify(chunk: str) -> tuple[str, str, str, str] | None:
    if "&" in chunk or "*" in chunk or "!!" in chunk:
        return None  # anchors, aliases and tags: let the parser decide
    top: dict[str, str] = {}
    for key, raw in _TOP.findall(chunk):
        value = _scalar(raw)
        if value is None or key in top:
            return None
        top[key] = value
    if "kind" not in top:
        return ("", "", "", "") if "kind:" not in chunk else None
    meta = _metadata_fields(chunk)
    if meta is None:
        return None
    return top["kind"], top.get("apiVersion", ""), meta.get("name", ""), meta.get("namespace", "")


def _metadata_fields(chunk: str) -> dict[str, str] | None:
    match = _METADATA.search(chunk)
    if match is None:
        return {} if "metadata:" not in chunk else None
    fields: dict[str, str] = {}
    indent = None
    for line in match.group(1).splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        width = len(line) - len(stripped)
        indent = width if indent is None else indent
        key, sep, raw = stripped.partition(":")
        if width == indent and sep and key in ("name", "namespace"):
            value = _scalar(raw.strip())
            if value is None:
                return None
            fields[key] = value
    return fields


def _scalar(raw: str) -> str | None:
    match = _PLAIN.match(raw)
    if match is None:
        return None
    return next(g for g in match.groups() if g is not None)


def _identify_by_parsing(path: str, chunk: str, line: int) -> tuple[str, str, str, str] | None:
    try:
        data = yaml.load(chunk, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: {yaml_problem(exc, line - 1)}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    return (
        data["kind"],
        str(data.get("apiVersion", "")),
        str(meta.get("name", "")),
        str(meta.get("namespace", "")),
    )


def _folder(path: str) -> str:
    return path.rpartition("/")[0] or "."


def _kustomize_namespaces(texts: Mapping[str, str]) -> dict[str, str]:
    """Folder -> the `namespace:` its kustomization file forces on its resources."""
    found: dict[str, str] = {}
    for path, text in texts.items():
        if path.rpartition("/")[2] not in KUSTOMIZATION_FILES:
            continue
        match = _NAMESPACE.search(text)
        value = _scalar(match.group(1)) if match else None
        if value:
            found[_folder(path)] = value
    return found


def _walk_yaml(root: Path) -> Iterator[str]:
    """Repo-relative paths of the YAML files, as os.walk would find them (no symlinked folders)."""
    stack = [("", os.fspath(root))]
    while stack:
        rel, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # an unreadable folder holds nothing we can scan
        for entry in entries:
            name = entry.name
            if _is_dir(entry):
                if name not in SKIP_DIRS and not name.startswith(".") and not entry.is_symlink():
                    stack.append((f"{rel}{name}/", entry.path))
            elif name.endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_FILES:
                yield rel + name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def tls_secrets(ingress: Mapping[str, Any]) -> list[str]:
    spec = ingress.get("spec") or {}
    return [t.get("secretName") for t in spec.get("tls") or [] if t.get("secretName")]


def kustomization_resources(doc_body: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in doc_body.get("resources") or []]


def iter_backends(ingress: Mapping[str, Any]) -> Iterable[tuple[str, int | str, str]]:
    """(service name, port number or name, path) of every backend of an Ingress."""
    spec = ingress.get("spec") or {}
    default = (spec.get("defaultBackend") or {}).get("service")
    if default:
        yield default["name"], _port(default.get("port") or {}), "/"
    for rule in spec.get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            svc = (p.get("backend") or {}).get("service")
            if svc:
                yield svc["name"], _port(svc.get("port") or {}), p.get("path") or "/"


def _port(port: Mapping[str, Any]) -> int | str:
    value = port.get("number", port.get("name", ""))
    return value if isinstance(value, int) else str(value)


def _is_kustomization(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES


def _is_yaml_path(path: str) -> bool:
    return path.endswith(YAML_SUFFIXES) or _is_kustomization(path)
