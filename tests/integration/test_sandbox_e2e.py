"""Whole migrations on the sandbox, through the real command line: `python -m flows.sandbox up`
in the background, then `python -m flows.migrate --sandbox` against it (a real Prefect server,
real git with a bare origin, the Kubernetes and tailnet emulators, the Flux and operator
simulators, TCP and TLS probes over loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.adapters.kubernetes import connect
from tests.conftest import EXAMPLE_CONFIG, ROOT, git
from tests.faults.test_approval_prompt import PROMPT, read_until
from tests.integration.prefect_server import clean_env, prefect_server

pytestmark = pytest.mark.e2e
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect")) as url:
        yield url


class Sandboxed:
    """A sandbox up for one test in `tmp_path/.sandbox`, and commands run next to it."""

    def __init__(self, where: Path, api_url: str, config: Path = EXAMPLE_CONFIG) -> None:
        self.where, self.config = where, config
        self.env = clean_env(PREFECT_API_URL=api_url, PYTHONPATH=str(ROOT))
        self.info: dict[str, Any] = {}

    def up(self) -> Sandboxed:
        done = self.run("flows.sandbox", "up", "--config", str(self.config))
        assert done.returncode == 0, done.stderr + done.stdout
        assert "sandbox up" in done.stdout
        self.info = json.loads((self.where / ".sandbox" / "sandbox.json").read_text())
        return self

    def down(self) -> None:
        self.run("flows.sandbox", "down")

    def run(self, module: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.where,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            **options,
        )

    def migrate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("flows.migrate", "--sandbox", "--config", str(self.config), *args)

    @property
    def origin(self) -> Path:
        return Path(self.info["origin"])

    def tree(self) -> str:
        return git(self.origin, "rev-parse", "main^{tree}")

    def log(self) -> str:
        return git(self.origin, "log", "--format=%B", "main")


@pytest.fixture
def sandbox(tmp_path: Path, prefect_api: str) -> Iterator[Sandboxed]:
    box = Sandboxed(tmp_path, prefect_api).up()
    try:
        yield box
    finally:
        box.down()


def test_every_slice_of_the_demo_migrates_and_the_cluster_follows(sandbox: Sandboxed) -> None:
    done = sandbox.migrate("--slice", "all", "--yes", "--output", "json")
    assert done.returncode == 0, done.stderr[-4000:]
    outcomes = json.loads(done.stdout)
    assert [o["slice"] for o in outcomes] == [
        "db", "homepage", "pgadmin", "longhorn", "traefik", "grafana", "links",
    ]  # fmt: skip
    for outcome in outcomes[:-1]:
        names = [s["name"] for s in outcome["steps"]]
        assert "phase-1" in names and "phase-2" in names, outcome
        checks = [c for s in outcome["steps"] for c in s.get("checks", [])]
        assert checks and all(c["status"] != "fail" for c in checks), outcome
    assert outcomes[0]["sandbox"]["origin"] == sandbox.info["origin"]
    log = sandbox.log()
    assert log.count("Migration-Phase: 1") == 6 and log.count("Migration-Phase: 2") == 6
    with connect(Path(sandbox.info["kubeconfig"]), "sandbox", read_only=True) as kube:
        db = kube.exposed("Service", "tazlab-db", "tazlab-db-external-tailnet")
        assert db is not None and db.hostname == "tazlab-db.magellanic-gondola.ts.net"
        assert kube.exposed("Ingress", "pgadmin", "pgadmin") is None  # phase 2 retired it
        grafana = kube.exposed("Ingress", "monitoring", "grafana-tailnet")
        assert grafana is not None and grafana.hostname == "grafana.magellanic-gondola.ts.net"
    again = sandbox.migrate("--slice", "db", "--yes")
    assert again.returncode == 0, again.stderr[-4000:]
    assert sandbox.log() == log  # a completed slice: nothing to do, no commit


@pytest.mark.parametrize(
    ("fault", "slice_name", "names"),
    [
        ("refuse-tags", "grafana", "tailnet device"),
        ("proxy-never-ready", "db", "TailscaleProxyReady"),
        ("https-off", "grafana", "status"),
        ("flux-fails", "db", "flux"),
    ],
)
def test_a_fault_fails_validation_and_the_slice_is_rolled_back(
    sandbox: Sandboxed, fault: str, slice_name: str, names: str
) -> None:
    prereq = sandbox.migrate("--slice", slice_name, "--phase", "prereq")
    assert prereq.returncode == 0, prereq.stderr[-4000:]
    before = sandbox.tree()
    armed = sandbox.run("flows.sandbox", "fault", fault, "--slice", slice_name)
    if armed.returncode != 0:  # a tailnet-wide fault
        armed = sandbox.run("flows.sandbox", "fault", fault)
    assert armed.returncode == 0, armed.stderr
    done = sandbox.migrate("--slice", slice_name, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr[-4000:]
    assert f"slice {slice_name} failed and was rolled back" in done.stderr
    assert names in done.stderr
    assert "Traceback" not in done.stderr
    assert sandbox.tree() == before  # the revert is pushed: origin's tree is as before
    assert "Revert" in git(sandbox.origin, "log", "-1", "--format=%s", "main")


def test_rollback_after_a_completed_slice_restores_the_tree(sandbox: Sandboxed) -> None:
    before = sandbox.tree()
    done = sandbox.migrate("--slice", "pgadmin", "--yes")
    assert done.returncode == 0, done.stderr[-4000:]
    assert sandbox.tree() != before
    back = sandbox.migrate("--slice", "pgadmin", "--rollback")
    assert back.returncode == 0, back.stderr[-4000:]
    assert sandbox.tree() == before


def test_a_run_killed_between_the_phases_resumes_without_duplicate_commits(
    sandbox: Sandboxed,
) -> None:
    terminal, tty = os.openpty()  # the approval prompt needs a terminal
    argv = [sys.executable, "-m", "flows.migrate", "--sandbox", "--slice", "longhorn"]
    process = subprocess.Popen(
        [*argv, "--config", str(sandbox.config)],
        cwd=sandbox.where,
        env=sandbox.env,
        stdin=tty,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(tty)
    assert process.stdout is not None
    try:
        read_until(process.stdout.fileno(), PROMPT)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        os.close(terminal)
    assert sandbox.log().count("Migration-Phase: 1") == 1
    done = sandbox.migrate("--slice", "longhorn", "--yes")
    assert done.returncode == 0, done.stderr[-4000:]
    log = sandbox.log()
    assert log.count("Migration-Phase: 1") == 1 and log.count("Migration-Phase: 2") == 1
