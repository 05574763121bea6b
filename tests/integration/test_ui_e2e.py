"""Approval in a real browser, on a sandbox (`flows.sandbox up`, `flows.serve --sandbox`): a
migrate run started as the UI does passes phase 1's live checks on the emulated cluster and
pauses before phase 2; the run's page in the Prefect UI resumes it through the form. Approved,
the slice completes with the approver's comment in the phase-2 commit; rejected, it is rolled
back. Once on the sandbox's own Prefect server, once on one on PostgreSQL. And the repo's
guards as deployment runs meet them (the concurrency limit, the fingerprint)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import ROOT, git, make_gitops_repo
from tests.integration.prefect_server import (
    artifacts,
    post,
    postgres_missing,
    postgres_server,
    prefect_server,
    serving,
    trigger,
    wait_for_state,
)
from tests.integration.test_migrate_flow import flow_config
from tests.integration.test_sandbox_e2e import Sandboxed, fast_config

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "tests" / "output" / "ui"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect-ui")) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Any, url: str) -> Any:
    """A page that can reach only this machine (the new UI calls an outside host otherwise)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda r: r.continue_() if "//127.0.0.1" in r.request.url else r.abort())
    page.goto(url)
    return page


def resume_in_browser(
    browser: Any, server: str, run: str, approve: bool, comment: str, topology: str
) -> None:
    """What an approver does: open the paused run, Resume, set the switches, comment, Submit."""
    page = open_page(browser, f"{server.removesuffix('/api')}/runs/flow-run/{run}")
    page.get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Approve", exact=False).first.wait_for()
    switches = dialog.get_by_role("switch")  # in form order: approve[, accept_auth_change]
    if approve:
        switches.nth(0).click()
    if switches.count() > 1:
        switches.nth(1).click()
    dialog.locator("textarea").fill(comment)
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = f"paused-form-{'approve' if approve else 'reject'}{shot_suffix(topology)}.png"
    page.screenshot(path=str(SHOTS / name))
    dialog.get_by_role("button", name="Submit").click()
    dialog.wait_for(state="hidden")
    page.close()


@dataclass(frozen=True)
class OnASandbox:
    """A sandbox, its Prefect server (the sandbox's own, or one on PostgreSQL), flows.serve."""

    box: Sandboxed
    server: str
    ids: dict[str, str]
    name: str  # of the topology, for the screenshots


@pytest.fixture(scope="module", params=["sandbox", "postgresql"])
def on_a_sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnASandbox]:
    """`flows.sandbox up` on a copy of the example config and `flows.serve --sandbox`: on the
    sandbox's own Prefect server (SQLite), and once on a server of the user's (PREFECT_API_URL)
    on a real PostgreSQL, the compose stack's topology."""
    where = tmp_path_factory.mktemp(f"ui-{request.param}")
    with contextlib.ExitStack() as stack:
        api_url = None
        if request.param == "postgresql":
            why = postgres_missing()
            if why:
                pytest.skip(why)
            database = stack.enter_context(postgres_server())
            settings = {"PREFECT_API_DATABASE_CONNECTION_URL": database}
            api_url = stack.enter_context(prefect_server(where / "prefect", settings))
        box = Sandboxed(where, api_url, fast_config(where)).up()
        stack.callback(box.down)
        env = {"PREFECT_API_URL": api_url} if api_url else {}
        ids = stack.enter_context(serving(box.prefect_api, where, box.config, sandbox=True, **env))
        yield OnASandbox(box, box.prefect_api, ids, request.param)


