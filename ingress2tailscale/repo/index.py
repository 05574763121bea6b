"""The documents of an inventory as compact rows, with indexes by identity, file, kind and
namespace built on first use, and `Document`s made only for the rows a caller reads.

A view with planned changes is derived from the one before in time proportional to the changed
files (plus copies of dicts, done in C): the rows are kept per file, in file order with the
changed files last, and every index built so far is patched for the changed files only.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import chain
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
        return self._view.count

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


class _Files:
    """The files of a view: those scanned, which no planned change alters, then the planned
    ones in the order they were last changed (a removed file is None there). A changed view
    copies only the planned part, whose entries are replaced, never deleted (so the copy is
    one block copy): each carries the count of its change, which orders them."""

    __slots__ = ("_order", "base", "planned")

    def __init__(
        self, base: dict[str, _File], planned: dict[str, tuple[int, _File | None]] | None = None
    ) -> None:
        self.base, self.planned = base, planned or {}
        self._order: dict[str, int] | None = None

    def get(self, path: str) -> _File | None:
        found = self.planned.get(path)
        return self.base.get(path) if found is None else found[1]

    def __getitem__(self, path: str) -> _File:
        found = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[str]:
        return (path for path, _ in self.items())

    def items(self) -> Iterator[tuple[str, _File]]:
        planned = self.planned
        if not planned:
            yield from self.base.items()
            return
        yield from ((p, f) for p, f in self.base.items() if p not in planned)
        for path, (_, found) in sorted(planned.items(), key=lambda item: item[1][0]):
            if found is not None:
                yield path, found

    def values(self) -> Iterator[_File]:
        return (found for _, found in self.items())

    def ordered(self, paths: Collection[str]) -> list[str]:
        """Those of `paths` that are files here, in the files' order."""
        if self._order is None:
            self._order = {path: index for index, path in enumerate(self.base)}
        order, planned, after = self._order, self.planned, len(self._order)

        def place(path: str) -> int:
            found = planned.get(path)
            return order[path] if found is None else after + found[0]

        return sorted((p for p in paths if self.get(p) is not None), key=place)

    def replaced(self, paths: Iterable[str], made: Mapping[str, _File]) -> _Files:
        """Without `paths`, then with `made` after the others, in its order."""
        planned = dict(self.planned)
        for path, found in made.items():
            planned[path] = (next(_CHANGES), found)
        planned.update((path, (next(_CHANGES), None)) for path in paths if path not in made)
        files = _Files(self.base, planned)
        files._order = self._order  # of the scanned files, which are the same
        return files


_CHANGES = itertools.count()  # orders the planned files of every view


class _File:
    """The rows of one file, its Documents made so far, and its text when it is planned (a
    Document reads its text through its file, so it keeps no view alive)."""

    __slots__ = ("holds", "made", "rows", "text")

    def __init__(self, rows: list[Ident], text: str | None = None) -> None:
        self.rows, self.text = rows, text
        self.made: dict[Ident, Document] = {}
        self.holds: dict[str, bool] = {}  # needle -> whether the text holds it, once asked

    def text_of(self, path: str) -> str:
        assert self.text is not None
        return self.text


