"""The persistent scan cache: an inventory through it always equals a scan of the files as they
are, whatever the cache holds (stale, racy, corrupt or crafted)."""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingress2tailscale.repo.cache import (
    MAGIC,
    RACY_WINDOW_NS,
    ScanCache,
    ScannedFile,
    StatKey,
    load_entries,
    scan_cache_path,
    seal,
    stat_key,
)
from ingress2tailscale.repo.inventory import RepoTree, build_inventory, scan_idents
from ingress2tailscale.repo.scan import scan_file, walk_yaml
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

    payload = pickle.dumps({"order": sys.byteorder, "paths": Exploit()})
    cache_file(repo).parent.mkdir(parents=True)
    cache_file(repo).write_bytes(seal(payload))
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


@pytest.mark.parametrize(
    "columns",
    [
        {"order": sys.byteorder},
        {"order": "middle-endian", "paths": "a.yaml"},
        ["not", "a", "dict"],
        "apps/web/service.yaml",
    ],
    ids=["missing-columns", "other-byte-order", "a-list", "a-string"],
)
def test_a_well_sealed_cache_of_the_wrong_shape_is_a_cold_run(
    tmp_path: Path, columns: object
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "web")
    cache_file(repo).parent.mkdir(parents=True)
    cache_file(repo).write_bytes(seal(pickle.dumps(columns)))
    assert [name for *_, name, _ in identities(repo)] == ["web"]


def test_columns_that_disagree_in_length_are_a_cold_run(tmp_path: Path) -> None:
    """A cache whose columns were cut to different lengths (sealed again) is not trusted."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "web")
    write_trusted_cache(repo)
    moved = tmp_path / "moved"
    os.rename(repo, moved)
    payload = cache_file(moved).read_bytes()[len(MAGIC) + 4 :]
    columns = pickle.loads(payload)
    columns["counts"] = columns["counts"] + columns["counts"]
    cache_file(moved).write_bytes(seal(pickle.dumps(columns)))
    assert [name for *_, name, _ in identities(moved)] == ["web"]


def write_trusted_cache(repo: Path, lie: dict[str, str] | None = None) -> None:
    """A cache of the whole tree as it is, trusted on its stats (scanned well after every
    change); `lie` gives some files another text in the cache than on disk."""
    folders: dict[str, StatKey | None] = {}
    keys = walk_yaml(str(repo), folders)
    later = time.time_ns() + 10 * RACY_WINDOW_NS
    entries = {}
    for path, key in keys.items():
        text = (lie or {}).get(path) or (repo / path).read_text(encoding="utf-8")
        idents, namespace = scan_file(path, text)
        entries[path] = ScannedFile(text, idents, key, later, namespace)
    cache = ScanCache(cache_file(repo), entries, dirty=True)
    cache.note_folders(folders, later)
    cache.save()


def names(repo: Path) -> set[tuple[str, str]]:
    return {(path, name) for path, _, _, name, _ in identities(repo)}


def test_an_unchanged_tree_is_inventoried_from_the_cache_alone(tmp_path: Path) -> None:
    """While every folder and file keeps its stat, not one file is read: the cache's text is
    the answer (here a text the file does not hold, to tell where the answer came from)."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "on-disk")
    write_trusted_cache(repo, {"apps/web/service.yaml": SERVICE.format(name="in-cache")})
    assert names(repo) == {("apps/web/service.yaml", "in-cache")}


@pytest.mark.parametrize(
    ("change", "seen"),
    [
        (lambda repo: write_at(repo, "apps/web/extra.yaml", "extra"), "extra"),
        (lambda repo: write_at(repo, "apps/new/deep/new.yaml", "deep"), "deep"),
        (lambda repo: write_at(repo, "root.yml", "top"), "top"),
        (lambda repo: (repo / "apps/web/service.yaml").unlink(), None),
        (lambda repo: os.rename(repo / "apps", repo / "moved"), "on-disk"),
    ],
    ids=["file-added", "folder-added", "root-file-added", "file-deleted", "folder-renamed"],
)
def test_a_tree_changed_after_the_cache_is_walked_again(
    tmp_path: Path, change: Callable[[Path], object], seen: str | None
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "on-disk")
    write_trusted_cache(repo, {"apps/web/service.yaml": SERVICE.format(name="in-cache")})
    assert names(repo) == {("apps/web/service.yaml", "in-cache")}
    change(repo)
    found = names(repo)
    assert found == scanned_afresh(repo)
    assert seen is None or seen in {name for _, name in found}


def write_at(repo: Path, path: str, name: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(SERVICE.format(name=name), encoding="utf-8")


def scanned_afresh(repo: Path) -> set[tuple[str, str]]:
    """What a scan of the files as they are finds, but for the file the cache lies about,
    while it keeps its stat."""
    found = set()
    for path in RepoTree(repo).yaml_files():
        text = (repo / path).read_text(encoding="utf-8")
        found |= {(path, i[7]) for i in scan_idents(path, text)}
    lied = ("apps/web/service.yaml", "on-disk")
    return {("apps/web/service.yaml", "in-cache") if f == lied else f for f in found}


def test_a_symlink_whose_target_changes_kind_is_seen(tmp_path: Path) -> None:
    """A folder holding a symlink cannot vouch for its listing: the link's target may turn from
    a folder (skipped) into a YAML file (scanned) without the folder changing. (The target is
    inside the repo: a link to outside it is an error.)"""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_service(repo, "web")
    outside = repo / ".shared" / "target"  # a hidden folder: not walked itself
    outside.mkdir(parents=True)
    (repo / "apps" / "web" / "linked.yaml").symlink_to(outside)
    write_trusted_cache(repo)
    assert names(repo) == {("apps/web/service.yaml", "web")}
    outside.rmdir()
    outside.write_text(SERVICE.format(name="linked"), encoding="utf-8")
    assert ("apps/web/linked.yaml", "linked") in names(repo)


def test_a_file_edited_in_place_is_seen_by_its_stat(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    path = write_service(repo, "alpha")
    write_trusted_cache(repo)
    assert names(repo) == {("apps/web/service.yaml", "alpha")}
    time.sleep(0.05)
    mtime = path.stat().st_mtime_ns
    path.write_text(SERVICE.format(name="bravo"), encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))  # same size, same mtime: only the ctime tells
    assert names(repo) == {("apps/web/service.yaml", "bravo")}
