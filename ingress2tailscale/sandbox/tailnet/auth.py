"""Credentials and OAuth scopes for the emulated tailnet: who is calling, and what they may do."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from ingress2tailscale.sandbox.tailnet.state import ALL_SCOPES, TailnetState

FORBIDDEN_MESSAGE = "calling actor does not have enough permissions to perform this function"
INVALID_TOKEN_MESSAGE = "API token invalid"
# The legacy scope `devices` predates the `devices:core` family and still covers it.
LEGACY_SCOPES = {"devices:core": "devices"}


class EmulatorHTTPError(Exception):
    """An API error answer: status code and the `{"message": …}` body (plus optional `data`)."""

    def __init__(self, status: int, message: str, data: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if data is not None:
            self.body["data"] = data


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its scopes and, for OAuth tokens, the client that minted it."""

    scopes: frozenset[str]
    client_id: str | None


def has_scope(granted: frozenset[str], needed: str) -> bool:
    """A write scope implies its `:read`; an API key (`all`) has every scope."""
    base = needed.removesuffix(":read")
    accepted = {needed, base, ALL_SCOPES}
    if base in LEGACY_SCOPES:
        accepted.add(LEGACY_SCOPES[base])
    return bool(accepted & granted)


def presented_credential(request: Request) -> str | None:
    """The API key or token from `Authorization: Bearer X` or Basic `X:` (empty password)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def authenticate(state: TailnetState, request: Request) -> Caller:
    credential = presented_credential(request)
    if credential is None:
        raise EmulatorHTTPError(401, INVALID_TOKEN_MESSAGE)
    scopes = state.scopes_for(credential)
    if scopes is not None:
        return Caller(scopes, state.client_of_token(credential))
    if state.find_client_by_secret(credential) is not None:
        # A client secret sent as a bearer token is refused this way (tailscale/tailscale#15969).
        raise EmulatorHTTPError(403, FORBIDDEN_MESSAGE)
    raise EmulatorHTTPError(401, INVALID_TOKEN_MESSAGE)


def require_any(caller: Caller, *scopes: str) -> None:
    if not any(has_scope(caller.scopes, s) for s in scopes):
        raise EmulatorHTTPError(403, FORBIDDEN_MESSAGE)


def client_credentials(request: Request, body: bytes) -> tuple[str, str]:
    """The OAuth client id and secret, from the form or from HTTP Basic client authentication."""
    form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    if form.get("grant_type") != "client_credentials":
        raise EmulatorHTTPError(400, "unsupported grant_type")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise EmulatorHTTPError(401, INVALID_TOKEN_MESSAGE) from None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def mint_token(state: TailnetState, request: Request, body: bytes) -> dict[str, Any]:
    """The client-credentials grant; the secret identifies the client, a given id must match it."""
    client_id, secret = client_credentials(request, body)
    client = state.find_client_by_secret(secret) if secret else None
    if client is None or (client_id and client_id != client.id):
        raise EmulatorHTTPError(401, INVALID_TOKEN_MESSAGE)
    token, lifetime = state.issue_token(client)
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
