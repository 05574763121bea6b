"""A real `prefect server` on loopback for end-to-end tests (own PREFECT_HOME, analytics off),
and the REST calls the Prefect UI makes: trigger a deployment, read a run, its artifacts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_S = 180.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Prefect and Tailscale settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TS_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra


@contextmanager
def prefect_server(home: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`prefect server start` on a free port; yields the API URL once /api/health answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    environ = clean_env(PREFECT_HOME=str(home), PREFECT_UI_API_URL=url, **(env or {}))
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("w")
    with subprocess.Popen(
        [*argv, "--port", str(port)], env=environ, stdout=log, stderr=subprocess.STDOUT
    ) as server:
        try:
            wait_until(lambda: _healthy(url), START_TIMEOUT_S, "the Prefect server to start")
            yield url
        finally:
            stop(server)
            log.close()


@contextmanager
def background(
    argv: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A process for the length of a test, stopped (then killed) at the end."""
    with (
        log.open("w") as out,
        subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as process,
    ):
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def deployment_id(url: str, flow: str, name: str) -> str | None:
    answer = httpx.get(f"{url}/deployments/name/{flow}/{name}", timeout=10)
    return str(answer.json()["id"]) if answer.status_code == 200 else None


def post(url: str, json: Any) -> httpx.Response:
    """POST, asking again while a busy SQLite makes the server answer 503."""

    def answered() -> httpx.Response | None:
        answer = httpx.post(url, json=json, timeout=30)
        return None if answer.status_code == 503 else answer

    return wait_until(answered, 60, f"the server to answer POST {url}")  # type: ignore[no-any-return]


def trigger(url: str, deployment: str, parameters: dict[str, Any]) -> str:
    """What the UI's "Run" does: a flow run of the deployment, scheduled now."""
    answer = post(
        f"{url}/deployments/{deployment}/create_flow_run",
        {"parameters": parameters, "state": {"type": "SCHEDULED"}},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def flow_run(url: str, run_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/flow_runs/{run_id}", timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def wait_for_state(
    url: str, run_id: str, states: set[str], timeout_s: float = 240
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = flow_run(url, run_id)
        return run if run["state_type"] in states else None

    return dict(wait_until(reached, timeout_s, f"flow run {run_id} to reach {sorted(states)}"))


def artifacts(url: str, run_id: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{url}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_id]}}},
        timeout=10,
    )
    answer.raise_for_status()
    return list(answer.json())


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_missing() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    if not (POSTGRES_BIN / "initdb").exists():
        return f"PostgreSQL is not installed ({POSTGRES_BIN}/initdb is missing)"
    if os.geteuid() == 0 and subprocess.run(["id", "postgres"], capture_output=True).returncode:
        return "PostgreSQL refuses to run as root and there is no `postgres` user"
    return None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL on loopback (run as the `postgres` user when we are root: initdb
    refuses root); yields the asyncpg URL of its database `prefect`."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="i2ts-pg-"))
    folder.chmod(0o755)
    data, port = folder / "data", free_port()
    data.mkdir(mode=0o700)
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)

    run(
        str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "prefect", "--auth=trust", "-E", "UTF8"
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    log = str(folder / "postgres.log")
    run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        run(
            str(POSTGRES_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "prefect",
            "-d",
            "postgres",
            "-c",
            "create database prefect",
        )
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
    finally:
        run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


DEPLOYMENTS = ("migrate", "plan", "rollback", "drift")


@contextmanager
def serving(
    server: str, where: Path, config: Path, *, sandbox: bool = False, **env: str
) -> Iterator[dict[str, str]]:
    """`python -m flows.serve --config CONFIG` against `server`, with the test tailnet's OAuth
    client; yields the deployment ids once all are registered. Its log is `where/serve.log`.
    With `sandbox`: `--sandbox` in `where` (the sandbox of `where/.sandbox`, its credentials, and
    its Prefect server unless `env` names one as PREFECT_API_URL)."""
    from tests.conftest import ROOT
    from tests.integration.conftest import TEST_CLIENT_ID, TEST_CLIENT_SECRET

    direct = {
        "PREFECT_API_URL": server,
        "TS_OAUTH_CLIENT_ID": TEST_CLIENT_ID,
        "TS_OAUTH_CLIENT_SECRET": TEST_CLIENT_SECRET,
    }
    environ = clean_env(
        PREFECT_HOME=str(where / "serve-home"),
        PYTHONPATH=str(ROOT),
        **({} if sandbox else direct),
        **env,
    )
    argv = [sys.executable, "-m", "flows.serve", "--config", str(config)]
    argv += ["--sandbox"] if sandbox else []

    def registered() -> dict[str, str] | None:
        ids = {name: deployment_id(server, name, name) for name in DEPLOYMENTS}
        return None if None in ids.values() else {k: str(v) for k, v in ids.items()}

    cwd = where if sandbox else None
    with background(argv, environ, where / "serve.log", cwd) as process:
        ids = wait_until(registered, 120, "flows.serve to register its deployments")
        assert process.poll() is None
        yield ids
