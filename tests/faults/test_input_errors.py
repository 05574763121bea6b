"""Item 8 and the input errors of item 10: each is one `error:` line, exit 2, no traceback, and
every byte of the repo and its origin unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.faults.conftest import no_traceback
from tests.integration.conftest import TEST_CLIENT_ID, TEST_CLIENT_SECRET
from tests.integration.test_cli_bad_input import state
from tests.integration.test_migrate_flow import flow_config

ALL_MODES = ("dry-run", "apply", "rollback")


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[str, ...]
    modes: tuple[str, ...] = ALL_MODES
    repo_edit: Callable[[Path], None] = lambda repo: None
    config_file: Callable[[Path, Path], bytes] | None = None  # (config, repo) -> its new bytes
    gitops_path: Callable[[Path], str] | None = None


def _rebase_stopped_on_a_conflict(repo: Path) -> None:
    """What a push's rebase killed half-way leaves: a rebase in progress."""
    readme = repo / "apps/pgadmin/kustomization.yaml"
    git(repo, "checkout", "-q", "-b", "side")
    readme.write_text(readme.read_text() + "# side\n")
    git(repo, "commit", "-qam", "side")
    git(repo, "checkout", "-q", "main")
    readme.write_text(readme.read_text() + "# main\n")
    git(repo, "commit", "-qam", "main")
    done = subprocess.run(["git", "rebase", "side"], cwd=repo, capture_output=True, check=False)
    assert done.returncode != 0 and (repo / ".git/rebase-merge").exists()


def _with_repo_path(path: str) -> Callable[[Path, Path], bytes]:
    def write(config: Path, repo: Path) -> bytes:
        return config.read_bytes().replace(str(repo).encode(), path.encode())

    return write


CASES = [
    Case(
        "detached-head",
        ("HEAD is detached", "not on branch main", "git -C", "switch main"),
        modes=("apply", "rollback"),
        repo_edit=lambda repo: git(repo, "checkout", "-q", "--detach", "HEAD"),
    ),
    Case(
        "rebase-in-progress",
        ("a rebase is in progress", "rebase --abort", "then run the slice again"),
        modes=("apply", "rollback"),
        repo_edit=_rebase_stopped_on_a_conflict,
    ),
    Case(
        "binary-config",
        ("migration.yaml", "not a UTF-8 text file", "--config"),
        config_file=lambda config, repo: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
    ),
    Case(
        "nul-in-config",
        ("migration.yaml", "a binary file, not a YAML config"),
        config_file=lambda config, repo: config.read_bytes() + b"\x00\x00",
    ),
    Case(
        "latin-1-config",
        ("migration.yaml", "not a UTF-8 text file"),
        config_file=lambda config, repo: config.read_bytes().replace(
            b"# in migration order", b"# in migration order (caf\xe9)"
        ),
    ),
    Case(
        "gitops-path-is-root",
        ("gitops.path", "/"),
        config_file=lambda config, repo: _with_repo_path("/")(config, repo),
    ),
    Case(
        "gitops-path-inside-a-repo",
        ("gitops.path", "not the root of a git repository", "the repository's root is"),
        modes=("apply", "rollback"),
        config_file=lambda config, repo: _with_repo_path(f"{repo}/apps")(config, repo),
    ),
]


# a dry run on a detached HEAD, or on a folder inside a repo, plans as usual: not an error
RUNS = [(case, mode) for case in CASES for mode in case.modes]


@pytest.mark.parametrize(("case", "mode"), RUNS, ids=[f"{c.id}-{m}" for c, m in RUNS])
def test_an_input_error_is_one_line_exit_2_and_changes_nothing(
    tmp_path: Path, case: Case, mode: str
) -> None:
    repo = make_gitops_repo(tmp_path)
    case.repo_edit(repo)
    config = write_config(tmp_path, repo)
    if case.config_file is not None:
        config.write_bytes(case.config_file(config, repo))
    before = state(repo)
    extra = {"dry-run": ["--dry-run"], "apply": ["--phase", "1"], "rollback": ["--rollback"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "pgadmin", "--config", str(config),
         "--yes", *extra[mode]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for text in case.expect:
        assert text in done.stderr
    no_traceback(done.stderr)
    assert state(repo) == before


def test_a_kustomization_with_a_remote_base_is_planned_with_a_notice(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    kustomization = repo / "apps/pgadmin/kustomization.yaml"
    remote = "https://github.com/example/charts//pgadmin?ref=v1"
    kustomization.write_text(kustomization.read_text() + f"  - {remote}\n")
    git(repo, "commit", "-qam", "a remote base")
    config = write_config(tmp_path, repo)
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "pgadmin", "--dry-run",
         "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "apps/pgadmin/kustomization.yaml" in done.stdout
    assert f"`{remote}`" in done.stdout and "cannot follow it" in done.stdout


@pytest.mark.parametrize(
    ("status", "retry_after", "said"),
    [(429, "60", "run again in 60 s"), (503, None, "run again in a while")],
    ids=["429-retry-after", "503"],
)
def test_a_throttled_api_at_pre_flight_exits_2_with_the_wait_it_asked_for(
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
    status: int,
    retry_after: str | None,
    said: str,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    seeded.fail_next(status, count=10, retry_after=retry_after)
    before, policy = state(repo), seeded.policy
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env |= {"TS_OAUTH_CLIENT_ID": TEST_CLIENT_ID, "TS_OAUTH_CLIENT_SECRET": TEST_CLIENT_SECRET}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "db", "--phase", "prereq",
         "--config", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert "error: the Tailscale API is not taking requests now" in done.stderr
    assert said in done.stderr and "nothing was changed" in done.stderr
    if retry_after:
        assert "it asked to wait 60 s (Retry-After)" in done.stderr
    no_traceback(done.stderr)
    assert state(repo) == before and seeded.policy == policy
