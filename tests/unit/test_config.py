"""`kubernetes` (timeouts, no cluster) and `validate` in config/migration.yaml: defaults,
overrides, bad values refused naming the file and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from ingress2tailscale.config import (
    READY_TIMEOUT_S,
    RECONCILE_TIMEOUT_S,
    RECYCLE_TIMEOUT_S,
    VALIDATE_DEADLINE_S,
    VALIDATE_RETRY_S,
    load_config,
)
from ingress2tailscale.errors import ConfigError
from tests.conftest import FIXTURE_REPO, write_config

OPERATOR = "  operator: {namespace: tailscale, deployment: operator}\n"


def with_kubernetes(lines: str) -> Callable[[str], str]:
    return lambda text: text.replace(OPERATOR, OPERATOR + lines)


def test_the_timeouts_default_to_the_module_constants(tmp_path: Path) -> None:
    timeouts = load_config(write_config(tmp_path, FIXTURE_REPO, cluster=True)).kubernetes.timeouts
    assert (timeouts.reconcile_s, timeouts.ready_s, timeouts.recycle_s) == (
        RECONCILE_TIMEOUT_S,
        READY_TIMEOUT_S,
        RECYCLE_TIMEOUT_S,
    )


def test_the_timeouts_can_be_set_and_other_kubernetes_keys_still_work(tmp_path: Path) -> None:
    edit = with_kubernetes("  context: admin@lab\n  timeouts: {reconcile_s: 90, recycle_s: 30}\n")
    kube = load_config(write_config(tmp_path, FIXTURE_REPO, edit, cluster=True)).kubernetes
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
    path = write_config(tmp_path, FIXTURE_REPO, with_kubernetes(lines), cluster=True)
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config(path)


# --- no cluster, and the `validate` section -------------------------------------------------

KUBERNETES = "kubernetes:\n" + OPERATOR


@pytest.mark.parametrize(
    ("section", "enabled"),
    [
        ("", True),  # no section: the default connection
        ("kubernetes:\n", True),
        ("kubernetes: {}\n", True),
        ("kubernetes: {enabled: false}\n", False),
    ],
)
def test_a_cluster_is_checked_unless_kubernetes_is_disabled(
    tmp_path: Path, section: str, enabled: bool
) -> None:
    config = load_config(
        write_config(tmp_path, FIXTURE_REPO, lambda t: t.replace(KUBERNETES, section), cluster=True)
    )
    assert config.kubernetes.enabled is enabled
    assert config.kubernetes.operator.namespace == "tailscale"


def test_the_validate_section_defaults(tmp_path: Path) -> None:
    checks = load_config(write_config(tmp_path, FIXTURE_REPO, cluster=True)).validation
    assert (checks.reachability, checks.deadline_s, checks.retry_s) == (
        "optional",
        VALIDATE_DEADLINE_S,
        VALIDATE_RETRY_S,
    )
    assert (checks.ca_file, checks.resolve) == (None, None)


def with_validate(lines: str) -> Callable[[str], str]:
    return lambda text: text + "validate:\n" + lines


def test_the_validate_section_is_read_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(trustme.CA().cert_pem.bytes().decode())
    lines = (
        "  reachability: required\n  deadline_s: 30\n  retry_s: 0.5\n  ca_file: ca.pem\n"
        "  resolve:\n"
        "    DB.Example.ts.net.: {5432: '127.0.0.1:40001', 5433: '[::1]:40002'}\n"
        "    pgadmin.example.ts.net: {443: 'localhost:8443'}\n"
    )
    checks = load_config(
        write_config(tmp_path, FIXTURE_REPO, with_validate(lines), cluster=True)
    ).validation
    assert (checks.reachability, checks.deadline_s, checks.retry_s) == ("required", 30, 0.5)
    assert checks.ca_file == (tmp_path / "ca.pem").resolve()
    assert checks.resolve == {
        "db.example.ts.net": {5432: ("127.0.0.1", 40001), 5433: ("::1", 40002)},
        "pgadmin.example.ts.net": {443: ("localhost", 8443)},
    }


def test_a_bare_off_is_reachability_off_not_a_boolean(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, FIXTURE_REPO, with_validate("  reachability: off\n"), cluster=True
    )
    assert load_config(path).validation.reachability == "off"


@pytest.mark.parametrize(
    ("lines", "fragments"),
    [
        ("  reachability: maybe\n", ["validate.reachability", "'required', 'optional' or 'off'"]),
        ("  deadline_s: 0\n", ["validate.deadline_s", "greater than 0"]),
        ("  retry: 2\n", ["validate.retry", "unknown key"]),
        (
            "  resolve: {db.example.ts.net: {5432: '127.0.0.1'}}\n",
            ["validate.resolve", "'127.0.0.1' is not ADDRESS:PORT"],
        ),
        ("  resolve: {db.example.ts.net: {5432: '127.0.0.1:70000'}}\n", ["is not ADDRESS:PORT"]),
        (
            "  resolve: {db.example.ts.net: {0: '127.0.0.1:1'}}\n",
            ["validate.resolve", "greater than or equal to 1"],
        ),
        ("  resolve: {db.example.ts.net: '127.0.0.1:1'}\n", ["map each port to ADDRESS:PORT"]),
        ("  ca_file: missing.pem\n", ["validate.ca_file", "missing.pem does not exist"]),
    ],
)
def test_bad_validate_values_name_the_file_and_key(
    tmp_path: Path, lines: str, fragments: list[str]
) -> None:
    path = write_config(tmp_path, FIXTURE_REPO, with_validate(lines), cluster=True)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text
    for fragment in fragments:
        assert fragment in text


def test_a_ca_file_that_is_no_pem_trust_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    path = write_config(tmp_path, FIXTURE_REPO, with_validate("  ca_file: ca.pem\n"), cluster=True)
    with pytest.raises(ConfigError, match=r"migration\.yaml:\d+: validate\.ca_file: .* not a PEM"):
        load_config(path)
