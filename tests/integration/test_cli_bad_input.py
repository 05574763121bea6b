"""Bad input: each case exits 2 with one message naming the file/key/line, and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, make_gitops_repo, write_config


@dataclass(frozen=True)
class Case:
    id: str
    slice: str
    expect: tuple[str, ...]  # all must appear in stderr
    config_edit: Callable[[str], str] = lambda s: s
    repo_edit: Callable[[Path], None] = lambda repo: None
    phase: str = "all"


def _break_yaml(repo: Path) -> None:
    path = repo / "apps/pgadmin/ingress.yaml"
    path.write_text(
        path.read_text().replace("  ingressClassName: traefik", "  ingressClassName: [traefik")
    )
    _commit(repo, "a broken file")


def _mis_indent(repo: Path) -> None:
    """The seed's mistake: `spec:` indented under `metadata:` in a Service phase 2 edits."""
    path = repo / "apps/pgadmin/service.yaml"
    lines = path.read_text().splitlines(keepends=True)
    out, inside = [], False
    for line in lines:
        if line.startswith("spec:"):
            inside = True
            line = "  spec:\n"
        elif inside and line.startswith("  "):
            pass
        out.append(line)
    path.write_text("".join(out))
    _commit(repo, "mis-indented service")


def _commit(repo: Path, message: str) -> None:
    git(repo, "commit", "-qam", message)
    git(repo, "push", "-q", "origin", "main")


PGADMIN_FROM = "from: {kind: Ingress, namespace: pgadmin, name: pgadmin}"

CASES = [
    Case("unknown-slice", "nope", ("unknown slice 'nope'", "migration.yaml", "db, homepage")),
    Case(
        "unknown-config-key",
        "db",
        ("migration.yaml:", "slices.db.colour", "unknown key"),
        config_edit=lambda s: s.replace(
            "    hostname: tazlab-db\n", "    hostname: tazlab-db\n    colour: blue\n"
        ),
    ),
    Case(
        "missing-from-object",
        "pgadmin",
        ("slices.pgadmin.from", "Ingress pgadmin/pgadmin-old", "not in the GitOps repo"),
        config_edit=lambda s: s.replace(
            "namespace: pgadmin, name: pgadmin}", "namespace: pgadmin, name: pgadmin-old}"
        ),
    ),
    Case(
        "malformed-yaml",
        "pgadmin",
        ("apps/pgadmin/ingress.yaml", "starts at line 15", "not valid YAML"),
        repo_edit=_break_yaml,
    ),
    Case(
        "seed-mis-indented-service",
        "pgadmin",
        ("apps/pgadmin/service.yaml:", "indentation of `spec`", "nested under `metadata`"),
        repo_edit=_mis_indent,
    ),
    Case(
        "hostname-not-dns-label",
        "db",
        ("migration.yaml:", "slices.db.hostname", "not a DNS label"),
        config_edit=lambda s: s.replace("hostname: tazlab-db", "hostname: Tazlab_DB"),
    ),
    Case(
        "tag-without-prefix",
        "db",
        ("migration.yaml:", "slices.db.tags", "'k8s' is not a tag"),
        config_edit=lambda s: s.replace('tags: ["tag:k8s"]', 'tags: ["k8s"]'),
    ),
    Case(
        "duplicate-hostname",
        "all",
        ("migration.yaml:", "hostname", "'tazlab-db'", "already used by slice 'db'"),
        config_edit=lambda s: s.replace(
            "from: {kind: Ingress, namespace: pgadmin, name: pgadmin}",
            "from: {kind: Ingress, namespace: pgadmin, name: pgadmin}\n    hostname: tazlab-db",
        ),
    ),
    Case(
        "tcp-from-an-ingress",
        "pgadmin",
        ("migration.yaml:", "slices.pgadmin", "expose: tcp moves a MetalLB LoadBalancer"),
        config_edit=lambda s: s.replace(
            f"expose: https\n    {PGADMIN_FROM}", f"expose: tcp\n    {PGADMIN_FROM}"
        ),
    ),
    Case(
        "backend-port-that-does-not-exist",
        "pgadmin",
        ("Ingress pgadmin/pgadmin", "routes to port 9999", "has no such port"),
        config_edit=lambda s: s.replace(
            PGADMIN_FROM, PGADMIN_FROM + "\n    backend: {service: pgadmin, port: 9999}"
        ),
    ),
    Case(
        "apply-command-with-shell-syntax",
        "db",
        ("migration.yaml:", "tailscale.oauth_client.apply", "runs without a shell"),
        config_edit=lambda s: s.replace(
            "    scopes: [devices:core",
            '    apply: "terraform apply -var=key=${TS_API_KEY}"\n    scopes: [devices:core',
        ),
    ),
    Case(
        "two-bad-slices-both-named",
        "all",
        (
            "slices.pgadmin.from",
            "Ingress pgadmin/pgadmin-old",
            "slice pgadmin: the plan has problems",
            "tailnet hostname 'longhorn' is also used by slice",
        ),
        config_edit=lambda s: s.replace(
            "namespace: pgadmin, name: pgadmin}", "namespace: pgadmin, name: pgadmin-old}"
        ).replace("name: grafana}\n", "name: grafana}\n    hostname: longhorn\n"),
    ),
    Case(
        "branch-the-repo-does-not-have",
        "db",
        ("migration.yaml: gitops.branch", "no branch 'master'", "(it has main)", "Flux follows"),
        config_edit=lambda s: s.replace("branch: main", "branch: master"),
    ),
    Case(
        "no-slices",
        "all",
        ("migration.yaml:", "slices: no slice is defined", "flows.discover"),
        config_edit=lambda s: s[: s.index("\nslices:")] + "\nslices:\n",
    ),
    Case(
        "an-empty-slices-mapping",
        "all",
        ("migration.yaml: slices: no slice is defined", "flows.discover"),
        config_edit=lambda s: s[: s.index("\nslices:")] + "\nslices: {}\n",
    ),
    Case(
        "phase-2-before-phase-1",
        "pgadmin",
        ("Ingress pgadmin/pgadmin", "not in the repo", "run phase 1 of slice pgadmin first"),
        phase="2",
    ),
]