class DocumentIndex:
    """One row per document, grouped by the file they come from. Indexes and Documents are made
    on first use and shared by the inventories of the same files (both are immutable)."""

    def __init__(
        self,
        rows: list[Ident],
        text_of: Callable[[str], str],
        planned: Mapping[str, str] | None = None,
    ) -> None:
        # problem and entries rows (see `scan.PROBLEM`, `scan.ENTRIES`) are no documents
        special = [row for row in rows if row[5][:1] == "!"]
        if special:
            rows = [row for row in rows if row[5][:1] != "!"]
        planned = planned or {}
        files: dict[str, _File] = {}
        for row in rows:  # the rows of one file are contiguous
            found = files.get(row[0])
            if found is None:
                found = files[row[0]] = _File([], planned.get(row[0]))
            found.rows.append(row)
        self._setup(_Files(files), len(rows), text_of)
        self.problems += [row for row in special if row[5] == PROBLEM]
        self.entries.update((r[0], _lines(r[7])) for r in special if r[5] == ENTRIES)

    def _setup(self, files: _Files, count: int, text_of: Callable[[str], str]) -> None:
        self.files, self.count, self._disk_text = files, count, text_of
        self.problems: list[Ident] = []  # what the scan could not read, in file order
        self.entries: dict[str, list[str]] = {}  # kustomization path -> its entries
        self._rows: list[Ident] | None = None
        self._first: dict[str, dict[RefKey, Ident]] | None = None  # by namespace
        self._dups: set[RefKey] = set()  # identities defined more than once
        self._dup_counts: dict[RefKey, int] = {}  # and by how many rows
        self._by_kind: dict[str, list[Ident]] = {}
        self._by_ns: dict[str, dict[str, list[Ident]]] | None = None

    def text_of(self, path: str) -> str:
        found = self.files.get(path)
        if found is None or found.text is None:
            return self._disk_text(path)
        return found.text

    def holds(self, path: str, needle: str) -> bool:
        """Whether the text of a file of the view holds `needle` (kept with the file, which
        the views of the same text share)."""
        found = self.files[path]
        held = found.holds.get(needle)
        if held is None:
            held = found.holds[needle] = needle in self.text_of(path)
        return held

    @property
    def rows(self) -> list[Ident]:
        """All rows, in file order (then those of planned changes)."""
        if self._rows is None:
            self._rows = list(chain.from_iterable(f.rows for f in self.files.values()))
        return self._rows

    def document(self, row: Ident) -> Document:
        found = self.files[row[0]]
        doc = found.made.get(row)
        if doc is None:
            text_of = self._disk_text if found.text is None else found.text_of
            doc = found.made[row] = Document.of_row(row, text_of)
        return doc

    def first(self, key: RefKey) -> Ident | None:
        """The first row with this identity (the same object may be defined twice)."""
        if self._first is None:
            first: dict[str, dict[RefKey, Ident]] = {}
            for row in reversed(self.rows):  # the first of equal keys is stored last: it wins
                first.setdefault(row[8], {})[_REF_KEY(row)] = row
            count = sum(map(len, first.values()))
            if count != len(self.rows):
                counts = Counter(map(_REF_KEY, self.rows))
                self._dup_counts = {k: n for k, n in counts.items() if n > 1}
                self._dups = set(self._dup_counts)
            self._first = first
        found = self._first.get(key[1])
        return None if found is None else found.get(key)

    def repeated(self) -> set[RefKey]:
        """The identities defined by more than one row (do not change the set)."""
        if self._first is None:
            self.first(("", "", ""))
        return self._dups

    def in_file(self, path: str) -> list[Ident]:
        found = self.files.get(path)
        return [] if found is None else found.rows

    def of_kind(self, kind: str) -> list[Ident]:
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = [row for row in self.rows if row[5] == kind]
        return found

    def in_namespace(self, namespace: str) -> list[Ident]:
        """The rows of one namespace, in file order."""
        return list(chain.from_iterable(self.namespace_files(namespace).values()))

    def namespace_files(self, namespace: str) -> Mapping[str, list[Ident]]:
        """The files holding documents of one namespace, in file order, and those rows (do not
        change them)."""
        if self._by_ns is None:
            by_ns: dict[str, dict[str, list[Ident]]] = {}
            for path, found in self.files.items():
                for row in found.rows:
                    by_ns.setdefault(row[8], {}).setdefault(path, []).append(row)
            self._by_ns = by_ns
        return self._by_ns.get(namespace, {})

    def replaced(
        self, paths: set[str], texts: Mapping[str, str], added: list[Ident]
    ) -> DocumentIndex:
        """A view whose files `paths` are gone, and `texts` (with rows `added`, in file order)
        are added; the indexes built so far are patched, not built again."""
        removed: list[Ident] = []
        for path in paths:
            gone = self.files.get(path)
            removed += gone.rows if gone is not None else ()
        # a planned file is read from its text, rows or not
        made = {path: _File([], text) for path, text in texts.items()}
        special = [row for row in added if row[5][:1] == "!"]
        if special:
            added = [row for row in added if row[5][:1] != "!"]
        for row in added:
            found = made.get(row[0])
            if found is None:
                found = made[row[0]] = _File([], texts.get(row[0]))
            found.rows.append(row)
        files = self.files.replaced(paths, made)
        view = DocumentIndex.__new__(DocumentIndex)
        view._setup(files, self.count - len(removed) + len(added), self._disk_text)
        view.problems = [row for row in self.problems if row[0] not in paths]
        view.problems += [row for row in special if row[5] == PROBLEM]
        entries = view.entries = dict(self.entries)
        listed = {r[0]: _lines(r[7]) for r in special if r[5] == ENTRIES}
        for path in paths:  # replaced ones are overwritten below: the dict keeps no holes
            if path in entries and path not in listed:
                del entries[path]
        entries.update(listed)
        if self._first is not None:
            self._first_replaced(view, paths, removed, added)
        if self._by_ns is not None:
            view._by_ns = self._ns_replaced(paths, removed, added)
        view._by_kind = self._kinds_replaced(paths, removed, added)
        return view

    def _kinds_replaced(
        self, paths: set[str], removed: list[Ident], added: list[Ident]
    ) -> dict[str, list[Ident]]:
        """The rows by kind found so far, once `paths` are gone and `added` appended."""
        by_kind = {}
        for kind, rows in self._by_kind.items():
            gone = [r for r in removed if r[5] == kind]
            new = [r for r in added if r[5] == kind]
            if gone:
                rows = list(rows)
                for row in gone:
                    rows.remove(row)  # found by identity: the same row objects
            by_kind[kind] = rows + new if new else rows
        return by_kind

    def _first_replaced(
        self, view: DocumentIndex, paths: set[str], removed: list[Ident], added: list[Ident]
    ) -> None:
        """The identity index of `view`, this one once `paths` are gone and `added` appended:
        an identity defined more than once whose first row is removed is looked for again among
        the rows of its kind (the next is first now, and it may be defined once)."""
        assert self._first is not None
        first, dups, counts = dict(self._first), set(self._dups), dict(self._dup_counts)
        for namespace in {r[8] for r in removed} | {r[8] for r in added}:
            first[namespace] = dict(first.get(namespace, {}))
        for key, lost in Counter(map(_REF_KEY, removed)).items():
            keys = first[key[1]]
            if key not in dups:  # defined once: by a removed row
                keys.pop(key, None)
            elif keys[key][0] in paths:
                self._fall_back(keys, dups, counts, key, paths)
            elif counts[key] - lost > 1:
                counts[key] -= lost
            else:  # its first row is the one left
                dups.discard(key)
                del counts[key]
        for row in added:
            key, keys = _REF_KEY(row), first[row[8]]
            if key in keys:
                dups.add(key)
                counts[key] = counts.get(key, 1) + 1
            else:
                keys[key] = row
        view._first, view._dups, view._dup_counts = first, dups, counts

    def _fall_back(
        self,
        keys: dict[RefKey, Ident],
        dups: set[RefKey],
        counts: dict[RefKey, int],
        key: RefKey,
        paths: set[str],
    ) -> None:
        """`key` lost its first row: its first row outside `paths`, if any, is first now."""
        rest = [r for r in self.of_kind(key[0]) if _REF_KEY(r) == key and r[0] not in paths]
        if rest:
            keys[key] = rest[0]
        else:
            keys.pop(key, None)
        if len(rest) > 1:
            counts[key] = len(rest)
        else:
            dups.discard(key)
            counts.pop(key, None)

    def _ns_replaced(
        self, paths: set[str], removed: list[Ident], added: list[Ident]
    ) -> dict[str, dict[str, list[Ident]]]:
        assert self._by_ns is not None
        by_ns = dict(self._by_ns)
        for namespace in {r[8] for r in removed} | {r[8] for r in added}:
            rows = by_ns[namespace] = dict(by_ns.get(namespace, {}))
            for path in paths:
                rows.pop(path, None)
        for row in added:
            by_ns[row[8]].setdefault(row[0], []).append(row)
        return by_ns


def _lines(text: str) -> list[str]:
    return text.split("\n") if text else []
