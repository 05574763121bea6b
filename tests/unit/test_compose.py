"""The compose stack validates against the compose spec (offline), and its wiring holds: the
server on PostgreSQL, healthchecks gating start-up, the runner serving our deployments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run(
        [*argv, str(path)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def test_the_compose_file_validates_against_the_compose_spec() -> None:
    done = validate(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace('- "4200:4200"', "4200"), encoding="utf-8")
    done = validate(broken)
    assert done.returncode == 1 and "ports" in done.stdout


def test_start_up_is_gated_by_healthchecks(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name in ("postgres", "prefect-server"):
        assert "test" in services[name]["healthcheck"]
    assert services["prefect-server"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"}
    }
    assert services["runner"]["depends_on"] == {"prefect-server": {"condition": "service_healthy"}}


def test_the_server_runs_on_postgres_and_the_ui_knows_its_api(stack: dict[str, Any]) -> None:
    env = stack["services"]["prefect-server"]["environment"]
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert env["PREFECT_UI_API_URL"].endswith(":4200/api}")
    assert stack["services"]["prefect-server"]["ports"] == ["4200:4200"]


def test_the_runner_serves_our_deployments_with_secrets_from_the_environment(
    stack: dict[str, Any],
) -> None:
    runner = stack["services"]["runner"]
    assert runner["command"][:3] == ["python", "-m", "flows.serve"]
    assert runner["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    for key in ("TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET"):
        assert runner["environment"][key] == f"${{{key}:-}}"
    dockerfile = (ROOT / runner["build"]["dockerfile"]).read_text(encoding="utf-8")
    assert "pip install --no-cache-dir ." in dockerfile and "git" in dockerfile
    for package in ("ingress2tailscale", "flows", "tasks"):
        assert f"COPY {package} {package}" in dockerfile
