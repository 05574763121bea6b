"""The `acl` step: the tailnet policy holds the tag owners, access rules and tests the migration
needs; written through the API under `If-Match` (or to a HuJSON file in git), tests run first."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingress2tailscale.adapters.git_repo import commit_file, read_exact, trailers_for
from ingress2tailscale.adapters.tailscale_api import TailscaleClient, TestFailure
from ingress2tailscale.config import MigrationConfig, PolicyConfig
from ingress2tailscale.edit.policy import PolicyEdit, diff_policy, edit_policy
from ingress2tailscale.errors import ConfigError, PreconditionFailedError, TailscaleError
from ingress2tailscale.model import RemoteChange, Step

STEP_NAME = "acl"
PHASE = "prereq"
WRITE_ATTEMPTS = 3
API_SOURCE = "the tailnet policy"  # how errors name the policy read from the API
API_DIFF_PATH = "policy.hujson"
NOT_CONFIGURED = "no tailscale.policy in the config: the tailnet policy is left as it is"
ALREADY = "the policy already has the configured tag owners, access rules and tests"
RECORDED = "the previous policy text is kept, to post back under If-Match if needed"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AclOutcome:
    """What `apply_acl` did: the step, and what undoing it needs.

    `previous_text` is the policy before our write and `etag` the ETag of what we wrote (both None
    when nothing was written through the API); `commit` is the policy file's commit (source file),
    which a rollback reverts like the other migration commits."""

    step: Step
    previous_text: str | None
    etag: str | None
    commit: str | None = None


def plan_acl(config: MigrationConfig, client: TailscaleClient | None) -> Step:
    """The policy edit the migration needs, as a diff; read-only (validation does not write)."""
    policy = config.tailscale.policy
    if policy is None:
        return Step(STEP_NAME, "none", NOT_CONFIGURED)
    if policy.source == "file":
        path, edit = _edit_file(policy)
        return _planned(edit, client, _file_change(path, edit))
    if client is None:
        return Step(STEP_NAME, "unknown", "could not read the tailnet policy")
    edit = edit_for(policy, client.get_policy().text, API_SOURCE)
    diff = diff_policy(edit, API_DIFF_PATH)
    return _planned(edit, client, RemoteChange("tailscale", "set-policy", {"diff": diff}))


def apply_acl(
    config: MigrationConfig, client: TailscaleClient | None, run_id: str, slice_name: str
) -> AclOutcome:
    """Make the policy hold what the config asks; nothing is written when its tests would fail."""
    policy = config.tailscale.policy
    if policy is None:
        return AclOutcome(Step(STEP_NAME, "none", NOT_CONFIGURED), None, None)
    if policy.source == "file":
        return _apply_file(policy, client, run_id, slice_name)
    if client is None:
        raise TailscaleError("the `acl` step needs Tailscale API credentials to edit the policy")
    return _apply_api(policy, client)


def undo_acl(client: TailscaleClient, outcome: AclOutcome) -> None:
    """Re-post the policy we replaced, only if nobody changed it after our write."""
    if outcome.previous_text is None:
        return  # nothing written through the API (a policy file is reverted with its commit)
    if not outcome.etag:
        raise TailscaleError("the policy write returned no ETag; restore the policy by hand")
    try:
        client.set_policy(outcome.previous_text, if_match=outcome.etag)
    except PreconditionFailedError as exc:
        raise PreconditionFailedError(
            "the tailnet policy was changed by someone else after the migration wrote it, so it "
            "was not restored over their edit; remove the migration's entries by hand",
            exc.status_code,
        ) from exc


def edit_for(policy: PolicyConfig, text: str, source: str) -> PolicyEdit:
    """The configured tag owners, rules and tests spliced into the policy text."""
    acls = [rule.model_dump() for rule in policy.acls]
    tests = [_test_entry(test.model_dump(exclude_none=True)) for test in policy.tests]
    return edit_policy(text, policy.tag_owners, acls, tests, source=source)


def _test_entry(test: dict[str, Any]) -> dict[str, Any]:
    # empty `accept`/`deny` lists are left out, as a person writes a test
    return {k: v for k, v in test.items() if v != []}


def _apply_api(policy: PolicyConfig, client: TailscaleClient) -> AclOutcome:
    """GET, edit, validate, POST under If-Match; a 412 (someone else wrote) starts over."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        current = client.get_policy()
        edit = edit_for(policy, current.text, API_SOURCE)
        if edit.after == edit.before:
            return AclOutcome(Step(STEP_NAME, "none", ALREADY), None, None)
        if not current.etag:
            raise TailscaleError("the policy came without an ETag; refusing to write it blindly")
        require_tests_pass(client, edit.after)
        try:
            written = client.set_policy(edit.after, if_match=current.etag)
        except PreconditionFailedError:
            log.info("the tailnet policy changed while it was edited (attempt %d); again", attempt)
            continue
        change = RemoteChange("tailscale", "set-policy", {"diff": diff_policy(edit, API_DIFF_PATH)})
        step = Step(STEP_NAME, "change", _join("added " + _added(edit), RECORDED), (change,))
        return AclOutcome(step, current.text, written.etag or None)
    raise PreconditionFailedError(
        f"the tailnet policy changed under every one of {WRITE_ATTEMPTS} writes; nothing was "
        "written. Run the step again when the other editors are done",
        412,
    )


