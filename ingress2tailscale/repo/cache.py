"""Persistent cache of the inventory scan: each YAML file's text and document identities, keyed by
the file's stat, so an unchanged repo is inventoried again without reading or scanning its files.

It lives in `.git/ingress2tailscale/` of a git repo (else in the per-user cache folder). A cache
that is missing, stale, from another version, corrupt or unwritable only costs a full scan.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

from ingress2tailscale.repo.columns import (
    RACY_WINDOW_NS,
    Block,
    Ident,
    StatKey,
    pack_columns,
    stat_key,
    unpack_columns,
)

CACHE_VERSION = 4  # 3: problem rows (unparsable documents, Helm charts); 4: kustomization entries
MAGIC = b"i2ts-scan-cache\x00" + CACHE_VERSION.to_bytes(2, "big")
CHECK_SIZE = 4
CACHE_DIR = "ingress2tailscale"
CACHE_FILE = f"scan-v{CACHE_VERSION}.pickle"
MAX_OPEN = 8  # caches kept in memory, one per repo: later inventories in a process reuse them
STALE_USER_CACHE_S = 30 * 24 * 3600

# what the inventory's scan makes of one file: its documents' identities, and the namespace the
# file forces on its folder when it is a kustomization ("" when none)
Scan = tuple[tuple[Ident, ...], str]

__all__ = [
    "RACY_WINDOW_NS",
    "Block",
    "Ident",
    "Scan",
    "ScanCache",
    "ScannedFile",
    "StatKey",
    "open_scan_cache",
    "stat_key",
]


class ScannedFile:
    """One file as scanned: its documents' identities, the namespace it forces, the stat it was
    read at; a file loaded from the cache keeps its UTF-8 bytes until its text is asked for."""

    __slots__ = ("_source", "idents", "key", "namespace", "scanned_ns", "stable")

    def __init__(
        self,
        text: str | bytes,
        idents: tuple[Ident, ...],
        key: StatKey | None = None,
        scanned_ns: int = 0,
        namespace: str = "",
    ) -> None:
        self.idents, self.namespace, self.key, self.scanned_ns = idents, namespace, key, scanned_ns
        self._source = text
        # trusted on its stat alone: scanned well after the file last changed
        self.stable = key is not None and scanned_ns - max(key[1], key[2]) > RACY_WINDOW_NS

    @property
    def text(self) -> str:
        source = self._source
        return source.decode("utf-8", "surrogatepass") if isinstance(source, bytes) else source

    @property
    def raw(self) -> str | bytes:
        """The text, or its UTF-8 bytes when it was never decoded."""
        return self._source

    def is_fresh(self, key: StatKey | None) -> bool:
        return self.stable and key == self.key


class ScanCache:
    """Path -> text and identities of the files scanned, with the stat they were scanned at.

    As loaded, the files are one `Block` of columns; they become `ScannedFile`s only when some
    file must be scanned again (or `entries` is read).
    """

    def __init__(
        self,
        path: Path | None,  # None: kept in memory only
        entries: dict[str, ScannedFile] | None = None,
        *,
        block: Block | None = None,
        dirty: bool = False,
    ) -> None:
        self.path, self.dirty, self.lock = path, dirty, threading.Lock()
        self._entries, self._block = entries, block
        # the folders of the last walk (see `doc_scan.walk_yaml`), and when it began
        self._folders: dict[str, StatKey | None] = dict(block.folders) if block else {}
        self._folders_scanned = block.folders_scanned if block else 0

    @property
    def entries(self) -> dict[str, ScannedFile]:
        if self._entries is None:
            rows = self._block.rows() if self._block is not None else ()
            self._entries = {row[0]: ScannedFile(*row[1:]) for row in rows}
        return self._entries

    def snapshot(self, root: str) -> Block | None:
        """The cache as loaded, when the tree at `root` is still exactly as it was scanned: its
        folders and files all keep their stats (no walk, no read)."""
        block = self._block
        return block if block is not None and block.unchanged_at(root) else None

    def note_folders(self, folders: dict[str, StatKey | None], scanned_ns: int) -> None:
        """The folders a walk of the whole tree (begun at `scanned_ns`) found."""
        newest = max((max(k[1], k[2]) for k in self._folders.values() if k), default=0)
        racy = self._folders_scanned - newest <= RACY_WINDOW_NS
        if folders != self._folders or racy:
            self._folders, self._folders_scanned = folders, scanned_ns
            self._changed()

    def fresh_entries(self, keys: Mapping[str, StatKey | None]) -> dict[str, ScannedFile]:
        """The entries still true for files of these stats (the others must be read again)."""
        entries = self.entries
        found = {p: entries.get(p) for p in keys}
        return {p: e for p, e in found.items() if e is not None and e.is_fresh(keys[p])}

    def read_scanned(
        self,
        path: str,
        key: StatKey | None,
        read: Callable[[str], str],
        scan: Callable[[str, str], Scan],
    ) -> ScannedFile:
        """The file's text and identities: from the cache while its stat is unchanged."""
        entry = self.entries.get(path)
        if entry is not None and entry.is_fresh(key):
            return entry
        text = read(path)
        same = entry is not None and entry.text == text
        idents, namespace = (entry.idents, entry.namespace) if entry and same else scan(path, text)
        scanned = ScannedFile(text, idents, key, time.time_ns(), namespace)
        if key is not None:
            self.entries[path] = scanned
            self._changed()
        return scanned

    def keep_only(self, paths: set[str]) -> None:
        entries = self.entries
        if len(entries) != len(paths) or not paths.issuperset(entries):
            self._entries = {p: e for p, e in entries.items() if p in paths}
            self._changed()

    def save(self) -> None:
        """Write the cache if it changed, atomically; a cache that cannot be written is skipped."""
        if not self.dirty or self.path is None:
            return
        rows = (
            (p, e.raw, e.idents, e.key, e.scanned_ns, e.namespace) for p, e in self.entries.items()
        )
        columns = pack_columns(rows, self._folders, self._folders_scanned)
        payload = pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_atomically(self.path, seal(payload))
            if self.path.parent.parent.name != ".git":
                _prune_user_cache(self.path.parent)
            else:
                _remove_other_versions(self.path)
        except OSError:
            return
        self.dirty = False

    def _changed(self) -> None:
        self.entries  # noqa: B018 - made from the block before the block is dropped
        self.dirty, self._block = True, None


