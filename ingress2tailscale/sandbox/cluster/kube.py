"""kmock's Kubernetes emulator served on 127.0.0.1 by a background thread with its own asyncio
loop, plus a kubeconfig that reaches it (`with KubeEmulator(tmp) as emu: emu.kubeconfig_path`).

It serves the built-in kinds and the CRDs the product uses (`kinds.CUSTOM_KINDS`), checks the
bearer token like an API server (a wrong one is 401), and answers 404s the way the API server
does (a missing object is a `NotFound` Status; a kind it does not serve is `404 page not
found`). `create`/`patch`/`delete`/`get` seed and inspect objects over the same HTTP API.
kmock's known gaps (no resourceVersion, selectors ignored, no PUT/SSA/dry-run) remain.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import warnings
from collections import defaultdict
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from ingress2tailscale.kinds import (
    CUSTOM_KINDS,
    EVENT,
    INGRESS,
    POD,
    SECRET,
    SERVICE,
    ApiKind,
)

__all__ = ["SANDBOX_CONTEXT", "SANDBOX_TOKEN", "KubeEmulator", "discovery_documents"]

HOST = "127.0.0.1"
SANDBOX_CONTEXT = "sandbox"
SANDBOX_TOKEN = "sandbox-token-for-the-emulator-only"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
CRD_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
# not Namespace: kmock 0.8 parses `/api/v1/namespaces` as a namespaced path and answers 500
SEEDABLE = {k.kind: k for k in (SERVICE, SECRET, POD, EVENT, INGRESS, *CUSTOM_KINDS)}


def discovery_documents(kinds: tuple[ApiKind, ...] = CUSTOM_KINDS) -> list[dict[str, Any]]:
    """APIResourceList documents (with `/status`) for custom kinds, as kmock loads them."""
    by_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for api in kinds:
        entry = {
            "name": api.plural,
            "singularName": api.kind.lower(),
            "namespaced": api.namespaced,
            "kind": api.kind,
            "verbs": CRD_VERBS,
        }
        status = {**entry, "name": f"{api.plural}/status", "verbs": ["get", "patch", "update"]}
        by_version[api.api_version] += [entry, status]
    return [
        {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}
        for gv, res in by_version.items()
    ]


@attrs.define(kw_only=True)
class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with the API server's token check and 404 answers."""

    token: str = SANDBOX_TOKEN

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        resource = request.resource
        if resource is not None and isinstance(resource.plural, str) and not self._serves(resource):
            return aiohttp.web.Response(status=404, text="404 page not found\n")
        try:
            response: aiohttp.web.StreamResponse = await super()._handle(request)
        except kmock.KubernetesObjectNotFoundError:
            kind = resource.plural if resource is not None else "object"
            return _status(404, "NotFound", f'{kind} "{request.name}" not found')
        return response

    def _serves(self, resource: Any) -> bool:
        return any(resource == known for known in self._get_resources())


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure"}
    return aiohttp.web.json_response(
        {**body, "code": code, "reason": reason, "message": message}, status=code
    )


class KubeEmulator:
    """The emulated API server in a thread; `stop()` (or leaving `with`) shuts it down."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        token: str = SANDBOX_TOKEN,
        custom_kinds: tuple[ApiKind, ...] = CUSTOM_KINDS,
    ) -> None:
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="kube-emulator-"))
        self.kubeconfig_path = self.directory / "kubeconfig"
        self.context = SANDBOX_CONTEXT
        self.token = token
        self.custom_kinds = custom_kinds  # the CRDs it serves (fewer: a cluster missing some)
        self._url = ""
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, the API server's address."""
        if not self._url:
            raise RuntimeError("the Kubernetes emulator is not running")
        return self._url

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"the Kubernetes emulator did not start: {self._failure!r}")
        self.write_kubeconfig(self.kubeconfig_path)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_S)
        self._url = ""
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> KubeEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._failure = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with _Emulator(token=self.token) as emulator, kmock.Server(emulator) as server:
            with warnings.catch_warnings():
                # kmock 0.8 reads its bundled discovery with the deprecated
                # importlib.resources.read_binary; nothing of ours is affected
                warnings.filterwarnings("ignore", "read_binary is deprecated", DeprecationWarning)
                emulator.resources.load_bundled()
            emulator.resources.load_data(json.dumps(discovery_documents(self.custom_kinds)))
            self._url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stopping.wait()

    # --- kubeconfig ---------------------------------------------------------------------

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, context: str = SANDBOX_CONTEXT
    ) -> Path:
        """A kubeconfig for this server; another `token` makes one the server refuses."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "sandbox", "user": "sandbox"}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    # --- objects, over the HTTP API -----------------------------------------------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        api = _kind_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return self._call("POST", _path(api, namespace), obj)

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """A JSON merge patch (kmock merges every patch that way)."""
        path = _path(SEEDABLE[kind], namespace, name, subresource)
        return self._call("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return self._call("DELETE", _path(SEEDABLE[kind], namespace, name))

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", _path(SEEDABLE[kind], namespace, name))
        except LookupError:
            return None

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            with exc:
                text = exc.read().decode("utf-8", "replace")[:300]
            error = LookupError if exc.code == 404 else RuntimeError
            raise error(f"{method} {path}: {exc.code} {text}") from None
        return answer if isinstance(answer, dict) else {}


def _kind_of(obj: dict[str, Any]) -> ApiKind:
    kind = str(obj.get("kind", ""))
    if kind not in SEEDABLE:
        raise ValueError(f"the emulator helpers do not know the kind {kind!r}")
    return SEEDABLE[kind]


def _path(api: ApiKind, namespace: str | None, name: str = "", subresource: str = "") -> str:
    root = f"/apis/{api.group}/{api.version}" if api.group else f"/api/{api.version}"
    scope = f"/namespaces/{namespace}" if api.namespaced and namespace else ""
    tail = "".join(f"/{part}" for part in (name, subresource) if part)
    return f"{root}{scope}/{api.plural}{tail}"