def state(repo: Path) -> tuple[str, str, str, dict[str, bytes]]:
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    origin = git(repo, "ls-remote", "origin", "refs/heads/main").split()[0]
    return git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), origin, files


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_naming_the_problem_and_changes_nothing(
    tmp_path: Path, case: Case, dry_run: bool
) -> None:
    repo = make_gitops_repo(tmp_path)
    case.repo_edit(repo)
    config = write_config(tmp_path, repo, case.config_edit)
    before = state(repo)
    args = ["--slice", case.slice, "--config", str(config), "--phase", case.phase, "--yes"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
    done = subprocess.run(
        [sys.executable, "-m", "flows.migrate", *args, *(["--dry-run"] if dry_run else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    for text in case.expect:
        assert text in done.stderr
    assert "Traceback" not in done.stderr
    assert state(repo) == before


CLUSTER_CASES = [
    ("missing-kubeconfig", "missing", ("kubeconfig", "does-not-exist/kubeconfig")),
    ("unknown-context", "context", ("context 'staging'", "kubeconfig")),
    ("refused-credentials", "token", ("refused the credentials", "context 'sandbox'")),
]


@pytest.mark.parametrize(
    ("what", "edit", "expect"), CLUSTER_CASES, ids=[c[0] for c in CLUSTER_CASES]
)
def test_a_cluster_that_cannot_be_used_stops_a_real_run_before_any_change(
    tmp_path: Path, what: str, edit: str, expect: tuple[str, ...]
) -> None:
    from ingress2tailscale.sandbox.cluster.kube import KubeEmulator

    repo = make_gitops_repo(tmp_path)
    (tmp_path / "kube").mkdir()
    with KubeEmulator(tmp_path / "kube") as cluster:
        kubeconfig = cluster.kubeconfig_path
        context = "sandbox"
        if edit == "missing":
            kubeconfig = tmp_path / "does-not-exist" / "kubeconfig"
        elif edit == "context":
            context = "staging"
        else:
            kubeconfig = cluster.write_kubeconfig(tmp_path / "stale", token="an-expired-token")
        section = f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: {context}\n"
        config = write_config(
            tmp_path, repo, lambda s: s.replace("kubernetes:\n", section, 1), cluster=True
        )
        before = state(repo)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TS_")}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.migrate",
                "--slice",
                "db",
                "--config",
                str(config),
                "--yes",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    for text in expect:
        assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "an-expired-token" not in done.stderr
    assert state(repo) == before
