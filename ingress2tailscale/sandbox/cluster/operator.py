"""A small Tailscale Kubernetes operator on the emulated cluster and tailnet (contract §B).

It keeps its own pod (`app: <deployment>`); a deleted pod is replaced by a new one, Ready after
a short start, and only then are the OAuth client's scopes read again: a running operator keeps
the scopes it started with (B.1). For each tailscale-class Ingress and LoadBalancer Service it
makes what the real one makes (B.2–B.4): a StatefulSet and a state Secret in its namespace with
the `tailscale.com/parent-resource*` labels, a device in the tailnet, the status hostname, the
Service condition `TailscaleProxyReady`, and a loopback endpoint. It fails the real ways:
without the `services` scope nothing is provisioned (#19471); tags its tag does not own give no
device and a Warning event; tailnet HTTPS off leaves an Ingress without status, with a Warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingress2tailscale.kinds import (
    DEPLOYMENT,
    DEVICE_FQDN_KEY,
    EVENT,
    HTTPS_ENDPOINT_KEY,
    NAMESPACE,
    OPERATOR_OAUTH_SECRET,
    POD,
    PROXY_READY_CONDITION,
    SECRET,
    SERVICE,
    ApiKind,
)
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.cluster.loop import DEFAULT_INTERVAL_S, PollLoop
from ingress2tailscale.sandbox.cluster.proxies import (
    Parent,
    add_device,
    deployment_body,
    event_body,
    now_text,
    oauth_secret_body,
    parents_of,
    remove_device,
    secret_body,
    statefulset_body,
)
from ingress2tailscale.sandbox.endpoints import Endpoints
from ingress2tailscale.sandbox.faults import (
    API_500,
    HTTPS_OFF,
    PROXY_NEVER_READY,
    REFUSE_TAGS,
    Faults,
)
from ingress2tailscale.sandbox.tailnet.auth import LEGACY_SCOPES
from ingress2tailscale.sandbox.tailnet.policy_eval import parse_policy
from ingress2tailscale.sandbox.tailnet.state import Fault, TailnetState

OPERATOR_TAG = "tag:k8s-operator"  # OPERATOR_INITIAL_TAGS, when the client has no tags
NEEDED_SCOPES = ("auth_keys", "devices:core", "services")
START_DELAY_S = 0.3  # a new operator pod is Ready this long after it appears
API_DOWN_REQUESTS = 1_000_000  # `api-500`: every request fails while it is armed
CAPVER = "109"
SERVICES_404 = (
    'failed to list tailscale services: Status: 404, Message: "not found" '
    "(client may be missing the services scope)"
)
FORBIDDEN = (
    "failed to provision: Status: 403, Message: calling actor does not have enough "
    "permissions to perform this function"
)
TAGS_REFUSED = (
    "failed to provision: failed to create or get API key secret: Status: 400, "
    'Message: "requested tags [{tags}] are invalid or not permitted"'
)
PENDING = "no Tailscale hostname known yet, waiting for proxy pod to finish auth"
NO_HTTPS = (
    "HTTPS is not enabled on the tailnet; enable HTTPS certificates in the tailnet's "
    "settings so the Ingress can serve"
)
Verdict = tuple[str, str, str]  # (ready | pending | no-https | failed, reason, message)

log = logging.getLogger(__name__)


@dataclass
class _Proxy:
    """What the operator made for one parent, and the verdict it made it under."""

    verdict: tuple[Any, ...]
    statefulset: str | None = None
    device_id: str | None = None
    fqdn: str | None = None
    events: list[str] = field(default_factory=list)


class OperatorSimulator(PollLoop):
    """The operator's pod and its Ingress and Service reconcilers."""

    name = "operator-simulator"

    def __init__(
        self,
        kube: KubeEmulator,
        tailnet: TailnetState,
        tailnet_name: str,
        operator_namespace: str = "tailscale",
        operator_deployment: str = "operator",
        client_id: str = "",
        endpoints: Endpoints | None = None,
        faults: Faults | None = None,
        *,
        oauth_secret: str = OPERATOR_OAUTH_SECRET,
        interval_s: float = DEFAULT_INTERVAL_S,
        start_delay_s: float = START_DELAY_S,
    ) -> None:
        super().__init__(interval_s)
        self.kube, self.tailnet, self.tailnet_name = kube, tailnet, tailnet_name
        self.namespace, self.deployment, self.client_id = (
            operator_namespace,
            operator_deployment,
            client_id,
        )
        self.oauth_secret = oauth_secret  # the Secret's name (`kubernetes.operator.oauth_secret`)
        self.endpoints, self.faults = endpoints, faults or Faults()
        self.start_delay_s = start_delay_s
        self.pod: str | None = None  # the current pod's name
        self.scopes: frozenset[str] | None = None  # read at pod start; None: not running
        self._pod_since = 0.0
        self._template_hash = secrets.token_hex(5)  # a Deployment's pods share their ReplicaSet's
        self._proxies: dict[tuple[str, str, str], _Proxy] = {}
        self._api_fault: Fault | None = None
        self._statefulset: ApiKind | None = None

    # --- the pass -----------------------------------------------------------------------

    def step(self) -> None:
        with self.lock:
            self.faults.refresh()
            self._tailnet_faults()
            self._keep_pod()
            if self.scopes is None:
                return  # no operator running: nothing changes
            parents = {p.key: p for p in parents_of(self.kube)}
            for key in [k for k in self._proxies if k not in parents]:
                self._clean_up(key, gone=self._gone(key))
            for parent in parents.values():
                self._reconcile(parent)

    def _tailnet_faults(self) -> None:
        with self.tailnet.lock:
            if self.faults.armed(HTTPS_OFF):
                self.tailnet.settings["httpsEnabled"] = False
            down = self.faults.armed(API_500)
            if down and self._api_fault not in self.tailnet.faults:
                self._api_fault = Fault(500, API_DOWN_REQUESTS)
                self.tailnet.faults.insert(0, self._api_fault)
            elif not down and self._api_fault is not None:
                if self._api_fault in self.tailnet.faults:
                    self.tailnet.faults.remove(self._api_fault)
                self._api_fault = None

    # --- the operator's own pod ---------------------------------------------------------

    def install(self) -> None:
        """What the operator's chart installs: its namespace, the Deployment (whose selector
        finds its pods) and the OAuth Secret with the client's credentials (B.1). Each pod
        start installs what is missing; a sandbox calls it first, so the Secret is there
        before the loop's first pass."""
        if self.kube.get(NAMESPACE, None, self.namespace) is None:
            self.kube.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
            )
        if self.kube.get(DEPLOYMENT, self.namespace, self.deployment) is None:
            self.kube.create(deployment_body(self.namespace, self.deployment))
        with self.tailnet.lock:
            client = self.tailnet.oauth_clients.get(self.client_id)
            secret = client.secret if client else ""
        if secret and self.kube.get(SECRET, self.namespace, self.oauth_secret) is None:
            body = oauth_secret_body(self.namespace, self.oauth_secret, self.client_id, secret)
            self.kube.create(body)

    def _keep_pod(self) -> None:
        if self.pod is None:
            self.install()
        labels = {"app": self.deployment, "pod-template-hash": self._template_hash}
        live = {
            _name(p)
            for p in self.kube.list(POD, self.namespace)
            if (_meta(p).get("labels") or {}).get("app") == self.deployment
            and not _meta(p).get("deletionTimestamp")
        }
        if self.pod not in live:  # deleted (recycled): a new pod starts, scopes not read yet
            self.scopes = None
            self.pod = f"{self.deployment}-{self._template_hash}-{secrets.token_hex(3)[:5]}"
            self._pod_since = time.monotonic()
            self.kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": self.pod, "namespace": self.namespace, "labels": labels},
                    "spec": {
                        "containers": [{"name": "operator", "image": "tailscale/k8s-operator"}]
                    },
                    "status": {"phase": "Pending", "conditions": [_pod_ready("False")]},
                }
            )
        elif self.scopes is None and time.monotonic() - self._pod_since >= self.start_delay_s:
            self.scopes = self._client_scopes()  # read once, at start (tsclient.go)
            status = {"phase": "Running", "conditions": [_pod_ready("True")]}
            self.kube.patch(POD, self.namespace, self.pod, {"status": status}, subresource="status")
            log.info("operator pod %s is Ready with scopes %s", self.pod, sorted(self.scopes))

    def _client_scopes(self) -> frozenset[str]:
        with self.tailnet.lock:
            client = self.tailnet.oauth_clients.get(self.client_id)
            return frozenset(client.scopes) if client else frozenset()

    def _operator_tags(self) -> set[str]:
        with self.tailnet.lock:
            client = self.tailnet.oauth_clients.get(self.client_id)
            return set(client.tags) if client and client.tags else {OPERATOR_TAG}

    def _gone(self, key: tuple[str, str, str]) -> bool:
        kind, namespace, name = key
        api = Parent(kind, namespace, name, "", (), ()).api
        return self.kube.get(api, namespace, name) is None

    # --- one parent ---------------------------------------------------------------------

    def _verdict(self, parent: Parent) -> Verdict:
        """What happens to a parent with the scopes this pod started with, the tailnet's
        policy and settings, and the faults armed."""
        scopes = self.scopes or frozenset()
        if "services" not in scopes:
            return "failed", "InvalidOAuth", SERVICES_404
        # a legacy scope grants its successor, as the tailnet's API treats it (`devices`)
        if any(s not in scopes and LEGACY_SCOPES.get(s) not in scopes for s in NEEDED_SCOPES):
            return "failed", "ProvisioningFailed", FORBIDDEN
        unowned = self._unowned(parent)
        if unowned:
            return "failed", "ProvisioningFailed", TAGS_REFUSED.format(tags=" ".join(unowned))
        if self.faults.armed(PROXY_NEVER_READY, parent.hostname):
            return "pending", "ProxyPending", PENDING
        if parent.kind == "Ingress" and not self._https_enabled():
            return "no-https", "HTTPSNotEnabled", NO_HTTPS
        return "ready", "ProxyCreated", "ProxyCreated"

    def _unowned(self, parent: Parent) -> list[str]:
        if self.faults.armed(REFUSE_TAGS, parent.hostname):
            return list(parent.tags)
        with self.tailnet.lock:
            text = self.tailnet.policy
        try:
            owners = parse_policy(text).get("tagOwners") or {}
        except Exception:  # an unreadable policy owns nothing
            owners = {}
        mine = self._operator_tags()
        return [t for t in parent.tags if not mine & set(owners.get(t) or [])]

    def _https_enabled(self) -> bool:
        with self.tailnet.lock:
            return bool(self.tailnet.settings.get("httpsEnabled"))

    def _reconcile(self, parent: Parent) -> None:
        what, reason, message = self._verdict(parent)
        verdict = (what, reason, message, parent.hostname, parent.tags, parent.ports)
        known = self._proxies.get(parent.key)
        if known is not None and known.verdict == verdict:
            return
        if known is not None:
            self._clean_up(parent.key, gone=False)
        proxy = self._proxies[parent.key] = _Proxy(verdict)
        if what == "failed":
            self._event(parent, proxy, reason, message)
            self._set_condition(parent, "False", "ProxyFailed", message)
            return
        sts = statefulset_body(self._statefulset_kind(), self.namespace, parent)
        self.kube.create(sts)
        proxy.statefulset = str(sts["metadata"]["name"])
        if what == "pending":
            self._proxy_secret(parent, proxy, {})
            self._set_condition(parent, "False", reason, message)
            return
        device = add_device(self.tailnet, parent, self.tailnet_name)
        proxy.device_id, proxy.fqdn = str(device["id"]), str(device["name"])
        data = {
            "device_id": proxy.device_id,
            DEVICE_FQDN_KEY: f"{proxy.fqdn}.",
            "device_ips": json.dumps(device["addresses"]),
            "tailscale_capver": CAPVER,
            "pod_uid": secrets.token_hex(8),
        }
        if parent.kind == "Ingress":
            data[HTTPS_ENDPOINT_KEY] = proxy.fqdn if what == "ready" else "no-https"
        self._proxy_secret(parent, proxy, data)
        if what == "no-https":
            self._event(parent, proxy, reason, message)
            return
        self._publish(parent, proxy.fqdn, device["addresses"][0])

    def _publish(self, parent: Parent, fqdn: str, address: str) -> None:
        """The status hostname, the condition, and the endpoint the prober reaches."""
        if parent.kind == "Ingress":
            entries: list[dict[str, Any]] = [
                {"hostname": fqdn, "ports": [{"port": 443, "protocol": "TCP"}]}
            ]
            if self.endpoints is not None:
                self.endpoints.open_https(fqdn)
        else:
            entries = [{"hostname": fqdn}, {"ip": address}]
            for port in parent.ports:
                if self.endpoints is not None:
                    self.endpoints.open_tcp(fqdn, port)
        status = {"status": {"loadBalancer": {"ingress": entries}}}
        self.kube.patch(parent.api, parent.namespace, parent.name, status, subresource="status")
        self._set_condition(parent, "True", "ProxyCreated", "ProxyCreated")

    def _set_condition(self, parent: Parent, status: str, reason: str, message: str) -> None:
        if parent.kind != "Service":
            return  # an Ingress has no conditions (B.2)
        condition = {
            "type": PROXY_READY_CONDITION,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now_text(),
        }
        patch = {"status": {"conditions": [condition]}}
        self.kube.patch(SERVICE, parent.namespace, parent.name, patch, subresource="status")

    # --- proxy objects, events --------------------------------------------------------

    def _statefulset_kind(self) -> ApiKind:
        if self._statefulset is None:
            self._statefulset = self.kube.api_kind("apps/v1", "StatefulSet")
        return self._statefulset

    def _proxy_secret(self, parent: Parent, proxy: _Proxy, data: Mapping[str, str]) -> None:
        name = f"{proxy.statefulset}-0"
        self.kube.create(secret_body(name, self.namespace, parent, data))

    def _event(self, parent: Parent, proxy: _Proxy, reason: str, message: str) -> None:
        event = event_body(parent, reason, message)
        self.kube.create(event)
        proxy.events.append(str(event["metadata"]["name"]))

    def _clean_up(self, key: tuple[str, str, str], *, gone: bool) -> None:
        """Remove what was made for a parent (finalizer's cleanup); its status and condition
        too while it exists, and its Warning events with it when it is gone."""
        proxy = self._proxies.pop(key)
        kind, namespace, name = key
        if proxy.statefulset is not None:
            for api, obj in (
                (self._statefulset_kind(), proxy.statefulset),
                (SECRET, f"{proxy.statefulset}-0"),
            ):
                with contextlib.suppress(LookupError):
                    self.kube.delete(api, self.namespace, obj)
        if proxy.device_id is not None:
            remove_device(self.tailnet, proxy.device_id)
        if proxy.fqdn is not None and self.endpoints is not None:
            self.endpoints.close(proxy.fqdn)
        if gone:
            for event in proxy.events:
                with contextlib.suppress(LookupError):
                    self.kube.delete(EVENT, namespace, event)
            return
        api = Parent(kind, namespace, name, "", (), ()).api
        with_status = self.kube.get(api, namespace, name)
        if with_status is not None:
            patch = {"status": {"loadBalancer": {"ingress": None}, "conditions": None}}
            self.kube.patch(api, namespace, name, patch, subresource="status")


def _pod_ready(status: str) -> dict[str, str]:
    return {"type": "Ready", "status": status, "lastTransitionTime": now_text()}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")
