"""kmock's Kubernetes emulator served on 127.0.0.1 by a background thread with its own asyncio
loop, plus a kubeconfig that reaches it (`with KubeEmulator(tmp) as emu: emu.kubeconfig_path`).

It serves the built-in kinds and the CRDs the product uses (`kinds.CUSTOM_KINDS`), more on
request (`serve`, `api_kind`: a repo's HelmReleases, Certificates, …), Namespaces (which kmock
cannot: it reads `/api/v1/namespaces` as a namespaced path, so they are answered here), checks
the bearer token like an API server (a wrong one is 401), and answers 404s the way the API
server does (a missing object is a `NotFound` Status; a kind it does not serve is `404 page not
found`). `create`/`patch`/`delete`/`get`/`list` seed and inspect objects over the same HTTP
API. kmock's known gaps (no resourceVersion, selectors ignored, no PUT/SSA/dry-run) remain.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from ingress2tailscale.kinds import (
    CUSTOM_KINDS,
    EVENT,
    INGRESS,
    NAMESPACE,
    POD,
    SECRET,
    SERVICE,
    ApiKind,
)
from ingress2tailscale.sandbox.started import Started

__all__ = ["SANDBOX_CONTEXT", "SANDBOX_TOKEN", "KubeEmulator", "discovery_documents"]

HOST = "127.0.0.1"
SANDBOX_CONTEXT = "sandbox"
SANDBOX_TOKEN = "sandbox-token-for-the-emulator-only"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
CRD_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
SEEDABLE = {k.kind: k for k in (SERVICE, SECRET, POD, EVENT, INGRESS, NAMESPACE, *CUSTOM_KINDS)}
# kmock 0.8 parses `/api/v1/namespaces` as a namespaced path and answers 500: served here
NAMESPACE_PATH = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+))?/?")
CUSTOM_CRD = "a CRD"  # `crd_of` of a kind served because a repo's documents use it


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
    namespaces: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    latency_s: float = 0.0  # added before every answer, as a remote API server's round trip

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        self._forget_requests()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)  # the loop serves other requests meanwhile
        found = NAMESPACE_PATH.fullmatch(raw_request.path)
        if found is None:
            response: aiohttp.web.StreamResponse = await super().__call__(raw_request)
            return response
        if raw_request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        body = await raw_request.read()
        return _namespaces(self.namespaces, raw_request.method, found["name"], body)

    def _forget_requests(self) -> None:
        """kmock keeps every request for test assertions and filters that whole history again
        for each new request, so a request costs more the longer it runs (a sandbox loading
        a repo made hundreds). Nothing asserts on it here: it is dropped."""
        self._requests.clear()
        for reaction in self._payloads:
            reaction._requests.clear()

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


def _namespaces(
    store: dict[str, dict[str, Any]], method: str, name: str | None, body: bytes
) -> aiohttp.web.Response:
    """Namespaces kept apart from kmock's objects: list, get, create, merge-patch, delete."""
    if name is None and method == "GET":
        return aiohttp.web.json_response(
            {"kind": "NamespaceList", "apiVersion": "v1", "items": list(store.values())}
        )
    if name is None and method == "POST":
        obj = json.loads(body or b"{}")
        name = str((obj.get("metadata") or {}).get("name") or "")
        if name in store:
            return _status(409, "AlreadyExists", f'namespaces "{name}" already exists')
        store[name] = {**obj, "status": {"phase": "Active"}}
        return aiohttp.web.json_response(store[name], status=201)
    if name is None or name not in store:
        return _status(404, "NotFound", f'namespaces "{name}" not found')
    if method == "PATCH":
        store[name] = _merged(store[name], json.loads(body or b"{}"))
    elif method == "DELETE":
        return aiohttp.web.json_response(store.pop(name))
    return aiohttp.web.json_response(store[name])


