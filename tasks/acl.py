"""Task `acl`: the tailnet policy holds the slice's tags, rules and tests."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.steps.prereq import AclOutcome, apply_acl


@task(name="acl", cache_policy=NO_CACHE, persist_result=False)
def acl(
    config: MigrationConfig, client: TailscaleClient, run_id: str, slice_name: str
) -> AclOutcome:
    return apply_acl(config, client, run_id, slice_name)
