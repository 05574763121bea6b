"""Sync client for the Kubernetes API: Flux reconciles and status, the Tailscale operator's
status and proxy Secrets, Warning events, pod recycling and ExternalSecret refreshes.

The only module that imports `kubernetes`; every API or transport fault becomes a
`ClusterError` in `_error_for`, with what to do. No token and no Secret value reaches a
message, a log line or a repr: the proxy Secret is read for two non-secret keys only.
Waits watch the object (no fixed sleeps) in windows, re-listing after each window.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as _k8s_config
from kubernetes import watch as _k8s_watch
from kubernetes.config.config_exception import ConfigException
from pydantic import SecretStr

from ingress2tailscale.adapters.kubernetes_models import (
    Condition,
    Exposed,
    KustomizationStatus,
    ProxySecret,
    Target,
    WarningEvent,
    condition_of,
    exposed_of,
    hostname_of,
    kustomization_status_of,
    same_revision,
    selector_matches,
)
from ingress2tailscale.adapters.tailscale_models import OAuthClient
from ingress2tailscale.config import KubernetesTimeouts, MigrationConfig
from ingress2tailscale.errors import (
    ClusterError,
    ClusterNotFoundError,
    ConfigError,
    describe_yaml_error,
)
from ingress2tailscale.kinds import (
    DEPLOYMENT,
    DEVICE_FQDN_KEY,
    EVENT,
    EXTERNAL_SECRET,
    FORCE_SYNC_ANNOTATION,
    GIT_REPOSITORY,
    HTTPS_ENDPOINT_KEY,
    INGRESS,
    KUSTOMIZATION,
    NO_HTTPS_ENDPOINT,
    OPERATOR_CLIENT_ID_KEY,
    OPERATOR_CLIENT_SECRET_KEY,
    PARENT_NAMESPACE_LABEL,
    PARENT_RESOURCE_LABEL,
    PARENT_TYPE_LABEL,
    PARENT_TYPES,
    POD,
    PROXY_INVALID_REASON,
    RECONCILE_ANNOTATION,
    SECRET,
    SERVICE,
    ApiKind,
)

__all__ = [
    "Condition",
    "KubeClient",
    "KustomizationStatus",
    "ProxySecret",
    "WarningEvent",
    "connect",
    "connect_cluster",
]

REQUEST_TIMEOUT_S = 30.0  # one ordinary request (not a watch)
WATCH_WINDOW_S = 60.0  # a watch is re-opened (and the state re-listed) at least this often
MERGE_PATCH = "application/merge-patch+json"
WRITE_VERBS = frozenset({"create", "patch", "delete"})
DEFAULT_KUBECONFIG = Path("~/.kube/config")
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
# a 404 Status with one of these reasons is a missing object of a known kind; anything else
# (the real API server answers `404 page not found` as text) is a path the server lacks
OBJECT_NOT_FOUND_REASONS = {"NotFound"}
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
FLUX_KINDS = {k.kind: k for k in (GIT_REPOSITORY, KUSTOMIZATION)}
LOAD_BALANCED = {k.kind: k for k in (INGRESS, SERVICE)}

# `kubernetes.config` and `kubernetes.watch` carry no annotations (the API classes do)
k8s_config: Any = _k8s_config
k8s_watch: Any = _k8s_watch

T = TypeVar("T")
Verdict = tuple[T | None, str]  # (the result, or None to keep waiting; the state in words)

log = logging.getLogger(__name__)


def connect(
    kubeconfig: Path | None = None,
    context: str | None = None,
    *,
    timeouts: KubernetesTimeouts | None = None,
    read_only: bool = False,
) -> KubeClient:
    """A client for `context` of `kubeconfig`, checked with one cheap read.

    Neither given: the in-cluster service account inside a pod, else the default kubeconfig
    (`$KUBECONFIG`, `~/.kube/config`) at its current context. Every problem is a
    `ConfigError` naming the file and context; an unreachable server is a `ClusterError`.
    """
    if kubeconfig is None and context is None and os.environ.get(IN_CLUSTER_ENV):
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(f"cannot use the in-cluster service account: {exc}") from None
        api_client = k8s.ApiClient(configuration)
        kube = KubeClient(api_client, timeouts=timeouts, source="in-cluster", read_only=read_only)
    else:
        path = (kubeconfig or _default_kubeconfig()).expanduser()
        context = _check_context(path, context)
        try:
            api_client = k8s_config.new_client_from_config(config_file=str(path), context=context)
        except (ConfigException, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"the kubeconfig {path} cannot be used with context {context!r}: "
                f"{type(exc).__name__}: {exc}; check kubernetes.kubeconfig and kubernetes.context"
            ) from None
        kube = KubeClient(
            api_client, context=context, source=str(path), timeouts=timeouts, read_only=read_only
        )
    try:
        kube.check_access()
    except BaseException:
        kube.close()
        raise
    return kube


def connect_cluster(config: MigrationConfig, *, read_only: bool = False) -> KubeClient | None:
    """The configured cluster's client; None when `kubernetes.enabled` is false."""
    kube = config.kubernetes
    if not kube.enabled:
        return None
    return connect(kube.kubeconfig, kube.context, timeouts=kube.timeouts, read_only=read_only)


