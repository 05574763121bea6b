"""The Kubernetes API through an injected `kubernetes.client.ApiClient`: every call through
one `_request` (a bounded time, the read-only refusal), waits that watch in windows, and every
API or transport fault mapped in one `_error_for` to a `ClusterError` that says what to do,
with our credentials scrubbed from the server's text. `KubeClient` adds the resources."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import watch as _k8s_watch

from ingress2tailscale.adapters.kubernetes.models import (
    Target,
    name_of,
)
from ingress2tailscale.config import KubernetesTimeouts
from ingress2tailscale.errors import (
    ClusterError,
    ClusterNotFoundError,
)
from ingress2tailscale.kinds import (
    DEPLOYMENT,
    INGRESS,
    POD,
    SECRET,
    SERVICE,
    ApiKind,
)

REQUEST_TIMEOUT_S = 30.0  # one ordinary request (not a watch)
WATCH_WINDOW_S = 60.0  # a watch is re-opened (and the state re-listed) at least this often
MERGE_PATCH = "application/merge-patch+json"
WRITE_VERBS = frozenset({"create", "patch", "delete"})
# a 404 Status with one of these reasons is a missing object of a known kind; anything else
# (the real API server answers `404 page not found` as text) is a path the server lacks
OBJECT_NOT_FOUND_REASONS = {"NotFound"}
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)

# `kubernetes.watch` carries no annotations (the API classes do)
k8s_watch: Any = _k8s_watch

T = TypeVar("T")
Verdict = tuple[T | None, str]  # (the result, or None to keep waiting; the state in words)

log = logging.getLogger(__name__)


class KubeApi:
    """The requests, waits and faults every resource method goes through."""

    def __init__(
        self,
        api_client: Any,
        *,
        context: str | None = None,
        source: str = "",
        timeouts: KubernetesTimeouts | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        watch_window_s: float = WATCH_WINDOW_S,
        read_only: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api_client
        self.context = context
        self.source = source
        self.host = str(api_client.configuration.host)
        self.timeouts = timeouts or KubernetesTimeouts()
        self._request_timeout = request_timeout_s
        self._watch_window = watch_window_s
        self.read_only = read_only  # dry runs: every write is refused before it is sent
        self._clock = clock
        self._core = k8s.CoreV1Api(api_client)
        self._networking = k8s.NetworkingV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"KubeClient({self.host!r}, context={self.context!r}{mode})"

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- requests -----------------------------------------------------------------------

    def _get(self, target: Target) -> dict[str, Any]:
        """One object as the API serves it (camelCase keys)."""
        api, namespace, name = target.api, target.namespace, target.name
        if api.crd_of:
            call: Callable[..., Any] = self._custom.get_namespaced_custom_object
            args: tuple[Any, ...] = (api.group, api.version, namespace, api.plural, name)
        elif api is SERVICE:
            call, args = self._core.read_namespaced_service, (name, namespace)
        elif api is INGRESS:
            call, args = self._networking.read_namespaced_ingress, (name, namespace)
        elif api is DEPLOYMENT:
            call, args = self._apps.read_namespaced_deployment, (name, namespace)
        elif api is SECRET:
            call, args = self._core.read_namespaced_secret, (name, namespace)
        else:
            raise ValueError(f"cannot read a {api.kind}")
        obj = self._request("get", target, call, *args)
        return obj if isinstance(obj, dict) else self._api.sanitize_for_serialization(obj)

    def _list(
        self, target: Target, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """The items of a list call, each as the API serves it (camelCase keys)."""
        listed = self._request("list", target, call, *args, **kwargs)
        items = self._api.sanitize_for_serialization(listed).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def _list_call(self, target: Target) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The list function a watch streams, and its positional arguments."""
        api, namespace = target.api, target.namespace
        if api.crd_of:
            call = self._custom.list_namespaced_custom_object
            return call, (api.group, api.version, namespace, api.plural)
        calls = {
            SERVICE: self._core.list_namespaced_service,
            INGRESS: self._networking.list_namespaced_ingress,
            POD: self._core.list_namespaced_pod,
            SECRET: self._core.list_namespaced_secret,
        }
        return calls[api], (namespace,)

    def _annotate(self, target: Target, annotations: dict[str, str]) -> None:
        """A JSON merge patch of `metadata.annotations` on a custom object."""
        api = target.api
        body = {"metadata": {"annotations": annotations}}
        self._request(
            "patch",
            target,
            self._custom.patch_namespaced_custom_object,
            api.group,
            api.version,
            target.namespace,
            api.plural,
            target.name,
            body,
            _content_type=MERGE_PATCH,
        )
        log.info("annotated %s with %s", target, ", ".join(annotations))

    def _request(
        self, verb: str, target: Target, call: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Every call goes through here: a bounded time, and faults become our errors."""
        if self.read_only and verb in WRITE_VERBS:
            raise ClusterError(f"refusing to {verb} {target}: this client is read-only")
        kwargs.setdefault("_request_timeout", self._request_timeout)
        log.debug("Kubernetes %s %s at %s", verb, target, self.host)
        try:
            return call(*args, **kwargs)
        except (k8s.ApiException, *TRANSPORT_ERRORS) as exc:
            raise self._error_for(exc, verb, target) from exc

    def _wait(
        self,
        target: Target,
        deadline_s: float,
        what: str,
        verdict: Callable[[Mapping[str, Any]], Verdict[T]],
        *,
        match: Callable[[Mapping[str, Any]], bool] | None = None,
        subject: str = "",
    ) -> T:
        """Watch `target` until `verdict` has a result, raises, or the deadline passes.

        Each window opens a new watch, which first lists the current state (as ADDED events),
        so nothing that changed between windows is missed; no resourceVersion is needed.
        """
        match = match or (lambda obj: name_of(obj) == target.name)
        call, args = self._list_call(target)
        deadline = time.monotonic() + deadline_s
        last = "not seen yet"
        while (remaining := deadline - time.monotonic()) > 0:
            window = min(remaining, self._watch_window)
            with contextlib.closing(self._events(target, call, args, window)) as events:
                for kind, obj in events:
                    if match(obj) and kind == "DELETED":
                        last = "deleted"
                    elif match(obj):
                        result, last = verdict(obj)
                        if result is not None:
                            return result
                    if time.monotonic() >= deadline:
                        break  # a busy stream never reaches its read timeout
        raise ClusterError(
            f"timed out after {deadline_s:g} s waiting for {subject or target} {what} "
            f"(last: {last})"
        )

    def _events(
        self, target: Target, call: Callable[..., Any], args: tuple[Any, ...], window: float
    ) -> Generator[tuple[str, Mapping[str, Any]], None, None]:
        """(type, object as served) of one watch window; the window's end is not an error."""
        watcher = k8s_watch.Watch()
        stream = watcher.stream(
            call, *args, timeout_seconds=max(1, math.ceil(window)), _request_timeout=window
        )
        try:
            for event in stream:
                obj = event.get("raw_object")
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
                    yield str(event["type"]), obj
        except urllib3.exceptions.ReadTimeoutError:
            return  # the window ended with no event (some servers ignore timeoutSeconds)
        except (k8s.ApiException, *TRANSPORT_ERRORS) as exc:
            raise self._error_for(exc, "watch", target) from exc
        finally:
            watcher.stop()
            stream.close()

    # --- faults -------------------------------------------------------------------------

    def _error_for(self, exc: BaseException, verb: str, target: Target) -> ClusterError:
        """The one place a Kubernetes client fault becomes a ClusterError that says what to do."""
        where = f"{verb} {target}"
        if not isinstance(exc, k8s.ApiException):
            return ClusterError(
                f"cannot reach the API server at {self.host} to {where} "
                f"({_transport_reason(exc)}); check kubernetes.context{self._context_hint()} "
                "and that the cluster is up"
            )
        status, reason, message = exc.status, _status_reason(exc), self._scrub(_status_message(exc))
        if status == 401:
            return ClusterError(
                f"{where}: 401 the API server at {self.host} refused the credentials; "
                f"check the user of kubernetes.context{self._context_hint()} in the kubeconfig"
            )
        if status == 403:
            return ClusterError(
                f"{where}: 403 RBAC denied `{verb}` on {_resource_name(target.api)}"
                f"{_in_namespace(target)}: {message}; grant it to the user of "
                f"kubernetes.context{self._context_hint()} (a Role or ClusterRole binding)"
            )
        if status == 404 and reason in OBJECT_NOT_FOUND_REASONS:
            return ClusterNotFoundError(f"{target} is not in the cluster at {self.host} ({verb})")
        if status == 404 and target.api.crd_of:
            return ClusterError(
                f"{where}: the CRD {_resource_name(target.api)} is not installed in the cluster "
                f"at {self.host} (install {target.api.crd_of}, or check kubernetes.context)"
            )
        if status == 404:
            return ClusterNotFoundError(f"{where}: 404 {message or 'not found'}")
        return ClusterError(f"{where} failed: {status} {reason or exc.reason}: {message}")

    def _context_hint(self) -> str:
        return f" ({self.context!r} in {self.source})" if self.context else ""

    def _scrub(self, text: str) -> str:
        """Remove our credentials from a server's text (a proxy might echo a header)."""
        configuration = self._api.configuration
        secrets = [str(v) for v in (getattr(configuration, "api_key", None) or {}).values()]
        for secret in secrets:
            for word in (secret, secret.removeprefix("Bearer ").strip()):
                if word:
                    text = text.replace(word, "[redacted]")
        return text


def _status(exc: Any) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _status_reason(exc: Any) -> str:
    return str(_status(exc).get("reason") or "")


def _status_message(exc: Any) -> str:
    message = _status(exc).get("message")
    if message:
        return str(message)
    return str(exc.body or "").strip()[:200]


def _resource_name(api: ApiKind) -> str:
    return f"{api.plural}.{api.group}" if api.group else api.plural


def _in_namespace(target: Target) -> str:
    return f" in namespace {target.namespace}" if target.namespace else ""


def _transport_reason(exc: BaseException) -> str:
    """The cause of a transport fault in a few words (urllib3 wraps it in MaxRetryError)."""
    cause = getattr(exc, "reason", None) or exc
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return "the host name does not resolve"
    if isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    return type(cause).__name__
