"""Golden trees: each slice's phases applied to a git clone of the seed's repo, then rolled back.

Set UPDATE_GOLDEN=1 to rewrite the expected files (then review the diff like code).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import load_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.steps.commit import commit_step
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import ROOT, git, make_gitops_repo, write_config

GOLDEN = ROOT / "tests" / "golden" / "slices"
SLICES = ["db", "homepage", "pgadmin", "longhorn", "traefik", "grafana", "links"]
PHASES = {"links": ["1"]}


def snapshot(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def expected_tree(before: dict[str, bytes], golden: Path) -> dict[str, bytes]:
    tree = dict(before)
    deleted = golden / "deleted.txt"
    for line in deleted.read_text().splitlines() if deleted.exists() else []:
        tree.pop(line, None)
    files = golden / "tree"
    for path in sorted(files.rglob("*")) if files.exists() else []:
        if path.is_file():
            tree[str(path.relative_to(files))] = path.read_bytes()
    return tree


def update_golden(before: dict[str, bytes], after: dict[str, bytes], golden: Path) -> None:
    shutil.rmtree(golden, ignore_errors=True)
    golden.mkdir(parents=True)
    for path, data in after.items():
        if before.get(path) != data:
            (golden / "tree" / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / "tree" / path).write_bytes(data)
    gone = sorted(set(before) - set(after))
    if gone:
        (golden / "deleted.txt").write_text("".join(f"{p}\n" for p in gone))


def apply_phase(repo: Path, config_path: Path, name: str, phase: str) -> list[str]:
    config = load_config(config_path)
    plan = plan_slice(config, RepoTree(repo), name, phase, dry_run=False).plan
    git_repo = GitRepo(repo)
    shas = [commit_step(git_repo, plan, step, "test-run") for step in plan.steps]
    return [s for s in shas if s]


@pytest.mark.parametrize("name", SLICES)
def test_slice_phases_match_golden_trees_and_roll_back(tmp_path: Path, name: str) -> None:
    repo = make_gitops_repo(tmp_path)
    config_path = write_config(tmp_path, repo)
    start_tree = GitRepo(repo).tree_hash()
    before = snapshot(repo)
    for phase in PHASES.get(name, ["1", "2"]):
        commits = apply_phase(repo, config_path, name, phase)
        assert len(commits) == 1, f"phase {phase} of {name} should be exactly one commit"
        after = snapshot(repo)
        golden = GOLDEN / name / f"phase-{phase}"
        if os.environ.get("UPDATE_GOLDEN"):
            update_golden(before, after, golden)
        assert after == expected_tree(before, golden)
        assert git(repo, "rev-parse", "origin/main") == git(repo, "rev-parse", "HEAD")
        message = git(repo, "log", "-1", "--format=%B")
        assert f"Migration-Slice: {name}" in message
        assert f"Migration-Phase: {'links' if name == 'links' else phase}" in message
        assert "Migration-Run: test-run" in message
        before = after

    again = apply_phase(repo, config_path, name, "all")
    assert again == [], "a second run of an applied slice must change nothing"

    reverts = GitRepo(repo).revert_slice(name, "test-rollback")
    assert len(reverts) == len(PHASES.get(name, ["1", "2"]))
    assert GitRepo(repo).tree_hash() == start_tree
    assert git(repo, "status", "--porcelain") == ""


def test_links_follow_slices_whose_traefik_ingress_is_already_gone(tmp_path: Path) -> None:
    """The seed's order: every service slice fully applied first, `links` last. The old hosts
    then come from the phase-2 commits, and the result is the same as planned up front."""
    repo = make_gitops_repo(tmp_path)
    config_path = write_config(tmp_path, repo)
    for name in SLICES[:-1]:
        for phase in ("1", "2"):
            apply_repo_step(load_config(config_path), GitRepo(repo), name, f"phase-{phase}", "run")
    result = apply_repo_step(load_config(config_path), GitRepo(repo), "links", "links", "run")
    assert result.commit is not None
    golden = GOLDEN / "links" / "phase-1" / "tree"
    for path in ("apps/homepage/configmap.yaml", "apps/homepage/deployment.yaml"):
        assert (repo / path).read_bytes() == (golden / path).read_bytes()
