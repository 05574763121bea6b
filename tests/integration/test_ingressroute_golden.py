"""Golden trees of IngressRoute slices on the home-lab fixture (tests/fixtures/homelab-k8s):
phase 1, phase 2, then rollback, each applied to a git clone with a bare origin.

Set UPDATE_GOLDEN=1 to rewrite the expected files (then review the diff like code).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingress2tailscale.adapters.git_repo import GitRepo
from tests.conftest import HOMELAB_REPO, ROOT, git, make_gitops_repo
from tests.integration.test_slice_golden import apply_phase, expected_tree, snapshot, update_golden

GOLDEN = ROOT / "tests" / "golden" / "homelab-slices"
CONFIG = """\
tailnet: tail1a2b3c.ts.net
gitops: {{path: {repo}}}
slices:
  paperless:    # traefik.io, forward-auth, certResolver TLS
    expose: https
    from: {{kind: IngressRoute, namespace: default, name: paperless}}
    tags: ["tag:k8s"]
    accept_auth_change: true
  z2m:          # traefik.containo.us, a chain holding an IP allow-list, PathPrefix(`/`)
    expose: https
    from: {{kind: IngressRoute, namespace: home, name: zigbee2mqtt}}
    tags: ["tag:k8s"]
    accept_auth_change: true
"""


@pytest.mark.parametrize("name", ["paperless", "z2m"])
def test_ingressroute_slice_phases_match_golden_trees_and_roll_back(
    tmp_path: Path, name: str
) -> None:
    repo = make_gitops_repo(tmp_path, HOMELAB_REPO)
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(CONFIG.format(repo=repo), encoding="utf-8")
    start_tree = GitRepo(repo).tree_hash()
    before = snapshot(repo)
    for phase in ("1", "2"):
        commits = apply_phase(repo, config_path, name, phase)
        assert len(commits) == 1, f"phase {phase} of {name} should be exactly one commit"
        after = snapshot(repo)
        golden = GOLDEN / name / f"phase-{phase}"
        if os.environ.get("UPDATE_GOLDEN"):
            update_golden(before, after, golden)
        assert after == expected_tree(before, golden)
        assert git(repo, "rev-parse", "origin/main") == git(repo, "rev-parse", "HEAD")
        assert f"Migration-Phase: {phase}" in git(repo, "log", "-1", "--format=%B")
        before = after

    assert apply_phase(repo, config_path, name, "all") == [], "a second run changes nothing"
    assert len(GitRepo(repo).revert_slice(name, "test-rollback")) == 2
    assert GitRepo(repo).tree_hash() == start_tree
    assert git(repo, "status", "--porcelain") == ""
