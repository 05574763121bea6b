"""Item 9: a run killed while it commits leaves staged files; the next run recognises them as its
own, restores them and commits with trailers (never advice that leads to a commit without)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import load_config
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import git, make_gitops_repo, write_config
from tests.faults.conftest import Cli, assert_level, kill_when, no_traceback, slow_hook

NEW = "apps/pgadmin/tailnet-ingress.yaml"


def killed_while_committing(tmp_path: Path, cli: Cli, sig: signal.Signals) -> tuple[Path, str]:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    gate, started = tmp_path / "gate", tmp_path / "hook-started"
    slow_hook(repo / ".git" / "hooks" / "pre-commit", started, gate)
    gate.touch()
    head = git(repo, "rev-parse", "HEAD")
    process = cli.start("--slice", "pgadmin", "--phase", "1", "--config", config)
    out, err = kill_when(process, started, sig, gate)
    if sig == signal.SIGINT:  # Ctrl-C: the commit is not cut in half; the run stops after it
        assert process.returncode == 130, err[-3000:]
        no_traceback(out, err)
        assert git(repo, "rev-parse", "HEAD") != head
    else:
        assert git(repo, "rev-parse", "HEAD") == head  # no commit was made
        assert NEW in git(repo, "status", "--porcelain")
    return repo, config


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_a_run_killed_during_its_commit_is_resumed_with_trailers(
    tmp_path: Path, cli: Cli, sig: signal.Signals
) -> None:
    repo, config = killed_while_committing(tmp_path, cli, sig)
    done = cli.run("--slice", "pgadmin", "--phase", "1", "--config", config)
    assert done.returncode == 0, done.stderr[-3000:]
    no_traceback(done.stdout, done.stderr)
    if sig == signal.SIGKILL:  # the staged files were recognised as ours and put back first
        assert "restored 2 file(s) an interrupted commit had written" in done.stderr
    message = git(repo, "log", "-1", "--format=%B")
    assert "Migration-Slice: pgadmin" in message and "Migration-Phase: 1" in message
    assert_level(repo)


def test_files_changed_after_the_kill_are_named_not_overwritten(tmp_path: Path, cli: Cli) -> None:
    repo, config = killed_while_committing(tmp_path, cli, signal.SIGKILL)
    (repo / NEW).write_text((repo / NEW).read_text() + "# the operator's own line\n")
    before = (repo / NEW).read_text()
    done = cli.run("--slice", "pgadmin", "--phase", "1", "--config", config)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "error: " in done.stderr and "an interrupted ingress2tailscale commit" in done.stderr
    assert NEW in done.stderr and f"git -C {repo} status" in done.stderr
    assert "commit or stash" not in done.stderr
    no_traceback(done.stderr)
    assert (repo / NEW).read_text() == before


def test_a_rollback_killed_during_its_revert_commit_is_finished_by_the_next(
    tmp_path: Path, cli: Cli
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    start = git(repo, "rev-parse", "HEAD^{tree}")
    apply_repo_step(load_config(config), GitRepo(repo), "pgadmin", "phase-1", "earlier-run")
    gate, started = tmp_path / "gate", tmp_path / "hook-started"
    slow_hook(repo / ".git" / "hooks" / "pre-commit", started, gate)
    gate.touch()
    args = ("--slice", "pgadmin", "--rollback", "--config", str(config))
    kill_when(cli.start(*args), started, signal.SIGKILL, gate)
    assert git(repo, "status", "--porcelain") != ""  # the revert is staged, not committed
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "interrupted revert had written" in done.stderr
    assert "rolled back pgadmin: 1 revert commit(s)" in done.stdout
    no_traceback(done.stdout, done.stderr)
    assert_level(repo)
    assert git(repo, "rev-parse", "origin/main^{tree}") == start
