"""The git adapter on real repos: refused commits, conflicting reverts, a remote that moved on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingress2tailscale.adapters.git_repo import GitRepo, commit_file
from ingress2tailscale.config import load_config
from ingress2tailscale.errors import GitError, PlanError, PushRejectedError, RepoLockedError
from ingress2tailscale.steps.repo import apply_repo_step
from tests.conftest import git, make_gitops_repo, write_config

INGRESS = "apps/pgadmin/tailnet-ingress.yaml"


def other_clone(tmp_path: Path) -> Path:
    """A colleague's clone of the same origin."""
    clone = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    git(clone, "config", "user.name", "Colleague")
    git(clone, "config", "user.email", "colleague@example.test")
    return clone


def phase1(repo: Path, config: Path) -> str | None:
    return apply_repo_step(load_config(config), GitRepo(repo), "pgadmin", "phase-1", "run-1").commit


def test_a_refused_commit_leaves_the_tree_as_it_was(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'commits are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(GitError, match="commits are frozen"):
        phase1(repo, config)
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == head
    assert not (repo / INGRESS).exists()


def test_a_conflicting_revert_changes_nothing_and_says_which_commit(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    phase1(repo, config)
    path = repo / INGRESS
    path.write_text(path.read_text().replace("pgadmin-tailnet", "pgadmin-tailnet-v2"))
    git(repo, "commit", "-qam", "rename the tailnet ingress")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(GitError, match=r"cannot revert .* later commits changed the same lines"):
        GitRepo(repo).revert_slice("pgadmin", "rollback-1")
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_remote_that_moved_on_is_rebased_onto_never_forced(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    colleague = other_clone(tmp_path)
    (colleague / "README.md").write_text("colleague's edit\n")
    git(colleague, "commit", "-qam", "colleague's change")
    git(colleague, "push", "-q", "origin", "main")
    commit = phase1(repo, config)
    assert commit == git(repo, "rev-parse", "origin/main")
    log = git(repo, "log", "--format=%s", "origin/main")
    assert (
        "colleague's change" in log
        and "pgadmin: phase 1: add Ingress pgadmin/pgadmin-tailnet" in log
    )


def test_a_conflicting_remote_stops_the_push_and_the_slice_rolls_back(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    config = write_config(tmp_path, repo)
    start = git(repo, "rev-parse", "HEAD^{tree}")
    colleague = other_clone(tmp_path)
    kustomization = colleague / "apps/pgadmin/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - extra.yaml\n")
    (colleague / "apps/pgadmin/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
    )
    git(colleague, "add", "-A")
    git(colleague, "commit", "-qm", "colleague lists a file")
    git(colleague, "push", "-q", "origin", "main")
    with pytest.raises(PushRejectedError, match="do not rebase cleanly"):
        phase1(repo, config)
    GitRepo(repo).rollback_run("pgadmin", "run-1")
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "origin/main")
    assert git(repo, "rev-parse", "HEAD^{tree}") != start  # the colleague's work is kept
    assert not (repo / INGRESS).exists()


def infra_repo(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "infra"
    folder.mkdir()
    path = folder / "oauth.tf"
    path.write_bytes(text.encode())
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.name", "Operator")
    git(folder, "config", "user.email", "operator@example.test")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "infra")
    return path


CRLF_TF = 'resource "x" "y" {\r\n  scopes = ["a"]\r\n}\r\n'


def test_commit_file_keeps_line_endings_and_commits_only_its_edit(tmp_path: Path) -> None:
    path = infra_repo(tmp_path, CRLF_TF)
    after = CRLF_TF.replace('["a"]', '["a", "b"]')
    commit_file(path, (CRLF_TF, after), "add b", "", {"Migration-Slice": "db"})
    assert path.read_bytes() == after.encode()
    stat = git(path.parent, "show", "--numstat", "--format=", "HEAD")
    assert stat.split()[:2] == ["1", "1"]


def test_commit_file_refuses_a_file_with_uncommitted_work(tmp_path: Path) -> None:
    path = infra_repo(tmp_path, CRLF_TF)
    work = CRLF_TF + "# the operator's unfinished edit\r\n"
    path.write_bytes(work.encode())
    with pytest.raises(PlanError, match=r"uncommitted changes \(branch main\)"):
        commit_file(path, (work, work.replace('["a"]', '["a", "b"]')), "s", "", {})
    assert path.read_bytes() == work.encode()


def test_commit_file_restores_the_file_when_the_commit_is_refused(tmp_path: Path) -> None:
    path = infra_repo(tmp_path, CRLF_TF)
    hook = path.parent / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitError):
        commit_file(path, (CRLF_TF, CRLF_TF.replace('["a"]', '["b"]')), "s", "", {})
    assert path.read_bytes() == CRLF_TF.encode()
    assert git(path.parent, "status", "--porcelain") == ""


def test_a_held_lock_names_its_holder_and_exits_2(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from ingress2tailscale.adapters.git_repo import GitRepo\n"
            "with GitRepo(Path(sys.argv[1])).lock():\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(repo),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(RepoLockedError) as err, GitRepo(repo).lock():
            pass
        assert err.value.exit_code == 2
        message = str(err.value)
        assert f"another ingress2tailscale run is changing this repo (pid {holder.pid} since " in (
            message
        )
        assert message.endswith("); nothing was changed")
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with GitRepo(repo).lock():  # released when its holder's process ends, even when killed
        pass
