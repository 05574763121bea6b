"""Checks of the kustomizations around planned files: listed resources exist, new manifests are
listed, and `kubectl kustomize` builds each folder on a copy of the repo with the changes."""

from __future__ import annotations

import bisect
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale.checks import schemas
from ingress2tailscale.checks.verdicts import (
    Probe,
    probe_disk,
    read_verdict,
    verdict_store,
    write_verdict,
)
from ingress2tailscale.kinds import KUSTOMIZATION_FILES, KUSTOMIZE_API_GROUP, YAML_SUFFIXES
from ingress2tailscale.limits import KUBECTL
from ingress2tailscale.model import Notice

REMOTE_PREFIXES = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::", "ssh:")
KUBECTL_TIMEOUT_S = 30
KLOG_PREFIX = re.compile(r'^[EWIF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=')


def check_kustomizations(tree: PlannedTree) -> list[Notice]:
    """Resources of the kustomizations above each changed file exist; new files are listed."""
    notices: list[Notice] = []
    for kpath in sorted({k for p in tree.changed for k in tree.kustomizations_above(p)}):
        notices += _check_resources(tree, kpath)
    for path, text in sorted(tree.changed.items()):
        if (
            text is not None
            and is_yaml_path(path)
            and posixpath.basename(path) not in KUSTOMIZATION_FILES
        ):
            notices += _check_listed(tree, path, text)
    return notices


def build_kustomizations(tree: PlannedTree, broken: set[str]) -> list[Notice]:
    """`kubectl kustomize` each folder holding a changed file, on a copy with the changes; not
    the folders holding a `broken` file, nor those with remote bases (they need the network).

    A folder's verdict is kept under the key of its planned content (paths and bytes) and
    kubectl's binary, so the same folder planned again is not built again; the copy is made
    only when some folder has no verdict yet.
    """
    if not tree.changed:
        return []
    nearest = {k for p in tree.changed for k in tree.kustomizations_above(p)[:1]}
    remote = {k: _remote_entries(tree, k) for k in nearest}
    notices = [_unfollowed(k, entries) for k, entries in sorted(remote.items()) if entries]
    kubectl = _kubectl(os.environ.get("PATH"))
    kfiles = {k for k in nearest if not remote[k] and not _holds(k, broken)}
    if not kfiles or kubectl is None:
        return notices
    store = verdict_store(tree.root)
    keys = {k: _planned_key(tree, kubectl, k) for k in kfiles}
    verdicts = {k: read_verdict(store, key) for k, key in keys.items() if key is not None}
    missing = sorted(k for k in kfiles if verdicts.get(k) is None)
    if missing:
        with tempfile.TemporaryDirectory(prefix="i2ts-kustomize-") as scratch:
            copy = Path(scratch) / "repo"
            tree.materialize(copy, kfiles)
            for kpath in missing:
                key = keys[kpath] or _content_key(kubectl, copy / posixpath.dirname(kpath))
                verdicts[kpath] = _run_kustomize(kubectl, copy, kpath)
                write_verdict(store, key, verdicts[kpath] or [])
    return notices + [n for k in sorted(kfiles) for n in verdicts[k] or []]


@lru_cache(maxsize=8)
def _kubectl(path: str | None) -> str | None:
    """kubectl on this PATH (looked up once per PATH)."""
    return shutil.which("kubectl", path=path)


def _unfollowed(kpath: str, entries: list[str]) -> Notice:
    """A folder the build check cannot follow: it names what lies outside the repo."""
    listed = ", ".join(f"`{e}`" for e in entries)
    message = (
        f"lists {listed}, outside this repo (remote, or above its root): the build check "
        "(`kubectl kustomize`) cannot follow it and is not run for this folder; check that it "
        "still builds after the change"
    )
    return Notice("warning", f"{kpath}:1", message)


