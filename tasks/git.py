"""Tasks on the GitOps repo's history: undo a failed run, roll a slice back."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.git_repo import GitRepo


@task(name="rollback-run", cache_policy=NO_CACHE, persist_result=False)
def rollback_run(repo: GitRepo, slice_name: str, run_id: str) -> list[str]:
    return repo.rollback_run(slice_name, run_id)


@task(name="revert-slice", cache_policy=NO_CACHE, persist_result=False)
def revert_slice(repo: GitRepo, slice_name: str, run_id: str) -> list[str]:
    made = repo.revert_slice(slice_name, run_id)
    if made:
        repo.push()
    return made
