"""The running sandbox's Prefect server: `prefect server start` with its UI, its own
PREFECT_HOME and SQLite database in the sandbox's folder (`.sandbox/prefect/`), analytics off,
on a free loopback port. Commands run with `--sandbox` and `flows.serve --sandbox` use it, so a
run does not start a temporary server of its own.

It is a child of the sandbox's process and ends with it, also when that process is killed
(Linux `PR_SET_PDEATHSIG`). It starts while the emulators do (`begin`), and the sandbox waits
for it (`ready`) before it says it is up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from flows.temp_server import free_port, stop_server, stop_with_parent, wait_until_healthy

LOG_FILE = "server.log"


class SandboxPrefectServer:
    """One server for one sandbox; `ready()` gives the entries of `sandbox.json` about it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = 0
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def begin(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        with (self.home / LOG_FILE).open("wb") as log:
            self._server = subprocess.Popen(
                [*argv, "--port", str(self.port)],
                env=self._environ(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=stop_with_parent(os.getpid()),
            )

    def ready(self) -> dict[str, Any]:
        assert self._server is not None, "begin() first"
        wait_until_healthy(self.api_url, self._server, "the sandbox's Prefect server")
        return {
            "prefect_api_url": self.api_url,
            "prefect_ui_url": self.api_url.removesuffix("/api"),
            "prefect_pid": self._server.pid,
            "prefect_home": str(self.home),
        }

    def stop(self) -> None:
        if self._server is not None:
            stop_server(self._server)

    def _environ(self) -> dict[str, str]:
        """Its own settings only: none of the user's Prefect settings (another server's URL or
        database) reaches it. The UI is told the real API address (`--port` alone leaves it
        calling :4200)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return env | {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_UI_API_URL": self.api_url,
        }
