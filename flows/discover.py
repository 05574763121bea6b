"""`python -m flows.discover`: scan a GitOps repo and print a proposed config/migration.yaml.

The proposal comes from `ingress2tailscale.plan.discovery`; `ingress2tailscale.plan.proposal`
writes it as commented YAML.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from flows.cli import run_cli
from ingress2tailscale.config import TAG
from ingress2tailscale.errors import ConfigError, InventoryError
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.proposal import render_proposal
from ingress2tailscale.repo.inventory import read_inventory

DEFAULT_TAG = "tag:k8s"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.discover",
        description="Scan a Flux GitOps repo and print a proposed migration config on stdout.",
    )
    parser.add_argument("--repo", type=Path, required=True, help="a local clone of the Flux repo")
    parser.add_argument("--tailnet", help="your tailnet's MagicDNS suffix (e.g. tail1234.ts.net)")
    parser.add_argument(
        "--tag", default=DEFAULT_TAG, help=f"tag of the new devices ({DEFAULT_TAG})"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not TAG.match(args.tag):
        raise ConfigError(f"--tag {args.tag!r} is not a tag: tags look like 'tag:k8s'")
    if not args.repo.is_dir():
        raise InventoryError(f"{args.repo}: no such folder (--repo is a local clone of the repo)")
    proposal = propose_config(read_inventory(args.repo), tag=args.tag)
    # absolute: the proposal is printed, and where it will be saved is not known here
    sys.stdout.write(render_proposal(proposal, str(args.repo.resolve()), args.tailnet))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
