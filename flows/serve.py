"""`python -m flows.serve [--config PATH] [--sandbox]`: serve the deployments `migrate`, `plan`,
`rollback` and `drift` (on the config's `drift.schedule`) against the Prefect server that
`PREFECT_API_URL` names, until stopped; with `notify` configured, an automation calls the webhook
when a drift or migrate run fails (created or updated at start). With `--sandbox`: against the
running sandbox (`python -m flows.sandbox up`), its config, credentials and Prefect server
(unless PREFECT_API_URL names another), to try the UI locally.

Runs started from the UI (or `POST /api/deployments/{id}/create_flow_run`) execute here, in a
subprocess each, with this process's environment (the Tailscale credentials come from it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

# the runner looks for new runs this often (Prefect's 10 s makes a UI trigger wait ~8 s)
os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")

from flows.cli import run_cli
from flows.sandbox import running_sandbox
from ingress2tailscale.config import load_config
from ingress2tailscale.errors import ConfigError

DEFAULT_CONFIG = Path("config/migration.yaml")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.serve",
        description="Serve the migration's Prefect deployments against PREFECT_API_URL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Runs look for new work every PREFECT_RUNNER_POLL_FREQUENCY seconds (2).",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the config file")
    parser.add_argument("--limit", type=int, default=4, help="runs executed at the same time")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="serve against the running sandbox (python -m flows.sandbox up): its config's "
        "copy, its emulated tailnet's credentials, its Prefect server",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sandbox:
        args.config = _use_the_sandbox(args.config)
    if not os.environ.get("PREFECT_API_URL"):
        raise ConfigError(
            "PREFECT_API_URL is not set: point it at your Prefect server (for example "
            "http://127.0.0.1:4200/api after `prefect server start`)"
        )
    config = load_config(args.config)  # a bad config stops here (exit 2), not in every run
    # Prefect only now: it reads PREFECT_API_URL once, at import (`--sandbox` has just set it),
    # and bad input is said without waiting for it to load
    from prefect import Flow, serve
    from prefect.deployments.runner import RunnerDeployment

    from flows.drift_flow import drift
    from flows.migrate_flow import migrate, rollback
    from flows.notify import notify_on_failure, webhook_url
    from flows.plan_flow import plan

    path = str(config.source_path.resolve())
    about = {
        "migrate": "Migrate a slice; pauses for approval before phase 2 (the Resume form).",
        "plan": "The plan of a slice (a dry run): changes nothing.",
        "rollback": "Revert every commit of a slice, newest first, and push.",
        "drift": "Check that every migrated slice is still what its migration left.",
    }
    flows: dict[str, Flow[..., Any]] = {
        "migrate": migrate,
        "plan": plan,
        "rollback": rollback,
        "drift": drift,
    }
    deployments = {}
    for name, one in flows.items():
        cron = config.drift.schedule if name == "drift" else None
        made = one.to_deployment(
            name=name, parameters={"config": path}, description=about[name], cron=cron
        )
        assert isinstance(made, RunnerDeployment)  # the sync call returns it, not a coroutine
        deployments[name] = made
    url = webhook_url(config)
    if url is not None:
        applied = [deployments[name].apply() for name in ("drift", "migrate")]
        ids = [i for i in applied if isinstance(i, UUID)]  # sync calls: never coroutines
        notify_on_failure(url, ids, config.notify.allow_private_urls)
    serve(*deployments.values(), limit=args.limit, print_starting_message=True)
    return 0


def _use_the_sandbox(config_path: Path) -> Path:
    """The running sandbox's config; its credentials and server go into this process's
    environment, which the runs inherit."""
    load_config(config_path)  # the user's config is checked first
    run = running_sandbox(config_path)
    if run is None:
        raise ConfigError(
            "no sandbox is running: start one with `python -m flows.sandbox up"
            f" --config {config_path}`, then serve against it"
        )
    os.environ.update(run.environ)
    where = os.environ.get("PREFECT_API_URL", "no Prefect server")
    print(f"serving against the sandbox: {run.config_path}, on {where}", file=sys.stderr)
    return run.config_path


if __name__ == "__main__":
    sys.exit(run_cli(main))
