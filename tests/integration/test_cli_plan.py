"""`python -m flows.migrate --dry-run` on the example: the JSON contract and the text plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLE_CONFIG, FIXTURE_REPO, HOMELAB_REPO, ROOT

SLICES = ["db", "homepage", "pgadmin", "longhorn", "traefik", "grafana", "links"]


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
    command = [sys.executable, "-m", "flows.migrate", "--dry-run", "--config", str(EXAMPLE_CONFIG)]
    return subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_all_slices_as_one_json_list_in_config_order() -> None:
    done = dry_run("--slice", "all", "--output", "json")
    assert done.returncode == 0, done.stderr
    plans: list[dict[str, Any]] = json.loads(done.stdout)
    assert [p["slice"] for p in plans] == SLICES
    for plan in plans:
        assert set(plan) >= {"slice", "phase", "dry_run", "steps", "notices"}
        assert plan["dry_run"] is True and plan["phase"] == "all"
        for step in plan["steps"]:
            assert set(step) >= {"name", "action", "reason", "changes"}
            assert step["action"] in ("none", "change", "unknown")
            for change in step["changes"]:
                assert change["target"] in ("file", "tailscale", "cluster", "terraform")
                if change["target"] == "file":
                    assert not change["path"].startswith("/")
                    assert (FIXTURE_REPO / change["path"]).exists() == (change["op"] != "create")
                    assert change["diff"].startswith(("--- a/", "--- /dev/null"))
    db = {s["name"]: s for s in plans[0]["steps"]}
    assert [c["path"] for c in db["phase-1"]["changes"]] == [
        "infrastructure/instances/tazlab-db/kustomization.yaml",
        "infrastructure/instances/tazlab-db/tailnet-service.yaml",
    ]
    links = {s["name"]: s for s in plans[-1]["steps"]}["links"]
    assert links["action"] == "change"
    assert "https://pgadmin.magellanic-gondola.ts.net" in links["changes"][0]["diff"]


def test_one_slice_as_one_json_document() -> None:
    done = dry_run("--slice", "grafana", "--phase", "2", "--output", "json")
    assert done.returncode == 2  # phase 2 before phase 1 is refused, with the plan still shown
    plan = json.loads(done.stdout)
    assert plan["slice"] == "grafana" and plan["phase"] == "2"
    assert [n["level"] for n in plan["notices"]] == ["error"]
    assert "run phase 1 of slice grafana first" in done.stderr


def test_the_text_plan_reads_like_a_plan() -> None:
    done = dry_run("--slice", "pgadmin")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Slice pgadmin (phase all, dry run)"
    assert any(line.startswith("  ~ phase-1") for line in lines)
    assert "      + apps/pgadmin/tailnet-ingress.yaml" in lines
    assert "      - apps/pgadmin/ingress.yaml" in lines
    assert lines[-1].startswith("  Plan: 1 to create, 3 to modify, 1 to delete")


def test_a_blocking_notice_is_printed_once_on_stderr(tmp_path: Path) -> None:
    """An object that only HelmRelease values define: exit 2, said once, with what to do."""
    config = tmp_path / "migration.yaml"
    config.write_text(
        f"tailnet: tail1a2b3c.ts.net\ngitops: {{path: {HOMELAB_REPO}}}\nslices:\n"
        "  radarr: {expose: https, from: {kind: Ingress, namespace: media, name: radarr}}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
    args = ["--dry-run", "--slice", "radarr", "--config", str(config)]
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    said = "is not a manifest in the GitOps repo: it is defined in the values of HelmRelease"
    assert (done.stdout + done.stderr).count(said) == 1
    assert said in done.stderr and "Point `from` at the release" in done.stderr
    assert "1 error(s): listed once, on stderr" in done.stdout
    assert "Traceback" not in done.stderr
