"""What a Flux Kustomization would apply from a checked-out commit: its path built as
kustomize-controller builds it, then checked the way the API server's dry-run checks it.

The files each Kustomization reaches come from the product's repo reading (`repo/applied.py`
through the inventory). With `kubectl` installed the folder is built by `kubectl kustomize`
(a folder without a kustomization file gets one generated, as Flux does); without it the
inventory's documents of those files are used as they are (kustomize patches not applied).
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale.checks.kustomize import kustomize_build
from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.repo.inventory import Inventory

GENERATED = "kustomization.yaml"
REMOTE = ("http://", "https://", "github.com/", "git@", "ssh://")


class BuildError(Exception):
    """The Kustomization cannot be applied: `reason` as Flux names it, `message` its words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Source:
    """A commit checked out in `root`, read once into the product's inventory."""

    root: Path
    inventory: Inventory

    def files_of(self, path: str) -> frozenset[str] | None:
        """The repo files a Flux Kustomization with `spec.path` = `path` reaches."""
        applied = self.inventory.applied
        for ks, files in applied.live if applied is not None else ():
            if ks.path == path:
                return files
        return None


def render(
    source: Source, path: str, target_namespace: str | None, kubectl: str | None
) -> list[dict[str, Any]]:
    """The objects of `path` (namespaced ones without a namespace left so); raises BuildError."""
    folder = source.root / path
    if not folder.is_dir():
        raise BuildError(
            "ArtifactFailed", f"kustomization path not found: stat ./{path}: no such directory"
        )
    files = source.files_of(path) or frozenset()
    _check_listed(source.root, files)
    if kubectl is not None:
        objects = _kustomize(kubectl, source.root, path, files)
    else:
        objects = _documents(source.inventory, files)
    if target_namespace:
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = target_namespace
    return objects


def dry_run_errors(obj: Mapping[str, Any], namespace: str | None) -> list[str]:
    """What the API server's validation refuses in `obj`, in Flux's words."""
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = str((meta or {}).get("name") or "")
    where = "/".join(p for p in (kind, namespace, name) if p)
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    spec = spec or {}
    found = []
    if not name:
        found.append("metadata.name: Required value")
    if kind == "Service" and not spec.get("ports"):
        headless = spec.get("clusterIP") == "None"
        if spec.get("type") != "ExternalName" and not headless:
            found.append("spec.ports: Required value")
    if kind == "Ingress" and not spec.get("rules") and not spec.get("defaultBackend"):
        found.append("spec: Invalid value: either `defaultBackend` or `rules` must be specified")
    return [f"{where} dry-run failed: {problem}" for problem in found]


def _check_listed(root: Path, files: frozenset[str]) -> None:
    """kustomize's first complaint: an entry of a kustomization file that is not there."""
    for kpath in sorted(f for f in files if posixpath.basename(f) in KUSTOMIZATION_FILES):
        data = _load(root / kpath)
        for entry in [*data.get("resources", []), *data.get("components", [])]:
            if not isinstance(entry, str) or entry.startswith(REMOTE):
                continue
            target = root / posixpath.dirname(kpath) / entry
            if not target.exists():
                raise BuildError(
                    "BuildFailed",
                    f"kustomize build failed: accumulating resources from '{entry}' in "
                    f"{kpath}: no such file or directory",
                )


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError("BuildFailed", f"kustomize build failed: {path.name}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _kustomize(kubectl: str, root: Path, path: str, files: frozenset[str]) -> list[dict[str, Any]]:
    folder = root / path
    if not any((folder / name).is_file() for name in KUSTOMIZATION_FILES):
        _generate(folder, path, files)
    done = kustomize_build(kubectl, folder)
    if done is None:
        raise BuildError("BuildFailed", "kustomize build timed out")
    if done.returncode != 0:
        text = done.stderr.strip().replace(f"{root}{os.sep}", "").replace(str(root), ".")
        raise BuildError("BuildFailed", f"kustomize build failed: {text}")
    try:
        loaded = list(yaml.load_all(done.stdout, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        raise BuildError("BuildFailed", f"kustomize build failed: {exc}") from None
    return [obj for obj in loaded if isinstance(obj, dict)]


def _generate(folder: Path, path: str, files: frozenset[str]) -> None:
    """Flux's generated kustomization: every manifest of the folder, and each folder below
    with its own kustomization (once, the outermost)."""
    prefix = "" if path == "." else f"{path}/"
    nested = {posixpath.dirname(f) for f in files if posixpath.basename(f) in KUSTOMIZATION_FILES}
    entries: list[str] = []
    for file in sorted(files):
        inner = next((n for n in sorted(nested) if _under(file, n) and n != path), None)
        entry = (inner if inner is not None else file).removeprefix(prefix)
        if entry.endswith(YAML_SUFFIXES) and not _holds_objects(folder / entry):
            continue
        if entry not in entries:
            entries.append(entry)
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    text = yaml.safe_dump({**body, "resources": entries}, sort_keys=False)
    (folder / GENERATED).write_text(text, encoding="utf-8")


def _holds_objects(path: Path) -> bool:
    try:
        docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
    except (OSError, yaml.YAMLError):
        return True  # kustomize says what is wrong with it
    return any(isinstance(d, dict) and "kind" in d and "apiVersion" in d for d in docs)


def _under(file: str, folder: str) -> bool:
    return folder in ("", ".") or file.startswith(f"{folder}/")


def _documents(inventory: Inventory, files: Sequence[str] | frozenset[str]) -> list[dict[str, Any]]:
    unreadable = [n for n in inventory.reading_notices() if n.level == "warning"]
    for notice in unreadable:
        if notice.subject in files:
            raise BuildError(
                "BuildFailed", f"kustomize build failed: {notice.subject}: {notice.message}"
            )
    objects = []
    for file in sorted(files):
        if posixpath.basename(file) in KUSTOMIZATION_FILES:
            continue
        for doc in inventory.in_file(file):
            try:
                body = dict(doc.body)
            except InventoryError as exc:
                raise BuildError("BuildFailed", f"kustomize build failed: {exc}") from None
            if doc.namespace:
                body["metadata"] = {**(body.get("metadata") or {}), "namespace": doc.namespace}
            objects.append(body)
    return objects


def kubectl_binary() -> str | None:
    return shutil.which("kubectl")
