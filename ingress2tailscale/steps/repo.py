"""Apply the repo steps of a slice (phase 1, phase 2, links) and check what they committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.checks.manifests import check_files
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.model import Plan, Step, phase_of_step
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.steps.commit import commit_step

Status = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class StepResult:
    plan: Plan
    step: Step
    commit: str | None


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def open_repo(config: MigrationConfig) -> GitRepo:
    g = config.gitops
    return GitRepo(g.path, branch=g.branch, remote=g.remote, push=g.push)


def apply_repo_step(
    config: MigrationConfig, repo: GitRepo, slice_name: str, step_name: str, run_id: str
) -> StepResult:
    """Plan one step on the repo as it is now, then commit and push it (idempotent)."""
    phase = phase_of_step(step_name)
    hosts = recorded_old_hosts(config, repo)
    plan = plan_slice(
        config, RepoTree(repo.path), slice_name, phase, dry_run=False, old_hosts=hosts
    ).plan
    step = next((s for s in plan.steps if s.name == step_name), None)
    if step is None:
        return StepResult(plan, Step(step_name, "none", "nothing to do for this slice"), None)
    return StepResult(plan, step, commit_step(repo, plan, step, run_id))


def recorded_old_hosts(config: MigrationConfig, repo: GitRepo) -> dict[str, str]:
    """Slice -> the host its phase-2 commit retired, as recorded in the commit's trailers."""
    https = [name for name, spec in config.service_slices().items() if spec.expose == "https"]
    found = repo.recorded_old_hosts(https)
    return {name: found[name] for name in https if found.get(name)}


def validate_static(repo: GitRepo, result: StepResult) -> list[Check]:
    """Re-check, on the committed tree, every file the step wrote."""
    changed = {c.path: c.after for c in result.plan.file_changes if c in result.step.changes}
    if not changed:
        return [Check("static", "pass", "no file changed")]
    problems = [n for n in check_files(repo.path, changed) if n.level == "error"]
    if problems:
        detail = "; ".join(f"{n.subject}: {n.message}" for n in problems)
        return [Check("static", "fail", detail)]
    return [Check("static", "pass", f"{len(changed)} file(s) parse and pass the schema checks")]
