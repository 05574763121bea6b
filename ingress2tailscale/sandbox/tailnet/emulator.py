"""The tailnet emulator: a stateful FastAPI app of the Tailscale API v2 subset we use, served by
uvicorn on loopback in a background thread (`with TailnetEmulator(state) as emu: emu.url`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ingress2tailscale.sandbox.started import Started
from ingress2tailscale.sandbox.tailnet import inventory as tailnet_inventory
from ingress2tailscale.sandbox.tailnet import routes as tailnet_routes
from ingress2tailscale.sandbox.tailnet.auth import EmulatorHTTPError
from ingress2tailscale.sandbox.tailnet.state import (
    OAuthClientRecord,
    RequestLogEntry,
    TailnetState,
)

__all__ = [
    "OAuthClientRecord",
    "RequestLogEntry",
    "TailnetEmulator",
    "TailnetState",
    "create_app",
]

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
TOKEN_PATH = "/api/v2/oauth/token"
FAULT_MESSAGES = {429: "rate limited", 500: "internal error", 502: "bad gateway"}


def create_app(state: TailnetState) -> FastAPI:
    """The emulated API over `state`; swap `app.state.tailnet` to serve another state."""
    app = FastAPI(title="tailnet emulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.tailnet = state
    app.include_router(tailnet_routes.router)
    app.include_router(tailnet_inventory.router)
    app.add_exception_handler(EmulatorHTTPError, _error_response)  # type: ignore[arg-type]
    app.middleware("http")(_faults_and_log)
    return app


async def _error_response(request: Request, exc: EmulatorHTTPError) -> Response:
    return JSONResponse(exc.body, status_code=exc.status)


async def _faults_and_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Apply the state's delay and queued faults, then record method, path and status."""
    state: TailnetState = request.app.state.tailnet
    if state.delay_seconds:
        await asyncio.sleep(state.delay_seconds)
    fault = state.take_fault() if request.url.path != TOKEN_PATH else None
    if fault is not None:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        message = FAULT_MESSAGES.get(fault.status, "emulated failure")
        response: Response = JSONResponse({"message": message}, fault.status, headers=headers)
    else:
        response = await call_next(request)
    state.log_request(request.method, request.url.path, response.status_code)
    return response


class TailnetEmulator(Started):
    """Serves `create_app(state)` with uvicorn on 127.0.0.1 on a free port, in a thread."""

    def __init__(self, state: TailnetState | None = None) -> None:
        self.app = create_app(state or TailnetState())
        config = uvicorn.Config(
            self.app,
            host=HOST,
            port=0,
            lifespan="off",
            http="h11",
            ws="none",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="tailnet-emulator", daemon=True
        )
        self._port = 0

    @property
    def state(self) -> TailnetState:
        state: TailnetState = self.app.state.tailnet
        return state

    def use_state(self, state: TailnetState) -> None:
        """Serve a different state from the next request on (per-test reset)."""
        self.app.state.tailnet = state

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:41234`; the API lives under `/api/v2`."""
        if not self._port:
            raise RuntimeError("the tailnet emulator is not running")
        return f"http://{HOST}:{self._port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the tailnet emulator did not start")
            time.sleep(0.01)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._port = 0
