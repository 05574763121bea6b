"""Fault fixtures: one Prefect server for the suite's real runs (so each CLI run does not start
its own), the real CLI as a process we can kill, and hooks that make a kill land on time."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, git

SERVER_START_S = 180
WAIT_S = 120


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Prefect server of our own on loopback (SQLite), in a process group of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*argv, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(url, server)
        yield url, server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server shared by the suite's real runs (so each CLI run does not start its own)."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as (url, _):
        yield url


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("prefect server did not start")


@dataclass
class Cli:
    """The real command line, run against the suite's Prefect server."""

    tmp_path: Path
    api_url: str | None
    extra_env: dict[str, str] = dataclasses.field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
        env |= self.extra_env
        env |= {
            "PREFECT_HOME": str(self.tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        if self.api_url:
            env["PREFECT_API_URL"] = self.api_url
        return env

    def start(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        """The CLI in a session of its own, as a terminal's foreground job would be."""
        return subprocess.Popen(
            [sys.executable, "-m", "flows.migrate", *args],
            cwd=ROOT,
            env=self.env(),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.start(*args)
        out, err = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def cli(tmp_path: Path, prefect_api: str) -> Cli:
    return Cli(tmp_path, prefect_api)


def kill_when(
    process: subprocess.Popen[str], started: Path, sig: signal.Signals, gate: Path
) -> tuple[str, str]:
    """Wait until a hook says it started, then signal the CLI's whole process group: SIGKILL
    (the OOM killer, a closed laptop) ends the hook and git with it; SIGINT (what a terminal's
    Ctrl-C sends to the group) must not reach them, so the hook is then let go."""
    deadline = time.monotonic() + WAIT_S
    while not started.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            out, err = process.communicate()
            raise AssertionError(f"the hook never started (exit {process.returncode}):\n{err}")
        time.sleep(0.1)
    os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:  # git runs in a session of its own: it and its hook go too
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(started.read_text().split()[0]), sig)
    else:
        time.sleep(1.0)  # the signal has arrived (and would have killed the hook by now)
        gate.unlink()
    out, err = process.communicate(timeout=120)
    gate.unlink(missing_ok=True)
    return out, err


def slow_hook(path: Path, started: Path, gate: Path) -> None:
    """A git hook that, while `gate` exists, says it started and waits (up to 120 s)."""
    path.write_text(
        f"#!/bin/sh\nif [ -f '{gate}' ]; then\n  ps -o pgid= $$ > '{started}.tmp'\n"
        f"  mv '{started}.tmp' '{started}'\n  i=0\n"
        f"  while [ -f '{gate}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n"
        "fi\nexit 0\n"
    )
    path.chmod(0o755)


def log_pushes(origin: Path, log: Path) -> None:
    """The bare origin records, per push, the Migration-Phase trailers it received."""
    hook = origin / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do\n"
        f"  echo \"push: $(git log --format=%B $old..$new | grep '^Migration-Phase:' | "
        f"tr '\\n' ' ')\" >> '{log}'\ndone\n"
    )
    hook.chmod(0o755)


def origin_head(repo: Path) -> str:
    return git(repo, "ls-remote", "origin", "refs/heads/main").split()[0]


def assert_level(repo: Path) -> None:
    """`origin` has exactly what the local branch has, and the tree is clean."""
    assert origin_head(repo) == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-3000:]


def args_for(config: Path, *more: str) -> Sequence[str]:
    return ["--config", str(config), *more]


# the tailnet emulator's fixtures, for the faults that need a tailnet
from tests.integration.conftest import (  # noqa: E402
    seeded,
    tailnet_emulator,
    tailnet_state,
    tf_path,
)

__all__ = ["seeded", "tailnet_emulator", "tailnet_state", "tf_path"]