_OPEN: dict[Path | None, ScanCache] = {}
_OPEN_LOCK = threading.Lock()


def open_scan_cache(root: Path) -> ScanCache:
    """The scan cache of the repo at `root`, loaded once per process."""
    path = scan_cache_path(root)
    with _OPEN_LOCK:
        cache = _OPEN.pop(path, None) or ScanCache(path, block=load_block(path) if path else None)
        _OPEN[path] = cache  # most recently used last
        while len(_OPEN) > MAX_OPEN:
            _OPEN.pop(next(iter(_OPEN)))
    return cache


def scan_cache_path(root: Path) -> Path | None:
    """`.git/ingress2tailscale/` of a git repo; else a file in the per-user cache folder (None
    when there is no such folder: the cache then lives in memory only)."""
    git_dir = root / ".git"
    if git_dir.is_dir():
        return git_dir / CACHE_DIR / CACHE_FILE
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / CACHE_DIR
        name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]
    except (OSError, RuntimeError):  # no home folder, or an unresolvable root
        return None
    return base / f"{name}-v{CACHE_VERSION}.pickle"


def load_entries(path: Path) -> dict[str, ScannedFile]:
    """The entries of a cache file; {} when it is missing, foreign, corrupt or of another shape."""
    return ScanCache(path, block=load_block(path)).entries


def load_block(path: Path) -> Block | None:
    """The files of a cache file; None when it is missing, foreign, corrupt or of another shape."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[: len(MAGIC) + CHECK_SIZE] != MAGIC + _check(data[len(MAGIC) + CHECK_SIZE :]):
        return None
    try:
        columns = _DataOnlyUnpickler(io.BytesIO(data[len(MAGIC) + CHECK_SIZE :])).load()
        return unpack_columns(columns)
    except Exception:  # any damage the check missed means a cold scan, never a crash
        return None


def seal(payload: bytes) -> bytes:
    """A cache file's bytes: magic (with the version), a check of the payload, the payload."""
    return MAGIC + _check(payload) + payload


def _check(payload: bytes) -> bytes:
    # CRC-32 finds accidental damage (truncation, flipped bits) at memory speed; the unpickler,
    # not the check, is what makes a crafted file harmless
    return zlib.crc32(payload).to_bytes(CHECK_SIZE, "big")


class _DataOnlyUnpickler(pickle.Unpickler):
    """Loads plain data only: no class or function may be named, so a crafted file runs nothing."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"the scan cache may not reference {module}.{name}")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scan-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_other_versions(path: Path) -> None:
    """Caches of other versions of the tool are never read again (the magic differs)."""
    for other in path.parent.glob("scan-v*.pickle"):
        if other != path:
            other.unlink(missing_ok=True)


def _prune_user_cache(folder: Path) -> None:
    """Forget repos not inventoried for a month (temporary folders come and go)."""
    limit = time.time() - STALE_USER_CACHE_S
    for old in folder.glob("*.pickle"):
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except OSError:
            continue
