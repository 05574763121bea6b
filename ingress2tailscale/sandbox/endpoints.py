"""Loopback stand-ins for what the tailnet serves: a TCP listener per exposed Service port and
an HTTPS server per Ingress, its certificate issued for the tailnet name by a sandbox CA.

`names()` is the sandbox's name map (fqdn -> {service port -> (127.0.0.1, real port)}) and
`resolve()` answers from it as the reachability probes' resolver; `ca_path` is their trust
store. Real sockets and
real TLS (`trustme` makes the CA); the `dns-fails` fault takes a name out of the map.
"""

from __future__ import annotations

import contextlib
import http.server
import socketserver
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from ingress2tailscale.sandbox.faults import DNS_FAILS, Faults

HOST = "127.0.0.1"
HTTPS_PORT = 443
ANY_PORT = 0  # `resolve(name, 0)`: every address, as the probes' Resolver protocol says
CA_FILE = "ca.pem"
TCP_GREETING = b"sandbox endpoint\n"
HTTPS_BODY = b"ok: served by the sandbox for {fqdn}\n"
STOP_TIMEOUT_S = 5.0
STOPPING_AT_ONCE = 32  # servers stopped in parallel by `close_all`

Address = tuple[str, int]


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the prober connected and left: all it wanted
            self.request.sendall(TCP_GREETING)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _HTTPSHandler(http.server.BaseHTTPRequestHandler):
    fqdn = ""

    def do_GET(self) -> None:
        self.wfile.write(self._head())

    def do_HEAD(self) -> None:
        self._head()

    def _head(self) -> bytes:
        """200 and the headers of the body (which GET then writes)."""
        body = HTTPS_BODY.replace(b"{fqdn}", self.fqdn.encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def log_message(self, format: str, *args: object) -> None:
        pass  # no access log on the sandbox's stderr


class _HTTPSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class _Listener:
    server: socketserver.BaseServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        address: Address = self.server.server_address  # type: ignore[assignment]
        return address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(STOP_TIMEOUT_S)


@dataclass
class _Served:
    listeners: dict[int, _Listener] = field(default_factory=dict)  # service port -> listener


class Endpoints:
    """The sandbox's endpoints and name map; `close_all()` stops every server."""

    def __init__(self, state_dir: Path, faults: Faults | None = None) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.faults = faults or Faults()
        self._ca = trustme.CA(organization_name="ingress2tailscale sandbox")
        self.ca_path = state_dir / CA_FILE
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._served: dict[str, _Served] = {}
        self._lock = threading.Lock()

    def open_tcp(self, fqdn: str, port: int) -> Address:
        """A listener for `fqdn:port` that accepts and greets; returns its real address."""
        with self._lock:
            served = self._served.setdefault(_name(fqdn), _Served())
            if port not in served.listeners:
                server = _TCPServer((HOST, 0), _TCPHandler)
                served.listeners[port] = _serve(server, f"tcp {fqdn}:{port}")
            return HOST, served.listeners[port].port

    def open_https(self, fqdn: str) -> Address:
        """An HTTPS server for `fqdn` (a certificate for that name from the sandbox CA) that
        answers `GET /` and `HEAD /` with 200; returns its real address."""
        name = _name(fqdn)
        with self._lock:
            served = self._served.setdefault(name, _Served())
            if HTTPS_PORT not in served.listeners:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._ca.issue_cert(name).configure_cert(context)
                handler = type("Handler", (_HTTPSHandler,), {"fqdn": name})
                server = _HTTPSServer((HOST, 0), handler)
                server.socket = context.wrap_socket(server.socket, server_side=True)
                served.listeners[HTTPS_PORT] = _serve(server, f"https {name}")
            return HOST, served.listeners[HTTPS_PORT].port

    def close(self, fqdn: str) -> None:
        """Stop every server of `fqdn` and take it out of the name map."""
        with self._lock:
            served = self._served.pop(_name(fqdn), None)
        for listener in served.listeners.values() if served else ():
            listener.stop()

    def close_all(self) -> None:
        """Every server stopped, at the same time: each takes up to its poll interval to see
        the request (half a second), which for a sandbox of hundreds of names was minutes."""
        with self._lock:
            served, self._served = list(self._served.values()), {}
        listeners = [listener for one in served for listener in one.listeners.values()]
        with ThreadPoolExecutor(max_workers=STOPPING_AT_ONCE) as pool:
            list(pool.map(_Listener.stop, listeners))

    def names(self) -> dict[str, dict[int, Address]]:
        """fqdn -> {service port -> (127.0.0.1, real port)}; a name whose DNS fails is missing."""
        self.faults.refresh()
        with self._lock:
            found = {
                fqdn: {port: (HOST, listener.port) for port, listener in served.listeners.items()}
                for fqdn, served in self._served.items()
            }
        return {
            fqdn: ports
            for fqdn, ports in sorted(found.items())
            if not self.faults.armed(DNS_FAILS, fqdn.split(".")[0])
            and not self.faults.armed(DNS_FAILS, fqdn)
        }

    def resolve(self, host: str, port: int) -> list[Address]:
        """The probes' `Resolver` over the live name map (`port` 0: every address), so a name
        provisioned after the sandbox started resolves too."""
        ports = self.names().get(_name(host), {})
        if port == ANY_PORT:
            return list(dict.fromkeys(ports.values()))
        return [ports[port]] if port in ports else []

    def __repr__(self) -> str:
        return f"Endpoints({sorted(self._served)})"


def _name(fqdn: str) -> str:
    return fqdn.rstrip(".").lower()


def _serve(server: socketserver.BaseServer, what: str) -> _Listener:
    thread = threading.Thread(target=server.serve_forever, name=f"endpoint {what}", daemon=True)
    thread.start()
    return _Listener(server, thread)
