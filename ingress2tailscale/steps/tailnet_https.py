"""The `tailnet-https` step: tailnet HTTPS certificates must be on, or Tailscale Ingresses never
get a certificate (tailscale/tailscale#12079)."""

from __future__ import annotations

from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.errors import TailscaleError
from ingress2tailscale.model import RemoteChange, Step

STEP_NAME = "tailnet-https"
ENABLE_HTTPS = RemoteChange("tailscale", "patch-settings", {"httpsEnabled": True})


def plan_tailnet_https(client: TailscaleClient, want: bool = True) -> Step:
    """Read the tailnet setting and say whether it must change (it is never turned off)."""
    enabled = bool(client.get_settings().https_enabled)
    if not want:
        return Step(STEP_NAME, "none", "HTTPS certificates are not needed by this slice")
    if enabled:
        return Step(STEP_NAME, "none", "HTTPS certificates are already enabled on the tailnet")
    return Step(
        STEP_NAME,
        "change",
        "HTTPS certificates read as off (a credential without networking_settings:read sees "
        "them off too); Tailscale Ingresses need them to serve HTTPS",
        (ENABLE_HTTPS,),
    )


def apply_tailnet_https(client: TailscaleClient) -> Step:
    """Enable HTTPS certificates if they are off, then read the setting back to confirm."""
    if client.get_settings().https_enabled:
        return Step(STEP_NAME, "none", "HTTPS certificates are already enabled on the tailnet")
    client.update_settings(https_enabled=True)
    if not client.get_settings().https_enabled:
        raise TailscaleError(
            "enabled HTTPS certificates on the tailnet, but reading the setting back still shows "
            "them off: the credential needs the `networking_settings` scope (and "
            "`networking_settings:read` to see it), and MagicDNS must be on for the tailnet"
        )
    return Step(STEP_NAME, "change", "enabled HTTPS certificates on the tailnet", (ENABLE_HTTPS,))
