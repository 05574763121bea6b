"""Reachability over real sockets: does a tailnet name resolve here, accept a TCP connection,
answer HTTPS with a certificate valid for that name?

The resolver and the trust store are parameters, so the same code probes the real tailnet
(MagicDNS through getaddrinfo, the system's CAs) and loopback servers (a static name map, a
test CA). Built on the stdlib's `socket`, `ssl` and `http.client`: the probe connects to the
address the resolver chose while TLS checks the certificate against the *name* (SNI and hostname
verification via `server_hostname`), which httpx would need a custom network backend for; one
HEAD request is all it asks of HTTP.

Each probe returns a `Probe`: its status, a reason in words, and whether another attempt could
change the answer (`transient`; the caller retries those until its deadline, then reports the
status as it stands):
- the name does not resolve here, or there is no route to its address: inconclusive, transient.
  This machine may not be on the tailnet (or MagicDNS is off); a new name takes a moment.
- refused, timed out, reset, a failed TLS handshake: fail, transient. The host is there and says
  no (a closed port; a policy that drops the packets), but the proxy may still be starting or
  fetching its certificate.
- a certificate not valid for the name: fail at once. The proxy serves one certificate, for its
  MagicDNS name; waiting does not change it.
- an HTTP answer of 500 or more: fail, transient (the proxy is up, its backend not yet);
  any other answer passes.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ingress2tailscale.model import CheckStatus

__all__ = [
    "HTTPS_PORT",
    "FileResolver",
    "Probe",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "probe_dns",
    "probe_https",
    "probe_tcp",
]

HTTPS_PORT = 443  # the operator's Ingress proxies serve HTTPS here only (contract B.2)
ANY_PORT = 0  # `resolve(name, ANY_PORT)`: every address the name has
USER_AGENT = "ingress2tailscale-probe"
NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH}
NOT_HERE = (
    "this machine cannot resolve {name} ({why}): it is not on the tailnet, or MagicDNS is off "
    "here; run where `tailscale status` works, or set validate.resolve"
)

Address = tuple[str, int]


class Resolver(Protocol):
    """Where to connect for `host:port`. No address (or an OSError) means it does not resolve;
    `port` 0 asks for every address the name has."""

    def resolve(self, host: str, port: int) -> list[Address]: ...


class SystemResolver:
    """The system's resolver (getaddrinfo): MagicDNS on a machine that is on the tailnet."""

    def resolve(self, host: str, port: int) -> list[Address]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos))

    def __repr__(self) -> str:
        return "SystemResolver()"


class StaticResolver:
    """A fixed map, like curl's `--resolve`: name -> {port -> (address, port)}. A name or port
    not in the map does not resolve (it never falls back to the system's resolver)."""

    def __init__(self, table: Mapping[str, Mapping[int, Address]]) -> None:
        self._table = {
            _canonical(name): {int(p): (str(a[0]), int(a[1])) for p, a in ports.items()}
            for name, ports in table.items()
        }

    def resolve(self, host: str, port: int) -> list[Address]:
        ports = self._table.get(_canonical(host), {})
        if port == ANY_PORT:
            return list(dict.fromkeys(ports.values()))
        return [ports[port]] if port in ports else []

    def __repr__(self) -> str:
        return f"StaticResolver({sorted(self._table)})"