def _apply_file(
    policy: PolicyConfig, client: TailscaleClient | None, run_id: str, slice_name: str
) -> AclOutcome:
    path, edit = _edit_file(policy)
    if edit.after == edit.before:
        return AclOutcome(Step(STEP_NAME, "none", ALREADY), None, None)
    if client is not None:
        require_tests_pass(client, edit.after)
    subject = "Tailnet policy: tag owners and access rules for the Tailscale operator"
    body = "\n".join(f"- {added}" for added in edit.added)
    trailers = trailers_for(slice_name, PHASE, run_id)
    sha = commit_file(path, (edit.before, edit.after), subject, body, trailers)
    done = f"committed {path} ({sha[:12]})" if sha else f"wrote {path} (not in a git repo)"
    reason = _join(f"added {_added(edit)}", done, _validated(client))
    step = Step(STEP_NAME, "change", reason, (_file_change(path, edit),))
    return AclOutcome(step, None, None, sha)


def require_tests_pass(client: TailscaleClient, text: str) -> None:
    """Run the new policy's tests through `/acl/validate`; TailscaleError listing the failures."""
    failures = _failing(client.validate_policy(text))
    if failures:
        raise TailscaleError(
            f"the edited tailnet policy fails its tests, so nothing was written: "
            f"{_describe(failures)}. Fix tailscale.policy (acls or tests) or the policy, then "
            "run again"
        )


def _planned(edit: PolicyEdit, client: TailscaleClient | None, change: RemoteChange) -> Step:
    if edit.after == edit.before:
        return Step(STEP_NAME, "none", ALREADY)
    reason = f"would add {_added(edit)}"
    if client is not None:
        failures = _failing(client.validate_policy(edit.after))
        if failures:
            reason = _join(reason, f"its tests would FAIL: {_describe(failures)}")
            change = RemoteChange(
                change.target, change.op, {**change.detail, "test_failures": _describe(failures)}
            )
    return Step(STEP_NAME, "change", _join(reason, _validated(client)), (change,))


def _edit_file(policy: PolicyConfig) -> tuple[Path, PolicyEdit]:
    if policy.path is None:
        raise ConfigError("tailscale.policy.path is required when tailscale.policy.source is file")
    try:
        text = read_exact(policy.path)
    except OSError as exc:
        raise ConfigError(
            f"{policy.path}: cannot read the policy file (tailscale.policy.path): {exc.strerror}"
        ) from exc
    return policy.path, edit_for(policy, text, str(policy.path))


def _file_change(path: Path, edit: PolicyEdit) -> RemoteChange:
    detail = {"path": str(path), "diff": diff_policy(edit, path.name)}
    return RemoteChange("tailscale", "modify-policy-file", detail)


def _failing(results: Sequence[TestFailure]) -> list[TestFailure]:
    return [r for r in results if r.errors]  # warnings alone do not stop a write


def _describe(failures: Sequence[TestFailure]) -> str:
    return " | ".join(f"{f.user or 'policy'}: {'; '.join(f.errors)}" for f in failures)


def _added(edit: PolicyEdit) -> str:
    return "; ".join(edit.added)


def _validated(client: TailscaleClient | None) -> str:
    return "" if client is not None else "not validated: no Tailscale API client"


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
