"""What Flux applies: the files its Kustomizations reach, and which Kustomizations reach each.

From each Flux Kustomization's `spec.path` (relative to the source root, the repo's root here)
kustomize follows a folder's `kustomization.yaml`: its `resources` (files and folders, `../`
too) and `components`; a folder without one applies every manifest under it, and the folders
below it that have their own (Flux's generated kustomization). A Flux Kustomization counts when
Flux applies the file that defines it, or when nothing in the repo could (it is applied from
outside, at bootstrap). A repo without Flux Kustomizations applies everything.

Each folder a build reaches is a unit: the files it adds itself (`own`: its kustomization file
and the files it lists, or a generated folder's manifests) and the folders it builds
(`children`). A Kustomization reaches a set of units; a file is applied when a reached unit
owns it. A planned change that leaves every reached unit's children as they were (an edited
manifest, a file added to or removed from a `resources` list, a manifest made or deleted) is
carried forward in time proportional to the change; anything else is worked out again, reusing
the units the change cannot alter.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from ingress2tailscale.kinds import KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.model import ResourceRef

MANIFEST_SUFFIXES = (*YAML_SUFFIXES, ".json")
NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization: where it is defined and the folder it applies."""

    ref: ResourceRef
    file: str
    path: str  # normalised, repo-relative ("." for the root)


@dataclass(frozen=True)
class Change:
    """A planned change of one file: whether it has documents before and after."""

    before: bool
    after: bool


@dataclass(frozen=True)
class _Unit:
    own: frozenset[str]
    children: tuple[str, ...]
    generated: bool  # a folder without a kustomization


class Applied:
    """The files Flux applies, computed once from the Kustomizations and the kustomize files."""

    def __init__(
        self,
        kustomizations: Sequence[FluxKustomization],
        paths: Callable[[], Iterable[str]],
        entries: Mapping[str, Sequence[str]],
        earlier: Applied | None = None,
        changed: Mapping[str, Change] | None = None,
        has_documents: Callable[[str], bool] | None = None,
    ) -> None:
        """`paths`: the repo's manifest files (asked only for a folder without kustomization);
        `entries`: kustomization file -> its resources and components (as the scan read them);
        `earlier`: the Applied of the same repo before the `changed` files changed;
        `has_documents`: whether a file is one of `paths`."""
        self._all_paths = paths
        self._has_documents = has_documents or self._in_paths
        self._entries = entries
        self._flux = tuple(kustomizations)
        if earlier is not None and changed is not None and self._carried(earlier, changed):
            return
        self._units: dict[str, _Unit] = _reusable(earlier, changed or {})
        self._owners: dict[str, frozenset[str]] = {}
        for folder, unit in self._units.items():
            self._own(folder, unit)
        self._reach: list[tuple[FluxKustomization, frozenset[str]]] = []
        self._bootstrapped: frozenset[str] = NOTHING
        self._apply()

    @cached_property
    def _paths(self) -> list[str]:
        return sorted(set(self._all_paths()))

    @cached_property
    def _reached(self) -> frozenset[str]:
        return frozenset().union(*(reach for _, reach in self._reach))

    @cached_property
    def live(self) -> list[tuple[FluxKustomization, frozenset[str]]]:
        """Each live Kustomization with every file its build reads."""
        return [(ks, self._files(reach)) for ks, reach in self._reach]

    def __contains__(self, path: object) -> bool:
        if path in self._bootstrapped:
            return True
        owners = self._owners.get(path) if isinstance(path, str) else None
        return owners is not None and not owners.isdisjoint(self._reached)

    def appliers(self, path: str) -> list[ResourceRef]:
        """The Flux Kustomizations that apply `path` (none: it is not applied)."""
        owners = self._owners.get(path, NOTHING)
        return [ks.ref for ks, reach in self._reach if not owners.isdisjoint(reach)]

    def _files(self, reach: frozenset[str]) -> frozenset[str]:
        return frozenset().union(*(self._units[folder].own for folder in reach))

    def _apply(self) -> None:
        flux = self._flux
        # a repo whose Kustomizations all hold each other: trust them all rather than none
        pending = [k for k in flux if _is_root(k, flux)] or list(flux)
        seen = {k.ref for k in pending}
        self._bootstrapped = frozenset(k.file for k in pending)  # applied from outside
        defined_in: dict[str, list[FluxKustomization]] = {}
        for ks in flux:
            defined_in.setdefault(ks.file, []).append(ks)
        while pending:
            ks = pending.pop(0)
            reach = self._reach_from(ks.path)
            self._reach.append((ks, reach))
            for path in sorted(defined_in):
                if self._owners.get(path, NOTHING).isdisjoint(reach):
                    continue
                for other in defined_in[path]:
                    if other.ref not in seen:
                        seen.add(other.ref)
                        pending.append(other)

    def _reach_from(self, folder: str) -> frozenset[str]:
        """The units a kustomize build of `folder` reads (a cycle, which kustomize refuses,
        stops where it closes)."""
        found = {folder}
        todo = [folder]
        while todo:
            for child in self._unit(todo.pop()).children:
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return frozenset(found)

    def _unit(self, folder: str) -> _Unit:
        unit = self._units.get(folder)
        if unit is None:
            kustomization = self._kustomization(folder)
            if kustomization is None:
                unit = self._generated(folder)
            else:
                unit = _listed(folder, *kustomization)
            self._units[folder] = unit
            self._own(folder, unit)
        return unit

    def _own(self, folder: str, unit: _Unit) -> None:
        owners = self._owners
        for path in unit.own:
            owners[path] = owners.get(path, NOTHING) | {folder}

    def _generated(self, folder: str) -> _Unit:
        """Flux's rule for a folder without a kustomization: every manifest under it, except
        in the folders below that have their own kustomization, which build their part."""
        own: set[str] = set()
        children: dict[str, None] = {}
        for path in self._under(folder):
            owner = self._owner(folder, posixpath.dirname(path))
            if owner is None:
                if _is_manifest(path):
                    own.add(path)
            else:
                children.setdefault(owner)
        return _Unit(frozenset(own), tuple(children), generated=True)

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

    def _in_paths(self, path: str) -> bool:
        index = bisect.bisect_left(self._paths, path)
        return index < len(self._paths) and self._paths[index] == path

    def _kept(self, folder: str) -> bool:
        """Whether a generated folder above still builds `folder` whatever else goes: its
        kustomization file is a manifest of the repo."""
        kustomization = self._kustomization(folder)
        return kustomization is not None and self._has_documents(_join(folder, kustomization[0]))

    def _kustomization(self, folder: str) -> tuple[str, Sequence[str]] | None:
        for name in KUSTOMIZATION_FILES:
            found = self._entries.get(_join(folder, name))
            if found is not None:
                return name, found
        return None

    def _carried(self, earlier: Applied, changed: Mapping[str, Change]) -> bool:
        """Take `earlier` forward through `changed` when no reached unit's children change
        (then what each Kustomization reaches is the same); False: work it out again."""
        if earlier._flux != self._flux:
            return False
        units, owners = earlier._units, earlier._owners
        moved: set[str] = set()  # files whose owners change
        copied = False
        for path, change in changed.items():
            folder = _dirname(path)
            edits: list[tuple[str, _Unit]] = []
            if posixpath.basename(path) in KUSTOMIZATION_FILES:
                before, now = earlier._kustomization(folder), self._kustomization(folder)
                if (before is None) != (now is None) or (before and now and before[0] != now[0]):
                    return False  # a folder gains or loses its kustomization
                unit = units.get(folder)
                if unit is not None and now is not None and not unit.generated:
                    edits.append((folder, _listed(folder, *now)))
            if change.before != change.after and _is_manifest(path):
                owners_of = self._generated_owners(folder, units, change.after)
                if owners_of is None:
                    return False
                edits += [(o, _with(units[o], path, change.after)) for o in owners_of]
            for owner, new in edits:
                old = units[owner]
                if new.children != old.children:
                    return False
                if not copied:
                    units, owners, copied = dict(units), dict(owners), True
                units[owner] = new
                for gone in old.own - new.own:
                    owners[gone] = owners[gone] - {owner}
                    moved.add(gone)
                for made in new.own - old.own:
                    owners[made] = owners.get(made, NOTHING) | {owner}
                    moved.add(made)
        if any(ks.file in moved for ks in self._flux):
            return False  # a Kustomization's own file may be applied or not now
        self._units, self._owners = units, owners
        self._reach, self._bootstrapped = earlier._reach, earlier._bootstrapped
        self.__dict__["_reached"] = earlier._reached  # the same units are reached
        return True

    def _generated_owners(
        self, folder: str, units: Mapping[str, _Unit], made: bool
    ) -> list[str] | None:
        """The generated units that own a manifest of `folder` (made or deleted): those above
        it with no kustomization in between. None: a generated unit may build a folder more or
        fewer (the manifest is the first or last of a folder with a kustomization)."""
        found = []
        outermost: str | None = None  # the highest folder with a kustomization passed
        current: str | None = folder
        while current is not None:
            unit = units.get(current)
            if self._kustomization(current) is not None:
                outermost = current
            elif unit is not None and unit.generated:
                if outermost is None:
                    found.append(current)
                elif outermost not in unit.children or not (made or self._kept(outermost)):
                    return None
            current = None if current == "." else _dirname(current)
        return found


