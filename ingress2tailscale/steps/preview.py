"""The plans of a dry run and the pre-flight of a real one, the same whoever asks (the command
line or a flow run): the tailnet is read, never written; the repo is read as it is on disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ingress2tailscale.adapters.kubernetes import connect_cluster
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import (
    ConfigError,
    CredentialsError,
    PlanError,
    RetryLaterError,
    TailscaleAuthError,
    TailscaleError,
)
from ingress2tailscale.model import Phase, Plan
from ingress2tailscale.plan.planner import plan_slices
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.steps.commit import refuse_errors
from ingress2tailscale.steps.prereq import make_client, plan_prereq
from ingress2tailscale.steps.repo import open_repo, recorded_old_hosts

THROTTLED = (429, 503)  # at pre-flight: nothing changed yet, so an input-like refusal (exit 2)


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
    if tree.root.resolve() in (Path(tree.root.anchor), Path.home().resolve()):
        raise ConfigError(
            f"{config.source_path}: gitops.path is {tree.root}, a whole file system or home "
            "folder; set it to the root of your clone of the Flux repo"
        )
    return tree


def old_hosts(config: MigrationConfig) -> dict[str, str]:
    """Old hosts recorded by earlier phase-2 commits, when the GitOps folder is a git repo."""
    try:
        return recorded_old_hosts(config, open_repo(config))
    except PlanError:
        return {}  # not a git repo: only the hosts still in the files are known


def preflight(
    config: MigrationConfig,
    names: Sequence[str],
    phase: Phase,
    environ: Mapping[str, str],
    push_local_commits: bool = False,
) -> None:
    """Everything that would make a real run refuse, found before anything changes (exit 2):
    the repo clean and on its branch, every slice planned without errors, the branch ahead of
    the remote only with our commits, the cluster answering with the configured credentials,
    one credentials read of the tailnet."""
    preflight_repo(config, names, push_local_commits, compare=False)
    plans = plan_slices(config, gitops_tree(config), names, phase, False, (), old_hosts(config))
    refuse_errors(*plans)
    if phase != "prereq":
        preflight_repo(config, names, push_local_commits)  # fetches: only once plans are good
    kube = connect_cluster(config, read_only=True)  # a missing kubeconfig or context: exit 2
    if kube is not None:
        kube.close()
    if phase not in ("prereq", "all"):
        return
    client = make_client(config, environ, read_only=True)
    if client is None:
        raise CredentialsError(
            "the tailnet steps need credentials: set TS_API_KEY, or TS_OAUTH_CLIENT_ID "
            "and TS_OAUTH_CLIENT_SECRET (or run --phase 1 / --phase 2 for repo changes)"
        )
    with client:
        _try_credentials(config, client)


def preflight_repo(
    config: MigrationConfig,
    names: Sequence[str],
    push_local_commits: bool = False,
    compare: bool = True,
) -> None:
    """The repo is clean, on its branch, and (`compare`) ahead of the remote only with our
    commits (unless `push_local_commits`)."""
    repo = open_repo(config)
    try:
        repo.ensure_clean()
        if compare and not push_local_commits:
            repo.refuse_foreign_commits(names)
    finally:
        repo.close()


def _try_credentials(config: MigrationConfig, client: TailscaleClient) -> None:
    """One read the run needs anyway: refused credentials stop it before anything changes."""
    try:
        if config.tailscale.policy is not None:
            client.get_policy()
        else:
            client.get_settings()
    except TailscaleAuthError as exc:
        raise CredentialsError(f"the Tailscale API refused the credentials: {exc}") from exc
    except TailscaleError as exc:
        if exc.status_code not in THROTTLED:
            raise
        when = f"in {exc.retry_after:.0f} s" if exc.retry_after is not None else "in a while"
        raise RetryLaterError(
            f"the Tailscale API is not taking requests now ({exc}); nothing was changed: "
            f"run again {when}"
        ) from exc
