"""Planned file edits, laid over a repo tree, so each edit sees the ones before it."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ingress2tailscale.errors import PlanError
from ingress2tailscale.model import Document, FileChange, FileOp, ResourceRef
from ingress2tailscale.repo.inventory import Inventory, RepoTree, scan_documents, split_documents

# the files that may name a host or name (None: any file may), from an index of the plan's
FilesNaming = Callable[[str], Collection[str] | None]


class Workspace:
    """Texts of the files a step edits: read through to the tree, written in memory.

    Mutable, unlike `RepoTree`: one step's edits accumulate here, each seeing the ones before,
    and `changes()` turns them into the step's FileChanges."""

    def __init__(self, inventory: Inventory, files_naming: FilesNaming | None = None) -> None:
        self.inventory = inventory
        self.tree: RepoTree = inventory.tree
        self._texts: dict[str, str | None] = {}
        self._files_naming = files_naming

    def files_naming(self, needle: str) -> Collection[str] | None:
        """The files of the inventory that may name `needle`, when the plan keeps an index
        that knows (None: any file may)."""
        return None if self._files_naming is None else self._files_naming(needle)

    def read(self, path: str) -> str | None:
        return self._texts[path] if path in self._texts else self.tree.read(path)

    def write(self, path: str, text: str | None) -> None:
        self._texts[path] = text

    def documents(self, path: str) -> list[Document]:
        text = self.read(path)
        if text is None:
            return []
        forced = self.inventory.kustomize_namespaces.get(_folder(path))
        return list(scan_documents(path, text, forced))

    def document(self, path: str, ref: ResourceRef) -> Document:
        for doc in self.documents(path):
            if doc.ref == ref:
                return doc
        raise PlanError(f"{path}: {ref} is no longer in this file; re-run the plan")

    def kustomization(self, path: str) -> tuple[str, Document] | None:
        """The kustomization file of `path`'s folder and its (first) document."""
        found = self.inventory.kustomization_for(path)
        if found is None:
            return None
        text = self.read(found) or ""
        for start, end, line in split_documents(text):
            chunk = text[start:end]
            if chunk.strip():
                doc = Document(found, 0, line, start, end, "Kustomization", "", "", "", chunk)
                return found, doc
        return None

    def changes(self) -> list[FileChange]:
        out = []
        for path, after in sorted(self._texts.items()):
            before = self.tree.read(path)
            if before == after:
                continue
            op: FileOp = "create" if before is None else "delete" if after is None else "modify"
            out.append(FileChange(path, op, before, after))
        return out

    def overrides(self) -> dict[str, str | None]:
        return dict(self._texts)


def _folder(path: str) -> str:
    parent = path.rpartition("/")[0]
    return parent or "."
