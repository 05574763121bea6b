"""`python -m flows.migrate`: plan or run the migration of one slice, or of all of them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from flows import interrupts
from flows.cli import run_cli
from flows.temp_server import start_temporary_server
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig, load_config
from ingress2tailscale.errors import (
    ConfigError,
    CredentialsError,
    PlanError,
    RetryLaterError,
    TailscaleAuthError,
    TailscaleError,
)
from ingress2tailscale.model import PHASES
from ingress2tailscale.plan.planner import check_slice_name, plan_slices
from ingress2tailscale.repo.inventory import RepoTree
from ingress2tailscale.report import plans_to_json, render_text
from ingress2tailscale.steps.commit import refuse_errors
from ingress2tailscale.steps.prereq import make_client, plan_prereq
from ingress2tailscale.steps.repo import open_repo, recorded_old_hosts

DEFAULT_CONFIG = Path("config/migration.yaml")
THROTTLED = (429, 503)  # at pre-flight: nothing changed yet, so an input-like refusal (exit 2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.migrate",
        description="Move a service (a slice) from Traefik/MetalLB onto the tailnet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog=(
            "Tailscale credentials come from TS_API_KEY, or TS_OAUTH_CLIENT_ID and "
            "TS_OAUTH_CLIENT_SECRET. Exit codes: 0 done (or nothing to do), 1 the migration "
            "failed and the slice was rolled back, 2 invalid input and nothing was changed."
        ),
    )
    parser.add_argument("--slice", required=True, help="a slice of the config, or 'all'")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the config file")
    parser.add_argument(
        "--phase",
        choices=PHASES,
        default="all",
        help="prereq: only the tailnet steps; 1: add the tailnet exposure; 2: retire the old one",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--rollback", action="store_true", help="revert the slice's commits")
    parser.add_argument("--yes", action="store_true", help="no approval prompt before phase 2")
    parser.add_argument(
        "--push-local-commits",
        action="store_true",
        help="the branch is ahead of the remote with commits of your own: push them with ours "
        "(without it such a branch is refused)",
    )
    parser.add_argument("--sandbox", action="store_true", help="(not available yet)")
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="how to print the plan/result"
    )
    return parser.parse_args(argv)


def slice_names(config: MigrationConfig, chosen: str) -> list[str]:
    if chosen == "all":
        return config.slice_names()
    check_slice_name(config, chosen)
    return [chosen]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sandbox:
        raise ConfigError(
            "--sandbox (the emulated cluster and tailnet) is not available in this version; "
            "use --dry-run to see the plan"
        )
    config = load_config(args.config)
    names = slice_names(config, args.slice)
    if args.dry_run:
        return _dry_run(config, names, args)
    if args.rollback:
        _preflight_repo(config, names, args)
    else:
        _preflight(config, names, args)
    interrupts.install()  # before Prefect and git start helpers: Ctrl-C must not reach them
    start_temporary_server()  # before Prefect is imported: it reads PREFECT_API_URL once
    from flows.migrate_flow import run_migration  # Prefect is imported only for real runs

    return run_migration(config, names, args)


@contextmanager
def tailnet_client(config: MigrationConfig, read_only: bool) -> Iterator[TailscaleClient | None]:
    """A Tailscale API client from the environment's credentials, or None without them."""
    client = make_client(config, os.environ, read_only=read_only)
    try:
        yield client
    finally:
        if client is not None:
            client.close()


def _tree(config: MigrationConfig) -> RepoTree:
    tree = RepoTree(config.gitops.path)
    if not tree.root.is_dir():
        raise ConfigError(f"{config.source_path}: gitops.path {tree.root} is not a folder")
    if tree.root.resolve() in (Path(tree.root.anchor), Path.home().resolve()):
        raise ConfigError(
            f"{config.source_path}: gitops.path is {tree.root}, a whole file system or home "
            "folder; set it to the root of your clone of the Flux repo"
        )
    return tree


def _dry_run(config: MigrationConfig, names: list[str], args: argparse.Namespace) -> int:
    with tailnet_client(config, read_only=True) as client:
        prereq = plan_prereq(config, client) if args.phase in ("prereq", "all") else []
    tree = _tree(config)
    hosts = _recorded_old_hosts(config)
    plans = plan_slices(config, tree, names, args.phase, True, prereq, hosts)
    if args.output == "json":
        sys.stdout.write(plans_to_json(plans, single=args.slice != "all"))
    else:
        sys.stdout.write("\n".join(render_text(p) for p in plans))
    refuse_errors(*plans)  # printed above; also said on stderr, with exit code 2
    return 0


def _recorded_old_hosts(config: MigrationConfig) -> dict[str, str]:
    """Old hosts recorded by earlier phase-2 commits, when the GitOps folder is a git repo."""
    try:
        return recorded_old_hosts(config, open_repo(config))
    except PlanError:
        return {}  # not a git repo: only the hosts still in the files are known


def _preflight(config: MigrationConfig, names: list[str], args: argparse.Namespace) -> None:
    """Everything that would make the run refuse, found before anything changes (exit 2)."""
    _preflight_repo(config, names, args, compare=False)
    hosts = _recorded_old_hosts(config)
    refuse_errors(*plan_slices(config, _tree(config), names, args.phase, False, (), hosts))
    if args.phase != "prereq":
        _preflight_repo(config, names, args)  # fetches: only once the plans are good
    if args.phase in ("prereq", "all"):
        with tailnet_client(config, read_only=True) as client:
            if client is None:
                raise CredentialsError(
                    "the tailnet steps need credentials: set TS_API_KEY, or TS_OAUTH_CLIENT_ID "
                    "and TS_OAUTH_CLIENT_SECRET (or run --phase 1 / --phase 2 for repo changes)"
                )
            _try_credentials(config, client)


def _preflight_repo(
    config: MigrationConfig, names: list[str], args: argparse.Namespace, compare: bool = True
) -> None:
    """The repo is clean, on its branch, and (`compare`) ahead of the remote only with our
    commits."""
    repo = open_repo(config)
    try:
        repo.ensure_clean()
        if compare and not args.push_local_commits:
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


if __name__ == "__main__":
    sys.exit(run_cli(main))