def _default_kubeconfig() -> Path:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first) if first else DEFAULT_KUBECONFIG


def _check_context(path: Path, context: str | None) -> str:
    """The context to use; a missing file or an unknown context is a ConfigError."""
    if not path.is_file():
        raise ConfigError(
            f"the kubeconfig {path} does not exist; set kubernetes.kubeconfig in the config "
            "(or $KUBECONFIG) to the file that reaches the cluster"
        )
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=str(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"the kubeconfig {path}: {describe_yaml_error(exc)}") from None
    except (ConfigException, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"the kubeconfig {path} cannot be read: {type(exc).__name__}: {exc}"
        ) from None
    names = sorted(str(c.get("name")) for c in contexts or [])
    known = ", ".join(names) or "none"
    if context is None:
        if not active:
            raise ConfigError(
                f"the kubeconfig {path} has no current-context; set kubernetes.context to one "
                f"of: {known}"
            )
        return str(active["name"])
    if context not in names:
        raise ConfigError(
            f"the kubeconfig {path} has no context {context!r}; known contexts: {known}; "
            "set kubernetes.context to one of them"
        )
    return context


class KubeClient:
    """The Kubernetes API through an injected `kubernetes.client.ApiClient`."""

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

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- access -------------------------------------------------------------------------

    def check_access(self) -> None:
        """GET /version with our credentials: a refusal is a ConfigError naming the context."""
        target = Target(ApiKind("version", "", "", "/version", namespaced=False))
        try:
            self._request("get", target, self._get_version)
        except ClusterError as exc:
            status = getattr(exc.__cause__, "status", None)
            if status not in (401, 403):
                raise
            where = f"context {self.context!r} of {self.source}" if self.context else self.source
            raise ConfigError(
                f"the cluster at {self.host} refused the credentials of {where} ({status}); "
                "check the user of that context in the kubeconfig (an expired token or a "
                "revoked certificate), or choose another kubernetes.context"
            ) from None

    def _get_version(self, _request_timeout: float) -> Any:
        request = self._api.param_serialize(
            method="GET",
            resource_path="/version",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=_request_timeout)
        response.read()
        return self._api.response_deserialize(response, {"200": "object"}).data

    # --- Flux ---------------------------------------------------------------------------

    def request_reconcile(self, namespace: str, kind: str, name: str) -> str:
        """Ask Flux to reconcile a GitRepository or Kustomization now; returns the token set."""
        api = FLUX_KINDS.get(kind)
        if api is None:
            raise ValueError(f"cannot reconcile a {kind}: only {', '.join(FLUX_KINDS)}")
        token = self._clock().isoformat()
        self._annotate(Target(api, namespace, name), {RECONCILE_ANNOTATION: token})
        return token

    def kustomization_status(self, namespace: str, name: str) -> KustomizationStatus:
        return kustomization_status_of(self._get(Target(KUSTOMIZATION, namespace, name)))

    def wait_kustomization_ready(
        self, namespace: str, name: str, revision: str, deadline_s: float | None = None
    ) -> KustomizationStatus:
        """Until Ready=True at `revision` (`main@sha1:<sha>` or the sha); Ready=False at it
        (or at no attempted revision) raises Flux's own message at once."""
        target = Target(KUSTOMIZATION, namespace, name)

        def verdict(obj: Mapping[str, Any]) -> Verdict[KustomizationStatus]:
            status = kustomization_status_of(obj)
            ready = status.ready
            if ready and ready.status == "True":
                if same_revision(status.last_applied_revision, revision):
                    return status, str(status)
            elif ready and ready.status == "False":
                attempted = status.last_attempted_revision
                if attempted is None or same_revision(attempted, revision):
                    raise ClusterError(
                        f"Flux could not apply {target} at {revision}: {ready.reason}: "
                        f"{ready.message}; fix the manifests and push again"
                    )
            return None, str(status)

        done = deadline_s if deadline_s is not None else self.timeouts.reconcile_s
        return self._wait(target, done, f"to be Ready at {revision}", verdict)

    # --- the operator's objects ---------------------------------------------------------

    def wait_load_balancer_hostname(
        self, kind: str, namespace: str, name: str, deadline_s: float | None = None
    ) -> str:
        """The hostname the operator writes into `status.loadBalancer.ingress` (its FQDN)."""
        api = LOAD_BALANCED.get(kind)
        if api is None:
            raise ValueError(
                f"no load-balancer status on a {kind}: only {', '.join(LOAD_BALANCED)}"
            )
        target = Target(api, namespace, name)

        def verdict(obj: Mapping[str, Any]) -> Verdict[str]:
            hostname = hostname_of(obj)
            return hostname, f"hostname {hostname}" if hostname else "status.loadBalancer is empty"

        done = deadline_s if deadline_s is not None else self.timeouts.ready_s
        return self._wait(target, done, "to have a hostname in status.loadBalancer", verdict)

    def exposed(self, kind: str, namespace: str, name: str) -> Exposed | None:
        """How the cluster serves an Ingress or Service now; None when it is not there."""
        api = LOAD_BALANCED.get(kind)
        if api is None:
            raise ValueError(f"not an exposure: {kind} (only {', '.join(LOAD_BALANCED)})")
        try:
            return exposed_of(kind, self._get(Target(api, namespace, name)))
        except ClusterNotFoundError:
            return None

    def service_condition(self, namespace: str, name: str, type: str) -> Condition | None:
        """A condition of a Service, e.g. `TailscaleProxyReady`; None when it is not set."""
        return condition_of(self._get(Target(SERVICE, namespace, name)), type)

    def find_proxy_secret(
        self, parent_kind: str, parent_namespace: str, parent_name: str, operator_namespace: str
    ) -> ProxySecret | None:
        """The state Secret of the proxy the operator made for a parent Ingress or Service."""
        labels = _parent_labels(parent_kind, parent_namespace, parent_name)
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        items = self._list(
            Target(SECRET, operator_namespace),
            self._core.list_namespaced_secret,
            operator_namespace,
            label_selector=selector,
        )
        found = [_proxy_secret(item) for item in items if selector_matches(selector, _labels(item))]
        found.sort(key=lambda s: (s.device_fqdn is None, s.name))  # a provisioned one first
        return found[0] if found else None

    def wait_service_condition(
        self, namespace: str, name: str, type: str, deadline_s: float | None = None
    ) -> Condition:
        """Until the Service's condition `type` is True; `ProxyInvalid` (a Service the operator
        will not expose as it is) raises at once with the operator's message."""
        target = Target(SERVICE, namespace, name)

        def verdict(obj: Mapping[str, Any]) -> Verdict[Condition]:
            found = condition_of(obj, type)
            if found is not None and found.status == "True":
                return found, str(found)
            if found is not None and found.reason == PROXY_INVALID_REASON:
                raise ClusterError(f"{target}: {found}; fix the Service and push again")
            return None, str(found) if found else f"no {type} condition"

        done = deadline_s if deadline_s is not None else self.timeouts.ready_s
        return self._wait(target, done, f"to have {type}=True", verdict)

    def wait_proxy_secret(
        self,
        parent_kind: str,
        parent_namespace: str,
        parent_name: str,
        operator_namespace: str,
        *,
        https: bool = False,
        deadline_s: float | None = None,
    ) -> ProxySecret:
        """Until the proxy's state Secret holds `device_fqdn` (and, with `https`, an
        `https_endpoint` other than `no-https`)."""
        labels = _parent_labels(parent_kind, parent_namespace, parent_name)
        selector = ",".join(f"{k}={v}" for k, v in labels.items())

        def verdict(obj: Mapping[str, Any]) -> Verdict[ProxySecret]:
            secret = _proxy_secret(obj)
            if not secret.device_fqdn:
                return None, f"Secret {secret.name} has no {DEVICE_FQDN_KEY} yet"
            if https and secret.https_endpoint in (None, NO_HTTPS_ENDPOINT):
                endpoint = secret.https_endpoint or "not set"
                return None, f"Secret {secret.name}: {HTTPS_ENDPOINT_KEY} {endpoint}"
            return secret, f"Secret {secret.name} has {DEVICE_FQDN_KEY} {secret.device_fqdn}"

        subject = f"the proxy Secret of {parent_kind} {parent_namespace}/{parent_name}"
        keys = DEVICE_FQDN_KEY + (f" and {HTTPS_ENDPOINT_KEY}" if https else "")
        done = deadline_s if deadline_s is not None else self.timeouts.ready_s
        return self._wait(
            Target(SECRET, operator_namespace),
            done,
            f"to hold {keys}",
            verdict,
            match=lambda obj: selector_matches(selector, _labels(obj)),
            subject=subject,
        )

    def exists(self, api: ApiKind, namespace: str, name: str) -> bool:
        """Whether an object is in the cluster (a kind whose CRD is missing raises)."""
        try:
            self._get(Target(api, namespace, name))
        except ClusterNotFoundError:
            return False
        return True

    def warning_events(self, namespace: str, kind: str, name: str) -> list[WarningEvent]:
        """Warning events about one object, oldest first."""
        fields = f"involvedObject.kind={kind},involvedObject.name={name},type=Warning"
        items = self._list(
            Target(EVENT, namespace),
            self._core.list_namespaced_event,
            namespace,
            field_selector=fields,
        )
        about = [
            e
            for e in items
            if e.get("type") == "Warning"
            and (e.get("involvedObject") or {}).get("kind") == kind
            and (e.get("involvedObject") or {}).get("name") == name
        ]
        about.sort(key=_event_time)  # stable: events without times keep the server's order
        return [
            WarningEvent(str(e.get("reason") or ""), str(e.get("message") or "")) for e in about
        ]

    # --- pods and secrets ---------------------------------------------------------------

    def recycle_pods(
        self, namespace: str, label_selector: str, deadline_s: float | None = None
    ) -> str:
        """Delete the pods matching the selector; return the name of a new one once Ready."""
        target = Target(POD, namespace)
        items = self._list(
            target, self._core.list_namespaced_pod, namespace, label_selector=label_selector
        )
        old = {_name(p) for p in items if selector_matches(label_selector, _labels(p))}
        if not old:
            raise ClusterError(
                f"no pod in namespace {namespace} matches {label_selector!r}; check "
                "kubernetes.operator (namespace and deployment) in the config"
            )
        for pod in sorted(old):
            with contextlib.suppress(ClusterNotFoundError):  # gone already: as wanted
                self._request(
                    "delete",
                    Target(POD, namespace, pod),
                    self._core.delete_namespaced_pod,
                    pod,
                    namespace,
                )
        log.info(
            "deleted pod(s) %s in %s; waiting for a new one", ", ".join(sorted(old)), namespace
        )

        def verdict(obj: Mapping[str, Any]) -> Verdict[str]:
            meta, name = obj.get("metadata") or {}, _name(obj)
            if name in old or not selector_matches(label_selector, _labels(obj)):
                return None, "no new pod yet"
            ready = condition_of(obj, "Ready")
            if ready and ready.status == "True" and not meta.get("deletionTimestamp"):
                return name, f"pod {name} is Ready"
            phase = (obj.get("status") or {}).get("phase") or "no phase"
            return None, f"pod {name} is {phase}" + (f", {ready}" if ready else "")

        done = deadline_s if deadline_s is not None else self.timeouts.recycle_s
        what = f"a new pod matching {label_selector!r} to be Ready"
        return self._wait(target, done, what, verdict, match=lambda obj: True, subject=what)

    def deployment_selector(self, namespace: str, name: str) -> str:
        """The label selector of a Deployment's pods (`app=operator`), from its matchLabels."""
        target = Target(DEPLOYMENT, namespace, name)
        obj = self._get(target)
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not labels:
            raise ClusterError(f"{target} has no spec.selector.matchLabels to find its pods by")
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    def oauth_client_of(self, namespace: str, name: str) -> OAuthClient | None:
        """The OAuth client a Secret holds (`client_id`, `client_secret`: the operator's own);
        None when the Secret lacks them. The secret stays a SecretStr; it is never logged."""
        target = Target(SECRET, namespace, name)
        data = self._get(target).get("data") or {}
        client_id = _decoded(data.get(OPERATOR_CLIENT_ID_KEY))
        secret = _decoded(data.get(OPERATOR_CLIENT_SECRET_KEY))
        if not client_id or not secret:
            return None
        return OAuthClient(client_id, SecretStr(secret))

    def force_sync_external_secret(self, namespace: str, name: str) -> str:
        """Ask External Secrets to sync now (contract C.2); returns the value set."""
        token = self._clock().isoformat()
        self._annotate(Target(EXTERNAL_SECRET, namespace, name), {FORCE_SYNC_ANNOTATION: token})
        return token

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
        match = match or (lambda obj: _name(obj) == target.name)
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


