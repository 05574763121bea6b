"""`python -m flows.migrate`: plan or run the migration of one slice, or of all of them."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from flows import interrupts
from flows.cli import run_cli
from flows.sandbox import sandboxed
from flows.temp_server import start_temporary_server
from ingress2tailscale.config import NO_SLICES, MigrationConfig, load_config
from ingress2tailscale.errors import ConfigError
from ingress2tailscale.model import PHASES
from ingress2tailscale.plan.planner import check_slice_name
from ingress2tailscale.report import plans_to_json, render_text
from ingress2tailscale.steps.commit import refuse_errors
from ingress2tailscale.steps.preview import preflight, preflight_repo, preview_plans

DEFAULT_CONFIG = Path("config/migration.yaml")


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
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the emulated cluster and tailnet (python -m flows.sandbox): the "
        "running sandbox, else a temporary one for this command, on a copy of the config's repo",
    )
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="how to print the plan/result"
    )
    return parser.parse_args(argv)


def slice_names(config: MigrationConfig, chosen: str) -> list[str]:
    if chosen == "all":
        if not config.slices:
            raise ConfigError(f"{config.source_path}: slices: {NO_SLICES}")
        return config.slice_names()
    check_slice_name(config, chosen)
    return [chosen]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.sandbox_info = None
    if not args.sandbox:
        return _main(args, args.config)
    load_config(args.config)  # the user's config is checked before a sandbox starts for it
    if not args.dry_run:  # before Prefect and git start helpers: Ctrl-C must not reach them
        interrupts.install()
    # a real run uses the running sandbox's Prefect server, else a temporary one that starts
    # while the temporary sandbox does
    with sandboxed(args.config, prefect=not args.dry_run) as run:
        os.environ.update(run.environ)  # the emulated tailnet's credentials, for this process
        args.server_ready = run.server_ready
        if not args.dry_run and "PREFECT_API_URL" in run.environ:
            ui = run.info["prefect_ui_url"]
            print(f"sandbox: the run is on the sandbox's Prefect server (UI {ui})", file=sys.stderr)
        args.sandbox_info = {
            "repo": run.info["repo"],
            "origin": run.info["origin"],
            "temporary": run.temporary,
        }
        print(f"sandbox: the repo is {run.info['repo']}", file=sys.stderr)
        return _main(args, run.config_path)


def _main(args: argparse.Namespace, config_path: Path) -> int:
    config = load_config(config_path)
    names = slice_names(config, args.slice)
    if args.dry_run:
        return _dry_run(config, names, args)
    if args.rollback:
        preflight_repo(config, names, args.push_local_commits)
    else:  # fast: before Prefect starts (the flow checks again, whoever starts it)
        preflight(config, names, args.phase, os.environ, args.push_local_commits)
    interrupts.install()  # before Prefect and git start helpers: Ctrl-C must not reach them
    # before Prefect is imported: it reads PREFECT_API_URL once
    getattr(args, "server_ready", start_temporary_server)()
    from flows.migrate_run import run_migration  # Prefect is imported only for real runs

    return run_migration(config, names, args)


def _dry_run(config: MigrationConfig, names: list[str], args: argparse.Namespace) -> int:
    plans = preview_plans(config, names, args.phase, os.environ)
    if args.output == "json":
        sys.stdout.write(plans_to_json(plans, single=args.slice != "all"))
    else:
        sys.stdout.write("\n".join(render_text(p, errors=False) for p in plans))
    refuse_errors(*plans)  # printed above; also said on stderr, with exit code 2
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
