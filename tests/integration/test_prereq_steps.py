"""The tailnet prerequisites (`oauth-scopes`, `tailnet-https`, `acl`) against the tailnet emulator
over loopback, with the seed's Terraform file and policy file in real git repos in tmp_path."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import (
    ConfigError,
    PreconditionFailedError,
    TailscaleError,
)
from ingress2tailscale.model import Step
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from ingress2tailscale.steps import prereq
from ingress2tailscale.steps.tailnet_https import apply_tailnet_https
from tests.conftest import FIXTURE_REPO, git
from tests.integration.conftest import (
    OPERATOR_ID,
    POLICY_FIXTURE,
    ClientFactory,
    assert_no_secret,
    change_of,
    init_repo,
    write_example_config,
)

RUN_ID = "run-0001"
CONCURRENT_MEMBER = '"group:admins": ["tazzo@example.com", "bob@example.com"]'


# --- fixtures ----------------------------------------------------------------------------------


# --- helpers -----------------------------------------------------------------------------------


def commits(repo_file: Path) -> list[str]:
    return git(repo_file.parent, "log", "--format=%H").splitlines()


def writes(state: TailnetState) -> list[str]:
    """Requests that could change the tailnet (validation and token minting cannot)."""
    harmless = ("/acl/validate", "/oauth/token")
    return [
        f"{e.method} {e.path}"
        for e in state.request_log
        if e.method != "GET" and not e.path.endswith(harmless)
    ]


def apply_all(config: MigrationConfig, client: TailscaleClient, env: dict[str, str]) -> list[Step]:
    return [
        prereq.apply_oauth_scopes(config, client, RUN_ID, "db", environ=env),
        apply_tailnet_https(client),
        prereq.apply_acl(config, client, RUN_ID, "db").step,
    ]


# --- the whole prerequisite phase --------------------------------------------------------------


def test_prereq_applies_the_three_steps_and_a_second_run_changes_nothing(
    config: MigrationConfig,
    client: TailscaleClient,
    seeded: TailnetState,
    tf_path: Path,
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    before_commits = commits(tf_path)
    steps = apply_all(config, client, environ)

    assert [(s.name, s.action) for s in steps] == [
        ("oauth-scopes", "change"),
        ("tailnet-https", "change"),
        ("acl", "change"),
    ]
    oauth_step = steps[0]
    assert "matched by description 'tazlab-k8s-operator' and tags tag:k8s-operator" in (
        oauth_step.reason
    )
    assert "`devices` grants `devices:core`" in oauth_step.reason
    assert "operator pod must be recycled" in oauth_step.reason
    assert 'scopes      = ["devices", "auth_keys", "services"]' in tf_path.read_text()
    assert seeded.oauth_clients[OPERATOR_ID].scopes == ["devices", "auth_keys", "services"]
    assert seeded.settings["httpsEnabled"] is True
    assert '"tag:internal-apps": ["tag:k8s-operator"]' in seeded.policy
    assert "// the dev container (TazPod)" in seeded.policy  # comments survive the API round trip

    new = commits(tf_path)[: len(commits(tf_path)) - len(before_commits)]
    assert len(new) == 1
    message = git(tf_path.parent, "log", "-1", "--format=%B")
    assert "Migration-Slice: db\nMigration-Phase: prereq\nMigration-Run: run-0001" in message
    assert git(tf_path.parent, "status", "--porcelain") == ""

    counts = (len(commits(tf_path)), writes(seeded))
    again = apply_all(config, client, environ)
    assert [s.action for s in again] == ["none", "none", "none"]
    assert [s.action for s in prereq.plan_prereq(config, client)] == ["none", "none", "none"]
    assert (len(commits(tf_path)), writes(seeded)) == counts  # no commit, no POST, no apply run

    out, err = capsys.readouterr()
    assert_no_secret(caplog.text, out, err, *(s.reason for s in steps + again))
    assert "apply: Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in caplog.text


def test_plan_with_a_read_only_client_shows_diffs_and_writes_nothing(
    config: MigrationConfig, read_only: TailscaleClient, seeded: TailnetState, tf_path: Path
) -> None:
    tf_before, head = tf_path.read_text(), commits(tf_path)[0]
    steps = prereq.plan_prereq(config, read_only)

    assert [(s.name, s.action) for s in steps] == [
        ("oauth-scopes", "change"),
        ("tailnet-https", "change"),
        ("acl", "change"),
    ]
    tf_diff = change_of(steps[0], "modify").detail["diff"]
    assert '+  scopes      = ["devices", "auth_keys", "services"]' in tf_diff
    assert "lacks services" in steps[0].reason
    assert config.tailscale.oauth_client is not None
    assert change_of(steps[0], "apply").detail["command"] == config.tailscale.oauth_client.apply
    policy_diff = change_of(steps[2], "set-policy").detail["diff"]
    assert '+\t\t"tag:k8s":          ["tag:k8s-operator"],' in policy_diff
    assert '+\t\t{"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:k8s:5432"]},' in (
        policy_diff
    )
    assert writes(seeded) == []
    assert (tf_path.read_text(), commits(tf_path)[0]) == (tf_before, head)
    assert seeded.policy == POLICY_FIXTURE.read_text()


def test_plan_without_credentials_gives_three_unknown_steps_naming_the_variables(
    config: MigrationConfig, seeded: TailnetState
) -> None:
    assert prereq.make_client(config, {}, read_only=True) is None
    steps = prereq.plan_prereq(config, None)
    assert [(s.name, s.action) for s in steps] == [
        ("oauth-scopes", "unknown"),
        ("tailnet-https", "unknown"),
        ("acl", "unknown"),
    ]
    for step in steps:
        assert "TS_API_KEY" in step.reason
        assert "TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET" in step.reason
    assert seeded.request_log == []


def test_plan_turns_a_missing_scope_into_an_unknown_step(
    config: MigrationConfig, make_client: ClientFactory, seeded: TailnetState
) -> None:
    narrow = make_client(scopes=["policy_file:read"], tailnet=seeded.tailnet, read_only=True)
    steps = prereq.plan_prereq(config, narrow)
    assert (steps[0].action, steps[2].action) == ("unknown", "change")  # no raise for a dry run
    assert "403" in steps[0].reason and "oauth_keys:read" in steps[0].reason
    assert writes(seeded) == []


# --- acl ---------------------------------------------------------------------------------------


def test_a_concurrent_policy_edit_is_kept_next_to_ours(
    config: MigrationConfig, client: TailscaleClient, seeded: TailnetState
) -> None:
    seeded.concurrent_policy_edit(
        lambda text: text.replace('"group:admins": ["tazzo@example.com"]', CONCURRENT_MEMBER)
    )
    outcome = prereq.apply_acl(config, client, RUN_ID, "db")

    assert outcome.step.action == "change"
    assert CONCURRENT_MEMBER in seeded.policy  # theirs
    assert '"tag:k8s":          ["tag:k8s-operator"]' in seeded.policy  # ours
    assert [e.status for e in seeded.requests_to("/acl", "POST")] == [412, 200]
    assert outcome.previous_text is not None and CONCURRENT_MEMBER in outcome.previous_text


def test_failing_policy_tests_stop_the_write(
    tmp_path: Path, tailnet_emulator: TailnetEmulator, seeded: TailnetState, environ: dict[str, str]
) -> None:
    deny = {"src": "tag:tazpod", "deny": ["tag:k8s:5432"]}  # contradicts the configured rule
    tests = [{"src": "tag:tazpod", "accept": ["tag:internal-apps:443"]}, deny]
    config = write_example_config(tmp_path, tailnet_emulator.url, {"policy": {"tests": tests}})
    with prereq.make_client(config, environ, read_only=False) as client:  # type: ignore[union-attr]
        with pytest.raises(TailscaleError, match="fails its tests, so nothing was written") as err:
            prereq.apply_acl(config, client, RUN_ID, "db")
        assert 'tag:tazpod: address "tag:k8s:5432": want: Drop, got: Accept' in str(err.value)
        steps = prereq.plan_prereq(config, client)
    plan = steps[2]
    assert seeded.policy == POLICY_FIXTURE.read_text()
    assert seeded.requests_to("/acl", "POST") == []
    assert plan.action == "change" and "its tests would FAIL" in plan.reason
    whole = plan_slice(config, RepoTree(FIXTURE_REPO), "db", "prereq", prereq=steps).plan
    assert [n.subject for n in whole.notices if n.level == "error"] == ["tailnet policy"]


def test_undo_restores_the_previous_policy(
    config: MigrationConfig, client: TailscaleClient, seeded: TailnetState
) -> None:
    outcome = prereq.apply_acl(config, client, RUN_ID, "db")
    assert seeded.policy != POLICY_FIXTURE.read_text()
    prereq.undo_acl(client, outcome)
    assert seeded.policy == POLICY_FIXTURE.read_text()


def test_undo_does_not_overwrite_a_later_edit(
    config: MigrationConfig, client: TailscaleClient, seeded: TailnetState
) -> None:
    outcome = prereq.apply_acl(config, client, RUN_ID, "db")
    later = seeded.policy.replace('"group:admins": ["tazzo@example.com"]', CONCURRENT_MEMBER)
    seeded.policy = later
    with pytest.raises(PreconditionFailedError, match="changed by someone else"):
        prereq.undo_acl(client, outcome)
    assert seeded.policy == later


def test_a_policy_file_is_edited_committed_and_validated(
    tmp_path: Path, tailnet_emulator: TailnetEmulator, seeded: TailnetState, environ: dict[str, str]
) -> None:
    folder = tmp_path / "tailnet-policy"
    folder.mkdir()
    shutil.copy(POLICY_FIXTURE, folder / "policy.hujson")
    path = init_repo(folder) / "policy.hujson"
    policy = {"source": "file", "path": str(path)}
    config = write_example_config(tmp_path, tailnet_emulator.url, {"policy": policy})
    with prereq.make_client(config, environ, read_only=False) as client:  # type: ignore[union-attr]
        outcome = prereq.apply_acl(config, client, RUN_ID, "db")
        again = prereq.apply_acl(config, client, RUN_ID, "db")

    assert (outcome.step.action, again.step.action) == ("change", "none")
    assert outcome.commit == commits(path)[0] and len(commits(path)) == 2
    assert "Migration-Phase: prereq" in git(folder, "log", "-1", "--format=%B")
    assert '"tag:internal-apps": ["tag:k8s-operator"]' in path.read_text()
    assert seeded.policy == POLICY_FIXTURE.read_text()  # the file is the source, not the API
    assert len(seeded.requests_to("/acl/validate", "POST")) == 1
    unchecked = prereq.plan_prereq(config, None)[2]
    assert unchecked.action == "none"


# --- oauth-scopes ------------------------------------------------------------------------------


def test_a_missing_resource_names_the_file_and_the_line_of_the_others(
    config: MigrationConfig, client: TailscaleClient, tf_path: Path
) -> None:
    tf_path.write_text(tf_path.read_text().replace('"k8s_operator" {', '"operator" {'))
    with pytest.raises(ConfigError) as err:
        prereq.plan_prereq(config, client)
    assert str(tf_path) in str(err.value)
    assert "tailscale_oauth_client.operator at line 38" in str(err.value)
