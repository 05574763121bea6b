"""Typed values of the Tailscale API v2 (settings, keys, devices, services, policy) and the
credentials used to call it; `tailscale_api` does the HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.alias_generators import to_camel

from ingress2tailscale.errors import CredentialsError


@dataclass(frozen=True)
class ApiKey:
    """An API access token (`tskey-api-…`); its repr never shows the value."""

    key: SecretStr


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client: the id is an identifier, the secret (`tskey-client-…`) is secret."""

    client_id: str
    client_secret: SecretStr


Credentials = ApiKey | OAuthClient


def credentials_from_env(environ: Mapping[str, str]) -> Credentials | None:
    """OAuth client from TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET, else TS_API_KEY, else None."""
    client_id = environ.get("TS_OAUTH_CLIENT_ID", "").strip()
    secret = environ.get("TS_OAUTH_CLIENT_SECRET", "").strip()
    if client_id and secret:
        return OAuthClient(client_id, SecretStr(secret))
    if client_id or secret:
        missing = "TS_OAUTH_CLIENT_SECRET" if client_id else "TS_OAUTH_CLIENT_ID"
        raise CredentialsError(f"{missing} is not set; an OAuth client needs both id and secret")
    api_key = environ.get("TS_API_KEY", "").strip()
    return ApiKey(SecretStr(api_key)) if api_key else None


class ApiModel(BaseModel):
    """Base of the API's JSON objects: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, frozen=True
    )


class TailnetSettings(ApiModel):
    acls_externally_managed_on: bool | None = None
    acls_external_link: str | None = None
    devices_approval_on: bool | None = None
    devices_auto_updates_on: bool | None = None
    devices_key_duration_days: int | None = None
    users_approval_on: bool | None = None
    users_role_allowed_to_join_external_tailnets: str | None = None
    network_flow_logging_on: bool | None = None
    regional_routing_on: bool | None = None
    posture_identity_collection_on: bool | None = None
    https_enabled: bool | None = None


class Key(ApiModel):
    id: str
    key_type: str = ""
    description: str = ""
    scopes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    created: str | None = None
    updated: str | None = None
    expires: str | None = None
    invalid: bool = False


class Device(ApiModel):
    id: str = ""
    node_id: str = ""
    name: str = ""
    hostname: str = ""
    addresses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authorized: bool | None = None
    connected_to_control: bool | None = None
    last_seen: str | None = None
    os: str = ""


class VipService(ApiModel):
    name: str
    addrs: tuple[str, ...] = ()
    comment: str = ""
    ports: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class TestFailure(ApiModel):
    """One policy-test summary: the test's `src` and its errors (or only warnings)."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    user: str = ""
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class PreviewMatch(ApiModel):
    users: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    line_number: int = 0


class PolicyPreview(ApiModel):
    matches: tuple[PreviewMatch, ...] = ()
    type: str = ""
    preview_for: str = ""


@dataclass(frozen=True)
class PolicyDocument:
    """The policy file as HuJSON text, and its ETag (without quotes)."""

    text: str
    etag: str
