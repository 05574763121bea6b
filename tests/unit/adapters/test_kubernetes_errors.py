"""`KubeClient._error_for`: each fault of the kubernetes client (its ApiException, urllib3's
transport errors) becomes a ClusterError that says what to do, and never holds the token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client as k8s

from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.kubernetes.models import Target, same_revision, selector_matches
from ingress2tailscale.errors import ClusterError, ClusterNotFoundError
from ingress2tailscale.kinds import KUSTOMIZATION, SECRET, SERVICE

HOST = "https://k8s.example.test:6443"
TOKEN = "k8s-token-TESTONLY-9f8e7d6c5b4a"


@pytest.fixture
def kube() -> Iterator[KubeClient]:
    configuration = k8s.Configuration(host=HOST, api_key={"BearerToken": f"Bearer {TOKEN}"})
    with KubeClient(k8s.ApiClient(configuration), context="admin@lab", source="/k/config") as c:
        yield c


def api_error(status: int, reason: str, body: object) -> k8s.ApiException:
    text = body if isinstance(body, str) else json.dumps(body)
    return k8s.ApiException(status=status, reason=reason, body=text)


def status_body(code: int, reason: str, message: str) -> dict[str, object]:
    return {
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def test_401_says_the_credentials_were_refused(kube: KubeClient) -> None:
    exc = api_error(401, "Unauthorized", status_body(401, "Unauthorized", "Unauthorized"))
    error = kube._error_for(exc, "get", Target(SERVICE, "db", "db"))
    assert type(error) is ClusterError
    assert "refused the credentials" in str(error)
    assert "'admin@lab' in /k/config" in str(error)


def test_403_names_the_verb_and_the_resource(kube: KubeClient) -> None:
    message = (
        'kustomizations.kustomize.toolkit.fluxcd.io "apps" is forbidden: User "ci" cannot '
        'patch resource "kustomizations" in API group "kustomize.toolkit.fluxcd.io"'
    )
    exc = api_error(403, "Forbidden", status_body(403, "Forbidden", message))
    error = kube._error_for(exc, "patch", Target(KUSTOMIZATION, "flux-system", "apps"))
    text = str(error)
    assert "RBAC denied `patch` on kustomizations.kustomize.toolkit.fluxcd.io" in text
    assert "in namespace flux-system" in text
    assert "Role or ClusterRole binding" in text


def test_404_on_a_path_the_server_lacks_is_a_missing_crd(kube: KubeClient) -> None:
    exc = api_error(404, "Not Found", "404 page not found\n")
    error = kube._error_for(exc, "get", Target(KUSTOMIZATION, "flux-system", "apps"))
    assert type(error) is ClusterError
    assert "the CRD kustomizations.kustomize.toolkit.fluxcd.io is not installed" in str(error)
    assert "install Flux" in str(error)


def test_404_of_a_missing_object_is_not_found(kube: KubeClient) -> None:
    body = status_body(404, "NotFound", 'kustomizations "apps" not found')
    error = kube._error_for(
        api_error(404, "Not Found", body), "get", Target(KUSTOMIZATION, "f", "a")
    )
    assert isinstance(error, ClusterNotFoundError)
    assert "Kustomization f/a is not in the cluster" in str(error)


def test_connection_refused_names_the_host_and_the_context(kube: KubeClient) -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    exc = urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/db/services/db", refused)  # type: ignore[arg-type]
    error = kube._error_for(exc, "get", Target(SERVICE, "db", "db"))
    assert type(error) is ClusterError
    text = str(error)
    assert f"cannot reach the API server at {HOST}" in text
    assert "connection refused" in text
    assert "check kubernetes.context ('admin@lab' in /k/config)" in text


def test_a_read_timeout_is_unreachable_too(kube: KubeClient) -> None:
    exc = urllib3.exceptions.ReadTimeoutError(None, "/version", "Read timed out.")  # type: ignore[arg-type]
    error = kube._error_for(exc, "get", Target(SECRET, "tailscale"))
    assert "cannot reach the API server" in str(error)
    assert "timed out" in str(error)


def test_no_message_holds_the_token_even_if_the_server_echoes_it(kube: KubeClient) -> None:
    echoed = status_body(500, "InternalError", f"proxy said: Authorization: Bearer {TOKEN}")
    exc = api_error(500, "Internal Server Error", echoed)
    error = kube._error_for(exc, "get", Target(SERVICE, "db", "db"))
    assert TOKEN not in str(error)
    assert "[redacted]" in str(error)
    assert TOKEN not in repr(kube)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=operator", {"app": "operator", "x": "y"}, True),
        ("app=operator", {"app": "other"}, False),
        ("app==operator,tier!=db", {"app": "operator", "tier": "web"}, True),
        ("app=operator,tier!=db", {"app": "operator", "tier": "db"}, False),
        ("managed", {"managed": "true"}, True),
        ("!managed", {"managed": "true"}, False),
        ("", {}, True),
    ],
)
def test_selectors_are_checked_client_side(
    selector: str, labels: dict[str, str], expected: bool
) -> None:
    assert selector_matches(selector, labels) is expected


def test_set_based_selectors_are_refused() -> None:
    with pytest.raises(ValueError, match="set-based"):
        selector_matches("app in (a,b)", {"app": "a"})


def test_a_bare_sha_names_the_flux_revision() -> None:
    assert same_revision("main@sha1:4507abc", "4507abc")
    assert same_revision("main@sha1:4507abc", "main@sha1:4507abc")
    assert not same_revision("main@sha1:4507abc", "9999")
    assert not same_revision(None, "4507abc")
