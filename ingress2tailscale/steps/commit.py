"""Apply a planned repo step as one commit with trailers, and push it (never re-plans)."""

from __future__ import annotations

from collections.abc import Callable

from ingress2tailscale.adapters.git_repo import TRAILER_OLD_HOST, GitRepo, trailers_for
from ingress2tailscale.errors import CheckError
from ingress2tailscale.model import Plan, Step, trailer_phase


def commit_step(
    repo: GitRepo,
    plan: Plan,
    step: Step,
    run_id: str,
    after_rebase: Callable[[], None] | None = None,
    note: str = "",
) -> str | None:
    """Commit and push one step's file changes; returns the commit, or None if nothing to do.
    `after_rebase` checks the commit again when the push had to rebase it; `note` (an
    approver's comment) is a paragraph of the message."""
    if step.action != "change":
        return None
    refuse_errors(plan)
    changes = [c for c in plan.file_changes if c in step.changes]
    subject = commit_subject(plan, step)
    body = "\n".join([step.reason, "", *(f"{c.op} {c.path}" for c in changes)])
    if note.strip():
        body += f"\n\nApproved: {note.strip()}"
    trailers = trailers_for(plan.slice, trailer_phase(step.name), run_id)
    if step.name == "phase-2" and plan.facts.get("old_host"):
        trailers[TRAILER_OLD_HOST] = plan.facts["old_host"]  # links need it once it is gone
    sha = repo.commit_changes(changes, subject, body, trailers)
    if sha is None:
        return None
    repo.push(after_rebase)
    return repo.head()  # a rebase before the push gives the commit a new id


def commit_subject(plan: Plan, step: Step) -> str:
    """A short first line a reviewer can scan: what the step does to which object."""
    facts = plan.facts
    if step.name == "phase-1" and "new" in facts:
        where = f" ({facts['fqdn']})" if "fqdn" in facts else ""
        return f"{plan.slice}: phase 1: add {facts['new']}{where}"
    if step.name == "phase-2" and "source" in facts:
        return f"{plan.slice}: phase 2: retire {facts['source']}"
    if step.name == "links":
        return f"{plan.slice}: point consumers at the tailnet names"
    return f"{plan.slice}: {step.name}"


def refuse_errors(*plans: Plan) -> None:
    """Plans with error notices (failed static checks, an unaccepted auth change, a slice that
    cannot be planned) are not applied; every problem of every plan is named together."""
    blocks = []
    for plan in plans:
        errors = [n for n in plan.notices if n.level == "error"]
        if errors:
            listed = "\n  ".join(f"{n.subject}: {n.message}" for n in errors)
            blocks.append(f"slice {plan.slice}: the plan has problems:\n  {listed}")
    if blocks:
        raise CheckError("\n".join(blocks) + "\nnothing was changed")
