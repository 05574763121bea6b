"""The Kubernetes emulator itself, over plain HTTP: the discovery of the product's CRDs, the
token check, 404s shaped like the API server's, and a clean stop."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingress2tailscale.kinds import CUSTOM_KINDS
from ingress2tailscale.sandbox.cluster.kube import SANDBOX_CONTEXT, KubeEmulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    with KubeEmulator(tmp_path) as emulator:
        yield emulator


def fetch(emu: KubeEmulator, path: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token or emu.token}"}
    request = urllib.request.Request(f"{emu.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_discovery_serves_every_crd_the_product_uses(emu: KubeEmulator) -> None:
    for api in CUSTOM_KINDS:
        status, text = fetch(emu, f"/apis/{api.group}/{api.version}")
        assert status == 200, api
        resources: dict[str, Any] = {r["name"]: r for r in json.loads(text)["resources"]}
        assert resources[api.plural]["kind"] == api.kind
        assert resources[api.plural]["namespaced"] is api.namespaced
        assert f"{api.plural}/status" in resources


def test_built_in_kinds_are_served_too(emu: KubeEmulator) -> None:
    status, text = fetch(emu, "/apis/networking.k8s.io/v1")
    assert status == 200
    assert "ingresses" in {r["name"] for r in json.loads(text)["resources"]}


def test_a_wrong_token_is_401(emu: KubeEmulator) -> None:
    status, text = fetch(emu, "/api/v1/namespaces/default/services", token="not-the-token")
    assert status == 401
    assert json.loads(text)["reason"] == "Unauthorized"


def test_404s_look_like_the_api_servers(emu: KubeEmulator) -> None:
    status, text = fetch(emu, "/api/v1/namespaces/default/services/nope")
    assert status == 404
    assert json.loads(text)["reason"] == "NotFound"
    status, text = fetch(emu, "/apis/example.com/v1/namespaces/default/widgets/nope")
    assert (status, text) == (404, "404 page not found\n")


def test_the_kubeconfig_reaches_the_server_with_context_sandbox(emu: KubeEmulator) -> None:
    config = yaml.safe_load(emu.kubeconfig_path.read_text(encoding="utf-8"))
    assert config["current-context"] == SANDBOX_CONTEXT
    assert config["clusters"][0]["cluster"]["server"] == emu.url
    assert emu.url.startswith("http://127.0.0.1:")


def test_seeded_objects_can_be_patched_and_deleted(emu: KubeEmulator) -> None:
    proxy_class = {
        "apiVersion": "tailscale.com/v1alpha1",
        "kind": "ProxyClass",  # cluster-scoped
        "metadata": {"name": "prod"},
        "spec": {"statefulSet": {"pod": {"labels": {"team": "platform"}}}},
    }
    emu.create(proxy_class)
    emu.patch("ProxyClass", None, "prod", {"metadata": {"labels": {"team": "platform"}}})
    stored = emu.get("ProxyClass", None, "prod")
    assert stored is not None and stored["metadata"]["labels"] == {"team": "platform"}
    assert stored["spec"] == proxy_class["spec"]
    emu.delete("ProxyClass", None, "prod")
    assert emu.get("ProxyClass", None, "prod") is None


def test_stop_ends_the_server(tmp_path: Path) -> None:
    emu = KubeEmulator()
    emu.start()
    url, directory = emu.url, emu.directory
    emu.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.url
    assert not directory.exists()  # its own scratch folder is removed
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/version", timeout=5).close()


def test_a_latency_setting_delays_every_answer_until_it_is_taken_away(emu: KubeEmulator) -> None:
    """What the drift benchmark sets: a remote API server's round trip on every request."""
    emu.latency_s = 0.3
    started = time.monotonic()
    assert emu.get("Service", "default", "nothing-here") is None  # a 404 waits too
    assert time.monotonic() - started >= 0.3
    emu.latency_s = 0.0
    assert emu.latency_s == 0.0 and emu.list("Service") == []
