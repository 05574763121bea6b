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
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import yaml

from ingress2tailscale.kinds import KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.manifest_yaml import load_manifest
from ingress2tailscale.model import ResourceRef

Read = Callable[[str], str | None]
LIST_KEYS = ("resources", "components")
_KEY = re.compile(r"^(resources|components):[ \t]*(?:#.*)?$")
_ITEM = re.compile(
    r"^[ \t]*-[ \t]+(?:\"([^\"\\]*)\"|'([^']*)'|([^\s#'\"{}\[\]&*!|>][^#]*?))[ \t]*(?:#.*)?$"
)
_EMPTY = re.compile(r"^[ \t]*(?:#.*)?$")


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
        paths: Iterable[str],
        read: Read,
    ) -> None:
        self._paths = sorted(set(paths))
        self._read = read
        self._closures: dict[str, frozenset[str]] = {}
        self._kustomizations: dict[str, tuple[str, str] | None] = {}
        self.by_file: dict[str, list[ResourceRef]] = {}
        self.live: list[FluxKustomization] = []
        self._apply(kustomizations)

    def __contains__(self, path: object) -> bool:
        return path in self.by_file

    def appliers(self, path: str) -> list[ResourceRef]:
        """The Flux Kustomizations that apply `path` (none: it is not applied)."""
        return self.by_file.get(path, [])

    def _apply(self, kustomizations: Sequence[FluxKustomization]) -> None:
        # a repo whose Kustomizations all hold each other: trust them all rather than none
        pending = [k for k in kustomizations if _is_root(k, kustomizations)] or list(kustomizations)
        seen = {k.ref for k in pending}
        for root in pending:  # applied from outside (bootstrap): its own file is applied too
            self.by_file.setdefault(root.file, [])
        while pending:
            ks = pending.pop(0)
            self.live.append(ks)
            for path in sorted(self._closure(ks.path, frozenset())):
                self.by_file.setdefault(path, []).append(ks.ref)
                for other in kustomizations:
                    if other.file == path and other.ref not in seen:
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
            name, text = kustomization
            found = {_join(folder, name)}
            for entry in kustomization_entries(text):
                target = _normal(_join(folder, entry))
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

    def _kustomization(self, folder: str) -> tuple[str, str] | None:
        if folder not in self._kustomizations:
            found = None
            for name in KUSTOMIZATION_FILES:
                text = self._read(_join(folder, name))
                if text is not None:
                    found = name, text
                    break
            self._kustomizations[folder] = found
        return self._kustomizations[folder]


def kustomization_entries(text: str) -> list[str]:
    """The `resources` and `components` of a kustomization (remote ones left out): read line
    by line when they are plain block lists, else parsed."""
    entries = _block_entries(text)
    if entries is None:
        try:
            data = load_manifest(text)
        except yaml.YAMLError:
            return []  # kustomize refuses it too; the checks of that file say so
        data = data if isinstance(data, dict) else {}
        entries = [e for key in LIST_KEYS for e in data.get(key) or [] if isinstance(e, str)]
    return [e for e in entries if "://" not in e and not e.startswith(("github.com/", "git@"))]


def _block_entries(text: str) -> list[str] | None:
    if "&" in text or "*" in text or "[" in text:
        return None  # anchors, aliases, flow lists: let the parser decide
    found: list[str] = []
    inside = False
    for line in text.splitlines():
        if _KEY.match(line):
            inside = True
            continue
        if inside:
            item = _ITEM.match(line)
            if item:
                found.append(next(g for g in item.groups() if g is not None))
                continue
            if _EMPTY.match(line):
                continue
            inside = False
        if re.match(r"^[ \t]+(?:resources|components):", line):
            return None  # an indented key of that name: not sure what it is
    return found


def _is_root(ks: FluxKustomization, all_ks: Sequence[FluxKustomization]) -> bool:
    """No other Kustomization's folder holds its file: it is applied from outside."""
    return not any(o.ref != ks.ref and _holds(o.path, ks.file) for o in all_ks)


def _holds(folder: str, path: str) -> bool:
    return folder == "." or path.startswith(f"{folder}/")


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


def _normal(path: str) -> str:
    normal = posixpath.normpath(path.removeprefix("./"))
    return "." if normal in ("", ".") else normal
