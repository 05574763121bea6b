"""The reachability probes over real loopback sockets: a TCP listener, an HTTPS server with a
certificate from a test CA (trustme) for a tailnet name reached through a StaticResolver, a
certificate for another name, a closed port, a backend that answers 503, a name that does
not resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from ingress2tailscale.adapters.probes import (
    StaticResolver,
    SystemResolver,
    probe_dns,
    probe_https,
    probe_tcp,
)
from tests.loopback import closed_port, https_server, tcp_listener

NAME = "pgadmin.example-tailnet.ts.net"
DB = "tazlab-db.example-tailnet.ts.net"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def listener() -> Iterator[int]:
    with tcp_listener() as port:
        yield port


@pytest.fixture
def served(ca: trustme.CA) -> Iterator[tuple[int, list[str]]]:
    with https_server(ca, NAME) as server:
        yield server


@pytest.fixture
def wrong_name(ca: trustme.CA) -> Iterator[int]:
    with https_server(ca, "grafana.example-tailnet.ts.net") as (port, _):
        yield port


@pytest.fixture
def failing(ca: trustme.CA) -> Iterator[int]:
    with https_server(ca, NAME, status=503) as (port, _):
        yield port


def resolving(name: str, port: int, at: int) -> StaticResolver:
    return StaticResolver({name: {port: ("127.0.0.1", at)}})


# --- resolvers ------------------------------------------------------------------------------


def test_the_static_resolver_answers_only_from_its_table() -> None:
    resolver = StaticResolver({"Tazlab-DB.Example-Tailnet.ts.net.": {5432: ("127.0.0.1", 40001)}})
    assert resolver.resolve(DB, 5432) == [("127.0.0.1", 40001)]
    assert resolver.resolve(DB + ".", 5432) == [("127.0.0.1", 40001)]
    assert resolver.resolve(DB, 0) == [("127.0.0.1", 40001)]  # any port: every address
    assert resolver.resolve(DB, 443) == []  # a port it does not map
    assert resolver.resolve("localhost", 5432) == []  # never the system's resolver


def test_the_system_resolver_resolves_localhost() -> None:
    found = SystemResolver().resolve("localhost", 80)
    assert found and all(port == 80 for _, port in found)


# --- DNS ------------------------------------------------------------------------------------


def test_dns_passes_for_a_name_that_resolves() -> None:
    probe = probe_dns(DB, resolving(DB, 5432, 40001))
    assert (probe.status, probe.reason) == ("pass", f"{DB} resolves to 127.0.0.1:40001")


def test_a_name_this_machine_cannot_resolve_is_inconclusive() -> None:
    probe = probe_dns(DB, StaticResolver({}))
    assert probe.status == "inconclusive"
    assert probe.transient
    assert f"this machine cannot resolve {DB}" in probe.reason
    assert "not on the tailnet" in probe.reason


def test_a_system_lookup_that_fails_is_inconclusive_with_its_reason() -> None:
    probe = probe_dns("no-such-host.invalid", SystemResolver())
    assert probe.status == "inconclusive"
    assert "cannot resolve no-such-host.invalid (" in probe.reason


# --- TCP ------------------------------------------------------------------------------------


def test_tcp_passes_when_the_port_accepts(listener: int) -> None:
    probe = probe_tcp(DB, 5432, resolving(DB, 5432, listener), TIMEOUT)
    assert probe.status == "pass"
    assert probe.reason == f"{DB}:5432 accepted a connection at 127.0.0.1:{listener}"


def test_tcp_refused_is_a_failure_worth_retrying() -> None:
    port = closed_port()
    probe = probe_tcp(DB, 5432, resolving(DB, 5432, port), TIMEOUT)
    assert (probe.status, probe.transient) == ("fail", True)
    assert probe.reason == f"{DB}:5432 at 127.0.0.1:{port}: connection refused"


def test_tcp_to_a_name_that_does_not_resolve_is_inconclusive(listener: int) -> None:
    probe = probe_tcp(DB, 5433, resolving(DB, 5432, listener), TIMEOUT)  # another port
    assert probe.status == "inconclusive"
    assert f"cannot resolve {DB}" in probe.reason


# --- HTTPS ----------------------------------------------------------------------------------


def test_https_passes_with_a_certificate_for_the_name(
    served: tuple[int, list[str]], ca_file: Path
) -> None:
    port, hosts = served
    probe = probe_https(NAME, resolving(NAME, 443, port), ca_file, TIMEOUT)
    assert probe.status == "pass", probe.reason
    assert probe.reason == f"https://{NAME}/ answered 200 with a certificate valid for {NAME}"
    assert hosts == [NAME]  # the Host header names the tailnet name, not the address


def test_a_certificate_for_another_name_fails_at_once(wrong_name: int, ca_file: Path) -> None:
    probe = probe_https(NAME, resolving(NAME, 443, wrong_name), ca_file, TIMEOUT)
    assert (probe.status, probe.transient) == ("fail", False)
    assert "the certificate is not valid" in probe.reason
    assert "Hostname mismatch" in probe.reason


def test_a_certificate_from_an_untrusted_ca_fails(served: tuple[int, list[str]]) -> None:
    probe = probe_https(NAME, resolving(NAME, 443, served[0]), None, TIMEOUT)  # the system's CAs
    assert (probe.status, probe.transient) == ("fail", False)
    assert "the certificate is not valid: unable to get local issuer certificate" in probe.reason


def test_an_answer_of_503_fails_and_may_be_retried(failing: int, ca_file: Path) -> None:
    probe = probe_https(NAME, resolving(NAME, 443, failing), ca_file, TIMEOUT)
    assert (probe.status, probe.transient) == ("fail", True)
    assert probe.reason == f"https://{NAME}/ answered 503: the backend is not up"


def test_https_to_a_closed_port_is_refused(ca_file: Path) -> None:
    port = closed_port()
    probe = probe_https(NAME, resolving(NAME, 443, port), ca_file, TIMEOUT)
    assert (probe.status, probe.transient) == ("fail", True)
    assert probe.reason.endswith(f"at 127.0.0.1:{port}: connection refused")


def test_https_to_a_plain_tcp_port_fails_the_handshake(listener: int, ca_file: Path) -> None:
    """A listener that accepts and never speaks TLS: the handshake times out."""
    probe = probe_https(NAME, resolving(NAME, 443, listener), ca_file, 0.3)
    assert (probe.status, probe.transient) == ("fail", True)
    assert "timed out after 0.3 s" in probe.reason


def test_https_to_a_name_that_does_not_resolve_is_inconclusive(ca_file: Path) -> None:
    probe = probe_https(NAME, StaticResolver({}), ca_file, TIMEOUT)
    assert probe.status == "inconclusive"
    assert f"cannot resolve {NAME}" in probe.reason
