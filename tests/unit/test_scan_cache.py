"""The persistent scan cache: an inventory through it always equals a scan of the files as they
are, whatever the cache holds (stale, racy, corrupt or crafted)."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingress2tailscale.inventory import RepoTree, build_inventory, scan_idents
from ingress2tailscale.scan_cache import (
    MAGIC,
    ScanCache,
    ScannedFile,
    load_entries,
    scan_cache_path,
    stat_key,
)
from tests.conftest import FIXTURE_REPO, make_gitops_repo

SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: web\n"


def cache_file(root: Path) -> Path:
    path = scan_cache_path(root)
    assert path is not None
    return path


def identities(root: Path) -> list[tuple[str, str, str, str, int]]:
    docs = build_inventory(RepoTree(root)).documents
    return [(d.path, d.kind, d.namespace, d.name, d.line) for d in docs]


def write_service(repo: Path, name: str) -> Path:
    path = repo / "apps" / "web" / "service.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SERVICE.format(name=name), encoding="utf-8")
    return path


def test_a_git_repo_keeps_its_cache_in_git_dir_and_it_matches_the_files(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    expected = identities(FIXTURE_REPO)
    assert identities(repo) == expected
    cache = cache_file(repo)
    assert cache.parent == repo / ".git" / "ingress2tailscale"
    entries = load_entries(cache)
    assert sorted(entries) == sorted(RepoTree(repo).yaml_files())
    for path, entry in entries.items():
        assert entry.text == (repo / path).read_text(encoding="utf-8")


def test_a_folder_outside_git_is_cached_in_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    repo = tmp_path / "plain"
    write_service(repo, "web")
    assert [name for *_, name, _ in identities(repo)] == ["web"]
    assert cache_file(repo).parent == tmp_path / "xdg" / "ingress2tailscale"
    assert "apps/web/service.yaml" in load_entries(cache_file(repo))


def trusted_cache(repo: Path, path: str) -> None:
    """A cache whose entry for `path` is trusted on its stat alone (scanned well after)."""
    text = (repo / path).read_text(encoding="utf-8")
    key = stat_key(str(repo / path))
    assert key is not None
    entry = ScannedFile(text, scan_idents(path, text), key, max(key[1], key[2]) + 10**10)
    ScanCache(cache_file(repo), {path: entry}, dirty=True).save()


def test_a_file_edited_after_the_scan_is_scanned_again(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    path = write_service(repo, "alpha")
    trusted_cache(repo, "apps/web/service.yaml")
    assert identities(repo) == [("apps/web/service.yaml", "Service", "web", "alpha", 1)]
    time.sleep(0.05)  # a later timestamp tick than the cached stat
    mtime = path.stat().st_mtime_ns
    path.write_text(SERVICE.format(name="bravo"), encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))  # same size, same mtime: only the ctime tells
    assert identities(repo) == [("apps/web/service.yaml", "Service", "web", "bravo", 1)]


def test_deleted_and_added_files_are_seen(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    identities(repo)
    (repo / "apps" / "pgadmin" / "service.yaml").unlink()
    write_service(repo, "added")
    found = {(path, name) for path, _, _, name, _ in identities(repo)}
    assert ("apps/pgadmin/service.yaml", "pgadmin") not in found
    assert ("apps/web/service.yaml", "added") in found
    assert "apps/pgadmin/service.yaml" not in load_entries(cache_file(repo))


def test_a_racy_entry_is_checked_against_the_file(tmp_path: Path) -> None:
    """An entry scanned in the same instant its file changed is not trusted on its stat alone."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    path = write_service(repo, "real")
    key = stat_key(str(path))
    assert key is not None
    stale = ScannedFile(SERVICE.format(name="stal"), (), key, scanned_ns=key[1])
    cache = ScanCache(cache_file(repo), {"apps/web/service.yaml": stale}, dirty=True)
    cache.save()
    assert [name for *_, name, _ in identities(repo)] == ["real"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],
        lambda data: data[:-5] + bytes(b ^ 0xFF for b in data[-5:]),
        lambda data: b"not a cache at all",
        lambda data: MAGIC[:-2] + b"\xff\xff" + data[len(MAGIC) :],
    ],
    ids=["empty", "truncated", "flipped-bytes", "garbage", "other-version"],
)
def test_a_damaged_cache_costs_a_full_scan_and_is_rewritten(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    repo = make_gitops_repo(tmp_path)
    assert identities(repo) == identities(FIXTURE_REPO)
    moved = repo.parent / "moved"
    os.rename(repo, moved)  # a path this process has no cache of in memory
    cache = cache_file(moved)
    cache.write_bytes(damage(cache.read_bytes()))
    assert identities(moved) == identities(FIXTURE_REPO)
    assert sorted(load_entries(cache)) == sorted(RepoTree(moved).yaml_files())


def test_a_crafted_cache_runs_no_code(tmp_path: Path) -> None:
    """A pickle that names a function (here one that would create a folder) is refused whole."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "web")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    payload = pickle.dumps({"apps/web/service.yaml": Exploit()})
    digest = hashlib.blake2b(payload, digest_size=16).digest()
    cache_file(repo).parent.mkdir(parents=True)
    cache_file(repo).write_bytes(MAGIC + digest + payload)
    assert [name for *_, name, _ in identities(repo)] == ["web"]
    assert not marker.exists()


def test_planned_changes_are_scanned_but_never_cached(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    identities(repo)
    planned = {"apps/pgadmin/service.yaml": SERVICE.format(name="planned"), "apps/new.yaml": None}
    docs = build_inventory(RepoTree(repo, planned)).documents
    assert ("apps/pgadmin/service.yaml", "planned") in {(d.path, d.name) for d in docs}
    entry = load_entries(cache_file(repo))["apps/pgadmin/service.yaml"]
    assert "planned" not in entry.text
    assert {(d.path, d.name) for d in build_inventory(RepoTree(repo)).documents} >= {
        ("apps/pgadmin/service.yaml", "pgadmin")
    }
