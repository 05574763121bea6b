"""Golden trees of HelmRelease slices on the home-lab fixture (tests/fixtures/homelab-k8s):
an app-template ingress entry (v3), an app-template LoadBalancer service entry (v4) and a chart's
`ingress:` block; phase 1, phase 2, then rollback, each applied to a git clone with a bare origin.

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
  sonarr:       # app-template 3.7.3 values.ingress.app: forward-auth, homepage annotations
    expose: https
    from: {{kind: HelmRelease, namespace: media, name: sonarr, ingress: app}}
    tags: ["tag:k8s"]
    accept_auth_change: true
  postgres:     # app-template 4.1.2 values.service.app: a MetalLB LoadBalancer
    expose: tcp
    from: {{kind: HelmRelease, namespace: database, name: postgres, service: app}}
    tags: ["tag:k8s"]
  grafana:      # the grafana chart's values.ingress block
    expose: https
    from: {{kind: HelmRelease, namespace: observability, name: grafana, ingress: ingress}}
    tags: ["tag:k8s"]
    accept_auth_change: true
"""


@pytest.mark.parametrize("name", ["sonarr", "postgres", "grafana"])
def test_helmrelease_slice_phases_match_golden_trees_and_roll_back(
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
