"""Item 10 (limits): external commands run with bounded memory and CPU. `kubectl kustomize` on a
YAML alias bomb stops at its bound (it grew to 7 GB before) and the plan says why."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingress2tailscale.limits import MIB, Limits
from tests.conftest import ROOT, git, make_gitops_repo, write_config
from tests.faults.conftest import no_traceback


def alias_bomb(levels: int = 9) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb", "data:"]
    lines.append('  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                    reason="the build check runs only where kubectl is installed")  # fmt: skip
def test_kubectl_on_an_alias_bomb_is_stopped_at_its_bound(tmp_path: Path) -> None:
    repo = make_gitops_repo(tmp_path)
    (repo / "apps/pgadmin/bomb.yaml").write_text(alias_bomb())
    kustomization = repo / "apps/pgadmin/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - bomb.yaml\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a ConfigMap that expands to billions of nodes")
    config = write_config(tmp_path, repo)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", "--slice", "pgadmin", "--phase", "1",
         "--dry-run", "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr[-3000:]
    assert "`kubectl kustomize` needed more than 1024 MiB of memory" in done.stderr
    assert "alias bomb" in done.stderr  # an error notice is said once, on stderr
    no_traceback(done.stderr)
    assert took < 60


def test_a_command_over_its_memory_bound_is_stopped_and_recognised() -> None:
    limits = Limits(256 * MIB, 10)
    done = subprocess.run(
        [sys.executable, "-c", "bytearray(600 * 1024 * 1024)"],
        preexec_fn=limits.preexec(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert limits.exceeded(done.returncode, done.stderr)
