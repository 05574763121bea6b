"""A temporary Prefect server for one command-line run, when no PREFECT_API_URL is set; and
what the sandbox's server (`flows/sandbox_server.py`) shares with it.

Ours rather than Prefect's own (which the same command starts): it is told by the kernel to
stop when the command line's process ends, even by SIGKILL (Linux `PR_SET_PDEATHSIG`), so it
never outlives the run. It is started before Prefect is imported, which then uses it.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from ingress2tailscale.errors import OrchestratorError

STARTUP_TIMEOUT_S = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 120))
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1

log = logging.getLogger("ingress2tailscale.prefect")
KEEP_ONE = "keep one running (`prefect server start`) and set PREFECT_API_URL"


def start_temporary_server() -> subprocess.Popen[bytes] | None:
    """Start the server and point PREFECT_API_URL at it; None when a server is configured."""
    return begin_temporary_server()()


def begin_temporary_server(
    keep: str = KEEP_ONE,
) -> Callable[[], subprocess.Popen[bytes] | None]:
    """Start the server; the function returned waits until it answers, then points
    PREFECT_API_URL at it (other work can go on while the server starts). `keep` says how to
    have a server running instead."""
    if os.environ.get("PREFECT_API_URL"):
        return lambda: None
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        _uvicorn_argv(port),
        env={
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
        },
        stdin=subprocess.DEVNULL,
        preexec_fn=stop_with_parent(os.getpid()),
    )
    atexit.register(stop_server, server)
    print(
        f"temporary Prefect server on {url} (pid {server.pid}); to skip this and see the run "
        f"in the UI, {keep}",
        file=sys.stderr,
        flush=True,
    )

    def ready() -> subprocess.Popen[bytes]:
        wait_until_healthy(url, server, "the temporary Prefect server")
        os.environ["PREFECT_API_URL"] = url
        return server

    return ready


def _uvicorn_argv(port: int) -> list[str]:
    """What Prefect runs for its own temporary server."""
    spec = importlib.util.find_spec("prefect")  # found, not imported: settings are read later
    assert spec is not None and spec.origin is not None
    app_dir = str(Path(spec.origin).parent.parent)
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", app_dir,
        "--factory", "prefect.server.api.server:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def stop_with_parent(parent: int) -> Callable[[], None] | None:
    def preexec() -> None:  # in the child, before exec: SIGTERM when the parent ends
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent ended before the line above
            os._exit(0)

    return preexec if sys.platform.startswith("linux") else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], what: str) -> None:
    """Until `url`/health answers; `what` (the server's name) is said if it never does."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise OrchestratorError(
                f"{what} exited with {server.returncode} while starting; nothing was changed "
                "(set PREFECT_API_URL to use a server of yours)"
            )
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise OrchestratorError(
        f"{what} did not start in {STARTUP_TIMEOUT_S:.0f} s; nothing was changed (a busy "
        "machine: raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
    )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
