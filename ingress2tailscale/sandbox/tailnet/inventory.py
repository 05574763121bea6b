"""Route handlers of the emulated Tailscale API v2 for the OAuth token, keys, devices, services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from ingress2tailscale.sandbox.tailnet.auth import (
    EmulatorHTTPError,
    authenticate,
    has_scope,
    mint_token,
)
from ingress2tailscale.sandbox.tailnet.routes import enter, json_body, state_of
from ingress2tailscale.sandbox.tailnet.state import TailnetState

SCOPES_NEEDING_TAGS = ("devices:core", "auth_keys")
MAX_DESCRIPTION = 50
NOT_FOUND = "not found"

router = APIRouter(prefix="/api/v2")


@router.post("/oauth/token")
async def post_token(request: Request) -> dict[str, Any]:
    return mint_token(state_of(request), request, await request.body())


@router.get("/tailnet/{tailnet}/keys")
async def list_keys(request: Request, tailnet: str) -> dict[str, Any]:
    enter(request, tailnet, "oauth_keys:read")
    state = state_of(request)
    with state.lock:
        return {"keys": [c.to_key() for c in state.oauth_clients.values()]}


@router.get("/tailnet/{tailnet}/keys/{key_id}")
async def get_key(request: Request, tailnet: str, key_id: str) -> dict[str, Any]:
    state = state_of(request)
    caller = authenticate(state, request)
    # Any token may read the OAuth client that minted it (kb/1623); others need oauth_keys:read.
    if caller.client_id != key_id:
        enter(request, tailnet, "oauth_keys:read")
    client = state.oauth_clients.get(key_id)
    if client is None:
        raise EmulatorHTTPError(404, NOT_FOUND)
    return client.to_key()


@router.put("/tailnet/{tailnet}/keys/{key_id}")
async def put_key(request: Request, tailnet: str, key_id: str) -> dict[str, Any]:
    enter(request, tailnet, "oauth_keys")
    state = state_of(request)
    body = await json_body(request)
    client = state.oauth_clients.get(key_id)
    if client is None:
        raise EmulatorHTTPError(404, NOT_FOUND)
    scopes, tags, description = check_key_update(body)
    with state.lock:
        client.scopes, client.tags, client.description = scopes, tags, description
        client.updated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return client.to_key()


def check_key_update(body: dict[str, Any]) -> tuple[list[str], list[str], str]:
    """The rules of the wholesale update (OpenAPI setKey): scopes, tags if needed, description."""
    scopes = [str(s) for s in body.get("scopes") or []]
    tags = [str(t) for t in body.get("tags") or []]
    description = str(body.get("description") or "")
    if body.get("keyType", "client") != "client":
        raise EmulatorHTTPError(400, "only OAuth clients (keyType client) can be updated here")
    if not scopes:
        raise EmulatorHTTPError(400, "at least one scope is required")
    if not tags and any(has_scope(frozenset(scopes), s) for s in SCOPES_NEEDING_TAGS):
        raise EmulatorHTTPError(400, "tags are required for the devices:core and auth_keys scopes")
    if len(description) > MAX_DESCRIPTION:
        raise EmulatorHTTPError(400, f"description is longer than {MAX_DESCRIPTION} characters")
    return scopes, tags, description


@router.get("/tailnet/{tailnet}/devices")
async def list_devices(request: Request, tailnet: str) -> dict[str, Any]:
    enter(request, tailnet, "devices:core:read")
    state = state_of(request)
    filters = [(k, v) for k, v in request.query_params.multi_items() if k != "fields"]
    with state.lock:
        return {"devices": [d for d in state.devices if device_matches(d, filters)]}


def device_matches(device: dict[str, Any], filters: list[tuple[str, str]]) -> bool:
    """Exact-match filters on top-level fields; list fields match by containment."""
    for name, wanted in filters:
        value = device.get(name)
        if isinstance(value, list) and wanted not in value:
            return False
        if not isinstance(value, list) and str(value).lower() != wanted.lower():
            return False
    return True


def services_of(request: Request, tailnet: str, *, missing_scope_status: int) -> TailnetState:
    """Scope check for VIP services: `/vip-services` answers 404 without it (#19471)."""
    state = state_of(request)
    caller = authenticate(state, request)
    if not has_scope(caller.scopes, "services:read") and missing_scope_status == 404:
        raise EmulatorHTTPError(404, NOT_FOUND)
    enter(request, tailnet, "services:read")
    if not state.services_enabled:
        raise EmulatorHTTPError(404, NOT_FOUND)
    return state


@router.get("/tailnet/{tailnet}/vip-services")
async def list_vip_services(request: Request, tailnet: str) -> dict[str, Any]:
    state = services_of(request, tailnet, missing_scope_status=404)
    return {"vipServices": list(state.vip_services)}


@router.get("/tailnet/{tailnet}/services")
async def list_services(request: Request, tailnet: str) -> dict[str, Any]:
    state = services_of(request, tailnet, missing_scope_status=403)
    return {"vipServices": list(state.vip_services)}


@router.get("/tailnet/{tailnet}/services/{name}")
@router.get("/tailnet/{tailnet}/vip-services/{name}")
async def get_service(request: Request, tailnet: str, name: str) -> dict[str, Any]:
    status = 404 if "/vip-services/" in request.url.path else 403
    state = services_of(request, tailnet, missing_scope_status=status)
    found = next((s for s in state.vip_services if s.get("name") == name), None)
    if found is None:
        raise EmulatorHTTPError(404, NOT_FOUND)
    return found
