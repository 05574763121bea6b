"""Item 5: one object per identity. A stray copy of the slice's source (or of its backend) is an
error naming every copy; a kustomize patch of the source is recognised as a patch, never taken
for the source, and phase 2 says the patch would keep applying to the removed object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.faults.conftest import no_traceback
from tests.integration.test_cli_bad_input import state

PATCH = """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pgadmin
  namespace: pgadmin
  annotations:
    traefik.ingress.kubernetes.io/router.priority: "10"
"""


def _stray(repo: Path, source: str, folder: str) -> None:
    """A copy of `source` in `folder`, which Flux applies too (listed in apps/)."""
    (repo / folder).mkdir()
    (repo / folder / Path(source).name).write_text((repo / source).read_text())
    listing = repo / "apps/kustomization.yaml"
    name = Path(folder).name
    listing.write_text(listing.read_text().replace("  - pgadmin\n", f"  - pgadmin\n  - {name}\n"))


def _stray_ingress(repo: Path) -> None:
    _stray(repo, "apps/pgadmin/ingress.yaml", "apps/pgadmin-old")


def _stray_service(repo: Path) -> None:
    _stray(repo, "apps/pgadmin/service.yaml", "apps/pgadmin-old")


def _stray_configmap(repo: Path) -> None:
    _stray(repo, "apps/homepage/configmap.yaml", "apps/homepage-old")


def _patch(key: str) -> Callable[[Path], None]:
    def write(repo: Path) -> None:
        (repo / "apps/pgadmin/a-ingress-patch.yaml").write_text(PATCH)
        kustomization = repo / "apps/pgadmin/kustomization.yaml"
        name = "a-ingress-patch.yaml"
        entry = f"  - path: {name}\n" if key == "patches" else f"  - {name}\n"
        kustomization.write_text(kustomization.read_text() + f"{key}:\n{entry}")

    return write


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[Path], None]
    expect: tuple[str, ...]
    slice: str = "pgadmin"
    apply_phase: str = "2"  # the phase a real run is refused at (a links slice has only 1)


CASES = [
    Case("stray-copy-of-the-source", _stray_ingress,
         ("Ingress pgadmin/pgadmin is defined 2 times", "apps/pgadmin/ingress.yaml:",
          "apps/pgadmin-old/ingress.yaml:", "Keep one")),
    Case("stray-copy-of-the-backend", _stray_service,
         ("Service pgadmin/pgadmin, which is defined 2 times", "apps/pgadmin/service.yaml:",
          "apps/pgadmin-old/service.yaml:", "keep one")),
    Case("stray-copy-of-a-consumer", _stray_configmap,
         ("consumers.homepage: ConfigMap homepage/homepage is defined 2 times",
          "apps/homepage/configmap.yaml:", "apps/homepage-old/configmap.yaml:"),
         slice="links", apply_phase="1"),
    Case("patches-entry", _patch("patches"),
         ("kustomize patch apps/pgadmin/a-ingress-patch.yaml:1",
          "listed in apps/pgadmin/kustomization.yaml", "keeps applying to it")),
    Case("patches-strategic-merge", _patch("patchesStrategicMerge"),
         ("kustomize patch apps/pgadmin/a-ingress-patch.yaml:1", "keeps applying to it")),
]  # fmt: skip


def _run(
    tmp_path: Path, config: Path, *args: str, slice: str = "pgadmin"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", slice, "--config", str(config),
         "--yes", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_second_document_with_the_slices_identity_is_named(
    tmp_path: Path, case: Case, dry_run: bool
) -> None:
    repo = make_gitops_repo(tmp_path)
    case.edit(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", case.id)
    git(repo, "push", "-q", "origin", "main")
    config = write_config(tmp_path, repo)
    before = state(repo)
    args = ["--dry-run"] if dry_run else ["--phase", case.apply_phase]
    done = _run(tmp_path, config, *args, slice=case.slice)
    assert done.returncode == 2, done.stderr[-3000:]
    for text in case.expect:
        assert text in done.stderr
    no_traceback(done.stderr)
    assert state(repo) == before


def test_a_patch_is_never_taken_for_the_source(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    _patch("patches")(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a patch")
    config = write_config(tmp_path, repo)
    done = _run(tmp_path, config, "--dry-run", "--phase", "1", "--output", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads(done.stdout)
    assert not [n for n in plan["notices"] if "backend" in n["message"]]
    (step,) = [s for s in plan["steps"] if s["name"] == "phase-1"]
    created = next(c for c in step["changes"] if c["op"] == "create")
    assert "number: 8001" in created["diff"]  # the real Ingress's backend, not the patch's none
