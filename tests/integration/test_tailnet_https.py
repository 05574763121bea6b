"""The `tailnet-https` step against the tailnet emulator: plan, apply, idempotent re-run, and the
failures that leave HTTPS off."""

from __future__ import annotations

import pytest

from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.errors import TailscaleAuthError, TailscaleError
from ingress2tailscale.model import RemoteChange
from ingress2tailscale.sandbox.tailnet.emulator import TailnetState
from ingress2tailscale.steps.tailnet_https import apply_tailnet_https, plan_tailnet_https
from tests.integration.conftest import ClientFactory

ENABLE = RemoteChange("tailscale", "patch-settings", {"httpsEnabled": True})


def writes(state: TailnetState) -> list[str]:
    return [f"{e.method} {e.path}" for e in state.request_log if e.method not in ("GET", "POST")]


def test_plan_says_change_when_https_is_off_and_writes_nothing(
    make_client: ClientFactory, tailnet_state: TailnetState
) -> None:
    step = plan_tailnet_https(make_client(read_only=True))
    assert (step.name, step.action, step.changes) == ("tailnet-https", "change", (ENABLE,))
    assert step.to_json()["changes"] == [
        {"target": "tailscale", "op": "patch-settings", "httpsEnabled": True}
    ]
    assert writes(tailnet_state) == []


def test_apply_enables_https_then_a_second_run_does_nothing(
    operator_client: TailscaleClient, tailnet_state: TailnetState
) -> None:
    first = apply_tailnet_https(operator_client)
    assert (first.action, first.changes) == ("change", (ENABLE,))
    assert tailnet_state.settings["httpsEnabled"] is True
    second = apply_tailnet_https(operator_client)
    assert second.action == "none" and second.changes == ()
    assert plan_tailnet_https(operator_client).action == "none"
    assert writes(tailnet_state) == ["PATCH /api/v2/tailnet/-/settings"]


def test_plan_needs_nothing_when_the_slice_does_not_want_https(
    make_client: ClientFactory,
) -> None:
    assert plan_tailnet_https(make_client(), want=False).action == "none"


def test_apply_fails_clearly_when_the_setting_stays_off(
    make_client: ClientFactory, tailnet_state: TailnetState
) -> None:
    tailnet_state.magic_dns = False
    with pytest.raises(TailscaleError, match="MagicDNS") as caught:
        apply_tailnet_https(make_client())
    assert "networking_settings" in str(caught.value)
    assert tailnet_state.settings["httpsEnabled"] is False


def test_apply_without_networking_scope_names_the_scope(
    make_client: ClientFactory, tailnet_state: TailnetState
) -> None:
    client = make_client(scopes=["feature_settings"])
    assert plan_tailnet_https(client).action == "change"
    with pytest.raises(TailscaleAuthError, match="`networking_settings` scope"):
        apply_tailnet_https(client)
    assert tailnet_state.settings["httpsEnabled"] is False
