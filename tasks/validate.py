"""Task `validate`: check what a step committed (static checks on the committed files)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.git_repo import GitRepo
from ingress2tailscale.repo_steps import Check, StepResult, validate_static


@task(name="validate", cache_policy=NO_CACHE, persist_result=False)
def validate(repo: GitRepo, result: StepResult) -> list[Check]:
    return validate_static(repo, result)
