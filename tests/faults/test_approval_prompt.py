"""Ctrl-C at the approval prompt between the phases: phase 1 stays (pushed), phase 2 is not
started, exit 130; the next run goes on with phase 2."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator, TailnetState
from tests.conftest import git, make_gitops_repo
from tests.faults.conftest import Cli, assert_level, no_traceback
from tests.integration.conftest import TEST_CLIENT_ID, TEST_CLIENT_SECRET
from tests.integration.test_migrate_flow import flow_config

PROMPT = "Apply phase 2? [y/N]"


def read_until(fd: int, text: str, timeout: float = 240.0) -> str:
    seen, deadline = b"", time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, seen.decode()[-2000:]
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, seen.decode()[-2000:]
            seen += chunk
    return seen.decode()


def test_ctrl_c_at_the_approval_prompt_keeps_phase_1_and_stops_with_130(
    tmp_path: Path,
    prefect_api: str,
    tf_path: Path,
    seeded: TailnetState,
    tailnet_emulator: TailnetEmulator,
) -> None:
    repo = make_gitops_repo(tmp_path)
    config = str(flow_config(tmp_path, repo, tailnet_emulator.url, tf_path))
    creds = {"TS_OAUTH_CLIENT_ID": TEST_CLIENT_ID, "TS_OAUTH_CLIENT_SECRET": TEST_CLIENT_SECRET}
    cli = Cli(tmp_path, prefect_api, creds)
    terminal, tty = os.openpty()  # the prompt needs a terminal
    process = cli.start("--slice", "grafana", "--config", config, stdin=tty)
    os.close(tty)
    assert process.stdout is not None
    try:
        read_until(process.stdout.fileno(), PROMPT)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        os.close(terminal)
    assert process.returncode == 130, err[-3000:]
    assert "interrupted: stopped at a safe point: slice grafana: phase 1 is in place" in err
    no_traceback(out, err)
    assert_level(repo)
    log = git(repo, "log", "--format=%B", "origin/main")
    assert "Migration-Phase: 1" in log and "Migration-Phase: 2" not in log
    done = cli.run("--slice", "grafana", "--config", config, "--phase", "2", "--yes")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_level(repo)
    assert "Migration-Phase: 2" in git(repo, "log", "--format=%B", "origin/main")