class FileResolver:
    """The map of `StaticResolver`, read from a JSON file at every lookup (`{"name": {"443":
    ["127.0.0.1", 40001]}}`): for names that come and go while a run waits, as a lab's (or the
    sandbox's) name service publishes them. A missing or unreadable file resolves nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def resolve(self, host: str, port: int) -> list[Address]:
        try:
            table = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(table, dict):
            return []
        try:
            return StaticResolver(table).resolve(host, port)
        except (TypeError, ValueError, IndexError, AttributeError):
            return []

    def __repr__(self) -> str:
        return f"FileResolver({str(self.path)!r})"


@dataclass(frozen=True)
class Probe:
    status: CheckStatus
    reason: str
    transient: bool = False  # another attempt could change the answer

    @property
    def settled(self) -> bool:
        return self.status == "pass" or not self.transient


def probe_dns(name: str, resolver: Resolver) -> Probe:
    """`name` resolves on this machine (through `resolver`)."""
    addresses, why = _resolve(resolver, name, ANY_PORT)
    if not addresses:
        return Probe("inconclusive", NOT_HERE.format(name=name, why=why), transient=True)
    return Probe("pass", f"{name} resolves to {', '.join(_show(a) for a in addresses)}")


def probe_tcp(name: str, port: int, resolver: Resolver, timeout: float) -> Probe:
    """A TCP connection to `name:port` is accepted (at one of its addresses)."""
    addresses, why = _resolve(resolver, name, port)
    if not addresses:
        return Probe("inconclusive", NOT_HERE.format(name=name, why=why), transient=True)
    failures = []
    for address in addresses:
        try:
            with socket.create_connection(address, timeout=timeout):
                return Probe("pass", f"{name}:{port} accepted a connection at {_show(address)}")
        except OSError as exc:
            failures.append(_connect_failure(f"{name}:{port}", address, exc, timeout))
    return _worst(failures)


def probe_https(
    name: str, resolver: Resolver, ca_file: Path | None, timeout: float, port: int = HTTPS_PORT
) -> Probe:
    """`https://name/` answers over TLS with a certificate valid for `name`, trusted by
    `ca_file` (a PEM bundle; None: the system's trust store)."""
    addresses, why = _resolve(resolver, name, port)
    if not addresses:
        return Probe("inconclusive", NOT_HERE.format(name=name, why=why), transient=True)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    failures = []
    for address in addresses:
        probe = _https_once(name, port, address, context, timeout)
        if probe.status == "pass":
            return probe
        failures.append(probe)
    return _worst(failures)


def _https_once(
    name: str, port: int, address: Address, context: ssl.SSLContext, timeout: float
) -> Probe:
    where = f"https://{name}{'' if port == HTTPS_PORT else f':{port}'}/"
    connection = _PinnedHTTPSConnection(name, port, address, context, timeout)
    try:
        connection.request("HEAD", "/", headers={"User-Agent": USER_AGENT})
        status = connection.getresponse().status
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or exc.reason or "not trusted"
        return Probe("fail", f"{where} at {_show(address)}: the certificate is not valid: {why}")
    except ssl.SSLError as exc:
        reason = exc.reason or type(exc).__name__
        return Probe("fail", f"{where}: the TLS handshake failed ({reason})", transient=True)
    except http.client.HTTPException as exc:
        what = type(exc).__name__
        return Probe("fail", f"{where}: connected, but no HTTP answer ({what})", transient=True)
    except OSError as exc:
        return _connect_failure(where, address, exc, timeout)
    finally:
        connection.close()
    if status >= 500:
        return Probe("fail", f"{where} answered {status}: the backend is not up", transient=True)
    return Probe("pass", f"{where} answered {status} with a certificate valid for {name}")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to `name` that connects to `address`: SNI, the hostname check and
    the Host header all use `name`."""

    def __init__(
        self, name: str, port: int, address: Address, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(name, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection(self._address, timeout=self.timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _resolve(resolver: Resolver, name: str, port: int) -> tuple[list[Address], str]:
    try:
        found = resolver.resolve(name, port)
    except OSError as exc:
        return [], exc.strerror or type(exc).__name__
    return list(found), "no address"


def _connect_failure(where: str, address: Address, exc: OSError, timeout: float) -> Probe:
    at = f"{where} at {_show(address)}"
    if isinstance(exc, TimeoutError):
        return Probe("fail", f"{at}: timed out after {timeout:g} s", transient=True)
    if isinstance(exc, ConnectionRefusedError):
        return Probe("fail", f"{at}: connection refused", transient=True)
    if exc.errno in NO_ROUTE:
        why = f"{at}: no route ({exc.strerror}): this machine may not be on the tailnet"
        return Probe("inconclusive", why, transient=True)
    return Probe("fail", f"{at}: {exc.strerror or type(exc).__name__}", transient=True)


def _worst(failures: list[Probe]) -> Probe:
    """Of several addresses' answers, the one that says most: a definite fail first."""
    order = {"fail": 0, "inconclusive": 1, "pass": 2}
    return min(failures, key=lambda p: (order[p.status], p.transient))


def _canonical(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
