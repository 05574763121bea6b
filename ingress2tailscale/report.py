"""Plans as text for a terminal, as JSON for machines, and as markdown for Prefect artifacts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from ingress2tailscale.model import FileChange, Plan, RemoteChange, Step

SYMBOLS = {"none": "=", "change": "~", "unknown": "?"}
OPS = {"create": "+", "modify": "~", "delete": "-"}


def plans_to_json(plans: Sequence[Plan], single: bool) -> str:
    data = plans[0].to_json() if single else [p.to_json() for p in plans]
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def render_text(plan: Plan, show_diffs: bool = True, errors: bool = True) -> str:
    """The plan for a terminal; `errors=False` leaves the error notices to the caller, which
    prints them once, on stderr, with its refusal."""
    mode = "dry run" if plan.dry_run else "apply"
    lines = [f"Slice {plan.slice} (phase {plan.phase}, {mode})"]
    for step in plan.steps:
        lines.extend(_step_lines(step, show_diffs))
    shown = [n for n in plan.notices if errors or n.level != "error"]
    if shown:
        lines.append("  Notices:")
        lines.extend(f"    {n.level:<7} {n.subject}: {n.message}" for n in shown)
    held = len(plan.notices) - len(shown)
    if held:
        lines.append(f"  {held} error(s): listed once, on stderr")
    lines.append(f"  {summary(plan)}")
    return "\n".join(lines) + "\n"


def _step_lines(step: Step, show_diffs: bool) -> list[str]:
    lines = [f"  {SYMBOLS[step.action]} {step.name:<13} {step.action:<7} {step.reason}"]
    for change in step.changes:
        if isinstance(change, FileChange):
            lines.append(f"      {OPS[change.op]} {change.path}")
            if show_diffs:
                lines.extend("        " + d for d in change.diff.rstrip("\n").split("\n"))
        else:
            lines.append(f"      ~ {_remote(change)}")
    return lines


def _remote(change: RemoteChange) -> str:
    detail = ", ".join(f"{k}={v}" for k, v in change.detail.items() if k != "diff")
    text = f"{change.target}: {change.op}" + (f" ({detail})" if detail else "")
    diff = change.detail.get("diff")
    if isinstance(diff, str) and diff:
        text += "\n" + "\n".join("        " + d for d in diff.rstrip("\n").split("\n"))
    return text


def summary(plan: Plan) -> str:
    ops = Counter(c.op for c in plan.file_changes)
    remote = sum(1 for s in plan.steps for c in s.changes if isinstance(c, RemoteChange))
    unknown = sum(1 for s in plan.steps if s.action == "unknown")
    text = (
        f"Plan: {ops['create']} to create, {ops['modify']} to modify, {ops['delete']} to delete"
        f" (files); {remote} tailnet/cluster change(s)"
    )
    if unknown:
        text += f"; {unknown} step(s) not checked"
    return text + "."


def render_markdown(plan: Plan) -> str:
    lines = [f"# Plan: slice `{plan.slice}`, phase {plan.phase}", ""]
    lines += ["| step | action | reason |", "|---|---|---|"]
    lines += [f"| {s.name} | {s.action} | {s.reason} |" for s in plan.steps]
    for change in plan.file_changes:
        lines += ["", f"### {change.op} `{change.path}`", "", "```diff", change.diff, "```"]
    if plan.notices:
        lines += ["", "## Notices", ""]
        lines += [f"- **{n.level}** {n.subject}: {n.message}" for n in plan.notices]
    return "\n".join(lines) + "\n"
