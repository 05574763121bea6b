"""Real servers on 127.0.0.1 for the reachability probes: a TCP listener, and an HTTPS server
whose certificate a test CA (trustme) issued for a tailnet name."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme

STOP_TIMEOUT_S = 5.0


@contextmanager
def tcp_listener() -> Iterator[int]:
    """A listening socket (connections wait in its backlog, never answered); its port."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield int(server.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def https_server(ca: trustme.CA, name: str, status: int = 200) -> Iterator[tuple[int, list[str]]]:
    """An HTTPS server answering HEAD with `status`, its certificate issued by `ca` for `name`;
    its port and the Host headers it was sent."""
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # a test server: nothing to log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), hosts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(STOP_TIMEOUT_S)
