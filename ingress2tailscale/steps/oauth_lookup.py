"""The operator's live OAuth client in the tailnet: found by its configured id, or by the
description and tags of its Terraform resource."""

from __future__ import annotations

from dataclasses import dataclass

from ingress2tailscale.adapters.tailscale_api import Key, TailscaleClient
from ingress2tailscale.config import OAuthClientConfig
from ingress2tailscale.edit.terraform import OAuthClientResource
from ingress2tailscale.errors import ConfigError, TailscaleNotFoundError


@dataclass(frozen=True)
class LiveClient:
    """The live OAuth client (as the keys API shows it) and how it was found."""

    key: Key
    how: str


def find_live_client(
    client: TailscaleClient, oauth: OAuthClientConfig, resource: OAuthClientResource | None
) -> LiveClient | None:
    """The live client: by `client_id`, else the one OAuth client with the resource's
    description and tags; None when none matches (not created yet)."""
    if oauth.client_id:
        try:
            key = client.get_key(oauth.client_id)
        except TailscaleNotFoundError as exc:
            raise TailscaleNotFoundError(
                f"OAuth client {oauth.client_id} (tailscale.oauth_client.client_id) is not in the "
                f"tailnet: {exc}",
                exc.status_code,
            ) from exc
        return LiveClient(key, "by tailscale.oauth_client.client_id")
    if resource is None or resource.description is None:
        raise ConfigError(
            f"tailscale.oauth_client: set client_id, or give {oauth.resource} a plain "
            "`description` in its Terraform file, so the live OAuth client can be found"
        )
    found = [k for k in _oauth_clients(client) if _same_client(k, resource)]
    if len(found) > 1:
        ids = ", ".join(k.id for k in found)
        raise ConfigError(
            f"several OAuth clients ({ids}) have the description and tags of {oauth.resource}; "
            "set tailscale.oauth_client.client_id to the operator's one"
        )
    if not found:
        return None
    how = f"by description {resource.description!r} and tags {', '.join(resource.tags)}"
    return LiveClient(client.get_key(found[0].id), how)  # the single-key read has the scopes


def _oauth_clients(client: TailscaleClient) -> list[Key]:
    """The tailnet's OAuth clients; list items may carry only an id: those are read one by one."""
    keys = [k if k.key_type else client.get_key(k.id) for k in client.list_keys()]
    return [k for k in keys if k.key_type == "client" and not k.invalid]


def _same_client(key: Key, resource: OAuthClientResource) -> bool:
    return key.description == resource.description and set(key.tags) == set(resource.tags)
