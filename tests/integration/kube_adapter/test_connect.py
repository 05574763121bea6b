"""`connect`: kubeconfig, context and credential errors, the in-cluster account, an unreachable
server, and the token in no message, log or repr."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingress2tailscale.adapters.kubernetes import connect
from ingress2tailscale.errors import ClusterError, ConfigError
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from tests.integration.kube_adapter.support import (
    FLUX_NS,
    REVISION,
    STALE,
    kustomization,
)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (None, ["does not exist", "set kubernetes.kubeconfig"]),
        ("clusters: [unclosed\n", ["line 2, column 1: not valid YAML"]),
        ("", ["file is empty"]),
    ],
    ids=["missing", "not-yaml", "empty"],
)
def test_a_kubeconfig_that_cannot_be_used_is_a_config_error_naming_it(
    tmp_path: Path, text: str | None, fragments: list[str]
) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        connect(path, "sandbox")
    assert caught.value.exit_code == 2
    assert f"the kubeconfig {path}" in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)


SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@pytest.mark.skipif(SERVICE_ACCOUNT_TOKEN.exists(), reason="inside a pod the account exists")
def test_in_cluster_without_a_service_account_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the environment of a pod, minus its mounted token (no code of ours is replaced)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.43.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ConfigError, match="in-cluster service account"):
        connect()


def test_connect_to_an_unknown_context_lists_the_known_ones(emu: KubeEmulator) -> None:
    with pytest.raises(ConfigError) as caught:
        connect(emu.kubeconfig_path, "admin@tazlab")
    text = str(caught.value)
    assert caught.value.exit_code == 2
    assert f"{emu.kubeconfig_path} has no context 'admin@tazlab'" in text
    assert "known contexts: sandbox" in text


def test_connect_with_refused_credentials_is_a_config_error(
    emu: KubeEmulator, tmp_path: Path
) -> None:
    stale = emu.write_kubeconfig(tmp_path / "stale-kubeconfig", token="an-expired-token")
    with pytest.raises(ConfigError) as caught:
        connect(stale, "sandbox")
    text = str(caught.value)
    assert caught.value.exit_code == 2
    assert f"refused the credentials of context 'sandbox' of {stale} (401)" in text
    assert "an-expired-token" not in text


def test_connect_uses_the_current_context_when_none_is_named(emu: KubeEmulator) -> None:
    with connect(emu.kubeconfig_path) as kube:
        assert kube.context == "sandbox"


def test_an_unreachable_server_is_a_cluster_error_naming_it(tmp_path: Path) -> None:
    with KubeEmulator(tmp_path) as emu:
        url, path = emu.url, emu.kubeconfig_path
    with pytest.raises(ClusterError) as caught:
        connect(path, "sandbox")
    assert f"cannot reach the API server at {url}" in str(caught.value)
    assert "check kubernetes.context ('sandbox'" in str(caught.value)


CANARY = "k8s-token-CANARY-7c1e5b2d4f6a8c0e3f9a"


def test_the_token_appears_in_no_message_log_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with KubeEmulator(tmp_path, token=CANARY) as emu:
        refused = emu.write_kubeconfig(tmp_path / "refused", token=f"{CANARY}-revoked")
        with pytest.raises(ConfigError) as caught:
            connect(refused, "sandbox")
        seen.append(str(caught.value))
        with connect(emu.kubeconfig_path, "sandbox") as kube:
            seen += [repr(kube), str(vars(kube).get("host"))]
            emu.create(kustomization(status=STALE))
            seen.append(repr(kube.kustomization_status(FLUX_NS, "apps")))
            for failing in (
                lambda: kube.kustomization_status(FLUX_NS, "missing"),
                lambda: kube.wait_kustomization_ready(FLUX_NS, "apps", REVISION, 0.3),
                lambda: kube.recycle_pods("tailscale", "app=operator", 0.3),
            ):
                with pytest.raises(ClusterError) as failed:
                    failing()
                seen += [str(failed.value), repr(failed.value)]
    assert CANARY in emu.kubeconfig_path.read_text(encoding="utf-8")  # it was there to leak
    assert [text for text in seen if CANARY in text] == []
    assert CANARY not in caplog.text
