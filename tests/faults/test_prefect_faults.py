"""Item 7: Prefect failures are not migration failures. The API going away stops the run where
it is (nothing rolled back, the command to finish named, exit 1); Ctrl-C does not reach the
temporary server (exit 130); the temporary server never outlives the command line."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from tests.conftest import git, make_gitops_repo, write_config
from tests.faults.conftest import (
    Cli,
    assert_level,
    kill_when,
    no_traceback,
    prefect_server,
    slow_hook,
)

PHASE_1 = "Migration-Phase: 1"


def gone(pid: int, within: float = 20.0) -> bool:
    """Whether the process ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


def server_pid(stderr: str) -> int:
    found = re.search(r"temporary Prefect server on \S+ \(pid (\d+)\)", stderr)
    assert found, stderr[-3000:]
    return int(found.group(1))


def setup(tmp_path: Path) -> tuple[Path, str, Path, Path]:
    repo = make_gitops_repo(tmp_path)
    config = str(write_config(tmp_path, repo))
    gate, started = tmp_path / "gate", tmp_path / "hook-started"
    slow_hook(repo / ".git" / "hooks" / "pre-push", started, gate)
    gate.touch()
    return repo, config, gate, started


def test_the_temporary_server_never_outlives_a_killed_command_line(tmp_path: Path) -> None:
    _, config, gate, started = setup(tmp_path)
    process = Cli(tmp_path, None).start("--slice", "pgadmin", "--phase", "1", "--config", config)
    while not started.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)  # the command line alone, as `kill -9 <pid>` would
    _, err = process.communicate(timeout=60)
    gate.unlink()
    assert gone(server_pid(err))


def test_ctrl_c_with_the_temporary_server_stops_cleanly_with_130(tmp_path: Path) -> None:
    repo, config, gate, started = setup(tmp_path)
    process = Cli(tmp_path, None).start("--slice", "pgadmin", "--phase", "1", "--config", config)
    out, err = kill_when(process, started, signal.SIGINT, gate)
    assert process.returncode == 130, err[-3000:]
    assert "interrupted: stopped at a safe point" in err
    no_traceback(out, err)
    assert_level(repo)  # the push finished, the server kept answering until the clean stop
    assert PHASE_1 in git(repo, "log", "-1", "--format=%B", "origin/main")
    assert gone(server_pid(err))


def test_the_prefect_api_going_away_stops_the_run_without_rolling_back(
    tmp_path: Path, cli: Cli
) -> None:
    repo, config, gate, started = setup(tmp_path)
    with prefect_server(tmp_path / "doomed-server") as (url, server):
        process = Cli(tmp_path, url).start("--slice", "pgadmin", "--phase", "1", "--config", config)
        while not started.exists():
            assert process.poll() is None, process.communicate()[1][-3000:]
            time.sleep(0.1)
        os.killpg(server.pid, signal.SIGKILL)  # the API dies while phase 1 pushes
        server.wait(timeout=30)
        gate.unlink()
        began = time.monotonic()
        out, err = process.communicate(timeout=300)
        took = time.monotonic() - began
    assert process.returncode == 1, err[-3000:]
    assert "error: the Prefect API stopped answering" in err
    assert "nothing was rolled back" in err
    assert "To finish, run: python -m flows.migrate --slice pgadmin --phase 1" in err
    no_traceback(out, err)
    assert_level(repo)  # phase 1 was pushed and stays
    assert PHASE_1 in git(repo, "log", "-1", "--format=%B", "origin/main")
    assert took < 120, took
    again = cli.run("--slice", "pgadmin", "--phase", "1", "--config", config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_level(repo)
