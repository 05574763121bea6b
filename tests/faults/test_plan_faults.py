"""Item 6: a tcp source Service without a selector is an error (or takes a `selector` override),
never a LoadBalancer with no endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.faults.conftest import no_traceback
from tests.integration.test_cli_bad_input import state

DB_SERVICE = "infrastructure/instances/tazlab-db/service-external.yaml"
SELECTOR = (
    "  selector:\n"
    "    postgres-operator.crunchydata.com/cluster: tazlab-db\n"
    "    postgres-operator.crunchydata.com/role: master\n"
)


def _without_selector(tmp_path: Path) -> Path:
    repo = make_gitops_repo(tmp_path)
    path = repo / DB_SERVICE
    assert SELECTOR in path.read_text()
    path.write_text(path.read_text().replace(SELECTOR, ""))
    git(repo, "commit", "-qam", "endpoints kept by hand")
    git(repo, "push", "-q", "origin", "main")
    return repo


def _run(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "db", "--config", str(config), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("args", [["--dry-run"], ["--phase", "1"]], ids=["dry-run", "apply"])
def test_a_service_without_selector_is_an_error_naming_the_override(
    tmp_path: Path, args: list[str]
) -> None:
    repo = _without_selector(tmp_path)
    config = write_config(tmp_path, repo)
    before = state(repo)
    done = _run(tmp_path, config, *args)
    assert done.returncode == 2, done.stderr[-3000:]
    for text in ("error: ", "Service tazlab-db/tazlab-db-external", DB_SERVICE, "no selector"):
        assert text in done.stderr
    assert "slices.db.selector" in done.stderr
    no_traceback(done.stderr)
    assert state(repo) == before


def test_a_selector_override_makes_it_plannable(tmp_path: Path) -> None:
    repo = _without_selector(tmp_path)
    config = write_config(
        tmp_path,
        repo,
        lambda s: s.replace(
            "    hostname: tazlab-db\n",
            "    hostname: tazlab-db\n    selector: {app.kubernetes.io/name: tazlab-db}\n",
        ),
    )
    done = _run(tmp_path, config, "--dry-run", "--phase", "1", "--output", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    (step,) = [s for s in json.loads(done.stdout)["steps"] if s["name"] == "phase-1"]
    created = next(c for c in step["changes"] if c["op"] == "create")
    assert "+    app.kubernetes.io/name: tazlab-db" in created["diff"]
