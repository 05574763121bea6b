"""The Prefect `migrate` and `rollback` flows on a real git clone, under Prefect's test harness."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress2tailscale.errors import PushRejectedError, SliceFailedError
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import git, make_gitops_repo, write_config
from tests.integration.conftest import (
    OPERATOR_ID,
    OPERATOR_SECRET,
    TEST_API_KEY,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    sandbox_apply,
)

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


def flow_config(tmp_path: Path, repo: Path, api_url: str, tf_path: Path) -> Path:
    """The example config on `repo`, its tailscale section pointed at the emulator and a .tf."""
    apply = sandbox_apply(tf_path, api_url)

    def edit(text: str) -> str:
        text = text.replace(
            "tailscale:\n  https: true", f"tailscale:\n  api_url: {api_url}\n  https: true"
        )
        old_tf = text.split("    terraform: ")[1].split("\n")[0]
        return text.replace(
            f"    terraform: {old_tf}\n",
            f"    terraform: {tf_path}\n    apply: {json.dumps(apply)}\n",
        )

    return write_config(tmp_path, repo, edit)


def test_a_slice_end_to_end_then_again_then_rolled_back(
    prefect: None,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.migrate_flow import migrate, rollback

    monkeypatch.setenv("TS_OAUTH_CLIENT_ID", TEST_CLIENT_ID)
    monkeypatch.setenv("TS_OAUTH_CLIENT_SECRET", TEST_CLIENT_SECRET)
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    start = tree_of(repo)

    first = migrate(slice="grafana", phase="all", config=str(config), require_approval=False)
    actions = {s["name"]: s["action"] for s in first[0]["steps"]}
    assert actions == {
        "oauth-scopes": "change",
        "tailnet-https": "change",
        "acl": "change",
        "phase-1": "change",
        "validate": "none",  # after each phase (static checks only: no cluster here)
        "phase-2": "change",
    }
    assert seeded.settings["httpsEnabled"] is True
    assert '"tag:internal-apps"' in seeded.policy
    assert "services" in seeded.oauth_clients[OPERATOR_ID].scopes
    assert '"services"' in tf_path.read_text()
    log = git(repo, "log", "--format=%B", "origin/main")
    assert "Migration-Phase: 1" in log and "Migration-Phase: 2" in log
    assert not (repo / "apps/monitoring/ingress-grafana.yaml").exists()
    assert (repo / "apps/monitoring/wildcard-tls.yaml").exists()  # the status page still uses it

    writes_before = len([r for r in seeded.request_log if r.method != "GET"])
    again = migrate(slice="grafana", phase="all", config=str(config), require_approval=False)
    assert {s["action"] for s in again[0]["steps"]} == {"none"}
    writes_after = [r for r in seeded.request_log if r.method != "GET"]
    assert all(
        r.path.endswith(("/oauth/token", "/acl/validate")) for r in writes_after[writes_before:]
    )

    with get_client(sync_client=True) as client:
        found = client.read_artifacts()
    keys = {a.key for a in found}
    assert {
        "plan-grafana-phase-1",
        "validation-grafana-phase-2",
        "policy-before-grafana-acl",
    } <= keys
    # one progress artifact per run, created at 0 and moved step by step to 100
    runs = [a for a in found if a.key == "progress-grafana-all"]
    assert len(runs) == 2 and {a.type for a in runs} == {"progress"}
    for made in runs:
        assert made.data == 100
        assert made.updated is not None and made.created is not None
        assert made.updated > made.created
        assert made.description is not None and "7 of 7 step(s) done; done" in made.description

    rollback(slice="grafana", config=str(config))
    assert tree_of(repo) == start
    assert git(repo, "rev-parse", "origin/main") == git(repo, "rev-parse", "HEAD")
    out, err = capfd.readouterr()
    for secret in (TEST_CLIENT_SECRET, OPERATOR_SECRET, TEST_API_KEY):
        assert secret not in out + err


def test_a_failed_phase_rolls_the_slice_back(prefect: None, tmp_path: Path) -> None:
    from flows.migrate_flow import migrate
    from ingress2tailscale.errors import SliceFailedError

    repo = make_gitops_repo(tmp_path)
    hook = tmp_path / "origin.git" / "hooks" / "pre-receive"
    hook.write_text(REJECT_PHASE_2)
    hook.chmod(0o755)
    config = write_config(tmp_path, repo)
    start = tree_of(repo)
    migrate(slice="pgadmin", phase="1", config=str(config), require_approval=False)
    assert tree_of(repo) != start
    with pytest.raises(SliceFailedError, match=r"rolled back .* kept rejecting the push") as err:
        migrate(slice="pgadmin", phase="2", config=str(config), require_approval=False)
    assert isinstance(err.value.__cause__, PushRejectedError)
    assert tree_of(repo) == start
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "origin/main^{tree}") == start
    history = git(repo, "log", "--format=%s", "origin/main")
    assert "pgadmin: phase 1: add Ingress" in history and "Revert" in history
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        progress = {a.key: a for a in client.read_artifacts() if a.type == "progress"}
    assert progress["progress-pgadmin-1"].data == 100  # phase-1 and its validation
    stopped = progress["progress-pgadmin-2"]
    assert stopped.data == 0 and "0 of 2 step(s) done; stopped" in str(stopped.description)


@pytest.mark.parametrize("approved", [True, False], ids=["approved", "rejected"])
def test_phase_2_waits_for_approval_from_the_ui_form(
    approved: bool,
    prefect: None,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between the phases the run pauses; the Resume form's answer decides (DESIGN.md §2.4)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState
    from prefect.client.schemas.filters import FlowRunFilterStateName as ByName
    from prefect.flow_runs import resume_flow_run

    from flows.migrate_flow import migrate

    monkeypatch.setenv("TS_OAUTH_CLIENT_ID", TEST_CLIENT_ID)
    monkeypatch.setenv("TS_OAUTH_CLIENT_SECRET", TEST_CLIENT_SECRET)
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    results: list[list[dict[str, object]]] = []

    before = tree_of(repo)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(slice="grafana", phase="all", config=str(config)))
        except SliceFailedError as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    paused = FlowRunFilter(state=FlowRunFilterState(name=ByName(any_=["Paused"])))
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while not (found := client.read_flow_runs(flow_run_filter=paused)):
            assert time.monotonic() < deadline, "the run never paused for approval"
            time.sleep(0.5)
        assert (repo / "apps/monitoring/ingress-grafana.yaml").exists()  # phase 2 not yet
        keys = found[0].state.state_details.run_input_keyset  # type: ignore[union-attr]
        description = client.read_flow_run_input(found[0].id, keys["description"])
        assert "auth-oauth2-proxy" in description and "ingress-grafana.yaml" in description
        reply = {"approve": approved, "accept_auth_change": True, "comment": "by ops"}
        resume_flow_run(found[0].id, run_input=reply)
    runner.join(timeout=120)
    assert not runner.is_alive()
    if approved:
        steps = {s["name"]: s for s in results[-1][0]["steps"]}  # type: ignore[index]
        assert steps["phase-2"]["action"] == "change"
        assert not (repo / "apps/monitoring/ingress-grafana.yaml").exists()
        assert "Approved: by ops" in git(repo, "log", "-1", "--format=%B")
    else:  # rejected in the form: the slice is undone
        assert "phase 2 was not approved: by ops" in str(failures[0])
        assert tree_of(repo) == before
