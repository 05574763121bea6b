"""The Prefect flow `drift` (served on a cron schedule by `flows.serve`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.drift import check_drift, drift_error, report_json
from ingress2tailscale.config import load_config


@flow(name="drift")
def drift(config: str = "config/migration.yaml", raise_on_drift: bool = True) -> dict[str, Any]:
    """Check every migrated slice against the repo, the tailnet and the cluster; change nothing.

    Args:
        config: the migration config, as a path on the machine that runs the flow
        raise_on_drift: fail the run when anything drifted (what automations react to)
    """
    report = check_drift(load_config(Path(config)))
    rows = [
        {
            "slice": f.slice,
            "check": f.check,
            "expected": f.expected,
            "found": f.found,
            "drift": "yes" if f.drifted else "inconclusive" if f.inconclusive else "no",
        }
        for f in report.findings
    ]
    rows += [
        {"slice": "-", "check": why, "expected": "-", "found": "not checked", "drift": "-"}
        for why in report.skipped
    ]
    create_table_artifact(key="drift-report", table=rows, description="drift of migrated slices")
    if report.drifted and raise_on_drift:
        raise drift_error(report)
    return report_json(report)
