"""The Prefect flow `plan`: the dry run of `python -m flows.migrate --dry-run`, as a flow run.

It writes nothing anywhere (the tailnet is only read, with credentials from the environment);
each slice's plan is the run's markdown artifact `plan-<slice>`, and the run fails with the
command line's message when a plan has problems.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from ingress2tailscale.config import load_config
from ingress2tailscale.model import Phase
from ingress2tailscale.plan.planner import check_slice_name
from ingress2tailscale.report import render_markdown
from ingress2tailscale.steps.commit import refuse_errors
from ingress2tailscale.steps.preview import preview_plans


@flow(name="plan")
def plan(
    slice: str = "all", phase: Phase = "all", config: str = "config/migration.yaml"
) -> list[dict[str, Any]]:
    """Plan the migration of a slice (or `all`, in config order) and change nothing.

    Args:
        slice: a slice of the config, or `all`
        phase: `prereq` (the tailnet steps), `1` (add the tailnet exposure), `2` (retire the
            old one) or `all`
        config: the migration config, as a path on the machine that serves the deployment
    """
    return publish_plans(config, slice, phase)


def publish_plans(config: str, slice: str, phase: Phase) -> list[dict[str, Any]]:
    cfg = load_config(Path(config))
    if slice != "all":
        check_slice_name(cfg, slice)
    names = cfg.slice_names() if slice == "all" else [slice]
    plans = preview_plans(cfg, names, phase, os.environ)
    for one in plans:
        create_markdown_artifact(
            key=f"plan-{one.slice.lower().replace('_', '-')}",
            markdown=render_markdown(one),
            description=f"{one.slice}: the plan (dry run; nothing was changed)",
        )
    refuse_errors(*plans)
    return [p.to_json() for p in plans]
