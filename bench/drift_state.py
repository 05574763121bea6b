"""The state 200 migrations leave, built without running 200 migrations: a generated Flux repo
(`bench/generate.py`) copied into a sandbox, the tailnet prerequisites applied once by the
product's own steps, every slice's phase-1 and phase-2 commits (with the trailers drift reads)
planned by `plan_slices` and committed by `commit_step`, pushed once; then the sandbox's Flux
applies them and its operator makes the proxies, devices and endpoints."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.generate import TAILNET, app_name, commit_repo, generate_repo, is_metallb, team_of
from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.adapters.kubernetes import KubeClient, connect_cluster
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.kinds import GIT_REPOSITORY, KUSTOMIZATION
from ingress2tailscale.plan.exposure import new_object_ref
from ingress2tailscale.plan.planner import plan_slices
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.steps.commit import commit_step
from ingress2tailscale.steps.prereq import apply_acl, apply_tailnet_https, make_client

RUN_ID = "bench-drift"
CLIENT_TAG = "tag:bench-client"  # who the policy lets reach the slices
PROVISION_TIMEOUT_S = 300.0
REPO_STEPS = ("phase-1", "phase-2")

OAUTH_TF = """\
# The operator's OAuth client, already with the scopes the migration needs.
resource "tailscale_oauth_client" "k8s_operator" {
  description = "bench-k8s-operator"
  scopes      = ["devices:core", "auth_keys", "services"]
  tags        = ["tag:k8s-operator"]
}
"""


def slice_names(count: int) -> list[str]:
    return [app_name(i) for i in range(count)]


def write_source(work: Path, count: int) -> Path:
    """The generated repo of `count` apps (a git repo), its .tf, and a config with one slice
    per app: tcp from each MetalLB Service, https from every other app's Ingress."""
    repo, tf = work / "source", work / "infra" / "oauth.tf"
    generate_repo(repo, count)
    commit_repo(repo)
    tf.parent.mkdir(parents=True, exist_ok=True)
    tf.write_text(OAUTH_TF, encoding="utf-8")
    lines = [
        f"tailnet: {TAILNET}",
        "gitops:",
        f"  path: {repo}",
        "  flux: {namespace: flux-system, source: flux-system, kustomizations: [apps]}",
        "kubernetes: {}",
        "tailscale:",
        "  https: true",
        f"  oauth_client: {{terraform: {tf}}}",
        "  policy:",
        '    tag_owners: {"tag:k8s": ["tag:k8s-operator"]}',
        f'    acls: [{{action: accept, src: ["{CLIENT_TAG}"], dst: ["tag:k8s:*"]}}]',
        "validate: {reachability: optional}",
        "slices:",
    ]
    for index, name in enumerate(slice_names(count)):
        kind = "Service" if is_metallb(index) else "Ingress"
        lines += [
            f"  {name}:",
            f"    expose: {'tcp' if kind == 'Service' else 'https'}",
            f"    from: {{kind: {kind}, namespace: {team_of(index)}, name: {name}}}",
            '    tags: ["tag:k8s"]',
        ]
        lines += ["    accept_auth_change: true"] if kind == "Ingress" else []
    config = work / "drift.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def migrate_without_migrations(config: MigrationConfig) -> None:
    """Leave the sandbox as `migrate --slice all` would: prerequisites, commits, the cluster."""
    client = make_client(config, os.environ, read_only=False)
    if client is None:
        raise SystemExit("bench: the sandbox gave no credentials")
    with client:
        apply_tailnet_https(client)
        apply_acl(config, client, RUN_ID, slice_names(1)[0])
    commit_all(config)
    kube = connect_cluster(config)
    if kube is None:
        raise SystemExit("bench: the sandbox config has no cluster")
    try:
        reconcile(config, kube)
        wait_provisioned(config, kube)
    finally:
        kube.close()


def commit_all(config: MigrationConfig) -> None:
    """Every slice's phase-1 and phase-2 commits, planned each on top of the ones before."""
    g = config.gitops
    repo = GitRepo(g.path, branch=g.branch, remote=g.remote, push=False)  # one push at the end
    names = list(config.service_slices())
    for plan in plan_slices(config, RepoTree(g.path), names, phase="all", dry_run=False):
        for step in plan.steps:
            if step.name in REPO_STEPS and commit_step(repo, plan, step, RUN_ID) is None:
                raise SystemExit(f"bench: {plan.slice}: {step.name} made no commit")
    push = ["git", "push", "-q", g.remote, f"HEAD:refs/heads/{g.branch}"]
    subprocess.run(push, cwd=g.path, check=True, timeout=300)


def reconcile(config: MigrationConfig, kube: KubeClient) -> None:
    flux = config.gitops.flux
    kube.request_reconcile(flux.namespace, GIT_REPOSITORY.kind, flux.source)
    for name in flux.kustomizations:
        kube.request_reconcile(flux.namespace, KUSTOMIZATION.kind, name)


def wait_provisioned(config: MigrationConfig, kube: KubeClient) -> None:
    """Until every slice's tailnet object has its tailnet name in its status."""
    waiting = {n: new_object_ref(config, n) for n in config.service_slices()}
    deadline = time.monotonic() + PROVISION_TIMEOUT_S
    while waiting:
        for name, ref in list(waiting.items()):
            live = kube.exposed(ref.kind, ref.namespace, ref.name)
            if live is not None and live.hostname:
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            raise SystemExit(f"bench: {len(waiting)} slice(s) never provisioned: {list(waiting)}")
        time.sleep(0.5 if waiting else 0)
