"""The deployments as the UI uses them: a real `prefect server`, `python -m flows.serve`, and
runs triggered through the REST API the UI calls. A dry run changes nothing anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import git, make_gitops_repo
from tests.integration.conftest import TEST_CLIENT_SECRET
from tests.integration.prefect_server import (
    artifacts,
    postgres_missing,
    postgres_server,
    prefect_server,
    serving,
    trigger,
    wait_for_state,
)
from tests.integration.test_migrate_flow import flow_config

pytestmark = pytest.mark.e2e
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
READ_ONLY_POSTS = ("/oauth/token", "/acl/validate", "/acl/preview")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Prefect server on SQLite, and the compose stack's topology: one on PostgreSQL."""
    home = tmp_path_factory.mktemp(f"prefect-{request.param}")
    if request.param == "sqlite":
        with prefect_server(home) as url:
            yield url
        return
    why = postgres_missing()
    if why:
        pytest.skip(why)
    with (
        postgres_server() as database,
        prefect_server(home, {"PREFECT_API_DATABASE_CONNECTION_URL": database}) as url,
    ):
        yield url


def repo_state(repo: Path) -> tuple[str, str, str]:
    origin = git(repo, "ls-remote", "origin", "refs/heads/main").split()[0]
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), origin


def writes(state: TailnetState) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in state.request_log
        if r.method in WRITES and not r.path.endswith(READ_ONLY_POSTS)
    ]


def test_a_dry_run_started_like_the_ui_writes_nothing_and_publishes_the_plan(
    server: str,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    before, tf_before = repo_state(repo), tf_path.read_bytes()
    with serving(server, tmp_path, config) as ids:
        migrate = ids["migrate"]
        seeded.request_log.clear()
        run = trigger(server, migrate, {"slice": "db", "dry_run": True, "config": str(config)})
        done = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
    log = (tmp_path / "serve.log").read_text()
    assert done["state_type"] == "COMPLETED", log[-3000:]
    keys = {a["key"]: a for a in artifacts(server, run)}
    assert keys["plan-db"]["type"] == "markdown"
    assert "tazlab-db-tailnet" in keys["plan-db"]["data"]
    assert repo_state(repo) == before and tf_path.read_bytes() == tf_before
    assert writes(seeded) == []
    assert any(r.path.endswith("/acl") and r.method == "GET" for r in seeded.request_log)
    assert TEST_CLIENT_SECRET not in log


def test_a_bad_slice_fails_the_run_with_the_command_lines_message(
    server: str, tmp_path: Path, tf_path: Path, tailnet_emulator: TailnetEmulator
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    with serving(server, tmp_path, config) as ids:
        run = trigger(server, ids["plan"], {"slice": "nope", "config": str(config)})
        done = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state_type"] == "FAILED"
    assert "unknown slice 'nope'" in done["state"]["message"]