def _merged(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386): `null` removes a key, objects merge, the rest replaces."""
    result = dict(obj)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure"}
    return aiohttp.web.json_response(
        {**body, "code": code, "reason": reason, "message": message}, status=code
    )


class KubeEmulator(Started):
    """The emulated API server in a thread; `stop()` (or leaving `with`) shuts it down."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        token: str = SANDBOX_TOKEN,
        custom_kinds: tuple[ApiKind, ...] = CUSTOM_KINDS,
        latency_s: float = 0.0,
    ) -> None:
        self._own_directory = directory is None
        self._latency_s = latency_s
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
        self._emulator: _Emulator | None = None
        self._kinds: dict[tuple[str, str], ApiKind] = {
            (k.api_version, k.kind): k for k in SEEDABLE.values()
        }
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, the API server's address."""
        if not self._url:
            raise RuntimeError("the Kubernetes emulator is not running")
        return self._url

    @property
    def latency_s(self) -> float:
        """Seconds added to every request's answer (a benchmark's remote cluster); settable."""
        return self._latency_s

    @latency_s.setter
    def latency_s(self, seconds: float) -> None:
        self._latency_s = seconds
        if self._emulator is not None:
            self._emulator.latency_s = seconds

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
        emulator_of = _Emulator(token=self.token, latency_s=self._latency_s)
        async with emulator_of as emulator, kmock.Server(emulator) as server:
            with warnings.catch_warnings():
                # kmock 0.8 reads its bundled discovery with the deprecated
                # importlib.resources.read_binary; nothing of ours is affected
                warnings.filterwarnings("ignore", "read_binary is deprecated", DeprecationWarning)
                emulator.resources.load_bundled()
            emulator.resources.load_data(json.dumps(discovery_documents(self.custom_kinds)))
            self._emulator = emulator
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

    # --- kinds --------------------------------------------------------------------------

    def serve(self, kinds: tuple[ApiKind, ...]) -> None:
        """Serve more custom kinds from now on (their discovery documents and objects)."""
        new = tuple(k for k in kinds if (k.api_version, k.kind) not in self._served_kinds())
        if not new:
            return
        loop, emulator = self._loop, self._emulator
        if loop is None or emulator is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        data = json.dumps(discovery_documents(new))

        async def load() -> None:  # on the emulator's loop: kmock's tables are not locked
            emulator.resources.load_data(data)

        asyncio.run_coroutine_threadsafe(load(), loop).result(REQUEST_TIMEOUT_S)
        self.custom_kinds = (*self.custom_kinds, *new)
        self._kinds.update({(k.api_version, k.kind): k for k in new})

    def api_kind(self, api_version: str, kind: str) -> ApiKind:
        """The served kind of a document's `apiVersion` and `kind`: a built-in one as the
        discovery documents say, else a custom kind served from now on (namespaced, unless
        its name says `Cluster…`)."""
        known = self._kinds.get((api_version, kind))
        if known is not None:
            return known
        group, _, version = api_version.rpartition("/")
        for resource in self._discovery(group, version):
            if resource.get("kind") == kind and "/" not in str(resource.get("name")):
                found = ApiKind(
                    kind, group, version, str(resource["name"]), bool(resource.get("namespaced"))
                )
                self._kinds[(api_version, kind)] = found
                return found
        custom = ApiKind(
            kind,
            group,
            version,
            _plural(kind),
            namespaced=not kind.startswith("Cluster"),
            crd_of=CUSTOM_CRD,
        )
        self.serve((custom,))
        return custom

    def _served_kinds(self) -> set[tuple[str, str]]:
        return {(k.api_version, k.kind) for k in self.custom_kinds}

    def _discovery(self, group: str, version: str) -> list[dict[str, Any]]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            found = self._call("GET", path)
        except (LookupError, RuntimeError):
            return []
        return [r for r in found.get("resources") or [] if isinstance(r, dict)]

    # --- objects, over the HTTP API -----------------------------------------------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        api = self._kind_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return self._call("POST", _path(api, namespace), obj)

    def patch(
        self,
        kind: str | ApiKind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """A JSON merge patch (kmock merges every patch that way)."""
        path = _path(self._api(kind), namespace, name, subresource)
        return self._call("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, kind: str | ApiKind, namespace: str | None, name: str) -> dict[str, Any]:
        return self._call("DELETE", _path(self._api(kind), namespace, name))

    def get(self, kind: str | ApiKind, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", _path(self._api(kind), namespace, name))
        except LookupError:
            return None

    def list(self, kind: str | ApiKind, namespace: str | None = None) -> list[dict[str, Any]]:
        """The objects of a kind (in `namespace`, or in all); kmock ignores selectors anyway."""
        items = self._call("GET", _path(self._api(kind), namespace)).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def _api(self, kind: str | ApiKind) -> ApiKind:
        if isinstance(kind, ApiKind):
            return kind
        if kind in SEEDABLE:
            return SEEDABLE[kind]
        found = [k for (_, name), k in self._kinds.items() if name == kind]
        if len(found) != 1:
            raise ValueError(f"the emulator helpers do not know the kind {kind!r}")
        return found[0]

    def _kind_of(self, obj: dict[str, Any]) -> ApiKind:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if not api_version or not kind:
            raise ValueError(f"an object needs apiVersion and kind, not {api_version!r}/{kind!r}")
        return self.api_kind(api_version, kind)

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


def _plural(kind: str) -> str:
    """The plural a CRD of this kind most likely declares (`Policy` -> `policies`)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return f"{lower[:-1]}ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return f"{lower}es"
    return f"{lower}s"


def _path(api: ApiKind, namespace: str | None, name: str = "", subresource: str = "") -> str:
    root = f"/apis/{api.group}/{api.version}" if api.group else f"/api/{api.version}"
    scope = f"/namespaces/{namespace}" if api.namespaced and namespace else ""
    tail = "".join(f"/{part}" for part in (name, subresource) if part)
    return f"{root}{scope}/{api.plural}{tail}"
