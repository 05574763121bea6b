"""What Flux applies: the files its Kustomizations reach, and which Kustomizations reach each.

From each Flux Kustomization's `spec.path` (relative to the source root, the repo's root here)
kustomize follows a folder's `kustomization.yaml`: its `resources` (files and folders, `../`
too) and `components`; a folder without one applies every manifest under it, and the folders
below it that have their own (Flux's generated kustomization). A Flux Kustomization counts when
Flux applies the file that defines it, or when nothing in the repo could (it is applied from
outside, at bootstrap). A repo without Flux Kustomizations applies everything.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from ingress2tailscale.kinds import KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.model import ResourceRef


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization: where it is defined and the folder it applies."""

    ref: ResourceRef
    file: str
    path: str  # normalised, repo-relative ("." for the root)


class Applied:
    """The files Flux applies, computed once from the Kustomizations and the kustomize files."""

    def __init__(
        self,
        kustomizations: Sequence[FluxKustomization],
        paths: Callable[[], Iterable[str]],
        entries: Mapping[str, Sequence[str]],
        earlier: Applied | None = None,
        changed: Iterable[str] = (),
    ) -> None:
        """`paths`: the repo's manifest files (asked only for a folder without kustomization);
        `entries`: kustomization file -> its resources and components (as the scan read them);
        `earlier`: the Applied of the same repo before `changed` files changed, whose folders
        the change cannot reach are reused."""
        self._all_paths = paths
        self._entries = entries
        self._closures = _reusable(earlier, set(changed))
        self.live: list[tuple[FluxKustomization, frozenset[str]]] = []
        self._bootstrapped: set[str] = set()
        self._apply(kustomizations)

    @cached_property
    def _paths(self) -> list[str]:
        return sorted(set(self._all_paths()))

    def __contains__(self, path: object) -> bool:
        return path in self._bootstrapped or any(path in files for _, files in self.live)

    def appliers(self, path: str) -> list[ResourceRef]:
        """The Flux Kustomizations that apply `path` (none: it is not applied)."""
        return [ks.ref for ks, files in self.live if path in files]

    def _apply(self, kustomizations: Sequence[FluxKustomization]) -> None:
        # a repo whose Kustomizations all hold each other: trust them all rather than none
        pending = [k for k in kustomizations if _is_root(k, kustomizations)] or list(kustomizations)
        seen = {k.ref for k in pending}
        self._bootstrapped = {k.file for k in pending}  # applied from outside: their files too
        defined_in: dict[str, list[FluxKustomization]] = {}
        for ks in kustomizations:
            defined_in.setdefault(ks.file, []).append(ks)
        while pending:
            ks = pending.pop(0)
            files = self._closure(ks.path, frozenset())
            self.live.append((ks, files))
            for path in sorted(files & defined_in.keys()):
                for other in defined_in[path]:
                    if other.ref not in seen:
                        seen.add(other.ref)
                        pending.append(other)

    def _closure(self, folder: str, visiting: frozenset[str]) -> frozenset[str]:
        """Every file a kustomize build of `folder` reads (its kustomization file included)."""
        if folder in self._closures:
            return self._closures[folder]
        if folder in visiting:
            return frozenset()  # a cycle: kustomize refuses it, and we stop
        visiting = visiting | {folder}
        kustomization = self._kustomization(folder)
        if kustomization is None:
            found = self._generated(folder, visiting)
        else:
            name, entries = kustomization
            found = {_join(folder, name)}
            for entry in entries:
                target = _target(folder, entry)
                if target.startswith(".."):
                    continue  # outside the repo
                if target.endswith((*YAML_SUFFIXES, ".json")):
                    found.add(target)
                else:
                    found |= self._closure(target, visiting)
        result = frozenset(found)
        self._closures[folder] = result
        return result

    def _generated(self, folder: str, visiting: frozenset[str]) -> set[str]:
        """Flux's rule for a folder without a kustomization: every manifest under it, except
        in the folders below that have their own kustomization, which build their part."""
        found: set[str] = set()
        for path in self._under(folder):
            owner = self._owner(folder, posixpath.dirname(path))
            if owner is None:
                found.add(path)
            elif owner not in found:
                found.add(owner)  # a marker, dropped below: that folder is built once
                found |= self._closure(owner, visiting)
        return {p for p in found if p.endswith((*YAML_SUFFIXES, ".json"))} | {
            p for p in found if posixpath.basename(p) in KUSTOMIZATION_FILES
        }

    def _owner(self, folder: str, parent: str) -> str | None:
        """The outermost folder between `folder` (excluded) and `parent` with a kustomization."""
        if parent == folder or not parent:
            return None
        rest = parent[len(folder) + 1 :] if folder != "." else parent
        current = "" if folder == "." else folder
        for part in rest.split("/"):
            current = f"{current}/{part}" if current else part
            if self._kustomization(current) is not None:
                return current
        return None

    def _under(self, folder: str) -> list[str]:
        if folder == ".":
            return self._paths
        prefix = f"{folder}/"
        start = bisect.bisect_left(self._paths, prefix)
        end = bisect.bisect_left(self._paths, prefix[:-1] + "0")  # "0" sorts right after "/"
        return self._paths[start:end]

    def _kustomization(self, folder: str) -> tuple[str, Sequence[str]] | None:
        for name in KUSTOMIZATION_FILES:
            found = self._entries.get(_join(folder, name))
            if found is not None:
                return name, found
        return None


def _reusable(earlier: Applied | None, changed: set[str]) -> dict[str, frozenset[str]]:
    """The folder closures of `earlier` that no changed file can alter: none of their files
    changed, and no file was changed (or made) under them."""
    if earlier is None:
        return {}
    folders = {posixpath.dirname(p) or "." for p in changed}
    return {
        folder: files
        for folder, files in earlier._closures.items()
        if not (changed & files) and not any(_holds(folder, f) or f == folder for f in folders)
    }


def _is_root(ks: FluxKustomization, all_ks: Sequence[FluxKustomization]) -> bool:
    """No other Kustomization's folder holds its file: it is applied from outside."""
    return not any(o.ref != ks.ref and _holds(o.path, ks.file) for o in all_ks)


def _holds(folder: str, path: str) -> bool:
    return folder == "." or path.startswith(f"{folder}/")


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _target(folder: str, entry: str) -> str:
    """`entry` of `folder`'s kustomization as a repo path (normpath only when it needs it)."""
    if "." in entry.rpartition("/")[0] or entry.startswith(("/", ".")) or "//" in entry:
        return _normal(_join(folder, entry))
    return _join(folder, entry)


def _normal(path: str) -> str:
    normal = posixpath.normpath(path.removeprefix("./"))
    return "." if normal in ("", ".") else normal
