"""Approval between phase 1 and phase 2: the terminal's prompt, or the Prefect UI's Resume form
(approve, or reject with a comment; a slice that drops forward-auth or an allow-list also needs
*accept auth change*). What is approved is what runs: the plan is checked again after the reply."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from flows.interrupts import read_answer
from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import PlanChangedError
from ingress2tailscale.report import render_markdown
from ingress2tailscale.steps.repo import plan_drift, preview_phase2


class Approval(RunInput):
    """The Resume form between phase 1 and phase 2. Booleans default to false: Prefect's new UI
    leaves an untouched boolean out, and a required one would make the resume fail."""

    approve: bool = False
    comment: str = ""


class AuthApproval(Approval):
    """The form of a slice whose phase 2 drops forward-auth: that change is accepted apart."""

    accept_auth_change: bool = False


def approval(cfg: MigrationConfig, repo: GitRepo, name: str, mode: str) -> tuple[bool, str]:
    """Whether phase 2 may run, and the approver's comment."""
    if mode == "none":
        return True, ""
    if mode == "prompt":
        print(f"Phase 1 of slice {name} is in place. Apply phase 2? [y/N] ", end="", flush=True)
        answer = read_answer(f"slice {name}: phase 1 is in place; phase 2 was not started")
        return answer.strip().lower() in ("y", "yes"), ""
    plan, dropped = preview_phase2(cfg, repo, name)
    intro = f"Phase 1 of slice **{name}** is in place and passed its checks. Phase 2:\n\n"
    if dropped:
        intro += f"**It drops {dropped}**: set *accept auth change* to allow it.\n\n"
    form = (AuthApproval if dropped else Approval).with_initial_data(
        description=intro + render_markdown(plan)
    )
    waits = cfg.prefect
    reply = pause_flow_run(
        wait_for_input=form,
        timeout=int(waits.approval_timeout_s),
        poll_interval=max(1, int(waits.approval_poll_s)),
    )
    accepted = not dropped or bool(getattr(reply, "accept_auth_change", False))
    approved = bool(reply.approve) and accepted
    get_run_logger().info("phase 2 of %s approved=%s: %s", name, approved, reply.comment)
    if reply.approve and not accepted:
        return False, f"the change of access ({dropped}) was not accepted. {reply.comment}".strip()
    if approved:  # what will be applied must be what the approver saw
        changed = plan_drift(plan, preview_phase2(cfg, repo, name)[0])
        if changed:
            raise PlanChangedError(changed)
    return approved, reply.comment
