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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
MAGIC = b"i2ts-scan-cache\x00" + CACHE_VERSION.to_bytes(2, "big")
DIGEST_SIZE = 16
CACHE_DIR = "ingress2tailscale"
CACHE_FILE = f"scan-v{CACHE_VERSION}.pickle"
# A file changed this close to its scan could change again within the same timestamp tick and
# keep its stat: such entries are checked against the file's text (git's "racily clean" rule).
RACY_WINDOW_NS = 2_000_000_000
MAX_OPEN = 8  # caches kept in memory, one per repo: later inventories in a process reuse them
STALE_USER_CACHE_S = 30 * 24 * 3600

# (index, line, start, end, kind, apiVersion, name, namespace) of one document of a file
Ident = tuple[int, int, int, int, str, str, str, str]
IDENT_FIELDS = 8
StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


@dataclass
class ScannedFile:
    """One file as scanned: its text, its documents' identities, and the stat it was read at.

    `documents` memoizes what the inventory builds from it (per forced namespace) in memory:
    documents are immutable, so inventories of an unchanged file can share them.
    """

    text: str
    idents: tuple[Ident, ...]
    key: StatKey | None = None
    scanned_ns: int = 0
    documents: dict[str | None, tuple[Any, ...]] = field(default_factory=dict, repr=False)

    def is_fresh(self, key: StatKey) -> bool:
        return key == self.key and self.scanned_ns - max(key[1], key[2]) > RACY_WINDOW_NS


@dataclass
class ScanCache:
    """Path -> text and identities of the files scanned, with the stat they were scanned at."""

    path: Path | None  # None: kept in memory only
    entries: dict[str, ScannedFile] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    dirty: bool = False

    def read_scanned(
        self,
        path: str,
        full_path: str,
        read: Callable[[str], str],
        scan: Callable[[str, str], tuple[Ident, ...]],
    ) -> ScannedFile:
        """The file's text and identities: from the cache while its stat is unchanged."""
        key = stat_key(full_path)
        entry = self.entries.get(path)
        if entry is not None and key is not None and entry.is_fresh(key):
            return entry
        text = read(path)
        same = entry is not None and entry.text == text
        idents = entry.idents if entry is not None and same else scan(path, text)
        scanned = ScannedFile(text, idents, key, time.time_ns())
        if key is not None:
            self.entries[path] = scanned
            self.dirty = True
        return scanned

    def keep_only(self, paths: set[str]) -> None:
        if len(self.entries) != len(paths) or not paths.issuperset(self.entries):
            self.entries = {p: e for p, e in self.entries.items() if p in paths}
            self.dirty = True

    def save(self) -> None:
        """Write the cache if it changed, atomically; a cache that cannot be written is skipped."""
        if not self.dirty or self.path is None:
            return
        rows = {
            p: (e.key, e.scanned_ns, e.text, e.idents) for p, e in self.entries.items() if e.key
        }
        payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        digest = hashlib.blake2b(payload, digest_size=DIGEST_SIZE).digest()
        try:
            _write_atomically(self.path, MAGIC + digest + payload)
            if self.path.parent.parent.name != ".git":
                _prune_user_cache(self.path.parent)
        except OSError:
            return
        self.dirty = False


_OPEN: dict[Path | None, ScanCache] = {}
_OPEN_LOCK = threading.Lock()


def open_scan_cache(root: Path) -> ScanCache:
    """The scan cache of the repo at `root`, loaded once per process."""
    path = scan_cache_path(root)
    with _OPEN_LOCK:
        cache = _OPEN.pop(path, None) or ScanCache(path, load_entries(path) if path else {})
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


def stat_key(full_path: str) -> StatKey | None:
    try:
        st = os.stat(full_path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def load_entries(path: Path) -> dict[str, ScannedFile]:
    """The entries of a cache file; {} when it is missing, foreign, corrupt or of another shape."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    head, payload = data[: len(MAGIC) + DIGEST_SIZE], data[len(MAGIC) + DIGEST_SIZE :]
    digest = hashlib.blake2b(payload, digest_size=DIGEST_SIZE).digest()
    if head != MAGIC + digest:
        return {}
    try:
        rows = _DataOnlyUnpickler(io.BytesIO(payload)).load()
        return {p: _entry(row) for p, row in rows.items() if isinstance(p, str)}
    except Exception:  # any damage the digest missed means a cold scan, never a crash
        return {}


def _entry(row: object) -> ScannedFile:
    if not isinstance(row, tuple) or len(row) != 4:
        raise ValueError("not a cache row")
    key, scanned_ns, text, idents = row
    if not (isinstance(text, str) and isinstance(scanned_ns, int) and isinstance(idents, tuple)):
        raise ValueError("not a cache row")
    if not isinstance(key, tuple) or len(key) != 4 or not all(isinstance(k, int) for k in key):
        raise ValueError("not a cache row")
    if not all(isinstance(i, tuple) and len(i) == IDENT_FIELDS for i in idents):
        raise ValueError("not a cache row")
    return ScannedFile(text, idents, key, scanned_ns)


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


def _prune_user_cache(folder: Path) -> None:
    """Forget repos not inventoried for a month (temporary folders come and go)."""
    limit = time.time() - STALE_USER_CACHE_S
    for old in folder.glob("*.pickle"):
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except OSError:
            continue
