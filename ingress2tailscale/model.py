"""The intermediate representation: resources found in the repo, and the plan built from them.

Everything here is a frozen dataclass so a plan cannot change between being shown and applied.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import yaml

from ingress2tailscale.errors import InventoryError, describe_yaml_error
from ingress2tailscale.manifest_yaml import load_manifest

Level = Literal["error", "warning", "info"]
Action = Literal["none", "change", "unknown"]
FileOp = Literal["create", "modify", "delete"]
# what a check found, and what it looked at (`blocking` in steps/validate.py decides from both)
CheckStatus = Literal["pass", "fail", "inconclusive"]
CheckArea = Literal["static", "flux", "cluster", "tailnet", "reachability"]

# The one phase vocabulary. `Phase` is what `--phase` takes; each repo step is run by one phase
# (a links slice has a single step, which comes with phase 1) and its commit carries a
# `Migration-Phase` trailer value of its own (`links` for the links step).
Phase = Literal["prereq", "1", "2", "all"]
PHASES: tuple[Phase, ...] = ("prereq", "1", "2", "all")
PREREQ_STEPS = ("oauth-scopes", "tailnet-https", "acl")
RepoStepName = Literal["phase-1", "phase-2", "links"]
REPO_STEPS: Mapping[str, tuple[Phase, str]] = {  # step -> (the phase that runs it, its trailer)
    "phase-1": ("1", "1"),
    "phase-2": ("2", "2"),
    "links": ("1", "links"),
}


def phase_of_step(step: str) -> Phase:
    """The `--phase` that plans and applies a repo step."""
    return REPO_STEPS[step][0]


def trailer_phase(step: str) -> str:
    """The `Migration-Phase` trailer value of a step's commit."""
    return REPO_STEPS[step][1] if step in REPO_STEPS else step


@dataclass(frozen=True, order=True)
class ResourceRef:
    """Identity of a Kubernetes object: kind, namespace ('' when cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Document:
    """One YAML document of the GitOps repo: where it is, what it is, and its text.

    `kind`, `name` and `namespace` come from a cheap scan of the text; `body` is parsed on first
    use, so an inventory of thousands of files only parses the few documents a plan needs.
    `namespace` is the effective one (the folder's kustomization `namespace:` wins).
    """

    path: str  # repo-relative, POSIX separators
    index: int  # position among the file's documents, from 0
    line: int  # 1-based line where the document's text starts
    start: int  # offset of the document's text in the file
    end: int
    kind: str
    api_version: str
    name: str
    namespace: str
    text: str = field(repr=False, compare=False)

    @cached_property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.kind, self.namespace, self.name)

    @cached_property
    def body(self) -> Mapping[str, Any]:
        try:
            data = load_manifest(self.text)
        except yaml.YAMLError as exc:
            raise InventoryError(f"{self.path}: {describe_yaml_error(exc, self.line - 1)}") from exc
        if not isinstance(data, Mapping):
            raise InventoryError(f"{self.path}:{self.line}: a Kubernetes object must be a mapping")
        return data

    def __str__(self) -> str:
        return f"{self.ref} ({self.path}:{self.line})"

    @classmethod
    def of_row(cls, row: tuple[Any, ...], text_of: Callable[[str], str]) -> Document:
        """The document of an inventory row (`path` … `namespace`, in field order); its text is
        sliced from `text_of(path)` on first use: an inventory makes thousands of documents and
        reads the text of few."""
        doc = object.__new__(cls)
        fields = doc.__dict__  # frozen: fill the fields as dataclasses' own __init__ would
        fields.update(zip(_ROW_FIELDS, row, strict=True))
        fields["_text_of"] = text_of
        return doc


class _LazyText:
    """`Document.text` of a document made by `of_row`, read once, then kept as the field is."""

    def __get__(self, doc: Document | None, owner: type[Document]) -> str:
        if doc is None:
            raise AttributeError("text")  # a field without a default, as for any dataclass
        fields = doc.__dict__
        text: str = fields["_text_of"](doc.path)[doc.start : doc.end]
        fields["text"] = text
        return text


_ROW_FIELDS = ("path", "index", "line", "start", "end", "kind", "api_version", "name", "namespace")
# Set after the dataclass is made, so it is no default: a document's own `text` (its __dict__)
# wins over this non-data descriptor, which only answers for documents made by `of_row`.
setattr(Document, "text", _LazyText())  # noqa: B010


@dataclass(frozen=True)
class Notice:
    """Something the user must know about a plan: a problem, a warning or a remark."""

    level: Level
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "subject": self.subject, "message": self.message}


@dataclass(frozen=True)
class Check:
    """One validation result: the report's row (check, result, detail, seconds)."""

    name: str
    status: CheckStatus
    detail: str
    seconds: float = 0.0
    area: CheckArea = "static"

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class FileChange:
    """A change to one file of a git repo; `before`/`after` are full texts (None = absent)."""

    path: str
    op: FileOp
    before: str | None
    after: str | None
    target: Literal["file"] = "file"

    @property
    def diff(self) -> str:
        a = (self.before or "").splitlines(keepends=True)
        b = (self.after or "").splitlines(keepends=True)
        old = f"a/{self.path}" if self.before is not None else "/dev/null"
        new = f"b/{self.path}" if self.after is not None else "/dev/null"
        return "".join(_terminated(difflib.unified_diff(a, b, old, new)))

    def to_json(self) -> dict[str, Any]:
        return {"target": "file", "path": self.path, "op": self.op, "diff": self.diff}


@dataclass(frozen=True)
class RemoteChange:
    """A change to something that is not a repo file: the tailnet, the cluster, Terraform."""

    target: Literal["tailscale", "cluster", "terraform"]
    op: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "op": self.op, **self.detail}


Change = FileChange | RemoteChange


@dataclass(frozen=True)
class Step:
    """One step of a slice: what it would change and why."""

    name: str
    action: Action
    reason: str
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "reason": self.reason,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Plan:
    """The plan of one slice for one phase."""

    slice: str
    phase: str
    dry_run: bool
    steps: tuple[Step, ...]
    notices: tuple[Notice, ...] = ()
    facts: Mapping[str, str] = field(default_factory=dict)  # recorded in commits (old_host)

    @property
    def file_changes(self) -> tuple[FileChange, ...]:
        return tuple(c for s in self.steps for c in s.changes if isinstance(c, FileChange))

    @property
    def has_errors(self) -> bool:
        return any(n.level == "error" for n in self.notices)

    def to_json(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "phase": self.phase,
            "dry_run": self.dry_run,
            "steps": [s.to_json() for s in self.steps],
            "notices": [n.to_json() for n in self.notices],
        }


def _terminated(lines: Any) -> Any:
    """Yield diff lines, adding the marker git uses for a last line without a newline."""
    for line in lines:
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n\\ No newline at end of file\n"
