"""Task `validate`: check what a step committed (static checks on the committed files)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.steps.repo import Check, StepResult, validate_static


@task(name="validate", cache_policy=NO_CACHE, persist_result=False)
def validate(repo: GitRepo, result: StepResult) -> list[Check]:
    return validate_static(repo, result)
