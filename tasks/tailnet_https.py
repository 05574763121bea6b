"""Task `tailnet-https`: HTTPS certificates are on for the tailnet."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.model import Step
from ingress2tailscale.steps.tailnet_https import apply_tailnet_https


@task(name="tailnet-https", cache_policy=NO_CACHE, persist_result=False)
def tailnet_https(client: TailscaleClient) -> Step:
    return apply_tailnet_https(client)
