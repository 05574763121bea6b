"""What a real run needs around its steps: the cluster and tailnet clients of the live checks,
the exposure they check, a reconcile request after a rollback, and one progress line per step
(what, result, seconds) on the terminal and in the flow run's log."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.adapters.kubernetes import KubeClient, connect_cluster
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ClusterError, MigrationError
from ingress2tailscale.kinds import GIT_REPOSITORY, KUSTOMIZATION
from ingress2tailscale.model import Check
from ingress2tailscale.plan.exposure import derive_exposure
from ingress2tailscale.repo.inventory import RepoTree, build_inventory
from ingress2tailscale.steps.prereq import make_client
from ingress2tailscale.steps.validate import LiveTargets, resolver_for

log = logging.getLogger("ingress2tailscale.progress")
MARKS = {"change": "~", "none": "=", "unknown": "?"}
STATUS_MARKS = {"pass": "+", "fail": "!", "inconclusive": "?"}


@contextmanager
def cluster_of(config: MigrationConfig) -> Iterator[KubeClient | None]:
    """The configured cluster for the run (None: `kubernetes.enabled` is false), closed after."""
    kube = connect_cluster(config)
    try:
        yield kube
    finally:
        if kube is not None:
            kube.close()


@contextmanager
def live_targets(
    config: MigrationConfig, repo: GitRepo, name: str, kube: KubeClient | None
) -> Iterator[LiveTargets | None]:
    """The slice's live-check targets, its exposure derived from the repo as it is now (before
    phase 2 retires the old object); None for a links slice, or a slice already complete."""
    if name not in config.service_slices():
        yield None
        return
    try:
        exposure = derive_exposure(config, build_inventory(RepoTree(repo.path)), name)
    except MigrationError as exc:  # the old object is gone: phase 2 is done already
        log.info("%s: no live checks: %s", name, exc)
        yield None
        return
    tailnet = make_client(config, os.environ, read_only=True)
    try:
        yield LiveTargets(exposure, kube, tailnet, resolver_for(config))
    finally:
        if tailnet is not None:
            tailnet.close()


def request_reconcile(config: MigrationConfig, kube: KubeClient | None) -> str:
    """Ask Flux to apply the reverts now (not waited for); what was asked, as a clause."""
    flux = config.gitops.flux
    if kube is None or not flux.kustomizations:
        return ""
    try:
        kube.request_reconcile(flux.namespace, GIT_REPOSITORY.kind, flux.source)
        for name in flux.kustomizations:
            kube.request_reconcile(flux.namespace, KUSTOMIZATION.kind, name)
    except ClusterError as exc:
        return f"; Flux was not asked to reconcile: {exc}"
    return "; Flux was asked to reconcile"


def progress(slice_name: str, row: dict[str, Any], started: float) -> dict[str, Any]:
    """Say a finished step as one line (and its checks, one line each); returns the row."""
    seconds = time.monotonic() - started
    mark = MARKS.get(row["action"], " ")
    commit = f" [{row['commit'][:12]}]" if row.get("commit") else ""
    log.info(
        "%s %-10s %-13s %-7s %5.1f s  %s%s",
        mark,
        slice_name,
        row["name"],
        row["action"],
        seconds,
        row["reason"],
        commit,
    )
    for check in row.get("checks") or ():
        if (isinstance(check, Check) and check.area != "static") or check.status != "pass":
            log.info(
                "    %s %-28s %-12s %5.1f s  %s",
                STATUS_MARKS[check.status],
                check.name,
                check.status,
                check.seconds,
                check.detail,
            )
    return row


def validation_summary(checks: list[Check], blocking: list[Check]) -> str:
    counts = {s: sum(c.status == s for c in checks) for s in ("pass", "fail", "inconclusive")}
    said = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if blocking:
        return f"{said}: blocked by {', '.join(c.name for c in blocking)}"
    return said or "nothing to check"


def render_outcome(outcome: dict[str, Any]) -> str:
    """What a run did, step by step, like the plan's text."""
    lines = [f"Slice {outcome['slice']} (phase {outcome['phase']}): done"]
    for step in outcome["steps"]:
        mark = {"change": "~", "none": "=", "unknown": "?"}.get(step["action"], " ")
        commit = f" [{step['commit'][:12]}]" if step.get("commit") else ""
        lines.append(f"  {mark} {step['name']:<13} {step['action']:<7} {step['reason']}{commit}")
    return "\n".join(lines)


def summary_line(done: list[dict[str, Any]], sandbox: dict[str, Any] | None) -> str:
    """The last line of a run's text output."""
    steps = [s for outcome in done for s in outcome["steps"]]
    changed = sum(s["action"] == "change" for s in steps)
    checks = [c for s in steps for c in s.get("checks") or ()]
    passed = sum(c["status"] == "pass" for c in checks)
    commits = sum(bool(s.get("commit")) for s in steps)
    line = (
        f"Summary: {len(done)} slice(s) done; {changed} step(s) changed, {commits} commit(s); "
        f"{passed} of {len(checks)} check(s) passed"
    )
    if sandbox and sandbox.get("temporary"):
        return (
            line + " (in a temporary sandbox, removed now: `python -m flows.sandbox up` keeps one)"
        )
    return line + (f"; the sandbox's repo: {sandbox['repo']}" if sandbox else "")