def _parent_labels(kind: str, namespace: str, name: str) -> dict[str, str]:
    """The labels the operator puts on the proxy objects of a parent (contract B.4)."""
    if kind not in PARENT_TYPES:
        raise ValueError(f"the operator makes proxies for {', '.join(PARENT_TYPES)} only")
    return {
        PARENT_RESOURCE_LABEL: name,
        PARENT_NAMESPACE_LABEL: namespace,
        PARENT_TYPE_LABEL: PARENT_TYPES[kind],
    }


def _decoded(value: object) -> str:
    """A Secret's base64 `data` value as text ("" when absent or not text)."""
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value).decode("utf-8").strip()
    except (ValueError, UnicodeDecodeError):
        return ""


def _event_time(event: Mapping[str, Any]) -> str:
    """When an event last happened, as an RFC 3339 string (they sort as text)."""
    meta = event.get("metadata") or {}
    when = event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp")
    return str(when or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _proxy_secret(item: Mapping[str, Any]) -> ProxySecret:
    """Only the two non-secret keys are decoded; the other values are never touched."""
    data = item.get("data") or {}

    def text(key: str) -> str | None:
        raw = data.get(key)
        return base64.b64decode(raw).decode("utf-8", "replace") if raw else None

    return ProxySecret(
        _name(item),
        tuple(sorted(data)),
        text(DEVICE_FQDN_KEY),
        text(HTTPS_ENDPOINT_KEY),
    )


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
