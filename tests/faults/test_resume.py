"""Items 1, 3, 4: a re-run finishes what a killed run left, from the remote's point of view; only
the slice's commits leave; a push that had to rebase is planned and checked again."""

from __future__ import annotations

import signal
from pathlib import Path

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import load_config
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import git, make_gitops_repo, write_config
from tests.faults.conftest import (
    Cli,
    assert_level,
    kill_when,
    log_pushes,
    no_traceback,
    origin_head,
    slow_hook,
)

PHASE_1 = "Migration-Phase: 1"


def gated_push(tmp_path: Path, repo: Path) -> tuple[Path, Path]:
    gate, started = tmp_path / "gate", tmp_path / "hook-started"
    slow_hook(repo / ".git" / "hooks" / "pre-push", started, gate)
    gate.touch()
    return gate, started


def test_killed_at_the_phase_1_push_the_rerun_pushes_it_then_phase_2_in_a_push_of_its_own(
    tmp_path: Path, cli: Cli
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    gate, started = gated_push(tmp_path, repo)
    before = origin_head(repo)
    process = cli.start("--slice", "pgadmin", "--phase", "1", "--config", config)
    kill_when(process, started, signal.SIGKILL, gate)
    assert origin_head(repo) == before  # the commit was made, the push never happened
    assert PHASE_1 in git(repo, "log", "-1", "--format=%B")
    pushes = tmp_path / "pushes.log"
    log_pushes(tmp_path / "origin.git", pushes)
    done = cli.run("--slice", "pgadmin", "--phase", "2", "--yes", "--config", config)
    assert done.returncode == 0, done.stderr[-3000:]
    no_traceback(done.stdout, done.stderr)
    assert "pushed 1 commit(s) an interrupted run left unpushed" in done.stderr
    assert_level(repo)  # phase 1 left first, checked, then phase 2 in a push of its own
    assert pushes.read_text().splitlines() == [f"push: {PHASE_1} ", "push: Migration-Phase: 2 "]


def test_ctrl_c_at_the_push_lets_it_finish_then_stops_with_130(tmp_path: Path, cli: Cli) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    gate, started = gated_push(tmp_path, repo)
    process = cli.start("--slice", "pgadmin", "--phase", "1", "--config", config)
    out, err = kill_when(process, started, signal.SIGINT, gate)
    assert process.returncode == 130, err[-3000:]
    assert "interrupted: stopped at a safe point" in err
    no_traceback(out, err)
    assert_level(repo)  # the push was not cut in half: phase 1 is on origin
    assert PHASE_1 in git(repo, "log", "-1", "--format=%B", "origin/main")
    done = cli.run("--slice", "pgadmin", "--phase", "2", "--yes", "--config", config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_level(repo)


def test_a_rollback_killed_at_its_push_is_finished_by_the_next_rollback(
    tmp_path: Path, cli: Cli
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    start = git(repo, "rev-parse", "HEAD^{tree}")
    apply_repo_step(load_config(config), GitRepo(repo), "pgadmin", "phase-1", "earlier-run")
    assert_level(repo)
    gate, started = gated_push(tmp_path, repo)
    args = ("--slice", "pgadmin", "--rollback", "--config", str(config))
    kill_when(cli.start(*args), started, signal.SIGKILL, gate)
    assert git(repo, "rev-parse", "origin/main^{tree}") != start  # origin still has phase 1
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rolled back pgadmin: 1 revert commit(s)" in done.stdout
    assert_level(repo)
    assert git(repo, "rev-parse", "origin/main^{tree}") == start


def test_the_users_unpushed_commits_are_refused_unless_asked(tmp_path: Path, cli: Cli) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    (repo / "NOTES.md").write_text("work in progress\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-qm", "WIP (do not push yet)")
    wip, before = git(repo, "rev-parse", "HEAD"), origin_head(repo)
    for extra in ([], ["--rollback"]):
        refused = cli.run("--slice", "pgadmin", "--phase", "1", "--config", config, *extra)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert "error: " in refused.stderr and "WIP (do not push yet)" in refused.stderr
        assert wip[:12] in refused.stderr and "--push-local-commits" in refused.stderr
        no_traceback(refused.stderr)
        assert (git(repo, "rev-parse", "HEAD"), origin_head(repo)) == (wip, before)
    done = cli.run("--slice", "pgadmin", "--phase", "1", "--config", config, "--push-local-commits")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_level(repo)


def _colleague_moves_the_port(tmp_path: Path) -> None:
    """Someone pushes a new port for pgadmin's Service (and its Traefik Ingress) meanwhile."""
    clone = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    git(clone, "config", "user.name", "Colleague")
    git(clone, "config", "user.email", "colleague@example.test")
    for name in ("service.yaml", "ingress.yaml"):
        path = clone / "apps" / "pgadmin" / name
        text = path.read_text().replace("port: 8001", "port: 8080")
        path.write_text(text.replace("number: 8001", "number: 8080"))
    git(clone, "commit", "-qam", "pgadmin listens on 8080")
    git(clone, "push", "-q", "origin", "main")


def test_a_push_that_had_to_rebase_is_planned_again_and_a_changed_plan_fails_cleanly(
    tmp_path: Path, cli: Cli
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    _colleague_moves_the_port(tmp_path)
    done = cli.run("--slice", "pgadmin", "--phase", "1", "--yes", "--config", config)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "error: slice pgadmin failed and was rolled back" in done.stderr
    assert "after rebasing on origin/main" in done.stderr
    assert "apps/pgadmin/tailnet-ingress.yaml" in done.stderr
    no_traceback(done.stderr)
    assert_level(repo)  # our commit was dropped before it left; the colleague's is kept
    assert PHASE_1 not in git(repo, "log", "--format=%B", "origin/main")
    assert "8080" in (repo / "apps/pgadmin/service.yaml").read_text()
    assert not (repo / "apps/pgadmin/tailnet-ingress.yaml").exists()
