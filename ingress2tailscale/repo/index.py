"""The documents of an inventory as compact rows, with indexes by identity, file and kind built
on first use, and `Document`s made only for the rows a caller reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import overload

from ingress2tailscale.model import Document
from ingress2tailscale.repo.columns import Ident
from ingress2tailscale.repo.scan import ENTRIES, PROBLEM

RefKey = tuple[str, str, str]  # kind, namespace, name: the fields of a ResourceRef
_REF_KEY = itemgetter(5, 8, 7)  # the RefKey of an Ident row


class DocumentList(Sequence[Document]):
    """The documents of an inventory, each made when it is first read."""

    def __init__(self, view: DocumentIndex) -> None:
        self._view = view

    def __len__(self) -> int:
        return len(self._view.rows)

    @overload
    def __getitem__(self, index: int) -> Document: ...
    @overload
    def __getitem__(self, index: slice) -> list[Document]: ...
    def __getitem__(self, index: int | slice) -> Document | list[Document]:
        if isinstance(index, slice):
            return [self._view.document(row) for row in self._view.rows[index]]
        return self._view.document(self._view.rows[index])

    def __iter__(self) -> Iterator[Document]:
        return map(self._view.document, self._view.rows)


class DocumentIndex:
    """One row per document, and the scanned files they come from. Indexes and Documents are
    made on first use and shared by the inventories of the same files (both are immutable)."""

    def __init__(
        self,
        rows: list[Ident],
        text_of: Callable[[str], str],
        made: dict[Ident, Document] | None = None,
    ) -> None:
        # problem and entries rows (see `scan.PROBLEM`, `scan.ENTRIES`) are no documents
        special = [row for row in rows if row[5][:1] == "!"]
        self.problems = [row for row in special if row[5] == PROBLEM]
        self.entries = {r[0]: _lines(r[7]) for r in special if r[5] == ENTRIES}
        if special:
            rows = [row for row in rows if row[5][:1] != "!"]
        self.rows, self.text_of = rows, text_of
        self._made = made if made is not None else {}
        self._first: dict[RefKey, Ident] | None = None
        self._by_path: dict[str, list[Ident]] | None = None
        self._by_kind: dict[str, list[Ident]] = {}

    def document(self, row: Ident) -> Document:
        doc = self._made.get(row)
        if doc is None:
            doc = self._made[row] = Document.of_row(row, self.text_of)
        return doc

    def first(self, key: RefKey) -> Ident | None:
        """The first row with this identity (the same object may be defined twice)."""
        if self._first is None:
            rows = self.rows[::-1]  # the first of equal keys is stored last: it wins
            self._first = dict(zip(map(_REF_KEY, rows), rows, strict=True))
        return self._first.get(key)

    def in_file(self, path: str) -> list[Ident]:
        if self._by_path is None:
            by_path: dict[str, list[Ident]] = {}
            for row in self.rows:
                by_path.setdefault(row[0], []).append(row)
            self._by_path = by_path
        return self._by_path.get(path, [])

    def of_kind(self, kind: str) -> list[Ident]:
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = [row for row in self.rows if row[5] == kind]
        return found

    def replaced(
        self, paths: set[str], texts: Mapping[str, str], added: list[Ident]
    ) -> DocumentIndex:
        """A view whose files `paths` are gone, and `texts` (with rows `added`) are added; the
        indexes built so far are updated, not built again."""
        kept = [row for row in self.rows if row[0] not in paths]
        made = {row: d for row, d in self._made.items() if row[0] not in paths}
        earlier = self.text_of

        def text_of(path: str) -> str:
            return texts[path] if path in texts else earlier(path)

        view = DocumentIndex(kept + added, text_of, made)
        view.problems[:0] = [row for row in self.problems if row[0] not in paths]
        view.entries = {
            **{p: e for p, e in self.entries.items() if p not in paths},
            **view.entries,
        }
        if self._first is not None:
            view._first = self._first_replaced(paths, added)
        for kind, rows in self._by_kind.items():
            view._by_kind[kind] = [r for r in rows if r[0] not in paths]
            view._by_kind[kind] += [r for r in added if r[5] == kind]
        return view

    def _first_replaced(self, paths: set[str], added: list[Ident]) -> dict[RefKey, Ident]:
        """The identity index once `paths` are gone and `added` appended: an identity whose
        first row is gone falls to its next row (looked for among the rows of its kind)."""
        assert self._first is not None
        first = {k: r for k, r in self._first.items() if r[0] not in paths}
        lost = {k for k, r in self._first.items() if r[0] in paths}
        for kind in {k[0] for k in lost}:
            for row in self.of_kind(kind):
                key = _REF_KEY(row)
                if key in lost and row[0] not in paths:
                    first.setdefault(key, row)
        for row in added:
            first.setdefault(_REF_KEY(row), row)
        return first


def _lines(text: str) -> list[str]:
    return text.split("\n") if text else []
