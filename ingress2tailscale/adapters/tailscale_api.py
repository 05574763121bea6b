"""Sync client for the Tailscale API v2: settings, policy file, keys, devices, VIP services.

The only module that imports httpx; every HTTP fault becomes an error from `errors.py` here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from ingress2tailscale.adapters.tailscale_models import (
    ApiKey,
    Credentials,
    Device,
    Key,
    OAuthClient,
    PolicyDocument,
    PolicyPreview,
    TailnetSettings,
    TestFailure,
    VipService,
    credentials_from_env,
)
from ingress2tailscale.errors import (
    PreconditionFailedError,
    TailscaleAuthError,
    TailscaleError,
    TailscaleNotFoundError,
)

__all__ = [
    "ApiKey",
    "Credentials",
    "Device",
    "Key",
    "OAuthClient",
    "PolicyDocument",
    "PolicyPreview",
    "RetryPolicy",
    "TailnetSettings",
    "TailscaleClient",
    "TestFailure",
    "VipService",
    "credentials_from_env",
]

DEFAULT_API_URL = "https://api.tailscale.com"
API_PREFIX = "/api/v2"
TOKEN_PATH = f"{API_PREFIX}/oauth/token"
DEFAULT_TIMEOUT_SECONDS = 30.0
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
HUJSON = "application/hujson"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
READ_ONLY_POST_SUFFIXES = ("/acl/validate", "/acl/preview")
REDACTED = "[redacted]"
SERVICES_404_HINT = (
    "the OAuth client may lack the `services` scope, or Services is off for this tailnet "
    "(see tailscale/tailscale#19471)"
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for 429 and 5xx answers: exponential, `Retry-After` honoured, bounded twice."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 30.0

    def delay_for(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)


class TailscaleClient:
    """The Tailscale API for one tailnet. `read_only=True` refuses every write (dry runs)."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        api_url: str = DEFAULT_API_URL,
        tailnet: str = "-",
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        read_only: bool = False,
    ) -> None:
        self._credentials = credentials
        self._base = api_url.rstrip("/")
        self.tailnet = tailnet
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self.read_only = read_only
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout)
        self._token: SecretStr | None = None
        self._token_renew_at = 0.0

    def __repr__(self) -> str:
        who = type(self._credentials).__name__
        if isinstance(self._credentials, OAuthClient):
            who = f"OAuthClient(client_id={self._credentials.client_id!r})"
        mode = ", read_only=True" if self.read_only else ""
        return f"TailscaleClient({self._base!r}, tailnet={self.tailnet!r}, {who}{mode})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TailscaleClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- tailnet settings ---------------------------------------------------------------

    def get_settings(self) -> TailnetSettings:
        response = self._request("GET", "/settings", scope="feature_settings:read")
        return TailnetSettings.model_validate(response.json())

    def update_settings(self, **fields: Any) -> TailnetSettings:
        """PATCH only the given fields (snake_case or camelCase names); returns the new settings."""
        known = {n for n, f in TailnetSettings.model_fields.items()} | {
            f.alias for f in TailnetSettings.model_fields.values() if f.alias
        }
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown tailnet settings: {', '.join(unknown)}")
        body = TailnetSettings.model_validate(fields).model_dump(by_alias=True, exclude_unset=True)
        scope = "networking_settings" if "httpsEnabled" in body else "feature_settings"
        response = self._request("PATCH", "/settings", scope=scope, json=body)
        return TailnetSettings.model_validate(response.json())

    # --- policy file --------------------------------------------------------------------

    def get_policy(self) -> PolicyDocument:
        headers = {"Accept": HUJSON}
        response = self._request("GET", "/acl", scope="policy_file:read", headers=headers)
        return PolicyDocument(response.text, _etag_of(response))

    def set_policy(self, text: str, if_match: str | None) -> PolicyDocument:
        """Replace the policy; `if_match` is the ETag read before (None = blind overwrite)."""
        headers = {"Accept": HUJSON, "Content-Type": HUJSON}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match.strip().strip(chr(34))}"'
        response = self._request(
            "POST", "/acl", scope="policy_file", headers=headers, content=text.encode()
        )
        return PolicyDocument(response.text, _etag_of(response))

    def validate_policy(self, text: str) -> list[TestFailure]:
        """Validate a policy and run its `tests` without saving; [] means everything passed."""
        response = self._request(
            "POST",
            "/acl/validate",
            scope="policy_file:read",
            headers={"Content-Type": HUJSON},
            content=text.encode(),
        )
        return _test_failures(response)

    def preview_policy(self, text: str, type: str, preview_for: str) -> PolicyPreview:
        """Rules of `text` matching a user (`type="user"`) or an `ip:port` (`type="ipport"`)."""
        response = self._request(
            "POST",
            "/acl/preview",
            scope="policy_file:read",
            params={"type": type, "previewFor": preview_for},
            headers={"Content-Type": HUJSON},
            content=text.encode(),
        )
        return PolicyPreview.model_validate(response.json())

    # --- keys, devices, services --------------------------------------------------------

    def list_keys(self) -> list[Key]:
        response = self._request("GET", "/keys", scope="oauth_keys:read")
        return [Key.model_validate(k) for k in response.json().get("keys") or []]

    def get_key(self, key_id: str) -> Key:
        response = self._request("GET", f"/keys/{key_id}", scope="oauth_keys:read")
        return Key.model_validate(response.json())

    def update_oauth_client(
        self, key_id: str, *, scopes: list[str], tags: list[str], description: str
    ) -> Key:
        """Set an OAuth client's scopes, tags and description in place (id and secret kept)."""
        body = {"keyType": "client", "scopes": scopes, "tags": tags, "description": description}
        response = self._request("PUT", f"/keys/{key_id}", scope="oauth_keys", json=body)
        return Key.model_validate(response.json())

    def list_devices(self) -> list[Device]:
        response = self._request("GET", "/devices", scope="devices:core:read")
        return [Device.model_validate(d) for d in response.json().get("devices") or []]

    def list_vip_services(self) -> list[VipService]:
        response = self._request("GET", "/vip-services", scope="services:read")
        return [VipService.model_validate(s) for s in response.json().get("vipServices") or []]

    # --- transport ----------------------------------------------------------------------

    def _request(self, method: str, path: str, *, scope: str, **kwargs: Any) -> httpx.Response:
        """Send a tailnet-scoped request; the one place where HTTP faults become our errors."""
        full_path = f"{API_PREFIX}/tailnet/{self.tailnet}{path}"
        if self.read_only and method != "GET" and not path.endswith(READ_ONLY_POST_SUFFIXES):
            raise TailscaleError(f"refusing {method} {full_path}: this client is read-only")
        headers = dict(kwargs.pop("headers", {}))
        headers["Authorization"] = self._authorization()
        response = self._send(method, full_path, headers=headers, **kwargs)
        if response.status_code == 401 and isinstance(self._credentials, OAuthClient):
            self._token = None  # revoked or expired early: mint a new token once and retry
            headers["Authorization"] = self._authorization()
            response = self._send(method, full_path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise self._error_for(response, method, full_path, scope)
        return response

    def _authorization(self) -> str:
        if isinstance(self._credentials, ApiKey):
            return f"Bearer {self._credentials.key.get_secret_value()}"
        if self._token is None or time.monotonic() >= self._token_renew_at:
            self._mint_token(self._credentials)
        assert self._token is not None
        return f"Bearer {self._token.get_secret_value()}"

    def _mint_token(self, client: OAuthClient) -> None:
        """OAuth client-credentials grant; the token is kept until shortly before it expires."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret.get_secret_value(),
        }
        response = self._send("POST", TOKEN_PATH, headers={}, data=form)
        if response.status_code in (400, 401, 403):
            raise TailscaleAuthError(
                f"the OAuth client {client.client_id!r} was refused at {TOKEN_PATH} "
                f"({response.status_code} {self._api_message(response)}); check "
                "TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET",
                response.status_code,
            )
        if response.status_code >= 400:
            raise self._error_for(response, "POST", TOKEN_PATH, "")
        body = response.json()
        lifetime = float(body.get("expires_in") or 3600)
        self._token = SecretStr(str(body["access_token"]))
        self._token_renew_at = (
            time.monotonic() + lifetime - min(TOKEN_REFRESH_MARGIN_SECONDS, lifetime / 10)
        )
        log.debug("minted an OAuth access token valid for %.0f s", lifetime)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with bounded retries on 429/5xx; transport faults become TailscaleError."""
        url, waited = f"{self._base}{path}", 0.0
        for attempt in range(1, max(1, self._retry.max_attempts) + 1):
            response = self._send_once(method, url, **kwargs)
            if response.status_code not in RETRY_STATUSES:
                return response
            delay = self._retry.delay_for(attempt, _retry_after(response))
            if attempt >= self._retry.max_attempts or waited + delay > self._retry.max_total_wait:
                break
            log.info(
                "Tailscale API %s %s answered %s; retry %d in %.2f s",
                *(method, path, response.status_code, attempt, delay),
            )
            time.sleep(delay)
            waited += delay
        asked = _retry_after(response)
        wait = f"; it asked to wait {asked:.0f} s (Retry-After)" if asked is not None else ""
        raise TailscaleError(
            f"{method} {path} still failed after {attempt} attempts and {waited:.1f} s of "
            f"back-off: {response.status_code} {self._api_message(response)}{wait}; "
            "try again later",
            response.status_code,
            asked,
        )

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise TailscaleError(
                f"{method} {url} timed out after {self._timeout} s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise TailscaleError(
                f"cannot reach the Tailscale API at {url}: {type(exc).__name__}: "
                f"{self._scrub(str(exc))}"
            ) from None
        log.debug("Tailscale API %s %s -> %s", method, url, response.status_code)
        return response

    def _error_for(
        self, response: httpx.Response, method: str, path: str, scope: str
    ) -> TailscaleError:
        status, message = response.status_code, self._api_message(response)
        where = f"{method} {path}"
        if status in (401, 403):
            return TailscaleAuthError(_auth_message(where, status, message, scope), status)
        if status == 404 and "/vip-services" in path:
            return TailscaleNotFoundError(f"{where}: 404 {message}: {SERVICES_404_HINT}", status)
        if status == 404:
            return TailscaleNotFoundError(
                f"{where}: 404 {message}; check the tailnet name {self.tailnet!r}", status
            )
        if status == 412:
            return PreconditionFailedError(
                f"{where}: 412 {message}: the tailnet policy changed since it was read; "
                "read it again and re-apply the change",
                status,
            )
        return TailscaleError(f"{where} failed: {status} {message}", status)

    def _api_message(self, response: httpx.Response) -> str:
        """The API's `message` (plus test failures in `data`), with any secret of ours removed."""
        try:
            body = response.json()
        except ValueError:
            return self._scrub(response.text[:200].strip() or response.reason_phrase)
        if not isinstance(body, dict):
            return self._scrub(str(body)[:200])
        text = str(body.get("message") or response.reason_phrase)
        details = [
            f"{d.get('user', '')}: {'; '.join(d.get('errors') or [])}"
            for d in body.get("data") or []
            if isinstance(d, dict) and d.get("errors")
        ]
        return self._scrub(f"{text} ({' | '.join(details)})" if details else text)

    def _scrub(self, text: str) -> str:
        secrets = [self._token.get_secret_value() if self._token else ""]
        if isinstance(self._credentials, ApiKey):
            secrets.append(self._credentials.key.get_secret_value())
        else:
            secrets.append(self._credentials.client_secret.get_secret_value())
        for secret in filter(None, secrets):
            text = text.replace(secret, REDACTED)
        return text


def _auth_message(where: str, status: int, message: str, scope: str) -> str:
    if status == 401:
        return f"{where}: 401 {message}: the API key or OAuth token was refused"
    hint = f"; the credential probably lacks the `{scope}` scope" if scope else ""
    return f"{where}: 403 {message}{hint}"


def _etag_of(response: httpx.Response) -> str:
    etag: str = response.headers.get("ETag", "")
    return etag.strip().strip('"')


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is not used by Tailscale; ignored)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _test_failures(response: httpx.Response) -> list[TestFailure]:
    """`/acl/validate` answers 200 even on failure: empty or `{}` passes, else `data` lists them."""
    if not response.content.strip():
        return []
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if data:
        return [TestFailure.model_validate(d) for d in data]
    message = body.get("message") if isinstance(body, dict) else None
    if not message or str(message).lower().startswith("warning"):
        return []  # warnings alone (e.g. about SCIM groups) do not fail the policy
    return [TestFailure(errors=(str(message),))]
