"""Sync client for the Kubernetes API: Flux reconciles and status, the Tailscale operator's
status and proxy Secrets, Warning events, pod recycling and ExternalSecret refreshes, each over
`KubeApi`'s requests and waits. No Secret value is read but the two non-secret keys of the
proxy Secret, and the operator's OAuth client kept a `SecretStr`."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from ingress2tailscale.adapters.kubernetes.api import KubeApi, Verdict
from ingress2tailscale.adapters.kubernetes.models import (
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
    labels_of,
    name_of,
    same_revision,
    selector_matches,
)
from ingress2tailscale.adapters.tailscale_models import OAuthClient
from ingress2tailscale.errors import (
    ClusterError,
    ClusterNotFoundError,
    ConfigError,
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

FLUX_KINDS = {k.kind: k for k in (GIT_REPOSITORY, KUSTOMIZATION)}
LOAD_BALANCED = {k.kind: k for k in (INGRESS, SERVICE)}

log = logging.getLogger(__name__)


class KubeClient(KubeApi):
    """The Kubernetes API through an injected `kubernetes.client.ApiClient`."""

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
        found = [
            _proxy_secret(item) for item in items if selector_matches(selector, labels_of(item))
        ]
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
            match=lambda obj: selector_matches(selector, labels_of(obj)),
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
        old = {name_of(p) for p in items if selector_matches(label_selector, labels_of(p))}
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
            meta, name = obj.get("metadata") or {}, name_of(obj)
            if name in old or not selector_matches(label_selector, labels_of(obj)):
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


def _proxy_secret(item: Mapping[str, Any]) -> ProxySecret:
    """Only the two non-secret keys are decoded; the other values are never touched."""
    data = item.get("data") or {}

    def text(key: str) -> str | None:
        raw = data.get(key)
        return base64.b64decode(raw).decode("utf-8", "replace") if raw else None

    return ProxySecret(
        name_of(item),
        tuple(sorted(data)),
        text(DEVICE_FQDN_KEY),
        text(HTTPS_ENDPOINT_KEY),
    )