def test_phase_2_is_approved_in_the_browser_and_another_slice_rejected_is_rolled_back(
    on_a_sandbox: OnASandbox, browser: Any
) -> None:
    box, server, suffix = on_a_sandbox.box, on_a_sandbox.server, on_a_sandbox.name
    migrate = on_a_sandbox.ids["migrate"]
    run = trigger(server, migrate, {"slice": "db"})  # the deployment's config: the sandbox's
    paused = wait_for_state(server, run, {"PAUSED", "COMPLETED", "FAILED", "CRASHED"})
    log = (box.where / "serve.log").read_text()[-3000:]
    assert paused["state_type"] == "PAUSED", log
    phase_1 = "infrastructure/instances/tazlab-db/tailnet-service.yaml"
    assert phase_1 in git(box.origin, "ls-tree", "-r", "--name-only", "main")  # pushed
    table = {a["key"]: a for a in artifacts(server, run)}["validation-db-phase-1"]["data"]
    checks = {row["check"]: row["status"] for row in json.loads(table)}
    assert checks["tailnet status"] == checks["tcp 5432"] == "pass"  # on the emulated cluster
    assert set(checks.values()) == {"pass"}
    resume_in_browser(browser, server, run, True, "checked the tailnet URL - ops", suffix)
    done = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state_type"] == "COMPLETED", (box.where / "serve.log").read_text()[-3000:]
    message = git(box.origin, "log", "-1", "--format=%B", "main")
    assert "Migration-Phase: 2" in message
    assert "Approved: checked the tailnet URL - ops" in message
    found = {a["key"]: a for a in artifacts(server, run)}
    assert {"plan-db-phase-1", "validation-db-phase-1", "plan-db-phase-2"} <= found.keys()
    assert "validation-db-phase-2" in found
    artifact = found["plan-db-phase-2"]["id"]
    page = open_page(browser, f"{server.removesuffix('/api')}/artifacts/artifact/{artifact}")
    page.get_by_text("phase 2").first.wait_for()
    page.screenshot(path=str(SHOTS / f"plan-artifact{shot_suffix(suffix)}.png"))
    page.close()

    before = box.tree()
    second = trigger(server, migrate, {"slice": "pgadmin"})
    paused = wait_for_state(server, second, {"PAUSED", "COMPLETED", "FAILED", "CRASHED"})
    assert paused["state_type"] == "PAUSED", (box.where / "serve.log").read_text()[-3000:]
    assert box.tree() != before  # its phase 1 is pushed
    resume_in_browser(browser, server, second, False, "not this week", suffix)
    refused = wait_for_state(server, second, {"COMPLETED", "FAILED", "CRASHED"})
    assert refused["state_type"] == "FAILED"
    assert "phase 2 was not approved: not this week" in refused["state"]["message"]
    assert box.tree() == before  # the slice is rolled back, the revert pushed


def shot_suffix(topology: str) -> str:
    return "" if topology == "sandbox" else f"-{topology}"


def resume_by_api(server: str, run: str, run_input: dict[str, Any]) -> None:
    answer = post(f"{server}/flow_runs/{run}/resume", {"run_input": run_input})
    assert answer.status_code == 201 and answer.json()["status"] == "ACCEPT", answer.text


APPROVE = {"approve": True, "accept_auth_change": True, "comment": ""}


def test_a_second_run_on_the_same_repo_waits_then_fails_naming_the_first(
    server: str,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    config.write_text(config.read_text() + "prefect:\n  lock_wait_s: 4\n")
    with serving(server, tmp_path, config) as ids:
        migrate = ids["migrate"]
        first = trigger(server, migrate, {"slice": "grafana", "config": str(config)})
        held = wait_for_state(server, first, {"PAUSED", "COMPLETED", "FAILED", "CRASHED"})
        assert held["state_type"] == "PAUSED"  # it holds the repo while it waits for approval
        second = trigger(server, migrate, {"slice": "db", "config": str(config)})
        refused = wait_for_state(server, second, {"COMPLETED", "FAILED", "CRASHED"})
        resume_by_api(server, first, APPROVE)
        finished = wait_for_state(server, first, {"COMPLETED", "FAILED", "CRASHED"})
    message = refused["state"]["message"]
    assert refused["state_type"] == "FAILED"
    assert "another ingress2tailscale run holds this migration" in message
    assert f"flow run {held['name']} ({first})" in message and "waited 4 s" in message
    assert finished["state_type"] == "COMPLETED"
    assert not (repo / "infrastructure/instances/tazlab-db/tailnet-service.yaml").exists()


def test_a_repo_that_moved_after_the_approved_plan_is_refused(
    server: str,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    with serving(server, tmp_path, config) as ids:
        migrate = ids["migrate"]
        run = trigger(server, migrate, {"slice": "grafana", "config": str(config)})
        assert (
            wait_for_state(server, run, {"PAUSED", "FAILED", "CRASHED"})["state_type"] == "PAUSED"
        )
        ingress = repo / "apps/monitoring/ingress-grafana.yaml"  # a colleague edits it meanwhile
        ingress.write_text(ingress.read_text().replace("grafana.tazlab.net", "grafana.tazlab.org"))
        git(repo, "commit", "-qam", "grafana moves to .org")
        resume_by_api(server, run, APPROVE)
        done = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state_type"] == "FAILED"
    message = done["state"]["message"]
    assert "changed since the plan you approved" in message and "plan again" in message
    assert "apps/monitoring/ingress-grafana.yaml" in message
    assert ingress.exists()  # phase 2 did not run