def _listed(folder: str, name: str, entries: Sequence[str]) -> _Unit:
    """A folder with a kustomization: the file itself, the files it lists, and the folders."""
    own = {_join(folder, name)}
    children: dict[str, None] = {}
    for entry in entries:
        target = _target(folder, entry)
        if target.startswith(".."):
            continue  # outside the repo
        if target.endswith(MANIFEST_SUFFIXES):
            own.add(target)
        else:
            children.setdefault(target)
    return _Unit(frozenset(own), tuple(children), generated=False)


def _with(unit: _Unit, path: str, present: bool) -> _Unit:
    """A generated unit once `path` gained (`present`) or lost its documents."""
    own = unit.own | {path} if present else unit.own - {path}
    return _Unit(own, unit.children, generated=True)


def _reusable(earlier: Applied | None, changed: Mapping[str, Change]) -> dict[str, _Unit]:
    """The units of `earlier` no change can alter: a folder with a kustomization whose file
    did not change, a generated folder with no changed file under it."""
    if earlier is None:
        return {}
    folders = {_dirname(p) for p in changed}

    def kept(folder: str, unit: _Unit) -> bool:
        if not unit.generated:
            return folder not in folders
        return not any(_holds(folder, f) or f == folder for f in folders)

    return {folder: unit for folder, unit in earlier._units.items() if kept(folder, unit)}


def _is_manifest(path: str) -> bool:
    return path.endswith(MANIFEST_SUFFIXES) or posixpath.basename(path) in KUSTOMIZATION_FILES


def _is_root(ks: FluxKustomization, all_ks: Sequence[FluxKustomization]) -> bool:
    """No other Kustomization's folder holds its file: it is applied from outside."""
    return not any(o.ref != ks.ref and _holds(o.path, ks.file) for o in all_ks)


def _holds(folder: str, path: str) -> bool:
    return folder == "." or path.startswith(f"{folder}/")


def _dirname(path: str) -> str:
    return posixpath.dirname(path) or "."


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
