"""A real run from the command line that fails: exit code 1, and the slice rolled back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import load_config
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.integration.test_migrate_flow import REJECT_PHASE_2


def test_a_failed_run_exits_1_and_leaves_the_repo_as_before_the_slice(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    start = git(repo, "rev-parse", "HEAD^{tree}")
    apply_repo_step(load_config(config), GitRepo(repo), "pgadmin", "phase-1", "earlier-run")
    hook = tmp_path / "origin.git" / "hooks" / "pre-receive"
    hook.write_text(REJECT_PHASE_2)
    hook.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "pgadmin", "--phase", "2", "--yes",
         "--config", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert "error: " in done.stderr and "rejecting the push" in done.stderr
    assert git(repo, "rev-parse", "HEAD^{tree}") == start
    assert git(repo, "rev-parse", "origin/main^{tree}") == start
    assert git(repo, "status", "--porcelain") == ""
