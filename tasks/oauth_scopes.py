"""Task `oauth-scopes`: the operator's OAuth client has the scopes it needs."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.model import Step
from ingress2tailscale.steps.prereq import apply_oauth_scopes


@task(name="oauth-scopes", cache_policy=NO_CACHE, persist_result=False)
def oauth_scopes(
    config: MigrationConfig,
    client: TailscaleClient,
    run_id: str,
    slice_name: str,
    kube: KubeClient | None = None,
) -> Step:
    return apply_oauth_scopes(config, client, run_id, slice_name, kube=kube)
