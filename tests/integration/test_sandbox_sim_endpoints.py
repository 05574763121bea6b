"""The sandbox's loopback endpoints (real sockets, real TLS from its CA) and the fault switches
another process arms through their file."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

from ingress2tailscale.sandbox.endpoints import HTTPS_PORT, TCP_GREETING, Endpoints
from ingress2tailscale.sandbox.faults import (
    DNS_FAILS,
    FAULT_NAMES,
    FLUX_FAILS,
    PROXY_NEVER_READY,
    REFUSE_TAGS,
    Faults,
)

FQDN = "pgadmin.sandbox-tailnet.ts.net"


def test_an_https_endpoint_serves_a_certificate_for_its_name(tmp_path: Path) -> None:
    endpoints = Endpoints(tmp_path / "state")
    try:
        host, port = endpoints.open_https(f"{FQDN}.")  # a trailing dot is the same name
        assert endpoints.names() == {FQDN: {HTTPS_PORT: (host, port)}}
        assert endpoints.ca_path.read_text(encoding="ascii").startswith("-----BEGIN CERTIFICATE")
        context = ssl.create_default_context(cafile=str(endpoints.ca_path))
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=FQDN) as tls,
        ):
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {FQDN}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
        untrusting = ssl.create_default_context()  # the system store does not know the CA
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            untrusting.wrap_socket(raw, server_hostname=FQDN)
    finally:
        endpoints.close_all()


def test_a_tcp_endpoint_greets_and_is_gone_once_closed(tmp_path: Path) -> None:
    endpoints = Endpoints(tmp_path)
    address = endpoints.open_tcp("db.sandbox-tailnet.ts.net", 5432)
    assert endpoints.open_tcp("db.sandbox-tailnet.ts.net", 5432) == address  # idempotent
    with socket.create_connection(address, timeout=5) as conn:
        assert conn.recv(64) == TCP_GREETING
    endpoints.close("db.sandbox-tailnet.ts.net")
    assert endpoints.names() == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def test_dns_fails_hides_a_name_by_hostname_or_fqdn(tmp_path: Path) -> None:
    faults = Faults()
    endpoints = Endpoints(tmp_path, faults)
    try:
        endpoints.open_tcp("db.sandbox-tailnet.ts.net", 5432)
        endpoints.open_https(FQDN)
        faults.arm(DNS_FAILS, "pgadmin")
        assert set(endpoints.names()) == {"db.sandbox-tailnet.ts.net"}
        faults.arm(DNS_FAILS)
        assert endpoints.names() == {}
    finally:
        endpoints.close_all()


def test_faults_saved_by_one_process_are_read_by_another(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    running = Faults.load(path)  # the sandbox: no file yet, nothing armed
    assert running.snapshot() == {}
    command = Faults.load(path)  # the `fault` command
    command.arm(REFUSE_TAGS, "pgadmin")
    command.arm(PROXY_NEVER_READY)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        PROXY_NEVER_READY: ["*"],
        REFUSE_TAGS: ["pgadmin"],
    }
    running.refresh()
    assert running.armed(REFUSE_TAGS, "pgadmin") and not running.armed(REFUSE_TAGS, "db")
    assert running.armed(PROXY_NEVER_READY, "anything")
    command.disarm()
    running.refresh()
    assert running.snapshot() == {}


def test_a_one_shot_fault_is_taken_once() -> None:
    faults = Faults()
    faults.arm(FLUX_FAILS, "apps")
    assert not faults.take(FLUX_FAILS, "infra")
    assert faults.take(FLUX_FAILS, "apps")
    assert not faults.take(FLUX_FAILS, "apps")
    faults.arm(FLUX_FAILS)  # for all: the next reconcile of each one fails
    assert faults.take(FLUX_FAILS, "infra") and not faults.take(FLUX_FAILS, "infra")
    assert faults.take(FLUX_FAILS, "apps") and faults.armed(FLUX_FAILS)
    faults.disarm(FLUX_FAILS)
    assert not faults.armed(FLUX_FAILS) and not faults.take(FLUX_FAILS, "other")


def test_an_unknown_fault_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown fault 'dns-fail'") as refused:
        Faults().arm("dns-fail")
    assert all(name in str(refused.value) for name in FAULT_NAMES)


def test_a_broken_faults_file_is_ignored_until_it_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"refuse-tags": ["a"', encoding="utf-8")
    faults = Faults.load(path)
    assert faults.snapshot() == {}
    path.write_text('{"refuse-tags": ["a"], "no-such-fault": ["b"]}', encoding="utf-8")
    faults.refresh()
    assert faults.snapshot() == {REFUSE_TAGS: ["a"]}
