"""Verdicts of the static checks kept between runs, next to the scan cache: `kubectl kustomize`
results keyed by the content it built, and whole check results keyed by their inputs plus the
answers the disk gave them (a verdict is reused only while the disk still answers the same).
The manifests phase 1 renders are kept the same way, keyed by the objects they are rendered from.

A probe is a question the checks asked of the planned tree (the earlier planned changes laid over
the disk), so a verdict does not depend on planned changes the checks never looked at: the same
file planned after other slices gets the same verdict while every answer is the same."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from ingress2tailscale.model import Notice
from ingress2tailscale.repo.cache import scan_cache_path

KUBECTL_STORE = "kustomize-v1"
CHECKS_STORE = "checks-v1"
RENDER_STORE = "render-v1"
# the code that decides a check's verdict or renders a manifest: a new version is a new key
VERDICT_MODULES = (
    "ingress2tailscale.checks.manifests",
    "ingress2tailscale.checks.kustomize",
    "ingress2tailscale.checks.schemas",
    "ingress2tailscale.edit.manifests",
    "ingress2tailscale.model",
    "ingress2tailscale.checks.verdicts",
)
LIBRARY_MODULES = (
    "yaml",
    "yaml._yaml",
    "jsonschema",
    "referencing",
    "kubernetes_validate",
    "ruamel.yaml",
)

# a question asked of the disk: ("file" | "dir" | "read", repo-relative path) and its answer
Probe = tuple[str, str, bool | str]


def verdict_store(root: Path, name: str = KUBECTL_STORE) -> Path | None:
    cache_file = scan_cache_path(root)
    return None if cache_file is None else cache_file.parent / name


def read_verdict(store: Path | None, key: str) -> list[Notice] | None:
    if store is None:
        return None
    try:
        rows = json.loads((store / key).read_text(encoding="utf-8"))
        return _notices(rows)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: check again


def write_verdict(store: Path | None, key: str, notices: list[Notice]) -> None:
    _write_json(store, key, [n.to_json() for n in notices])


def read_kept_text(store: Path | None, key: str) -> str | None:
    """A text kept under `key` (a rendered manifest), or None."""
    if store is None:
        return None
    try:
        text = json.loads((store / key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return text if isinstance(text, str) else None


def write_kept_text(store: Path | None, key: str, text: str) -> None:
    _write_json(store, key, text)


def read_traced(
    store: Path | None, key: str, answer: Callable[[str, str], bool | str]
) -> list[Notice] | None:
    """A check's verdict stored under `key`, if `answer` (the planned tree's answer to a probe)
    is still the same for every probe it recorded."""
    if store is None:
        return None
    try:
        data = json.loads((store / key).read_text(encoding="utf-8"))
        probes = [(str(kind), str(path), answer) for kind, path, answer in data["probes"]]
        notices = _notices(data["notices"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return notices if all(_answers(answer, p) for p in probes) else None


def write_traced(
    store: Path | None, key: str, probes: Iterable[Probe], notices: list[Notice]
) -> None:
    rows = {"probes": [list(p) for p in probes], "notices": [n.to_json() for n in notices]}
    _write_json(store, key, rows)


def probe_disk(root: Path, kind: str, path: str) -> bool | str:
    """The answer the disk gives: whether a file or folder exists, or a text's SHA-256."""
    full = os.path.join(root, path)
    if kind == "file":
        return os.path.isfile(full)
    if kind == "dir":
        return os.path.isdir(full)
    with open(full, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def inputs_key(*parts: object) -> str:
    """A key of JSON-able inputs and of the code that judges them."""
    text = json.dumps([code_fingerprint(), *parts], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def typed(value: Any) -> Any:
    """`value` as JSON that keeps each scalar's type, for a key of what YAML is rendered from:
    `1` and `"1"` render differently, and so do a plain and a quoted string. TypeError for a
    value JSON cannot hold (a date)."""
    if isinstance(value, dict):
        return ["map", [[typed(k), typed(v)] for k, v in value.items()]]
    if isinstance(value, list):
        return ["seq", [typed(v) for v in value]]
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return [f"{type(value).__module__}.{type(value).__qualname__}", value]
    raise TypeError(f"not JSON: {type(value).__qualname__}")


@cache
def code_fingerprint() -> str:
    """Our checking and rendering code (its bytes) and the libraries it uses (where and when
    installed)."""
    digest = hashlib.sha256(sys.version.encode())
    for name in VERDICT_MODULES:
        digest.update(Path(_module_file(name)).read_bytes())
    for name in LIBRARY_MODULES:
        path = _module_file(name)
        stat = os.stat(path) if path else None
        digest.update(f"{name}:{path}:{stat and (stat.st_size, stat.st_mtime_ns)}".encode())
    return digest.hexdigest()


def _module_file(name: str) -> str:
    """Where a module is, found without importing it."""
    module = sys.modules.get(name)
    if module is not None:
        return str(getattr(module, "__file__", "") or "")
    spec = importlib.util.find_spec(name)
    return str(spec.origin or "") if spec is not None else ""


def _answers(answer: Callable[[str, str], bool | str], probe: Probe) -> bool:
    kind, path, expected = probe
    try:
        return answer(kind, path) == expected
    except OSError:
        return False


def _notices(rows: object) -> list[Notice]:
    if not isinstance(rows, list):
        raise TypeError("not a list of notices")
    return [Notice(r["level"], r["subject"], r["message"]) for r in rows]


def _write_json(store: Path | None, key: str, data: object) -> None:
    if store is None:
        return
    try:
        store.mkdir(parents=True, exist_ok=True)
        partial = store / f".{key}.{os.getpid()}"
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(store / key)
    except OSError:
        pass  # a store we cannot write only costs time
