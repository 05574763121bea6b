"""Item 2: a dry run writes nothing outside its scratch folder, whatever the repo's symlinks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import load_config
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.faults.conftest import no_traceback

SERVICE = "apps/pgadmin/service.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    link: Callable[[Path, Path], str]  # (repo, tmp_path) -> what apps/pgadmin/service.yaml links to
    expect: tuple[str, ...]


def _outside(repo: Path, tmp_path: Path) -> Path:
    outside = tmp_path / "outside" / "service.yaml"
    outside.parent.mkdir(exist_ok=True)
    outside.write_bytes((repo / SERVICE).read_bytes())
    return outside


def _kept_inside(repo: Path) -> Path:
    """The real file, inside the repo under a name the inventory does not scan."""
    kept = repo / "apps/pgadmin/service.yaml.orig"
    kept.write_bytes((repo / SERVICE).read_bytes())
    return kept


OUTSIDE = ("error: ", SERVICE, "a symbolic link to", "outside the GitOps repo")
INSIDE = ("error: ", SERVICE, "a symbolic link (to", "replace the link by the file itself")
CASES = [
    Case("absolute-link-outside", lambda r, t: str(_outside(r, t)), OUTSIDE),
    Case("relative-link-outside", lambda r, t: os.path.relpath(_outside(r, t), r / "apps/pgadmin"),
         OUTSIDE),
    Case("absolute-link-inside", lambda r, t: str(_kept_inside(r)), INSIDE),
    Case("relative-link-inside", lambda r, t: (_kept_inside(r), "service.yaml.orig")[1], INSIDE),
]  # fmt: skip


def checksums(where: Path) -> dict[str, str]:
    """Every file under `where` (links as links), except the scan cache a dry run may keep."""
    found = {}
    for path in sorted(where.rglob("*")):
        rel = path.relative_to(where).as_posix()
        if "/.git/ingress2tailscale/" in f"/{rel}/" or (path.is_dir() and not path.is_symlink()):
            continue
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        found[rel] = hashlib.sha256(data).hexdigest()
    return found


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_symlinked_manifest_is_named_and_nothing_outside_scratch_changes(
    tmp_path: Path, case: Case, dry_run: bool
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    if not dry_run:  # the real run's phase 2 is what edits the Service
        apply_repo_step(load_config(config), GitRepo(repo), "pgadmin", "phase-1", "run-1")
    target = case.link(repo, tmp_path)
    (repo / SERVICE).unlink()
    (repo / SERVICE).symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the Service is a link")
    git(repo, "push", "-q", "origin", "main")
    before = checksums(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    args = ["--slice", "pgadmin", "--config", str(config), "--yes"]
    args += ["--dry-run"] if dry_run else ["--phase", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    for text in case.expect:
        assert text in done.stderr
    assert "nothing was changed" in done.stderr or "error: " in done.stderr
    no_traceback(done.stderr)
    assert checksums(tmp_path) == before
