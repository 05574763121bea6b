"""Approval in a real browser: a migrate run started as the UI does pauses before phase 2; the
run's page in the Prefect UI resumes it through the form. Approved, the slice completes with the
approver's comment in the phase-2 commit; rejected, it is rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import ROOT, git, make_gitops_repo
from tests.integration.prefect_server import (
    artifacts,
    post,
    prefect_server,
    serving,
    trigger,
    wait_for_state,
)
from tests.integration.test_migrate_flow import flow_config

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


def resume_in_browser(browser: Any, server: str, run: str, approve: bool, comment: str) -> None:
    """What an approver does: open the paused run, Resume, set the switches, comment, Submit."""
    page = open_page(browser, f"{server.removesuffix('/api')}/runs/flow-run/{run}")
    page.get_by_role("button", name="Resume").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Approve", exact=False).first.wait_for()
    switches = dialog.get_by_role("switch")  # in form order: approve, accept_auth_change
    if approve:
        switches.nth(0).click()
    switches.nth(1).click()
    dialog.locator("textarea").fill(comment)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"paused-form-{'approve' if approve else 'reject'}.png"))
    dialog.get_by_role("button", name="Submit").click()
    dialog.wait_for(state="hidden")
    page.close()


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "rejected"])
def test_phase_2_is_approved_or_rejected_in_the_browser(
    approve: bool,
    server: str,
    browser: Any,
    tmp_path: Path,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = flow_config(tmp_path, repo, tailnet_emulator.url, tf_path)
    before = git(repo, "rev-parse", "HEAD^{tree}")
    with serving(server, tmp_path, config) as ids:
        migrate = ids["migrate"]
        run = trigger(server, migrate, {"slice": "grafana", "config": str(config)})
        state = wait_for_state(server, run, {"PAUSED", "COMPLETED", "FAILED", "CRASHED"})
        assert state["state_type"] == "PAUSED", (tmp_path / "serve.log").read_text()[-3000:]
        assert (repo / "apps/monitoring/tailnet-ingress.yaml").exists()  # phase 1 is in
        resume_in_browser(browser, server, run, approve, "checked the tailnet URL - ops")
        done = wait_for_state(server, run, {"COMPLETED", "FAILED", "CRASHED"})
    found = {a["key"]: a for a in artifacts(server, run)}
    assert "plan-grafana-phase-1" in found and "validation-grafana-phase-1" in found
    if approve:
        assert done["state_type"] == "COMPLETED"
        message = git(repo, "log", "-1", "--format=%B")
        assert "Migration-Phase: 2" in message
        assert "Approved: checked the tailnet URL - ops" in message
        assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "origin/main")
        assert not (repo / "apps/monitoring/ingress-grafana.yaml").exists()
        page = open_page(
            browser,
            f"{server.removesuffix('/api')}/artifacts/artifact/"
            f"{found['plan-grafana-phase-2']['id']}",
        )
        page.get_by_text("phase 2").first.wait_for()
        page.screenshot(path=str(SHOTS / "plan-artifact.png"))
        page.close()
    else:
        assert done["state_type"] == "FAILED"
        assert "phase 2 was not approved: checked the tailnet URL - ops" in done["state"]["message"]
        assert git(repo, "rev-parse", "HEAD^{tree}") == before  # the slice is undone
        assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "origin/main")


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
