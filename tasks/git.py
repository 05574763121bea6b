"""Tasks on the GitOps repo's history: undo a failed run, roll a slice back."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.git_repo import GitRepo


@task(name="rollback-run", cache_policy=NO_CACHE, persist_result=False)
def rollback_run(repo: GitRepo, slice_name: str, run_id: str) -> list[str]:
    return repo.rollback_run(slice_name, run_id)


@task(name="revert-slice", cache_policy=NO_CACHE, persist_result=False)
def revert_slice(repo: GitRepo, slice_name: str, run_id: str) -> list[str]:
    """The reverts this rollback pushed: first those an interrupted rollback left unpushed."""
    resumed = [c.sha for c in repo.push_pending(slice_name, ["rollback"])]
    made = repo.revert_slice(slice_name, run_id)
    if made:
        repo.push()
    return resumed + made
