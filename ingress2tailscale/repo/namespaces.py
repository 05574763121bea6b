"""Which namespace a folder's documents end up in, as kustomize and Flux would decide.

kustomize: a kustomization's `namespace:` applies to everything it includes, the kustomizations
of included folders too; when several apply, the outermost wins. Flux: a Kustomization's
`spec.targetNamespace` applies to every document under its `spec.path`, and wins over both.
Namespace objects keep their own name (the callers leave them alone).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from ingress2tailscale.kinds import KUSTOMIZATION_FILES

Read = Callable[[str], str | None]


def effective_namespaces(
    direct: Mapping[str, str],
    folders: Iterable[str],
    read: Read,
    flux_targets: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Folder -> namespace forced on its documents.

    `direct` maps a folder to the `namespace:` of its own kustomization; `folders` are the
    folders holding YAML; `flux_targets` maps a Flux Kustomization's path to its
    targetNamespace.
    """
    result = dict(direct)
    known = sorted(set(folders))
    parents = {p for f in known for p in _ancestors(f)}
    for folder in sorted(direct, key=_depth, reverse=True):  # outer ones last: they win
        if folder not in parents:
            continue  # no YAML below it: nothing to include (`../` bases are not followed)
        for included in _included_folders(folder, read, set()):
            result[included] = direct[folder]
    for path, namespace in sorted((flux_targets or {}).items(), key=lambda kv: _depth(kv[0])):
        for folder in known:
            if _under(folder, path):
                result[folder] = namespace
    return result


def flux_target(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path, targetNamespace) of a Flux Kustomization that sets one."""
    spec = body.get("spec") or {}
    target, path = spec.get("targetNamespace"), spec.get("path")
    if not isinstance(target, str) or not target or not isinstance(path, str):
        return None
    return _normal(path), target


def _included_folders(folder: str, read: Read, seen: set[str]) -> list[str]:
    """Folders a folder's kustomization includes (through `resources`, at any depth)."""
    if folder in seen:
        return []
    seen.add(folder)
    found: list[str] = []
    for entry in _resources(folder, read):
        if entry.endswith((".yaml", ".yml", ".json")):
            continue  # a file: its documents live in a folder this one already covers
        child = _normal(posixpath.join("" if folder == "." else folder, entry))
        if child.startswith("..") or _kustomization_text(child, read) is None:
            continue  # a file, a remote base, or outside the repo
        found += [child, *_included_folders(child, read, seen)]
    return found


def included_entries(text: str) -> list[str]:
    """The entries of a kustomization's `resources` that may name folders (not files)."""
    suffixes = (".yaml", ".yml", ".json")
    return [e for e in _entries(text) if not e.endswith(suffixes)]


def _resources(folder: str, read: Read) -> list[str]:
    text = _kustomization_text(folder, read)
    if text is None:
        return []
    return _entries(text)


def _entries(text: str) -> list[str]:
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return []  # reported by the checks of that file, not here
    entries = data.get("resources") if isinstance(data, dict) else None
    return [e for e in entries or [] if isinstance(e, str) and "://" not in e]


def _kustomization_text(folder: str, read: Read) -> str | None:
    for name in KUSTOMIZATION_FILES:
        text = read(name if folder in ("", ".") else f"{folder}/{name}")
        if text is not None:
            return text
    return None


def _normal(path: str) -> str:
    normal = posixpath.normpath(path.removeprefix("./"))
    return "." if normal in ("", ".") else normal


def _under(folder: str, path: str) -> bool:
    return path == "." or folder == path or folder.startswith(path + "/")


def _ancestors(folder: str) -> list[str]:
    parts = [] if folder == "." else folder.split("/")
    return ["."] + ["/".join(parts[:i]) for i in range(1, len(parts))]


def _depth(folder: str) -> int:
    return 0 if folder == "." else folder.count("/") + 1
