"""The Prefect `migrate` and `rollback` flows on a real git clone, under Prefect's test harness."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress2tailscale.errors import PushRejectedError
from tests.conftest import git, make_gitops_repo, write_config

REJECT_PHASE_2 = """#!/bin/sh
# origin refuses any push that carries a phase-2 commit (a remote policy, or a race we lose)
while read old new ref; do
  if git log --format=%B "$old..$new" | grep -q '^Migration-Phase: 2$'; then
    echo "phase 2 is frozen on this remote" >&2
    exit 1
  fi
done
"""


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def tree_of(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD^{tree}")


def test_phases_commit_push_and_publish_artifacts(prefect: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from flows.migrate_flow import migrate, rollback

    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    start = tree_of(repo)
    for phase in ("1", "2"):
        result = migrate(slice="grafana", phase=phase, config=str(config), approval_mode="none")
        assert result[0]["steps"][0]["action"] == "change"
    log = git(repo, "log", "--format=%s%n%b", "origin/main")
    assert "Migration-Phase: 1" in log and "Migration-Phase: 2" in log
    assert not (repo / "apps/monitoring/ingress-grafana.yaml").exists()
    assert (repo / "apps/monitoring/wildcard-tls.yaml").exists()  # still used by the status page

    again = migrate(slice="grafana", phase="all", config=str(config), approval_mode="none")
    assert [s["action"] for s in again[0]["steps"] if s["name"].startswith("phase")] == [
        "none",
        "none",
    ]

    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts()}
    assert {"plan-grafana-phase-1", "validation-grafana-phase-2"} <= keys

    rollback(slice="grafana", config=str(config))
    assert tree_of(repo) == start
    assert git(repo, "rev-parse", "origin/main") == git(repo, "rev-parse", "HEAD")


def test_a_failed_phase_rolls_the_slice_back(prefect: None, tmp_path: Path) -> None:
    from flows.migrate_flow import migrate

    repo = make_gitops_repo(tmp_path)
    hook = tmp_path / "origin.git" / "hooks" / "pre-receive"
    hook.write_text(REJECT_PHASE_2)
    hook.chmod(0o755)
    config = write_config(tmp_path, repo)
    start = tree_of(repo)
    migrate(slice="pgadmin", phase="1", config=str(config), approval_mode="none")
    assert tree_of(repo) != start
    with pytest.raises(PushRejectedError):
        migrate(slice="pgadmin", phase="2", config=str(config), approval_mode="none")
    assert tree_of(repo) == start
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "origin/main^{tree}") == start
    history = git(repo, "log", "--format=%s", "origin/main")
    assert "phase-1" in history and "Revert" in history
