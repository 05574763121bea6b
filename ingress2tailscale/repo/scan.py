"""One YAML file -> the identities of its Kubernetes documents, read with anchored regexes (libyaml
only where the regexes cannot be sure); and the YAML files of a folder tree, with their stats.

A document that cannot be parsed, and a Helm chart's folder (its templates are not manifests),
never stop the scan: each becomes one *problem row* (kind `PROBLEM`, the notice's level in the
apiVersion field, its message in the name field) that the inventory reports as a notice. A
kustomization file also gets an *entries row* (kind `ENTRIES`, its resources and components one a
line in the name field), so what Flux applies is known without parsing it again."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import yaml

from ingress2tailscale.errors import describe_yaml_error
from ingress2tailscale.kinds import HELM_CHART_FILE, KUSTOMIZATION_FILES, YAML_SUFFIXES
from ingress2tailscale.manifest_yaml import load_manifest, read_manifest, value_note
from ingress2tailscale.repo.columns import Ident, StatKey, stat_key

SKIP_DIRS = {".git", "node_modules", ".venv", "__pycache__"}
PROBLEM = "!problem"  # the kind of a problem row: no Kubernetes kind starts with "!"
ENTRIES = "!entries"  # a kustomization's resources and components, one a line, as the name
CHART_SKIPPED = (
    "a Helm chart: the rest of its folder is not read (Helm renders its templates; Flux "
    "applies a chart through a HelmRelease, not as manifests)"
)

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.M)
_TOP = re.compile(r"^(kind|apiVersion|namespace):[ \t]*(.*?)[ \t]*$", re.M)
_METADATA = re.compile(r"^metadata:[ \t]*(?:#.*)?\n((?:(?:[ \t]+.*|[ \t]*#.*|[ \t]*)\n?)*)", re.M)
_NAMESPACE = re.compile(r"^namespace:[ \t]*(.+?)[ \t]*$", re.M)
_TOP_KIND = re.compile(r"^kind:", re.M)
LIST_KEYS = ("resources", "components")
_LIST_BLOCK = re.compile(
    r"^(?:resources|components):[ \t]*(?:#[^\n]*)?\n((?:[ \t]*(?:-[^\n]*|#[^\n]*)?(?:\n|$))*)",
    re.M,
)
_LIST_ITEM = re.compile(
    r"^[ \t]*-[ \t]+(?:\"([^\"\\\n]*)\"|'([^'\n]*)'|([^\s#'\"{}\[\]&*!|>][^#\n]*?))"
    r"[ \t]*(?:#[^\n]*)?$",
    re.M,
)
_LIST_DASH = re.compile(r"^[ \t]*-", re.M)
_NESTED_LIST_KEY = re.compile(r"^[ \t]+(?:resources|components):", re.M)
_CONTENT = re.compile(r"^\s*[^\s#]", re.M)  # a line that is neither blank nor a comment
_PLAIN = re.compile(r"^(?:\"([^\"\\]*)\"|'([^']*)'|([^\s#'\"{}\[\]&*!|>][^#]*?))[ \t]*(?:#.*)?$")


def scan_file(path: str, text: str) -> tuple[tuple[Ident, ...], str]:
    """What the scan cache keeps of a file: its identities (and, for a kustomization file, an
    entries row: what it includes), and the namespace it forces on its folder when it is a
    kustomization file ("" when none)."""
    idents = scan_idents(path, text)
    if path.rpartition("/")[2] in KUSTOMIZATION_FILES:
        entries = "\n".join(kustomization_entries(text))
        idents += ((path, 0, 1, 0, 0, ENTRIES, "", entries, ""),)
    return idents, forced_namespace(path, text)


def forced_namespace(path: str, text: str) -> str:
    if path.rpartition("/")[2] not in KUSTOMIZATION_FILES:
        return ""
    match = _NAMESPACE.search(text)
    return (_scalar(match.group(1)) if match else None) or ""


def scan_idents(path: str, text: str) -> tuple[Ident, ...]:
    """(path, index, line, start, end, kind, apiVersion, name, namespace) of each Kubernetes
    document of one file."""
    found: list[Ident] = []
    index = 0
    if path.rpartition("/")[2] == HELM_CHART_FILE:
        return ((path, 0, 1, 0, 0, PROBLEM, "info", CHART_SKIPPED, ""),)
    for start, end, line in split_documents(text):
        chunk = text[start:end]
        if not _CONTENT.search(chunk):
            continue
        ident, note = _identify(chunk), None
        if ident is None:
            ident, note = _identify_by_parsing(chunk, line)
        elif ident[0]:
            note = value_note(chunk)
        if ident is not None and ident[0]:
            found.append((path, index, line, start, end, *ident))
        if note is not None and ident is not None and ident[0] != PROBLEM:
            found.append(
                (path, index, line, start, end, PROBLEM, "info", f"line {line}: {note}", "")
            )
        index += 1
    return tuple(found)


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


def _identify_by_parsing(
    chunk: str, line: int
) -> tuple[tuple[str, str, str, str] | None, str | None]:
    """The identity of a document the regexes could not read, and the note of its parse."""
    try:
        data, note = read_manifest(chunk)
    except yaml.YAMLError as exc:
        return _problem(chunk, describe_yaml_error(exc, line - 1)), None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None, None
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    ident = (
        data["kind"],
        str(data.get("apiVersion", "")),
        str(meta.get("name", "")),
        str(meta.get("namespace", "")),
    )
    return ident, note


def _problem(chunk: str, error: str) -> tuple[str, str, str, str]:
    """The problem row of a document the parser refused: a warning when it looks like a
    Kubernetes object (a top-level `kind:`), else a remark (a config file, a template)."""
    if _TOP_KIND.search(chunk):
        return PROBLEM, "warning", f"{error}; this document is left out of the scan", ""
    return PROBLEM, "info", f"not a Kubernetes manifest ({error}): not read", ""


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
    """The items of plain block lists under `resources:` / `components:`; None when the text
    holds anything the regexes cannot be sure of (anchors, flow lists, nested keys)."""
    if "&" in text or "*" in text or "[" in text or _NESTED_LIST_KEY.search(text):
        return None
    found: list[str] = []
    for block in _LIST_BLOCK.findall(text):
        items = _LIST_ITEM.findall(block)
        if len(items) != len(_LIST_DASH.findall(block)):
            return None
        found += [next(g for g in item if g) for item in items]
    return found


def walk_yaml(
    root: str, folders: dict[str, StatKey | None] | None = None
) -> dict[str, StatKey | None]:
    """Repo-relative path -> stat of the YAML files, as os.walk would find them (no symlinked
    folders); None for a file that cannot be stat'ed (it is read, never cached).

    `folders`, when given, receives each folder walked ("" for the root, else ending in "/")
    with its stat taken before it was listed: while that stat holds, so does its listing. It is
    None for a listing its stat cannot vouch for (a symlink's target may change type unseen).
    """
    found: dict[str, StatKey | None] = {}
    seen = folders if folders is not None else {}
    stack = [("", root)]
    while stack:
        rel, folder = stack.pop()
        key = stat_key(folder)
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
            chart = [e for e in entries if e.name == HELM_CHART_FILE and not _is_dir(e)]
            for entry in chart or entries:  # a chart's folder: only its Chart.yaml
                if _visit(entry, rel, stack, found):
                    key = None
        except OSError:
            key = None  # an unreadable folder holds nothing we can scan
        seen[rel] = key
    return found


def _visit(
    entry: os.DirEntry[str],
    rel: str,
    stack: list[tuple[str, str]],
    found: dict[str, StatKey | None],
) -> bool:
    """Note one folder entry; True when it is a symlink."""
    name = entry.name
    if _is_dir(entry):
        if name not in SKIP_DIRS and not name.startswith(".") and not entry.is_symlink():
            stack.append((f"{rel}{name}/", entry.path))
    elif name.endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_FILES:
        found[rel + name] = stat_key(entry.path)
    return entry.is_symlink()


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
