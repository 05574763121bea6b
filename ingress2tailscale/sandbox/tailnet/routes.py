"""Route handlers of the emulated Tailscale API v2 (settings, policy, keys, devices, services)."""

from __future__ import annotations

import json
from typing import Any

import json5
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingress2tailscale.sandbox.tailnet import policy_eval
from ingress2tailscale.sandbox.tailnet.auth import (
    Caller,
    EmulatorHTTPError,
    authenticate,
    has_scope,
    require_any,
)
from ingress2tailscale.sandbox.tailnet.state import TailnetState, etag_of

# The scope guarding each settings field (OpenAPI updateTailnetSettings); others: feature_settings.
SETTING_SCOPES = {
    "httpsEnabled": "networking_settings",
    "networkFlowLoggingOn": "logs:network",
    "aclsExternallyManagedOn": "policy_file",
    "aclsExternalLink": "policy_file",
}
SETTINGS_READ_SCOPES = ("feature_settings:read", "networking_settings:read", "policy_file:read")
HUJSON = "application/hujson"

router = APIRouter(prefix="/api/v2")


def state_of(request: Request) -> TailnetState:
    state: TailnetState = request.app.state.tailnet
    return state


def enter(request: Request, tailnet: str, *scopes: str) -> Caller:
    """Authenticate, check the tailnet path segment, and require one of `scopes`."""
    state = state_of(request)
    caller = authenticate(state, request)
    if tailnet not in ("-", state.tailnet):
        raise EmulatorHTTPError(404, "tailnet not found")
    require_any(caller, *scopes)
    return caller


def visible_settings(state: TailnetState, caller: Caller) -> dict[str, Any]:
    """Fields the caller has no read scope for come back as defaults, as the real API does."""
    shown = dict(state.settings)
    for name, scope in SETTING_SCOPES.items():
        if not has_scope(caller.scopes, f"{scope}:read"):
            shown[name] = "" if name == "aclsExternalLink" else False
    return shown


@router.get("/tailnet/{tailnet}/settings")
async def get_settings(request: Request, tailnet: str) -> dict[str, Any]:
    caller = enter(request, tailnet, *SETTINGS_READ_SCOPES)
    return visible_settings(state_of(request), caller)


@router.patch("/tailnet/{tailnet}/settings")
async def patch_settings(request: Request, tailnet: str) -> dict[str, Any]:
    caller = enter(request, tailnet, *SETTINGS_READ_SCOPES)
    state = state_of(request)
    changes = {k: v for k, v in (await json_body(request)).items() if v is not None}
    for name in changes:
        if name not in state.settings:
            raise EmulatorHTTPError(400, f"unknown setting {name!r}")
        require_any(caller, SETTING_SCOPES.get(name, "feature_settings"))
    if changes.get("httpsEnabled") and not state.magic_dns:
        # HTTPS certificates need MagicDNS; the emulator leaves the setting off (real behaviour
        # unknown, see the contract §E) so the caller's read-back must catch it.
        changes.pop("httpsEnabled")
    with state.lock:
        state.settings.update(changes)
    return visible_settings(state, caller)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise EmulatorHTTPError(400, "invalid JSON body") from None
    if not isinstance(body, dict):
        raise EmulatorHTTPError(400, "the body must be a JSON object")
    return body


def policy_response(request: Request, text: str) -> Response:
    headers = {"ETag": f'"{etag_of(text)}"'}
    if "application/json" in request.headers.get("accept", ""):
        parsed = policy_eval.parse_policy(text)
        return JSONResponse(parsed, headers=headers)
    return Response(text, media_type=HUJSON, headers=headers)


@router.get("/tailnet/{tailnet}/acl")
async def get_acl(request: Request, tailnet: str) -> Response:
    enter(request, tailnet, "policy_file:read")
    return policy_response(request, state_of(request).policy)


@router.post("/tailnet/{tailnet}/acl")
async def post_acl(request: Request, tailnet: str) -> Response:
    enter(request, tailnet, "policy_file")
    state = state_of(request)
    text = (await request.body()).decode()
    state.take_policy_edit()
    with state.lock:
        check_if_match(request.headers.get("if-match"), state.policy)
        failures = validate_policy_text(text)
        if failures:
            raise EmulatorHTTPError(400, "test(s) failed", failures)
        state.policy = text
    return policy_response(request, text)


def check_if_match(if_match: str | None, current: str) -> None:
    if if_match is None:
        return
    wanted = if_match.strip().strip('"')
    if wanted == "ts-default" or wanted != etag_of(current):
        # "ts-default" only matches the untouched default, which an emulated tailnet never has.
        raise EmulatorHTTPError(412, "precondition failed, invalid old hash")


def validate_policy_text(text: str) -> list[dict[str, Any]]:
    """Parse and check a whole policy, then run its own tests; 400 for invalid policies."""
    try:
        policy = policy_eval.parse_policy(text)
    except policy_eval.PolicySyntaxError as exc:
        raise EmulatorHTTPError(400, str(exc)) from None
    errors = policy_eval.check_policy(policy)
    if errors:
        raise EmulatorHTTPError(400, "; ".join(errors))
    return policy_eval.run_tests(policy, policy.get("tests") or [])


@router.post("/tailnet/{tailnet}/acl/validate")
async def validate_acl(request: Request, tailnet: str) -> Response:
    enter(request, tailnet, "policy_file:read")
    text = (await request.body()).decode()
    stripped = text.lstrip()
    if stripped.startswith("["):
        tests = parse_or_400(text)
        current = policy_eval.parse_policy(state_of(request).policy)
        failures = policy_eval.run_tests(current, tests)
    else:
        if stripped.startswith('"'):  # a JSON string holding the policy text
            text = json.loads(text)
        failures = validate_policy_text(text)
    if not failures:
        return JSONResponse({})
    return JSONResponse({"message": "test(s) failed", "data": failures})


def parse_or_400(text: str) -> Any:
    try:
        return json5.loads(text)
    except ValueError as exc:
        raise EmulatorHTTPError(400, f"invalid body: {exc}") from None


@router.post("/tailnet/{tailnet}/acl/preview")
async def preview_acl(request: Request, tailnet: str) -> dict[str, Any]:
    enter(request, tailnet, "policy_file:read")
    preview_type = request.query_params.get("type", "")
    preview_for = request.query_params.get("previewFor", "")
    text = (await request.body()).decode()
    try:
        policy = policy_eval.parse_policy(text)
    except policy_eval.PolicySyntaxError as exc:
        raise EmulatorHTTPError(400, str(exc)) from None
    if preview_type not in ("user", "ipport") or not preview_for:
        raise EmulatorHTTPError(400, "type must be user or ipport, and previewFor is required")
    matches = policy_eval.preview_rules(policy, preview_type, preview_for)
    return {"matches": matches, "type": preview_type, "previewFor": preview_for}
