"""The tailnet prerequisites (`--phase prereq`): the API client they use, the plan of the
`oauth-scopes`, `tailnet-https` and `acl` steps, and the functions that apply and undo them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from ingress2tailscale.adapters.tailscale_api import TailscaleClient, credentials_from_env
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import TailscaleError
from ingress2tailscale.model import Step
from ingress2tailscale.steps.acl import AclOutcome, apply_acl, plan_acl, undo_acl
from ingress2tailscale.steps.oauth_scopes import apply_oauth_scopes, plan_oauth_scopes
from ingress2tailscale.steps.tailnet_https import apply_tailnet_https, plan_tailnet_https

__all__ = [
    "NO_CREDENTIALS",
    "AclOutcome",
    "apply_acl",
    "apply_oauth_scopes",
    "apply_tailnet_https",
    "make_client",
    "plan_prereq",
    "undo_acl",
]

NO_CREDENTIALS = (
    "no Tailscale API credentials: set TS_API_KEY, or TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET"
)
HTTPS_STEP = "tailnet-https"


def make_client(
    config: MigrationConfig, environ: Mapping[str, str], read_only: bool
) -> TailscaleClient | None:
    """A client for the config's tailnet from the environment's credentials; None without any.

    A half-set OAuth pair raises CredentialsError (exit 2)."""
    credentials = credentials_from_env(environ)
    if credentials is None:
        return None
    return TailscaleClient(
        credentials,
        api_url=config.tailscale.api_url,
        tailnet=config.tailnet,
        read_only=read_only,
    )


def plan_prereq(config: MigrationConfig, client: TailscaleClient | None) -> list[Step]:
    """The three prerequisite steps, in order. Only read calls are made; a Tailscale error makes
    its step "unknown" (with the error as the reason) instead of failing the dry run."""
    steps = [
        _checked(
            "oauth-scopes",
            lambda: plan_oauth_scopes(config, client, cluster=config.kubernetes.enabled),
        ),
        _checked(HTTPS_STEP, lambda: _plan_https(config, client)),
        _checked("acl", lambda: plan_acl(config, client)),
    ]
    if client is None:
        return [s if s.action == "none" else replace(s, reason=_join(s)) for s in steps]
    return steps


def _plan_https(config: MigrationConfig, client: TailscaleClient | None) -> Step:
    if not config.tailscale.https:
        return Step(HTTPS_STEP, "none", "tailscale.https is false: the setting is left as it is")
    if client is None:
        return Step(HTTPS_STEP, "unknown", "could not read the tailnet's HTTPS setting")
    return plan_tailnet_https(client)


def _checked(name: str, plan: Callable[[], Step]) -> Step:
    try:
        return plan()
    except TailscaleError as exc:
        return Step(name, "unknown", f"could not check: {exc}")


def _join(step: Step) -> str:
    return f"{step.reason} ({NO_CREDENTIALS})"
