"""The scan cache's stored form: a few flat columns (one block of UTF-8 texts, packed integers,
joined strings) that pickle and unpickle at memory speed and whose shape is checked per column,
not per entry; loaded, they stay columns (`Block`) until a file changes."""

from __future__ import annotations

import operator
import os
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, chain, repeat
from operator import itemgetter

# (path, index, line, start, end, kind, apiVersion, name, namespace) of one document of a file
Ident = tuple[str, int, int, int, int, str, str, str, str]
StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
# path, text (or its UTF-8 bytes), identities, stat, scanned at (ns), namespace forced
FileRow = tuple[str, str | bytes, tuple[Ident, ...], StatKey | None, int, str]
# the same, as loaded: the text as UTF-8 bytes
LoadedRow = tuple[str, bytes, tuple[Ident, ...], StatKey, int, str]

# A file changed this close to its scan could change again within the same timestamp tick and
# keep its stat: such entries are checked against the file's text (git's "racily clean" rule).
RACY_WINDOW_NS = 2_000_000_000
SEP = "\0"  # joins strings: no path holds it, and strings holding it are not cached
INT = "q"
STAT_FIELDS = 5  # size, mtime_ns, ctime_ns, inode, scanned_ns
INT_FIELDS = 4  # index, line, start, end
STR_FIELDS = 4  # kind, apiVersion, name, namespace


@dataclass(eq=False)
class Block:
    """The files of a cache file as loaded, kept as columns: nothing is made per file unless
    asked, so an unchanged repo is inventoried straight from them."""

    paths: list[str]  # sorted
    keys: dict[str, StatKey]  # path -> its stat when scanned
    scanned: array[int]  # ns, per file
    texts: bytes  # every file's UTF-8 text, one after the other
    text_ends: array[int]
    firsts: list[int]  # of each file's documents in `idents`
    counts: array[int]
    idents: list[Ident]  # every document, in file order
    namespaces: list[str]  # forced by each file ("" when none)
    folders: dict[str, StatKey]  # every folder walked ("" or ending in "/") -> its stat
    folders_scanned: int  # when the walk began

    def unchanged_at(self, root: str) -> bool:
        """Whether every folder and file is as scanned: then the tree holds exactly these files
        (a folder's stat changes with its listing) and each holds what the cache has."""
        scanned = repeat(self.folders_scanned, len(self.folders))
        if not (self.folders and self.all_stable and _stable(self.folders, scanned)):
            return False
        prefix = os.path.join(root, "")
        folders, files = self.folders, self.keys
        stat = stat_key
        return all(stat(prefix + p) == k for p, k in folders.items()) and all(
            stat(prefix + p) == k for p, k in files.items()
        )

    @cached_property
    def all_stable(self) -> bool:
        """Whether every file was scanned well after it last changed (see `RACY_WINDOW_NS`)."""
        return _stable(self.keys, self.scanned)

    @cached_property
    def positions(self) -> dict[str, int]:
        return dict(zip(self.paths, range(len(self.paths)), strict=True))

    def text(self, path: str) -> str:
        return self.data(self.positions[path]).decode("utf-8", "surrogatepass")

    def data(self, position: int) -> bytes:
        start = self.text_ends[position - 1] if position else 0
        return self.texts[start : self.text_ends[position]]

    def forced_namespaces(self) -> dict[str, str]:
        """Path -> the namespace it forces, for the files that force one."""
        return {p: ns for p, ns in zip(self.paths, self.namespaces, strict=True) if ns}

    def rows(self) -> Iterator[LoadedRow]:
        """Path, text, identities, stat, scanned at and namespace forced of each file."""
        for i, (path, key) in enumerate(self.keys.items()):
            first = self.firsts[i]
            idents = tuple(self.idents[first : first + self.counts[i]])
            yield path, self.data(i), idents, key, self.scanned[i], self.namespaces[i]


def pack_columns(
    files: Iterable[FileRow], folders: Mapping[str, StatKey | None], folders_scanned: int
) -> dict[str, object]:
    """Plain data for pickle, files sorted by path: files with no stat, or a string the columns
    cannot hold, are left out (they are scanned again next time); so are the folders, unless
    each can be trusted on its stat (see `doc_scan.walk_yaml`)."""
    folder_stats = array(INT)
    try:
        for key in folders.values():
            folder_stats.extend(key or ())
    except OverflowError:
        folder_stats = array(INT)
    if len(folder_stats) != 4 * len(folders):
        folders, folder_stats = {}, array(INT)
    paths: list[str] = []
    texts: list[bytes] = []
    namespaces: list[str] = []
    strs: list[str] = []
    stats, text_ends, counts, ints = array(INT), array(INT), array(INT), array(INT)
    end = 0
    for path, text, idents, key, scanned_ns, namespace in sorted(files, key=itemgetter(0)):
        packed = _packed_stat(key, scanned_ns)
        data = _utf8(text)
        if packed is None or data is None or not _joinable(namespace, idents):
            continue
        paths.append(path)
        texts.append(data)
        namespaces.append(namespace)
        stats += packed
        end += len(data)
        text_ends.append(end)
        counts.append(len(idents))
        for ident in idents:
            ints.extend(ident[1:5])
            strs.extend(ident[5:9])
    return {
        "order": sys.byteorder,
        "paths": SEP.join(paths),
        "namespaces": SEP.join(namespaces),
        "texts": b"".join(texts),
        "stats": stats.tobytes(),
        "text_ends": text_ends.tobytes(),
        "counts": counts.tobytes(),
        "ints": ints.tobytes(),
        "strs": SEP.join(strs),
        "folders": SEP.join(folders),
        "folder_stats": folder_stats.tobytes(),
        "folders_scanned": folders_scanned,
    }


