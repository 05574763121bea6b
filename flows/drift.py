"""`python -m flows.drift`: the flow `drift` — is every migrated slice still what its migration
left (repo, tailnet, cluster, reachability)? It changes nothing; it fails (exit 1) naming what
drifted, and its table artifact `drift-report` lists every check (slice, check, expected,
found). `--sandbox` checks the running sandbox instead."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flows.cli import run_cli
from ingress2tailscale.adapters.kubernetes import KubeClient, connect_cluster
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig, load_config
from ingress2tailscale.errors import CredentialsError, DriftError
from ingress2tailscale.steps.drift import DriftReport, find_drift
from ingress2tailscale.steps.prereq import make_client

DEFAULT_CONFIG = Path("config/migration.yaml")


def check_drift(config: MigrationConfig) -> DriftReport:
    tailnet = _tailnet(config)
    kube = _kube(config)
    try:
        return find_drift(config, tailnet, kube, config.drift.concurrency)
    finally:
        tailnet.close()
        if kube is not None:
            kube.close()


def _tailnet(config: MigrationConfig) -> TailscaleClient:
    """The read-only tailnet client the drift check needs; no credentials is exit 2."""
    tailnet = make_client(config, os.environ, read_only=True)
    if tailnet is None:
        raise CredentialsError(
            "the drift check reads the tailnet: set TS_API_KEY, or TS_OAUTH_CLIENT_ID and "
            "TS_OAUTH_CLIENT_SECRET"
        )
    return tailnet


def _kube(config: MigrationConfig) -> KubeClient | None:
    return connect_cluster(config, read_only=True)


def drift_error(report: DriftReport) -> DriftError:
    listed = "; ".join(
        f"{f.slice}: {f.check}: found {f.found} (expected {f.expected})" for f in report.drifted
    )
    return DriftError(f"{len(report.drifted)} drift(s): {listed}")


def report_json(report: DriftReport) -> dict[str, Any]:
    return {
        "slices": list(report.slices),
        "drifted": bool(report.drifted),
        "findings": [f.to_json() for f in report.findings],
        "skipped": list(report.skipped),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.drift",
        description="Check that every migrated slice is still what its migration left.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Exit codes: 0 no drift, 1 drift found (named on stderr), 2 invalid input.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the config file")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="check the running sandbox (python -m flows.sandbox up), on its Prefect server",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.sandbox:
        return _main(args, args.config)
    load_config(args.config)  # the user's config is checked before a sandbox starts for it
    from flows.sandbox import sandboxed

    with sandboxed(args.config, prefect=True) as run:
        os.environ.update(run.environ)  # the emulated tailnet's credentials, its server
        run.server_ready()
        return _main(args, run.config_path)


def _main(args: argparse.Namespace, config_path: Path) -> int:
    config = load_config(config_path)
    _tailnet(config).close()  # before Prefect starts; the flow checks again, whoever runs it
    from flows.drift_flow import drift  # Prefect is imported only once the input is good

    report = drift(config=str(config.source_path), raise_on_drift=False)
    text = json.dumps(report, indent=2) if args.output == "json" else describe_json(report)
    print(text)
    if report["drifted"]:
        print("error: drift found (see above); nothing was changed", file=sys.stderr)
        return 1
    return 0


def describe_json(report: dict[str, Any]) -> str:
    lines = [
        f"drift of {len(report['slices'])} migrated slice(s): {', '.join(report['slices']) or '-'}"
    ]
    for f in report["findings"]:
        mark = "!" if f["drifted"] else "?" if f.get("inconclusive") else "="
        what = f"expected {f['expected']}; found {f['found']}"
        lines.append(f"  {mark} {f['slice']:<16} {f['check']:<30} {what}")
    lines += [f"  ? not checked: {why}" for why in report["skipped"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_cli(main))
