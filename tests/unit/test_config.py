"""`kubernetes.timeouts` in config/migration.yaml: defaults, overrides, unknown keys refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ingress2tailscale.config import (
    READY_TIMEOUT_S,
    RECONCILE_TIMEOUT_S,
    RECYCLE_TIMEOUT_S,
    load_config,
)
from ingress2tailscale.errors import ConfigError
from tests.conftest import FIXTURE_REPO, write_config

OPERATOR = "  operator: {namespace: tailscale, deployment: operator}\n"


def with_kubernetes(lines: str) -> Callable[[str], str]:
    return lambda text: text.replace(OPERATOR, OPERATOR + lines)


def test_the_timeouts_default_to_the_module_constants(tmp_path: Path) -> None:
    timeouts = load_config(write_config(tmp_path, FIXTURE_REPO)).kubernetes.timeouts
    assert (timeouts.reconcile_s, timeouts.ready_s, timeouts.recycle_s) == (
        RECONCILE_TIMEOUT_S,
        READY_TIMEOUT_S,
        RECYCLE_TIMEOUT_S,
    )


def test_the_timeouts_can_be_set_and_other_kubernetes_keys_still_work(tmp_path: Path) -> None:
    edit = with_kubernetes("  context: admin@lab\n  timeouts: {reconcile_s: 90, recycle_s: 30}\n")
    kube = load_config(write_config(tmp_path, FIXTURE_REPO, edit)).kubernetes
    assert kube.context == "admin@lab"
    assert kube.operator.namespace == "tailscale"
    assert (kube.timeouts.reconcile_s, kube.timeouts.recycle_s) == (90, 30)
    assert kube.timeouts.ready_s == READY_TIMEOUT_S


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ("  timeouts: {ready: 10}\n", "kubernetes.timeouts.ready"),
        ("  timeouts: {ready_s: 0}\n", "kubernetes.timeouts.ready_s"),
    ],
)
def test_bad_timeouts_are_config_errors_naming_the_key(
    tmp_path: Path, lines: str, fragment: str
) -> None:
    path = write_config(tmp_path, FIXTURE_REPO, with_kubernetes(lines))
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config(path)
