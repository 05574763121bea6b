"""GitOps tree -> Inventory: every Kubernetes document with its file, index and line (read-only).

Scanning is cheap on purpose (`doc_scan`): files are split into documents on `---` lines and the
identity of each document is read with a few anchored regexes; bodies are parsed with libyaml
only when a plan asks for them (`Document.body`). What a scan finds is kept in a persistent cache
(`scan_cache`): an unchanged file is neither read nor scanned again. An inventory holds one
compact row per document; `Document`s and indexes are made on first use.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import FLUX_KUSTOMIZE_API, KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.model import Document, Notice, ResourceRef
from ingress2tailscale.repo.applied import Applied, Change, FluxKustomization
from ingress2tailscale.repo.cache import (
    Block,
    Ident,
    ScanCache,
    ScannedFile,
    StatKey,
    open_scan_cache,
)
from ingress2tailscale.repo.index import DocumentIndex, DocumentList
from ingress2tailscale.repo.namespaces import (
    effective_namespaces,
    flux_target,
    included_entries,
)
from ingress2tailscale.repo.scan import (
    SKIP_DIRS,
    forced_namespace,
    scan_file,
    scan_idents,
    split_documents,
    walk_yaml,
)

__all__ = [
    "KUSTOMIZATION_FILES",
    "SKIP_DIRS",
    "YAML_SUFFIXES",
    "DocumentList",
    "Inventory",
    "RepoTree",
    "build_inventory",
    "read_inventory",
    "scan_documents",
    "scan_idents",
    "split_documents",
]

MAX_VIEWS = 8  # repos whose last inventory is kept in memory: an unchanged repo reuses it


def patch_files(kpath: str, text: str) -> set[str]:
    """Repo paths of the files a kustomization lists under `patches` (`path:`) or
    `patchesStrategicMerge` (inline patches are not files)."""
    if "patches" not in text and "\\" not in text:
        return set()  # neither key can be there (unless spelt with an escape): nothing to parse
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return set()
    if not isinstance(data, dict):
        return set()
    entries = [p.get("path") for p in data.get("patches") or [] if isinstance(p, dict)]
    entries += [p for p in data.get("patchesStrategicMerge") or [] if "\n" not in str(p)]
    folder = posixpath.dirname(kpath)
    return {posixpath.normpath(posixpath.join(folder, e)) for e in entries if isinstance(e, str)}


def refuse_outside_link(root: Path, path: str) -> None:
    """A symlinked manifest is read through its link only when its target is inside the repo."""
    target = os.path.realpath(os.path.join(root, path))
    inside = os.path.realpath(root)
    if os.path.commonpath([target, inside]) != inside:
        raise InventoryError(
            f"{path}: a symbolic link to {target}, outside the GitOps repo: the tool reads and "
            "edits only files inside the repo; replace the link by the file itself"
        )
    if not os.path.exists(target):
        raise InventoryError(f"{path}: a symbolic link to {target}, which does not exist")


class RepoTree:
    """The files of a GitOps repo: the folder on disk, with planned changes laid over it.

    The one immutable "repo plus planned changes" type. Two views wrap it for jobs it cannot
    do: `plan.workspace.Workspace` is a step's mutable edit buffer over it (the edits of one
    step, turned into FileChanges), and `checks.kustomize.PlannedTree` records every question
    the checks ask of the disk so their verdict can be reused while the disk answers the same.
    """

    def __init__(self, root: Path, overrides: Mapping[str, str | None] | None = None) -> None:
        self.root = root
        self.overrides = dict(overrides or {})

    def read(self, path: str) -> str | None:
        if path in self.overrides:
            return self.overrides[path]
        full = os.path.join(self.root, path)
        if os.path.islink(full):
            refuse_outside_link(self.root, path)
        try:
            with open(full, encoding="utf-8") as file:
                return file.read()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{path}: cannot read the file ({exc})") from exc

    def exists(self, path: str) -> bool:
        if path in self.overrides:
            return self.overrides[path] is not None
        return os.path.isfile(os.path.join(self.root, path))

    def yaml_files(self) -> list[str]:
        return _yaml_paths(walk_yaml(os.fspath(self.root)), self.overrides)

    def with_changes(self, changes: Mapping[str, str | None]) -> RepoTree:
        tree = RepoTree(self.root)
        tree.overrides = {**self.overrides, **changes}
        tree._sorted = self.override_paths()[:]  # kept in order: a list copy and a few inserts
        for path in changes.keys() - self.overrides.keys():
            bisect.insort(tree._sorted, path)
        return tree

    _sorted: list[str] | None = None

    def override_paths(self) -> list[str]:
        """The planned paths, sorted (do not change the list)."""
        if self._sorted is None:
            self._sorted = sorted(self.overrides)
        return self._sorted


class Inventory:
    """Every Kubernetes document of the tree, indexed by identity, file and kind."""

    def __init__(
        self,
        tree: RepoTree,
        view: DocumentIndex,
        kustomize_namespaces: dict[str, str],
        direct_namespaces: dict[str, str] | None = None,
        flux_targets: dict[str, str] | None = None,
    ) -> None:
        self.tree = tree
        self.kustomize_namespaces = kustomize_namespaces  # folder -> namespace forced on it
        self.direct_namespaces = (
            kustomize_namespaces if direct_namespaces is None else direct_namespaces
        )
        self.flux_targets = flux_targets or {}  # Flux Kustomization path -> targetNamespace
        self._view = view
        self._patch_cache: dict[str, set[str]] = {}
        self._kustomizations: dict[str, str | None] = {}  # folder -> its kustomization file
        # what planning derived from this inventory (it is not changed once made), by its key
        self.derived: dict[object, object] = {}
        # what `applied` may reuse: the Applied of the inventory this one changed, and the change
        self._earlier: tuple[Applied | None, Mapping[str, Change] | None] = (None, None)

    @cached_property
    def _flux(self) -> list[FluxKustomization]:
        return list(flux_kustomizations(self._view))

    @cached_property
    def applied(self) -> Applied | None:
        """The files Flux applies; None when the repo has no Flux Kustomization (then every
        file counts as applied)."""
        if not self._flux:
            return None
        view, (earlier, changed) = self._view, self._earlier

        def paths() -> Iterator[str]:
            return (row[0] for row in view.rows)

        def has_documents(path: str) -> bool:
            return bool(view.in_file(path))

        return Applied(self._flux, paths, view.entries, earlier, changed, has_documents)

    def is_applied(self, path: str) -> bool:
        applied = self.applied
        return applied is None or path in applied

    def appliers(self, path: str) -> list[ResourceRef]:
        """The Flux Kustomizations that apply `path` (none when there are none in the repo)."""
        applied = self.applied
        return [] if applied is None else applied.appliers(path)

    def unapplied_copies(self, ref: ResourceRef) -> list[Document]:
        """The documents defining `ref` in files Flux does not apply."""
        return [d for d in self.copies(ref) if not self.is_applied(d.path)]

    def applied_copies(self, ref: ResourceRef) -> list[Document]:
        """The documents defining `ref` in files Flux applies (more than one: a problem)."""
        return [d for d in self.copies(ref) if self.is_applied(d.path)]

    @property
    def documents(self) -> DocumentList:
        """All documents, in file order (then those of planned changes)."""
        return DocumentList(self._view)

    def reading_notices(self) -> list[Notice]:
        """What the scan could not read, or left out on purpose, once per file and document."""
        return [
            Notice("warning" if row[6] == "warning" else "info", row[0], row[7])
            for row in self._view.problems
        ]

    def get(self, ref: ResourceRef) -> Document | None:
        """The object with this identity that Flux applies (the first; None when no applied
        file defines it, see `copies`); a kustomize patch of it is never the object."""
        row = self._view.first((ref.kind, ref.namespace, ref.name))
        if row is None:
            return None
        key = (ref.kind, ref.namespace, ref.name)
        if key not in self._repeated and self.is_applied(row[0]):
            return self._view.document(row)
        return next(iter(self.applied_copies(ref)), None)

    def all_of(self, ref: ResourceRef) -> list[Document]:
        """Every document with this identity: the object, stray copies, kustomize patches."""
        key = (ref.kind, ref.namespace, ref.name)
        if key not in self._repeated:
            found = self._view.first(key)
            return [] if found is None else [self._view.document(found)]
        rows = [r for r in self._view.of_kind(ref.kind) if (r[5], r[8], r[7]) == key]
        return [self._view.document(r) for r in rows]

    def copies(self, ref: ResourceRef) -> list[Document]:
        """The documents defining this object (more than one is a problem to name)."""
        return [d for d in self.all_of(ref) if not self.patched_by(d)]

    def patches(self, ref: ResourceRef) -> list[tuple[Document, str]]:
        """Kustomize patches of this object, each with the kustomization that lists it."""
        found = [(d, self.patched_by(d)) for d in self.all_of(ref)]
        return [(d, k) for d, k in found if k]

    def patched_by(self, doc: Document) -> str:
        """The kustomization listing `doc`'s file under `patches` or `patchesStrategicMerge`
        (in its folder or above), or ''."""
        folder = doc.path
        while folder:
            folder = posixpath.dirname(folder)
            kpath = self.kustomization_for(posixpath.join(folder, "x") if folder else "x")
            if kpath is not None and doc.path in self._patch_files(kpath):
                return kpath
        return ""

    def _patch_files(self, kpath: str) -> set[str]:
        found = self._patch_cache.get(kpath)
        if found is None:
            found = self._patch_cache[kpath] = patch_files(kpath, self.tree.read(kpath) or "")
        return found

    @property
    def _repeated(self) -> set[tuple[str, str, str]]:
        """Identities defined by more than one document (found once per repo, then patched)."""
        return self._view.repeated()  # kept by the view through planned changes

    def find(self, kind: str, namespace: str, name: str) -> Document | None:
        return self.get(ResourceRef(kind, namespace, name))

    def mentioning(
        self, needle: str, within: Collection[str] | None = None, namespace: str | None = None
    ) -> list[Document]:
        """The documents (of `namespace`) whose text holds `needle`, in file order; `within`:
        the only files that may (an index of the caller's says so), the others are not read.
        A file's answer is kept with it, for the inventories that share its text."""
        view, found = self._view, []
        files: Iterable[tuple[str, list[Ident]]]
        if within is not None:
            files = ((p, view.in_file(p)) for p in view.files.ordered(within))
        elif namespace is not None:
            files = view.namespace_files(namespace).items()
        else:
            files = ((p, view.in_file(p)) for p in view.files)
        for path, rows in files:
            if view.holds(path, needle):
                docs = map(view.document, (r for r in rows if namespace in (None, r[8])))
                found += [d for d in docs if needle in d.text]
        return found

    def files(self) -> list[str]:
        """The paths of the files with documents (then those of planned changes), in order."""
        return list(self._view.files)

    def text_of(self, path: str) -> str:
        """The text of a file of `files()`."""
        return self._view.text_of(path)

    def in_file(self, path: str) -> list[Document]:
        return [self._view.document(row) for row in self._view.in_file(path)]

    def of_kind(
        self, kind: str, namespace: str | None = None, applied_only: bool = False
    ) -> list[Document]:
        """The documents of a kind (in a namespace); `applied_only`: those Flux applies."""
        if namespace is None:
            rows = self._view.of_kind(kind)
        else:
            rows = [r for r in self._view.in_namespace(namespace) if r[5] == kind]
        applied = self.applied if applied_only else None
        return [self._view.document(r) for r in rows if applied is None or r[0] in applied]

    def in_namespace(self, namespace: str) -> list[Document]:
        """The documents of one namespace, in the order of `documents`."""
        return [self._view.document(r) for r in self._view.in_namespace(namespace)]

    def kustomization_for(self, path: str) -> str | None:
        """The kustomization file of the folder holding `path`, if the folder has one."""
        folder = posixpath.dirname(path)
        if folder in self._kustomizations:
            return self._kustomizations[folder]
        found = None
        for name in KUSTOMIZATION_FILES:
            candidate = f"{folder}/{name}" if folder else name
            if self.tree.exists(candidate):
                found = candidate
                break
        self._kustomizations[folder] = found
        return found

    def ingresses_using_secret(self, namespace: str, secret: str) -> list[Document]:
        """Ingresses of a namespace whose TLS section names `secret`."""
        return tls_users(self.mentioning(secret, namespace=namespace), secret)

    def with_changes(self, changes: Mapping[str, str | None]) -> Inventory:
        """The inventory once `changes` are applied: only the changed files are scanned again."""
        tree = self.tree.with_changes(changes)
        folders = self._yaml_folders_after(changes)
        if folders is not None and not self._may_rescope(changes, folders):
            return self._replaced(tree, changes, folders)
        direct = dict(self.direct_namespaces)
        for path, text in changes.items():
            forced = forced_namespace(path, text or "")
            if forced:
                direct[_folder(path)] = forced
            elif _is_kustomization(path):
                direct.pop(_folder(path), None)
        changed_folders = {_folder(p) for p in changes} | set(self.kustomize_namespaces)
        namespaces = effective_namespaces(direct, changed_folders, tree.read, self.flux_targets)
        touches_flux = any(FLUX_KUSTOMIZE_API in (t or "") for t in changes.values())
        if (
            direct != self.direct_namespaces
            or touches_flux
            or not _same_scope(namespaces, self.kustomize_namespaces)
        ):
            return build_inventory(tree)  # a folder's namespace changed: rescope everything
        return self._replaced(tree, changes, folders)

    def _replaced(
        self, tree: RepoTree, changes: Mapping[str, str | None], folders: dict[str, int] | None
    ) -> Inventory:
        added = {
            path: _scanned(path, text)
            for path, text in sorted(changes.items())
            if text is not None and _is_yaml_path(path)
        }
        texts = {path: scanned.text for path, scanned in added.items()}
        namespaces = self.kustomize_namespaces
        view = self._view.replaced(set(changes), texts, _rows_of(added, namespaces))
        inventory = Inventory(tree, view, namespaces, self.direct_namespaces, self.flux_targets)
        inventory._folders = folders
        # what the changed files cannot alter is carried: their own patch lists, and the
        # kustomization file of their folders, are asked again
        patches = inventory._patch_cache = dict(self._patch_cache)
        kustomizations = inventory._kustomizations = dict(self._kustomizations)
        for path in changes:
            patches.pop(path, None)
            kustomizations.pop(posixpath.dirname(path), None)
        if "applied" in self.__dict__:  # computed here: the changed one reuses what it can
            steps = {p: Change(bool(self._view.in_file(p)), bool(view.in_file(p))) for p in changes}
            inventory._earlier = (self.applied, steps)
        if "_flux" in self.__dict__ and not any(
            _is_flux(row) for p in changes for row in (*self._view.in_file(p), *view.in_file(p))
        ):
            inventory.__dict__["_flux"] = self._flux  # no Flux Kustomization changed
        return inventory

    _folders: dict[str, int] | None = None  # folder -> YAML files in it, when known

    def _yaml_folders_after(self, changes: Mapping[str, str | None]) -> dict[str, int] | None:
        """The YAML files per folder once `changes` are applied (None: not known here)."""
        if self._folders is None:
            return None
        folders = self._folders
        for path, text in changes.items():
            if not _is_yaml_path(path) or (text is not None) == self.tree.exists(path):
                continue
            if folders is self._folders:
                folders = dict(folders)
            folder = _folder(path)
            folders[folder] = folders.get(folder, 0) + (1 if text is not None else -1)
            if folders[folder] <= 0:
                del folders[folder]
        return folders

    def _may_rescope(self, changes: Mapping[str, str | None], after: dict[str, int]) -> bool:
        """Whether `changes` may change the namespace a folder forces: a Flux Kustomization is
        touched, a kustomization is added or removed, its `namespace:` or the folders it
        includes differ, or a folder gains its first or loses its last YAML file (then the slow
        path decides)."""
        if self._folders is None or any(FLUX_KUSTOMIZE_API in (t or "") for t in changes.values()):
            return True
        if after.keys() != self._folders.keys():
            return True
        for path, text in changes.items():
            if not _is_kustomization(path):
                continue
            before = self.tree.read(path)
            if (before is None) != (text is None):
                return True
            if _scope_of(path, before or "") != _scope_of(path, text or ""):
                return True
            forced = forced_namespace(path, text or "")
            if self.direct_namespaces.get(_folder(path), "") != forced:
                return True
        return False


def _scope_of(path: str, text: str) -> tuple[str, tuple[str, ...]]:
    """What of a kustomization decides namespaces: its `namespace:` and included folders."""
    return forced_namespace(path, text), _included(text)


@lru_cache(maxsize=64)  # a slice's phase 2 compares the text its phase 1 wrote
def _included(text: str) -> tuple[str, ...]:
    return tuple(included_entries(text))


_VIEWS: dict[Path, tuple[Block | dict[str, ScannedFile], DocumentIndex]] = {}
_VIEWS_LOCK = threading.Lock()


def read_inventory(root: Path, overrides: Mapping[str, str | None] | None = None) -> Inventory:
    """Scan a GitOps folder (plus planned changes) into an Inventory; raises InventoryError."""
    if not root.is_dir():
        raise InventoryError(f"{root}: the GitOps repo folder does not exist (check gitops.path)")
    return build_inventory(RepoTree(root, overrides))


def build_inventory(tree: RepoTree) -> Inventory:
    cache = open_scan_cache(tree.root)
    root = os.fspath(tree.root)
    with cache.lock:
        block = None if tree.overrides else cache.snapshot(root)
        files = _scan_files(tree, cache) if block is None else {}
    if block is not None:  # the repo is as the cache last saw it: no file is looked at
        forced = block.forced_namespaces()
        found: Block | dict[str, ScannedFile] = block
        paths: Iterable[str] = block.paths
    else:
        forced = {path: f.namespace for path, f in files.items() if f.namespace}
        found, paths = files, files.keys()
    direct = {_folder(path): ns for path, ns in forced.items()}
    folders = {_folder(p) for p in paths}
    namespaces = effective_namespaces(direct, folders, tree.read)
    view = _view_of(tree, found, namespaces)
    flux = _flux_targets(view)
    if flux:  # Flux's targetNamespace wins over the kustomizations' namespaces
        namespaces = effective_namespaces(direct, folders, tree.read, flux)
        view = _fresh_view(found, namespaces)
    inventory = Inventory(tree, view, namespaces, direct, flux)
    inventory._folders = dict(Counter(_folder(p) for p in paths))
    return inventory


def _is_flux(row: Ident) -> bool:
    return row[5] == "Kustomization" and row[6].startswith(FLUX_KUSTOMIZE_API)


def flux_kustomizations(view: DocumentIndex) -> Iterator[FluxKustomization]:
    """The repo's Flux Kustomizations, with the folder each applies."""
    for row in view.of_kind("Kustomization"):
        if not _is_flux(row):
            continue
        doc = view.document(row)
        try:
            spec = doc.body.get("spec") or {}
        except InventoryError:
            continue  # the scan's notices name it
        path = spec.get("path") if isinstance(spec, Mapping) else None
        folder = _normal_folder(str(path) if isinstance(path, str) else ".")
        yield FluxKustomization(doc.ref, doc.path, folder)


def _normal_folder(path: str) -> str:
    normal = posixpath.normpath(path.lstrip("/").removeprefix("./"))
    return "." if normal in ("", ".") else normal


def _flux_targets(view: DocumentIndex) -> dict[str, str]:
    """Path -> targetNamespace of the repo's Flux Kustomizations that set one."""
    found = {}
    for row in view.of_kind("Kustomization"):
        if not _is_flux(row):
            continue
        target = flux_target(view.document(row).body)
        if target is not None:
            found[target[0]] = target[1]
    return found


def _same_scope(now: Mapping[str, str], before: Mapping[str, str]) -> bool:
    """The folders that had a forced namespace still have the same one."""
    return all(now.get(folder) == ns for folder, ns in before.items()) and all(
        before.get(folder) == ns for folder, ns in now.items()
    )


def _view_of(
    tree: RepoTree, files: Block | dict[str, ScannedFile], ns: dict[str, str]
) -> DocumentIndex:
    """The last view of this repo when it was made of the very same scanned files (files from
    the cache are the same objects while they are unchanged on disk), else a new one."""
    with _VIEWS_LOCK:
        last = _VIEWS.get(tree.root)
    if last is not None and last[0] == files:
        return last[1]
    view = _fresh_view(files, ns)
    if not tree.overrides:
        with _VIEWS_LOCK:
            _VIEWS.pop(tree.root, None)
            _VIEWS[tree.root] = (files, view)
            while len(_VIEWS) > MAX_VIEWS:
                _VIEWS.pop(next(iter(_VIEWS)))
    return view


def _fresh_view(files: Block | dict[str, ScannedFile], ns: Mapping[str, str]) -> DocumentIndex:
    if isinstance(files, Block):
        return DocumentIndex(_block_rows(files, ns), files.text)
    return DocumentIndex(_rows_of(files, ns), _texts_of(files))


def _texts_of(files: Mapping[str, ScannedFile]) -> Callable[[str], str]:
    def text_of(path: str) -> str:
        return files[path].text

    return text_of


def _block_rows(block: Block, namespaces: Mapping[str, str]) -> list[Ident]:
    """The rows of a loaded cache, with the namespaces folders force (see `_rows_of`)."""
    rows = list(block.idents)
    for position, path in enumerate(block.paths) if namespaces else ():
        forced = namespaces.get(_folder(path))
        if forced:
            first, last = block.firsts[position], block.firsts[position + 1]
            rows[first:last] = _forced(rows[first:last], forced)
    return rows


def _rows_of(files: Mapping[str, ScannedFile], namespaces: Mapping[str, str]) -> list[Ident]:
    """The documents' rows, with the namespace a folder's kustomization forces (not on
    Namespace objects)."""
    rows: list[Ident] = []
    for path, scanned in files.items():
        forced = namespaces.get(_folder(path)) if namespaces else None
        if forced:
            rows += _forced(scanned.idents, forced)
        else:
            rows += scanned.idents
    return rows


def _forced(idents: Iterable[Ident], namespace: str) -> list[Ident]:
    """Rows in a folder whose kustomization forces `namespace` (Namespace objects keep theirs)."""
    return [(*r[:8], r[8] if r[5] == "Namespace" else namespace) for r in idents]


def _scan_files(tree: RepoTree, cache: ScanCache) -> dict[str, ScannedFile]:
    """Every YAML file scanned: planned changes afresh, files on disk through the repo's scan
    cache (read and scanned only when new or changed). The caller holds the cache's lock."""
    folders: dict[str, StatKey | None] = {}
    began = time.time_ns()
    keys = walk_yaml(os.fspath(tree.root), folders)
    cache.note_folders(folders, began)
    overrides = tree.overrides
    files: dict[str, ScannedFile] = {}

    def read(path: str) -> str:
        return tree.read(path) or ""

    fresh = cache.fresh_entries(keys)
    for path in _yaml_paths(keys, overrides):
        if path in overrides:
            files[path] = _scanned(path, overrides[path] or "")
        else:
            found = fresh.get(path)
            files[path] = found or cache.read_scanned(path, keys.get(path), read, scan_file)
    if not overrides:  # planned deletions and edits say nothing about the disk
        cache.keep_only(set(files))
    cache.save()
    return files


def scan_documents(path: str, text: str, forced_namespace: str | None = None) -> Iterator[Document]:
    """Split one file into its Kubernetes documents (those with a top-level `kind`)."""
    for row in scan_idents(path, text):
        if row[5].startswith("!"):
            continue  # a problem row, not a document
        ns = forced_namespace if forced_namespace and row[5] != "Namespace" else row[8]
        yield Document(*row[:8], ns, text[row[3] : row[4]])


def _scanned(path: str, text: str) -> ScannedFile:
    """A planned change, scanned (never cached)."""
    idents, namespace = scan_file(path, text)
    return ScannedFile(text, idents, namespace=namespace)


def _yaml_paths(found: Iterable[str], overrides: Mapping[str, str | None]) -> list[str]:
    paths = set(found)
    for path, text in overrides.items():
        if _is_yaml_path(path):
            (paths.add if text is not None else paths.discard)(path)
    return sorted(paths)


def _folder(path: str) -> str:
    return path.rpartition("/")[0] or "."


def tls_users(docs: Iterable[Document], secret: str) -> list[Document]:
    """The Ingresses of `docs` whose TLS section names `secret` (pass documents whose text holds
    it: only those are parsed)."""
    return [d for d in docs if d.kind == "Ingress" and secret in tls_secrets(d.body)]


def tls_secrets(ingress: Mapping[str, Any]) -> list[str]:
    spec = ingress.get("spec") or {}
    return [t.get("secretName") for t in spec.get("tls") or [] if t.get("secretName")]


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
