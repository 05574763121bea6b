"""The emulated tailnet's state: settings, policy, credentials, devices, and fault switches.

Tests and the sandbox change it while the emulator serves it, so every mutation takes the lock.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ALL_SCOPES = "all"
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_POLICY = """// Example/default ACLs for unrestricted connections.
{
\t// Define access control lists for users, groups, autogroups, tags,
\t// Tailscale IP addresses, and subnet ranges.
\t"acls": [
\t\t// Allow all connections.
\t\t{"action": "accept", "src": ["*"], "dst": ["*:*"]},
\t],
}
"""
DEFAULT_SETTINGS: dict[str, Any] = {
    "aclsExternallyManagedOn": False,
    "aclsExternalLink": "https://example.com/acls",
    "devicesApprovalOn": False,
    "devicesAutoUpdatesOn": False,
    "devicesKeyDurationDays": 180,
    "usersApprovalOn": False,
    "usersRoleAllowedToJoinExternalTailnets": "member",
    "networkFlowLoggingOn": False,
    "regionalRoutingOn": False,
    "postureIdentityCollectionOn": False,
    "httpsEnabled": False,
}

PolicyEdit = str | Callable[[str], str]


def etag_of(text: str) -> str:
    """The policy's ETag (unquoted): SHA-256 hex of its text, as gitops-pusher assumes."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class OAuthClientRecord:
    """An OAuth client of the tailnet (`keyType: client`)."""

    id: str
    secret: str
    scopes: list[str]
    tags: list[str] = field(default_factory=list)
    description: str = ""
    created: str = "2026-01-01T00:00:00Z"
    updated: str = "2026-01-01T00:00:00Z"

    def to_key(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "keyType": "client",
            "description": self.description,
            "created": self.created,
            "updated": self.updated,
            "scopes": list(self.scopes),
            "tags": list(self.tags),
            "invalid": False,
            "userId": "uTESTONLY1CNTRL",
        }


@dataclass(frozen=True)
class IssuedToken:
    """An access token minted by `POST /oauth/token`."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class RequestLogEntry:
    """One request the emulator answered (the Authorization header is never kept)."""

    method: str
    path: str
    status: int


@dataclass
class Fault:
    """A queued failure: answer the next `count` requests with `status`."""

    status: int
    count: int
    retry_after: str | None = None


@dataclass
class TailnetState:
    """Everything the emulated tailnet knows. Mutate only through methods while it is served."""

    tailnet: str = "example-tailnet.ts.net"
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    magic_dns: bool = True
    services_enabled: bool = True
    policy: str = DEFAULT_POLICY
    api_keys: list[str] = field(default_factory=list)
    oauth_clients: dict[str, OAuthClientRecord] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    vip_services: list[dict[str, Any]] = field(default_factory=list)
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    delay_seconds: float = 0.0
    request_log: list[RequestLogEntry] = field(default_factory=list)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    pending_policy_edit: PolicyEdit | None = None
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def policy_etag(self) -> str:
        return etag_of(self.policy)

    def add_oauth_client(self, record: OAuthClientRecord) -> None:
        with self.lock:
            self.oauth_clients[record.id] = record

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `count` API requests (not token requests) with `status`."""
        with self.lock:
            self.faults.append(Fault(status, count, retry_after))

    def take_fault(self) -> Fault | None:
        with self.lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self.faults.pop(0)
            return fault

    def concurrent_policy_edit(self, edit: PolicyEdit) -> None:
        """On the next policy POST, first replace the stored policy, as another editor would."""
        with self.lock:
            self.pending_policy_edit = edit

    def take_policy_edit(self) -> None:
        with self.lock:
            edit, self.pending_policy_edit = self.pending_policy_edit, None
            if edit is not None:
                self.policy = edit if isinstance(edit, str) else edit(self.policy)

    def issue_token(self, client: OAuthClientRecord) -> tuple[str, int]:
        token = f"tskey-access-EMULATED-{secrets.token_hex(16)}"
        lifetime = self.token_lifetime_seconds
        with self.lock:
            expires = self.clock() + lifetime
            self.tokens[token] = IssuedToken(client.id, frozenset(client.scopes), expires)
        return token, lifetime

    def revoke_tokens(self) -> None:
        """Forget every minted token, so the next call with one gets a 401."""
        with self.lock:
            self.tokens.clear()

    def find_client_by_secret(self, secret: str) -> OAuthClientRecord | None:
        with self.lock:
            return next((c for c in self.oauth_clients.values() if c.secret == secret), None)

    def scopes_for(self, credential: str) -> frozenset[str] | None:
        """The scopes a presented API key or access token grants; None when it is not valid."""
        with self.lock:
            if credential in self.api_keys:
                return frozenset({ALL_SCOPES})
            token = self.tokens.get(credential)
            if token is None or token.expires_at <= self.clock():
                return None
            return token.scopes

    def client_of_token(self, credential: str) -> str | None:
        with self.lock:
            token = self.tokens.get(credential)
            return token.client_id if token else None

    def log_request(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.request_log.append(RequestLogEntry(method, path, status))

    def requests_to(self, suffix: str, method: str | None = None) -> list[RequestLogEntry]:
        """Logged requests whose path ends with `suffix` (and have `method`, if given)."""
        with self.lock:
            return [
                e
                for e in self.request_log
                if e.path.endswith(suffix) and (method is None or e.method == method)
            ]
