"""The Prefect flows `migrate` and `rollback`: a slice at a time, every change a commit.

Importing this module imports Prefect; the command line does so only for real runs.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# our own log lines (the apply command's output, policy retries) go to the flow run's log too
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ingress2tailscale")
# lines logged by helper threads (the apply command's output) reach the terminal, not the API
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# a first temporary server creates its database: Prefect's 20 s is too short on a busy machine
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# a Prefect API that went away is said within seconds, not after minutes of retries
os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "2")

import httpx
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.approval import approval
from flows.concurrency import one_run_at_a_time
from flows.interrupts import check_stop
from flows.plan_flow import publish_plans
from flows.progress import RunProgress
from flows.running import (
    cluster_of,
    live_targets,
    progress,
    request_reconcile,
    validation_summary,
)
from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.config import MigrationConfig, load_config
from ingress2tailscale.errors import (
    ApprovalRejectedError,
    CredentialsError,
    OrchestratorError,
    RunInterruptedError,
    SliceFailedError,
    ValidationFailedError,
)
from ingress2tailscale.model import Check, Phase, Step
from ingress2tailscale.plan.planner import check_slice_name
from ingress2tailscale.report import render_markdown
from ingress2tailscale.steps.prereq import make_client
from ingress2tailscale.steps.preview import preflight
from ingress2tailscale.steps.repo import (
    StepResult,
    open_repo,
)
from ingress2tailscale.steps.validate import LiveTargets, blocking
from tasks.acl import acl
from tasks.git import revert_slice, rollback_run
from tasks.links import links
from tasks.oauth_scopes import oauth_scopes
from tasks.phase1 import phase1
from tasks.phase2 import phase2
from tasks.tailnet_https import tailnet_https
from tasks.validate import validate


@flow(name="migrate")
def migrate(
    slice: str,
    phase: Phase = "all",
    dry_run: bool = False,
    require_approval: bool = True,
    config: str = "config/migration.yaml",
    approval_mode: Literal["pause", "prompt"] = "pause",
    push_local_commits: bool = False,
    exclusive: bool = True,
) -> list[dict[str, Any]]:
    """Migrate one slice (or `all`, in config order); a failed slice is rolled back.

    Args:
        slice: a slice of the config, or `all`
        phase: `prereq` (the tailnet steps), `1` (add the tailnet exposure), `2` (retire the
            old one) or `all`
        dry_run: only plan (the plans are the run's artifacts); change nothing anywhere
        require_approval: pause between phase 1 and phase 2 until approved in the Resume form
        config: the migration config, as a path on the machine that runs the flow
        approval_mode: `pause` (the Prefect UI's Resume form) or `prompt` (the terminal)
        push_local_commits: push commits of the branch that are not the tool's along with ours
        exclusive: hold the repo's and the tailnet's global concurrency limits for the run (the
            command line relies on the repo's own lock instead)
    """
    if dry_run:
        return publish_plans(config, slice, phase)
    cfg = load_config(Path(config))
    if slice != "all":
        check_slice_name(cfg, slice)
    names = cfg.slice_names() if slice == "all" else [slice]
    mode = approval_mode if require_approval else "none"
    allowed = None if push_local_commits else names
    with one_run_at_a_time(cfg) if exclusive else nullcontext():
        # before any write, whoever started the run
        preflight(cfg, names, phase, os.environ, push_local_commits)
        tracker = RunProgress.of_run(cfg, names, phase, _artifact_key("progress", slice, phase))
        try:
            done = [_migrate_slice(cfg, name, phase, mode, allowed, tracker) for name in names]
        except BaseException as exc:
            if orchestrator_failure(exc) is None:  # else the API that would record it is gone
                tracker.stopped(f"{type(exc).__name__} (see the run's log)")
            raise
        tracker.finished()
        return done


@flow(name="rollback")
def rollback(
    slice: str,
    config: str = "config/migration.yaml",
    push_local_commits: bool = False,
    exclusive: bool = True,
) -> list[str]:
    """Revert every commit of a slice (or of all slices, last first), newest first; first push
    the reverts an interrupted rollback left unpushed."""
    cfg = load_config(Path(config))
    names = cfg.slice_names() if slice == "all" else [slice]
    repo = open_repo(cfg)
    made: list[str] = []
    with one_run_at_a_time(cfg) if exclusive else nullcontext(), repo.lock():
        repo.ensure_clean()
        if not push_local_commits:
            repo.refuse_foreign_commits(names)
        for name in reversed(names):
            made += revert_slice(repo, name, _run_id())
    get_run_logger().info("rollback made %d revert commit(s)", len(made))
    return made


def _migrate_slice(
    cfg: MigrationConfig,
    name: str,
    phase: str,
    mode: str,
    allowed: list[str] | None,
    tracker: RunProgress,
) -> dict[str, Any]:
    run_id = _run_id()
    outcome: dict[str, Any] = {"slice": name, "phase": phase, "steps": []}
    repo = open_repo(cfg)
    # the tailnet steps too: one run at a time changes this slice
    with repo.lock(), cluster_of(cfg) as kube:
        if phase in ("prereq", "all"):
            check_stop(f"slice {name}: nothing was started")
            outcome["steps"] += _prereq(cfg, name, run_id, kube, tracker)
        if phase == "prereq":
            return outcome
        repo.ensure_clean()
        if allowed is not None:
            repo.refuse_foreign_commits(allowed)
        try:
            with live_targets(cfg, repo, name, kube) as live:
                outcome["steps"] += _repo_steps(cfg, repo, name, phase, mode, run_id, live, tracker)
        except RunInterruptedError:
            raise  # a clean stop between steps: what is done stays, a re-run finishes it
        except Exception as exc:
            if orchestrator_failure(exc) is not None:  # Prefect failed, not the migration
                raise OrchestratorError(api_gone(name, exc)) from exc
            get_run_logger().error("slice %s failed; rolling it back", name)
            started = time.monotonic()
            reverts = rollback_run(repo, name, run_id)
            asked = request_reconcile(cfg, kube) if reverts else ""
            said = f"{len(reverts)} revert commit(s) pushed{asked}"
            progress(name, {"name": "rollback", "action": "change", "reason": said}, started)
            raise SliceFailedError(
                f"slice {name} failed and was rolled back ({len(reverts)} revert commit(s)): {exc}"
            ) from exc
    return outcome


def orchestrator_failure(exc: BaseException) -> BaseException | None:
    """The Prefect API failure behind `exc` (it, its cause or context), or None."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, OrchestratorError | httpx.TransportError):
            return seen
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code >= 500:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def api_gone(name: str, exc: BaseException) -> str:
    found = orchestrator_failure(exc)
    if isinstance(found, OrchestratorError):
        return str(found)
    what = type(found).__name__ if found is not None else type(exc).__name__
    return (
        f"the Prefect API stopped answering ({what}) during slice {name}; the run stopped "
        "there and nothing was rolled back: what was committed and pushed stays"
    )


def _prereq(
    cfg: MigrationConfig, name: str, run_id: str, kube: KubeClient | None, tracker: RunProgress
) -> list[dict[str, Any]]:
    client = make_client(cfg, os.environ, read_only=False)
    if client is None:
        raise CredentialsError(
            "the tailnet steps need credentials: set TS_API_KEY, or TS_OAUTH_CLIENT_ID and "
            "TS_OAUTH_CLIENT_SECRET (or run only --phase 1/2 for repo changes)"
        )
    rows: list[dict[str, Any]] = []
    with client:
        started = time.monotonic()
        rows.append(
            progress(name, _step_row(oauth_scopes(cfg, client, run_id, name, kube)), started)
        )
        tracker.step_done(name, "oauth-scopes")
        if cfg.tailscale.https:
            started = time.monotonic()
            rows.append(progress(name, _step_row(tailnet_https(client)), started))
            tracker.step_done(name, "tailnet-https")
        started = time.monotonic()
        outcome = acl(cfg, client, run_id, name)
        if outcome.previous_text is not None:
            create_markdown_artifact(
                key=_artifact_key("policy-before", name, "acl"),
                markdown="The tailnet policy before this run changed it (to undo: post it back)."
                f"\n\n```\n{outcome.previous_text}\n```\n",
                description=f"{name}: tailnet policy before the acl step",
            )
        rows.append(progress(name, _step_row(outcome.step), started))
        tracker.step_done(name, "acl")
    return rows


def _repo_steps(
    cfg: MigrationConfig,
    repo: GitRepo,
    name: str,
    phase: str,
    mode: str,
    run_id: str,
    live: LiveTargets | None,
    tracker: RunProgress,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    check = partial(_checked, cfg, repo, tracker=tracker)
    if name in cfg.service_slices():
        if phase in ("1", "all"):
            check_stop(f"slice {name}: nothing of phase 1 was started")
            started = time.monotonic()
            rows += check(phase1(cfg, repo, name, run_id), live, started)
        approved, comment = approval(cfg, repo, name, mode) if phase == "all" else (True, "")
        if not approved and mode == "pause":  # rejected in the Resume form: undo the slice
            raise ApprovalRejectedError(
                "phase 2 was not approved" + (f": {comment}" if comment else "")
            )
        if not approved:
            why = f"not approved: {comment}" if comment else "not approved"
            rows.append({"name": "phase-2", "action": "none", "reason": why})
            return rows
        if phase in ("2", "all"):
            check_stop(f"slice {name}: phase 1 is in place; phase 2 was not started")
            started = time.monotonic()
            result = phase2(cfg, repo, name, run_id, comment)
            rows += check(result, live, started)
    elif phase in ("1", "all"):
        check_stop(f"slice {name}: the links were not started")
        started = time.monotonic()
        rows += check(links(cfg, repo, name, run_id), None, started)
    check_stop(f"slice {name}: its steps finished before the stop")
    return rows


def _checked(
    cfg: MigrationConfig,
    repo: GitRepo,
    result: StepResult,
    live: LiveTargets | None,
    started: float,
    tracker: RunProgress,
) -> list[dict[str, Any]]:
    """Publish the step's plan, validate what it committed (live too, after a phase), fail the
    slice on a blocking check; the step's row and the validation's."""
    if result.commit is not None:
        create_markdown_artifact(
            key=_artifact_key("plan", result.plan.slice, result.step.name),
            markdown=render_markdown(result.plan),
            description=f"{result.plan.slice}: {result.step.name}",
        )
    row = progress(result.plan.slice, {**_step_row(result.step), "commit": result.commit}, started)
    tracker.step_done(result.plan.slice, result.step.name)
    started = time.monotonic()
    checks: list[Check] = validate(cfg, repo, result, live)
    create_table_artifact(
        key=_artifact_key("validation", result.plan.slice, result.step.name),
        table=[c.to_json() for c in checks],
        description=f"{result.plan.slice}: the checks after {result.step.name}",
    )
    failed = blocking(checks, cfg)
    summary = validation_summary(checks, failed)
    check_row = {"name": "validate", "action": "none", "reason": summary}
    progress(result.plan.slice, {**check_row, "checks": checks}, started)
    tracker.step_done(result.plan.slice, "validate")
    if failed:
        raise ValidationFailedError(
            "validation failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )
    return [row, {**check_row, "checks": [c.to_json() for c in checks]}]


def _step_row(step: Step) -> dict[str, Any]:
    return {"name": step.name, "action": step.action, "reason": step.reason}


def _artifact_key(kind: str, slice_name: str, step: str) -> str:
    return "-".join(part.lower().replace("_", "-") for part in (kind, slice_name, step))


def _run_id() -> str:
    return str(flow_run.get_id() or "local")
