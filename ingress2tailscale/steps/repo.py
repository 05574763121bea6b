"""Apply the repo steps of a slice (phase 1, phase 2, links) and check what they committed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ingress2tailscale.adapters.git_repo import GitRepo, MigrationCommit
from ingress2tailscale.checks.manifests import check_files
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ConfigError, PlanError, ValidationFailedError
from ingress2tailscale.model import (
    Check,
    FileChange,
    Plan,
    Step,
    phase_of_step,
    trailer_phase,
)
from ingress2tailscale.plan.exposure import derive_exposure
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree, build_inventory
from ingress2tailscale.steps.commit import commit_step

__all__ = [  # Check lives in model.py; the tasks and flows take it from here too
    "Check",
    "StepResult",
    "apply_repo_step",
    "open_repo",
    "plan_drift",
    "plan_fingerprint",
    "plan_step",
    "preview_phase2",
    "recorded_old_hosts",
    "resume_step",
    "validate_static",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    plan: Plan
    step: Step
    commit: str | None
    resumed: Mapping[str, str | None] = field(default_factory=dict)  # files of resumed pushes


def open_repo(config: MigrationConfig) -> GitRepo:
    """The GitOps repo on the configured branch; a branch it does not have is a config error."""
    g = config.gitops
    repo = GitRepo(g.path, branch=g.branch, remote=g.remote, push=g.push)
    branches = repo.branches()
    if branches and g.branch not in branches:
        raise ConfigError(
            f"{config.source_path}: gitops.branch: the repo {g.path} has no branch "
            f"{g.branch!r} (it has {', '.join(branches)}); set gitops.branch to the branch Flux "
            "follows (the GitRepository's spec.ref.branch)"
        )
    return repo


def apply_repo_step(
    config: MigrationConfig,
    repo: GitRepo,
    slice_name: str,
    step_name: str,
    run_id: str,
    note: str = "",
) -> StepResult:
    """Push what an interrupted run left unpushed; else plan the step on the repo as it is now,
    then commit and push it (idempotent); `note` (the approver's comment) goes into the
    commit message."""
    resumed = resume_step(config, repo, slice_name, step_name)
    if resumed is not None:
        return resumed
    plan = plan_step(config, repo, slice_name, step_name)
    step = next((s for s in plan.steps if s.name == step_name), None)
    if step is None:
        return StepResult(plan, Step(step_name, "none", "nothing to do for this slice"), None)
    recheck = _recheck_after_rebase(config, repo, slice_name, step_name)
    return StepResult(plan, step, commit_step(repo, plan, step, run_id, recheck, note))


def plan_step(
    config: MigrationConfig,
    repo: GitRepo,
    slice_name: str,
    step_name: str,
    overrides: Mapping[str, str | None] | None = None,
) -> Plan:
    phase = phase_of_step(step_name)
    hosts = recorded_old_hosts(config, repo)
    tree = RepoTree(repo.path, overrides)
    return plan_slice(config, tree, slice_name, phase, dry_run=False, old_hosts=hosts).plan


def resume_step(
    config: MigrationConfig, repo: GitRepo, slice_name: str, step_name: str
) -> StepResult | None:
    """The remote's point of view: the slice's commits up to this step that an interrupted run
    made but never pushed are pushed now, one push per phase, each earlier phase checked before
    the next leaves. The step's result when its own commit was among them, else None."""
    own_phase = trailer_phase(step_name)
    for earlier in _steps_up_to(step_name)[:-1]:
        pushed = repo.push_pending(slice_name, [trailer_phase(earlier)])
        if pushed:
            log.info("%s: %s", earlier, _resumed_reason(pushed))
            result = _resumed(config, repo, slice_name, earlier, pushed)
            failed = [c for c in validate_static(repo, result) if c.status == "fail"]
            if failed:
                raise ValidationFailedError("; ".join(f"{c.name}: {c.detail}" for c in failed))
    pushed = repo.push_pending(slice_name, [own_phase])
    return _resumed(config, repo, slice_name, step_name, pushed) if pushed else None


def _resumed(
    config: MigrationConfig,
    repo: GitRepo,
    slice_name: str,
    step_name: str,
    pushed: list[MigrationCommit],
) -> StepResult:
    files: dict[str, str | None] = {}
    for commit in pushed:
        files.update(repo.files_of(commit.sha))
    plan = plan_step(config, repo, slice_name, step_name)
    step = Step(step_name, "change", _resumed_reason(pushed))
    return StepResult(plan, step, pushed[-1].sha, files)


def _steps_up_to(step_name: str) -> list[str]:
    return {"phase-1": ["phase-1"], "phase-2": ["phase-1", "phase-2"]}.get(step_name, [step_name])


def _resumed_reason(pushed: list[MigrationCommit]) -> str:
    shas = ", ".join(c.sha[:12] for c in pushed)
    return f"pushed {len(pushed)} commit(s) an interrupted run left unpushed ({shas})"


def _recheck_after_rebase(
    config: MigrationConfig, repo: GitRepo, slice_name: str, step_name: str
) -> Callable[[], None]:
    """After a rebase onto a remote that moved, plan the step again on the remote's tree: the
    commit must be what the step would write there, and the plan must have no problems."""

    def recheck() -> None:
        head = repo.head()
        ours = repo.files_of(head)
        upstream = f"{repo.remote}/{repo.branch}"
        base = {path: repo.text_at(upstream, path) for path in ours}
        plan = plan_step(config, repo, slice_name, step_name, base)
        where = f"after rebasing on {upstream} (it changed since the plan was made)"
        errors = [f"{n.subject}: {n.message}" for n in plan.notices if n.level == "error"]
        if errors:
            raise ValidationFailedError(f"{where}, the plan has problems: {'; '.join(errors)}")
        step = next((s for s in plan.steps if s.name == step_name), None)
        planned = (
            {c.path: c.after for c in step.changes if isinstance(c, FileChange)} if step else {}
        )
        differ = sorted(p for p in set(planned) | set(ours) if planned.get(p) != ours.get(p))
        if differ:
            raise ValidationFailedError(
                f"{where}, {step_name} would now write {', '.join(differ)} differently than "
                "the commit being pushed; plan again"
            )

    return recheck


def recorded_old_hosts(config: MigrationConfig, repo: GitRepo) -> dict[str, str]:
    """Slice -> the host its phase-2 commit retired, as recorded in the commit's trailers."""
    https = [name for name, spec in config.service_slices().items() if spec.expose == "https"]
    found = repo.recorded_old_hosts(https)
    return {name: found[name] for name in https if found.get(name)}


def validate_static(repo: GitRepo, result: StepResult) -> list[Check]:
    """Re-check, on the committed tree, every file the step wrote (or the resumed push took)."""
    changed = {c.path: c.after for c in result.plan.file_changes if c in result.step.changes}
    changed = {**changed, **result.resumed}
    if not changed:
        return [Check("static", "pass", "no file changed")]
    problems = [n for n in check_files(repo.path, changed) if n.level == "error"]
    if problems:
        detail = "; ".join(f"{n.subject}: {n.message}" for n in problems)
        return [Check("static", "fail", detail)]
    return [Check("static", "pass", f"{len(changed)} file(s) parse and pass the schema checks")]


def preview_phase2(config: MigrationConfig, repo: GitRepo, slice_name: str) -> tuple[Plan, str]:
    """What phase 2 would do on the repo as it is now, and the access control it drops
    (the forward-auth middlewares, '' when none): what an approver is shown."""
    hosts = recorded_old_hosts(config, repo)
    tree = RepoTree(repo.path)
    now = build_inventory(tree)
    planned = plan_slice(config, tree, slice_name, "2", inventory=now, old_hosts=hosts)
    try:
        exposure = derive_exposure(config, now, slice_name)
    except PlanError:
        return planned.plan, ""
    return planned.plan, ", ".join(exposure.gates) or ", ".join(exposure.middlewares)


def plan_fingerprint(plan: Plan) -> str:
    """A digest of everything a plan would do (steps, file texts, notices)."""
    text = json.dumps(plan.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def plan_drift(approved: Plan, now: Plan) -> str | None:
    """Why the plan made now differs from the approved one (None when it does not)."""
    if plan_fingerprint(approved) == plan_fingerprint(now):
        return None
    before = {c.path: (c.op, c.before, c.after) for c in approved.file_changes}
    after = {c.path: (c.op, c.before, c.after) for c in now.file_changes}
    paths = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    what = ", ".join(paths) if paths else "its steps or notices"
    return (
        f"the repo changed since the plan you approved ({what} would now change "
        "differently); plan again"
    )
