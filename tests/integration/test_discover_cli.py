"""`python -m flows.discover` as a user runs it: a subprocess on a copy of the seed's repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ingress2tailscale.config import LinksSlice, load_config
from tests.conftest import EXAMPLE_CONFIG, FIXTURE_REPO, HOMELAB_REPO, ROOT

TAILNET = "magellanic-gondola.ts.net"


def run_flow(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # no Tailscale credentials: a dry run must not need the tailnet (nor use a developer's key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "tazlab-k8s"
    shutil.copytree(FIXTURE_REPO, repo)
    return repo


def from_refs(config_path: Path) -> set[tuple[str, str, str, str]]:
    config = load_config(config_path)
    return {
        (s.expose, s.source.kind, s.source.namespace, s.source.name)
        for s in config.service_slices().values()
    }


def test_discover_proposes_the_seed_migration_and_migrate_plans_it(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    done = run_flow("flows.discover", "--repo", str(repo), "--tailnet", TAILNET)
    assert done.returncode == 0, done.stderr
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(done.stdout, encoding="utf-8")

    config = load_config(config_path)
    assert config.gitops.path == repo.resolve()
    assert config.tailnet == TAILNET
    assert from_refs(config_path) == from_refs(EXAMPLE_CONFIG)
    links = [s for s in config.slices.values() if isinstance(s, LinksSlice)]
    seed_links = [
        s for s in load_config(EXAMPLE_CONFIG).slices.values() if isinstance(s, LinksSlice)
    ]
    assert links == seed_links

    # phase 1 needs no decision; phase 2 waits for the user to settle each auth TODO
    plan = run_flow(
        "flows.migrate", "--slice", "all", "--phase", "1", "--dry-run", "--config", str(config_path)
    )
    assert plan.returncode == 0, plan.stderr
    assert all(f"Slice {name} " in plan.stdout for name in config.slices)
    decided = done.stdout.replace(
        "accept_auth_change: false  # TODO", "accept_auth_change: true  #"
    )
    config_path.write_text(decided, encoding="utf-8")
    plan = run_flow("flows.migrate", "--slice", "all", "--dry-run", "--config", str(config_path))
    assert plan.returncode == 0, plan.stderr


def test_a_relative_repo_path_works_wherever_the_proposal_is_saved(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    done = run_flow("flows.discover", "--repo", repo.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"path: {repo.resolve()}  # a relative path here is relative" in done.stdout
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "proposed.yaml").write_text(done.stdout, encoding="utf-8")
    assert load_config(tmp_path / "config" / "proposed.yaml").gitops.path == repo.resolve()


def test_a_missing_repo_exits_2_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-clone"
    done = run_flow("flows.discover", "--repo", str(missing))
    assert done.returncode == 2
    assert done.stdout == ""
    assert str(missing) in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_yaml_is_named_with_its_line_and_the_rest_is_proposed(tmp_path: Path) -> None:
    """One file that does not parse never stops discover (Flux would refuse only its folder)."""
    repo = copy_repo(tmp_path)
    broken = repo / "apps" / "pgadmin" / "ingress.yaml"
    lines = broken.read_text(encoding="utf-8").splitlines(keepends=True)
    at = lines.index("spec:\n") + 1
    lines.insert(at, "  tls: bad: indentation\n")
    broken.write_text("".join(lines), encoding="utf-8")

    done = run_flow("flows.discover", "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    assert "# Not read: apps/pgadmin/ingress.yaml:" in done.stdout
    assert f"line {at + 1}," in done.stdout
    assert "name: tazlab-db-external" in done.stdout  # the other exposures are proposed
    assert "Traceback" not in done.stderr


def test_discover_on_the_homelab_proposes_values_and_routes_and_the_dry_run_exits_0(
    tmp_path: Path,
) -> None:
    """tests/fixtures/homelab-k8s (FIXTURE.md is its answer key): the internal HelmRelease
    exposures and IngressRoutes, not the public ones, the controller, nor the archive copies."""
    repo = tmp_path / "homelab-k8s"
    shutil.copytree(HOMELAB_REPO, repo)
    done = run_flow("flows.discover", "--repo", str(repo), "--tailnet", "tail1a2b3c.ts.net")
    assert done.returncode == 0, done.stderr
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        done.stdout.replace("accept_auth_change: false  # TODO", "accept_auth_change: true  #"),
        encoding="utf-8",
    )
    config = load_config(config_path)
    sources = {
        (s.expose, s.source.kind, f"{s.source.namespace}/{s.source.name}")
        + ((s.source.ingress or s.source.service or "",) if s.source.kind == "HelmRelease" else ())
        for s in config.service_slices().values()
    }
    assert sources == {
        ("tcp", "HelmRelease", "database/postgres", "app"),
        ("tcp", "HelmRelease", "home/mosquitto", "app"),
        ("https", "HelmRelease", "default/echo-internal", "main"),
        ("https", "HelmRelease", "home/home-assistant", "app"),
        ("https", "HelmRelease", "home/homepage", "app"),
        ("https", "HelmRelease", "media/radarr", "app"),
        ("https", "HelmRelease", "media/sonarr", "app"),
        ("https", "HelmRelease", "observability/grafana", "ingress"),
        ("https", "IngressRoute", "default/miniflux"),
        ("https", "IngressRoute", "default/paperless"),
        ("https", "IngressRoute", "home/zigbee2mqtt"),
    }
    assert "Not proposed: HelmRelease observability/uptime-kuma" in done.stdout  # valuesFrom
    assert "Not proposed: HelmRelease media/sonarr (not applied" in done.stdout  # the archive
    plan = run_flow("flows.migrate", "--slice", "all", "--dry-run", "--config", str(config_path))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Traceback" not in plan.stderr
