"""Task `validate`: check what a step committed — the static checks of its files and, after
phase 1 and phase 2, the live checks (Flux, the operator's objects, the tailnet, reachability)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.model import Check
from ingress2tailscale.steps.repo import StepResult
from ingress2tailscale.steps.validate import LiveTargets, validate_step


@task(name="validate", cache_policy=NO_CACHE, persist_result=False)
def validate(
    config: MigrationConfig, repo: GitRepo, result: StepResult, live: LiveTargets | None
) -> list[Check]:
    return validate_step(config, repo, result, live)
