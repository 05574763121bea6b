"""Task `phase-2`: plan the step on the repo as it is, commit it with trailers, push."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.steps.repo import StepResult, apply_repo_step


@task(name="phase-2", cache_policy=NO_CACHE, persist_result=False)
def phase2(
    config: MigrationConfig, repo: GitRepo, slice_name: str, run_id: str, note: str = ""
) -> StepResult:
    return apply_repo_step(config, repo, slice_name, "phase-2", run_id, note)