def _planned_key(tree: PlannedTree, kubectl: str, kpath: str) -> str | None:
    """The key of the folder of `kpath` as the plan leaves it, read without copying it (None
    when it holds a symlink: then the key is taken on the copy)."""
    folder = posixpath.dirname(kpath)
    files = _disk_files(tree.root, folder)
    if files is None:
        return None
    prefix = folder + "/" if folder else ""
    for path, text in tree.planned_under(prefix):
        rel = path[len(prefix) :]
        if text is None:
            files.pop(rel, None)
        else:
            files[rel] = text.encode("utf-8")
    return _files_key(kubectl, files)


def _disk_files(root: Path, folder: str) -> dict[str, bytes] | None:
    """Folder-relative path -> bytes of every file below `folder` (no `.git`), as `materialize`
    copies them; None if a symlink is there."""
    base = os.path.join(root, folder)
    files: dict[str, bytes] = {}
    for top, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*dirs, *names]:
            if os.path.islink(os.path.join(top, name)):
                return None
        for name in names:
            if name == ".git":
                continue
            full = os.path.join(top, name)
            with open(full, "rb") as file:
                files[os.path.relpath(full, base).replace(os.sep, "/")] = file.read()
    return files


def _content_key(kubectl: str, folder: Path) -> str:
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return _files_key(kubectl, files)


