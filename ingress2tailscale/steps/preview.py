"""The plans of a dry run, the same whoever asks (the command line or a flow run): the tailnet
is read, never written, when credentials are given; the repo is read as it is on disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ConfigError, PlanError
from ingress2tailscale.model import Phase, Plan
from ingress2tailscale.plan.planner import plan_slices
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.steps.prereq import make_client, plan_prereq
from ingress2tailscale.steps.repo import open_repo, recorded_old_hosts


def preview_plans(
    config: MigrationConfig, names: Sequence[str], phase: Phase, environ: Mapping[str, str]
) -> list[Plan]:
    """Every requested slice planned, each as if the ones before it had been applied."""
    prereq = []
    if phase in ("prereq", "all"):
        client = make_client(config, environ, read_only=True)
        try:
            prereq = plan_prereq(config, client)
        finally:
            if client is not None:
                client.close()
    return plan_slices(config, gitops_tree(config), names, phase, True, prereq, old_hosts(config))


def gitops_tree(config: MigrationConfig) -> RepoTree:
    tree = RepoTree(config.gitops.path)
    if not tree.root.is_dir():
        raise ConfigError(f"{config.source_path}: gitops.path {tree.root} is not a folder")
    return tree


def old_hosts(config: MigrationConfig) -> dict[str, str]:
    """Old hosts recorded by earlier phase-2 commits, when the GitOps folder is a git repo."""
    try:
        return recorded_old_hosts(config, open_repo(config))
    except PlanError:
        return {}  # not a git repo: only the hosts still in the files are known