def unpack_columns(columns: object) -> Block:
    """The files of `pack_columns`' data; ValueError (or TypeError) when its shape is wrong."""
    if not isinstance(columns, dict) or columns.get("order") != sys.byteorder:
        raise ValueError("not scan cache columns")
    text_ends, counts = _ints(columns, "text_ends"), _ints(columns, "counts")
    stats, ints = _ints(columns, "stats"), _ints(columns, "ints")
    texts = columns.get("texts")
    files = len(text_ends)
    documents = sum(counts)
    paths, namespaces = _split(columns, "paths", files), _split(columns, "namespaces", files)
    strs = _split(columns, "strs", STR_FIELDS * documents)
    shape = (len(counts), len(stats), len(ints), len(set(paths)))
    if shape != (files, STAT_FIELDS * files, INT_FIELDS * documents, files) or not (
        isinstance(texts, bytes) and min(counts, default=0) >= 0 and paths == sorted(paths)
    ):
        raise ValueError("scan cache columns of unequal lengths")
    folder_stats, folders_scanned = _ints(columns, "folder_stats"), columns.get("folders_scanned")
    folder_paths = _split(columns, "folders", len(folder_stats) // 4)
    if len(folder_stats) % 4 or not isinstance(folders_scanned, int):
        raise ValueError("scan cache folders of the wrong shape")
    folder_keys: Iterator[StatKey] = zip(*(folder_stats[i::4] for i in range(4)), strict=True)
    doc_paths = chain.from_iterable(map(repeat, paths, counts))
    ints_by_field = (ints[i::INT_FIELDS] for i in range(INT_FIELDS))
    strs_by_field = (strs[i::STR_FIELDS] for i in range(STR_FIELDS))
    # lengths are checked above
    idents: list[Ident] = list(zip(doc_paths, *ints_by_field, *strs_by_field, strict=False))
    keys: Iterator[StatKey] = zip(*(stats[i::STAT_FIELDS] for i in range(4)), strict=True)
    firsts = list(accumulate(counts, initial=0))
    return Block(
        paths,
        dict(zip(paths, keys, strict=True)),
        stats[4::STAT_FIELDS],
        texts,
        text_ends,
        firsts,
        counts,
        idents,
        namespaces,
        dict(zip(folder_paths, folder_keys, strict=True)),
        folders_scanned,
    )


def stat_key(full_path: str) -> StatKey | None:
    try:
        st = os.stat(full_path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _stable(keys: dict[str, StatKey], scanned: Iterable[int]) -> bool:
    changed = map(max, (k[1] for k in keys.values()), (k[2] for k in keys.values()))
    return min(map(operator.sub, scanned, changed), default=RACY_WINDOW_NS + 1) > RACY_WINDOW_NS


def _packed_stat(key: StatKey | None, scanned_ns: int) -> array[int] | None:
    if key is None:
        return None
    try:
        return array(INT, (*key, scanned_ns))
    except OverflowError:  # an inode number beyond 63 bits: that file is not cached
        return None


def _utf8(text: str | bytes) -> bytes | None:
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a text read from a file
        return None


def _joinable(namespace: str, idents: tuple[Ident, ...]) -> bool:
    return SEP not in namespace and not any(SEP in s for i in idents for s in i[5:9])


def _ints(columns: dict[object, object], name: str) -> array[int]:
    raw = columns.get(name)
    if not isinstance(raw, bytes):
        raise ValueError(f"scan cache column {name} is not bytes")
    values = array(INT)
    values.frombytes(raw)  # ValueError unless a whole number of items
    return values


def _str(columns: dict[object, object], name: str) -> str:
    raw = columns.get(name)
    if not isinstance(raw, str):
        raise ValueError(f"scan cache column {name} is not text")
    return raw


def _split(columns: dict[object, object], name: str, count: int) -> list[str]:
    raw = _str(columns, name)
    parts = raw.split(SEP) if count else []
    if len(parts) != count or (not count and raw):
        raise ValueError(f"scan cache column {name} does not hold {count} strings")
    return parts