def _files_key(kubectl: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(kubectl.encode())
    stat = os.stat(kubectl)
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    for rel in sorted(files, key=lambda r: r.split("/")):
        digest.update(rel.encode() + b"\0" + files[rel] + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class PlannedTree:
    """The repo as the plan would leave it: `changed` applied over `base` (earlier planned
    changes, not checked again) over the files under `root`.

    Not a `RepoTree`: it answers the kustomize checks' questions (is this a file, a folder,
    what does it hold) and records each answer, so a verdict is reused only while the tree
    still answers the same (`verdicts.read_traced`)."""

    root: Path
    changed: Mapping[str, str | None]
    base: Mapping[str, str | None]
    sorted_base: Sequence[str] | None = None  # the paths of `base`, sorted

    @cached_property
    def loaded(self) -> dict[str, dict[str, Any]]:
        """Kustomization files composed so far (each is read and composed once per check)."""
        return {}

    @cached_property
    def probes(self) -> dict[tuple[str, str], bool | str]:
        """What the checks asked of the tree outside `changed` (earlier planned changes, then
        the disk), and its answers: their verdict holds while the tree answers the same
        (`verdicts.read_traced`)."""
        return {}

    def probe_list(self) -> list[Probe]:
        return [(kind, path, answer) for (kind, path), answer in self.probes.items()]

    def is_file(self, path: str) -> bool:
        if path in self.changed:
            return self.changed[path] is not None
        return bool(self._probe("file", path))

    def touches(self, target: str) -> bool:
        """Whether this plan changes `target` or anything below it."""
        prefix = target + "/"
        return any(p == target or p.startswith(prefix) for p in self.changed)

    def is_dir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        added = any(p.startswith(prefix) and t is not None for p, t in self.changed.items())
        return added or bool(self._probe("dir", path))

    def read(self, path: str) -> str:
        text = self.changed.get(path)
        if text is not None:
            return text
        text = self.base.get(path)
        if text is not None:
            self.probes["read", path] = _sha256(text.encode("utf-8", "surrogatepass"))
            return text
        with open(os.path.join(self.root, path), "rb") as file:
            data = file.read()
        self.probes["read", path] = _sha256(data)
        return data.decode("utf-8", errors="replace")

    def answer(self, kind: str, path: str) -> bool | str:
        """The answer the tree outside `changed` gives to a probe (raises OSError)."""
        if kind == "file" and path in self.base:
            return self.base[path] is not None
        if kind == "dir":
            prefix = path.rstrip("/") + "/"
            if any(p.startswith(prefix) and t is not None for p, t in self.base.items()):
                return True
        text = self.base.get(path) if kind == "read" else None
        if text is not None:
            return _sha256(text.encode("utf-8", "surrogatepass"))
        return probe_disk(self.root, kind, path)

    def _probe(self, kind: str, path: str) -> bool | str:
        answer = self.probes[kind, path] = self.answer(kind, path)
        return answer

    def kustomization_in(self, folder: str) -> str | None:
        names = (posixpath.join(folder, n) if folder else n for n in KUSTOMIZATION_FILES)
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

    @cached_property
    def _base_paths(self) -> Sequence[str]:
        return sorted(self.base) if self.sorted_base is None else self.sorted_base

    def planned_under(self, prefix: str) -> list[tuple[str, str | None]]:
        """Planned paths starting with `prefix` (a folder, or "" for all), with their texts."""
        paths = self._base_paths
        found = {}
        for index in range(bisect.bisect_left(paths, prefix), len(paths)):
            if not paths[index].startswith(prefix):
                break
            found[paths[index]] = self.base[paths[index]]
        found.update((p, t) for p, t in self.changed.items() if p.startswith(prefix))
        return list(found.items())

    def materialize(self, dest: Path, folders: set[str]) -> None:
        """Copy the folders kustomize will read (all of the repo if one reaches up with `..`)."""
        ignore = shutil.ignore_patterns(".git")
        reaches_up = any(".." in self.read(k) for k in folders)
        if reaches_up:
            shutil.copytree(self.root, dest, symlinks=True, ignore=ignore)
        else:
            copied: list[str] = []
            for folder in sorted({posixpath.dirname(k) for k in folders}):  # parents first
                source = self.root / folder
                if any(_within(folder, c) for c in copied) or not source.is_dir():
                    continue  # a folder inside one copied already
                shutil.copytree(source, dest / folder, symlinks=True, ignore=ignore)
                copied.append(folder)
        prefixes = [""] if reaches_up else sorted({_prefix(posixpath.dirname(k)) for k in folders})
        for path, text in dict(p for f in prefixes for p in self.planned_under(f)).items():
            target = dest / path
            if not _inside(dest, target.parent):
                continue  # under a copied link to a folder: kustomize reads it as it is
            # a copied symlink is replaced, never written through (its target is not ours)
            target.unlink(missing_ok=True)
            if text is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "x", encoding="utf-8") as out:  # "x": a fresh file, no link
                    out.write(text)


def _prefix(folder: str) -> str:
    """What the paths inside `folder` start with ("" for the repo's root)."""
    return folder + "/" if folder else ""


def _within(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(folder + "/")


def _inside(dest: Path, folder: Path) -> bool:
    """Whether `folder` (resolved through links, as far as it exists) is inside `dest`."""
    real, top = os.path.realpath(folder), os.path.realpath(dest)
    return os.path.commonpath([real, top]) == top


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_yaml_path(path: str) -> bool:
    """Whether the file is YAML for kubectl: by its suffix, or a kustomization file's name."""
    return path.endswith(YAML_SUFFIXES) or posixpath.basename(path) in KUSTOMIZATION_FILES


def _check_resources(tree: PlannedTree, kpath: str) -> list[Notice]:
    """Every local `resources` entry is a file, or a folder with a kustomization file."""
    data = _load_kustomization(tree, kpath)
    folder, notices = posixpath.dirname(kpath), []
    edited = kpath in tree.changed  # an unchanged one can only break where the plan changes
    for index, entry in enumerate(data.get("resources") or []):
        target = _local_target(folder, entry)
        if target is None or not (edited or tree.touches(target)):
            continue
        if tree.is_file(target) or tree.kustomization_in(target):
            continue
        why = "this plan deletes it" if target in tree.changed else "it does not exist"
        why = "it is a folder without a kustomization" if tree.is_dir(target) else why
        line = _line_of_entry(tree, kpath, index)
        message = f"`resources` lists `{entry}` but {why}: fix or remove the entry"
        notices.append(Notice("error", f"{kpath}:{line}", message))
    return notices


def _check_listed(tree: PlannedTree, path: str, text: str) -> list[Notice]:
    """A new manifest next to a kustomization is applied only if the kustomization names it."""
    folder = posixpath.dirname(path)
    kpath = tree.kustomization_in(folder)
    if kpath is None or not _holds_objects(text):
        return []
    data = _load_kustomization(tree, kpath)
    listed = {_local_target(folder, s) for s in _strings(data)}
    if path in listed:
        return []
    message = f"{posixpath.basename(path)} is not listed in {kpath}: it will not be applied; add it"
    return [Notice("warning", f"{path}:1", message)]


def kustomize_build(kubectl: str, folder: Path) -> subprocess.CompletedProcess[str] | None:
    """`kubectl kustomize FOLDER` within the time and memory every build gets (None: it timed
    out; `KUBECTL.exceeded` tells a build stopped for its memory)."""
    try:
        return subprocess.run(
            [kubectl, "kustomize", str(folder)],
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
            check=False,
            preexec_fn=KUBECTL.preexec(),
        )
    except subprocess.TimeoutExpired:
        return None


def _run_kustomize(kubectl: str, copy: Path, kpath: str) -> list[Notice]:
    result = kustomize_build(kubectl, copy / posixpath.dirname(kpath))
    if result is None:
        message = f"`kubectl kustomize` timed out after {KUBECTL_TIMEOUT_S} s"
        return [Notice("error", f"{kpath}:1", message)]
    if result.returncode == 0:
        return []
    if KUBECTL.exceeded(result.returncode, result.stderr):
        message = (
            f"`kubectl kustomize` needed more than {KUBECTL.describe()} and was stopped: look "
            "in this folder for a YAML alias bomb (anchors expanding each other) or a runaway "
            "generator"
        )
        return [Notice("error", f"{kpath}:1", message)]
    text = KLOG_PREFIX.sub("", result.stderr.strip()).replace(f"{copy}/", "")
    if len(text) > 1 and text[0] == text[-1] == '"':  # klog quotes the error: unwrap it
        text = text[1:-1].replace("\\'", "'").replace('\\"', '"')
    return [Notice("error", f"{kpath}:1", f"`kubectl kustomize` fails for this folder: {text}")]


def _load_kustomization(tree: PlannedTree, kpath: str) -> dict[str, Any]:
    """The kustomization's data; an unreadable one counts as empty (reported elsewhere)."""
    loaded = tree.loaded.get(kpath)
    if loaded is None:
        loaded = tree.loaded[kpath] = _read_kustomization(tree, kpath)
    return loaded


def _read_kustomization(tree: PlannedTree, kpath: str) -> dict[str, Any]:
    return _kustomization_data(tree.read(kpath))


@lru_cache(maxsize=4096)
def _kustomization_data(text: str) -> dict[str, Any]:
    """A kustomization's text read as data (kept by text: most are read for step after step;
    the checks only read it)."""
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    api_version = str(data.get("apiVersion", KUSTOMIZE_API_GROUP))
    return data if api_version.startswith(KUSTOMIZE_API_GROUP) else {}  # e.g. Flux's


def _line_of_entry(tree: PlannedTree, kpath: str, index: int) -> int:
    """Line of `resources[index]`: composed only when there is a problem to report."""
    node = yaml.compose(tree.read(kpath), Loader=yaml.CSafeLoader)
    return schemas.line_at(node, ["resources", index]) if node is not None else 1


def _holds(kpath: str, paths: set[str]) -> bool:
    """Whether the folder of a kustomization file holds any of these paths (at any depth)."""
    folder = posixpath.dirname(kpath)
    return any(not folder or p == kpath or p.startswith(folder + "/") for p in paths)


def _remote_entries(tree: PlannedTree, kpath: str) -> list[str]:
    data = _load_kustomization(tree, kpath)
    entries = [*(data.get("resources") or []), *(data.get("components") or [])]
    folder = posixpath.dirname(kpath)
    return [e for e in entries if isinstance(e, str) and _local_target(folder, e) is None]


def _local_target(folder: str, entry: object) -> str | None:
    """Repo-relative path of a local kustomize entry (`name=path` allowed); None if remote."""
    if not isinstance(entry, str) or "://" in entry or entry.startswith(REMOTE_PREFIXES):
        return None
    target = posixpath.normpath(posixpath.join(folder, entry.rpartition("=")[2]))
    return None if target.startswith("../") else target


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
