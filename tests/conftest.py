"""Shared fixtures: the seed's GitOps repo as a real git clone with a bare `origin`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_REPO = ROOT / "tests" / "fixtures" / "tazlab-k8s"
EXAMPLE_CONFIG = ROOT / "config" / "migration.yaml"
HOMELAB_REPO = ROOT / "tests" / "fixtures" / "homelab-k8s"  # the common home-lab layout


def pytest_configure(config: pytest.Config) -> None:
    """Caches the tool keeps outside git repos go to a scratch folder, not the user's home."""
    scratch = tempfile.mkdtemp(prefix="i2ts-test-cache-")
    config.stash[_CACHE_KEY] = scratch
    os.environ["XDG_CACHE_HOME"] = scratch


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash.get(_CACHE_KEY, ""), ignore_errors=True)


_CACHE_KEY = pytest.StashKey[str]()


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def make_gitops_repo(where: Path, source: Path = FIXTURE_REPO) -> Path:
    """A clone of `source` on branch main, with a bare repo as its `origin`."""
    work = where / "gitops"
    shutil.copytree(source, work)
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "Test Operator")
    git(work, "config", "user.email", "operator@example.test")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Initial cluster state")
    bare = where / "origin.git"
    git(where, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "fetch", "-q", "origin")
    git(work, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return work


# this test has no cluster, and no operator makes the tailnet device it would look for
NO_CLUSTER = "validate: {tailnet: off, reachability: off}\nkubernetes:\n  enabled: false\n"


def write_config(
    where: Path, repo: Path, edit: Callable[[str], str] = lambda s: s, *, cluster: bool = False
) -> Path:
    """The example config pointed at `repo`, optionally edited as text. Without `cluster`
    it says there is none (`kubernetes.enabled: false`): the live checks are skipped."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    if not cluster:
        text = text.replace("kubernetes:\n", NO_CLUSTER, 1)
    text = text.replace("../tests/fixtures/tazlab-k8s", str(repo))
    text = text.replace("../tests/fixtures/infra", str(ROOT / "tests" / "fixtures" / "infra"))
    path = where / "migration.yaml"
    path.write_text(edit(text), encoding="utf-8")
    return path


@pytest.fixture
def gitops_repo(tmp_path: Path) -> Path:
    return make_gitops_repo(tmp_path)
