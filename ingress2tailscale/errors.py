"""The error tree. Every error we raise on purpose is a `MigrationError`; anything else is a bug.

    MigrationError                  exit 2: invalid input, nothing was changed
    ├── ConfigError                 config/migration.yaml (file and key path in the message)
    │   └── CredentialsError        no usable Tailscale credentials in the environment
    ├── InventoryError              GitOps repo content that cannot be read (file and line)
    ├── PlanError                   the plan cannot be built (unknown slice, missing `from` object…)
    ├── CheckError                  static checks failed on files the plan would write
    ├── PlanChangedError            the repo changed since the plan that was approved
    ├── RepoLockedError             another run holds the repo's lock (pid and start named)
    ├── RetryLaterError             an API asked us to wait (before anything changed)
    ├── RunInterruptedError         exit 130: Ctrl-C, the run stopped at a safe point
    └── ExternalError               exit 1: a system outside us failed; the slice was rolled back
        ├── TailscaleError          the Tailscale API (status code kept, never a secret)
        │   ├── TailscaleAuthError        401 / 403 (missing scope named when known)
        │   ├── TailscaleNotFoundError    404
        │   └── PreconditionFailedError   412 on a policy write (someone else changed it)
        ├── TerraformError          a Terraform file or the configured apply command
        ├── ClusterError            the Kubernetes API (never a token or a Secret's value)
        │   └── ClusterNotFoundError    an object that is not in the cluster (yet)
        ├── OrchestratorError       Prefect's API went away: the run stopped, nothing rolled back
        ├── GitError                the GitOps repo's git operations
        │   └── PushRejectedError   the remote refused our push and a rebase did not fix it
        ├── SliceFailedError        a slice failed part-way and was rolled back
        │   └── ValidationFailedError   a check after a step failed
        ├── ApprovalRejectedError   phase 2 was rejected in the Resume form (the slice is undone)
        └── DriftError              a migrated slice is no longer what its migration left

Messages name the file, key or line and say what to do; they never contain a secret.
`yaml_problem` is the one place a YAML parser's error becomes words.
"""

from __future__ import annotations


class MigrationError(Exception):
    """Root of every error the tool raises on purpose."""

    exit_code = 2


class ConfigError(MigrationError):
    """The configuration file is invalid."""


class CredentialsError(ConfigError):
    """No usable credentials were found."""


class InventoryError(MigrationError):
    """A file in the GitOps repo cannot be read."""


class PlanError(MigrationError):
    """The plan cannot be built from this config and repo."""


class CheckError(MigrationError):
    """Static checks failed on files the plan would write."""


class PlanChangedError(MigrationError):
    """What would be applied is no longer the plan that was approved."""


class RepoLockedError(MigrationError):
    """Another run is changing the GitOps repo; this one changed nothing."""


class RetryLaterError(MigrationError):
    """An outside API is throttling or unavailable before the run changed anything."""


class RunInterruptedError(MigrationError):
    """Ctrl-C: the run stopped between steps; running it again finishes it."""

    exit_code = 130


class ExternalError(MigrationError):
    """A system outside the tool failed."""

    exit_code = 1


class TailscaleError(ExternalError):
    """The Tailscale API answered with an error or could not be reached."""

    def __init__(
        self, message: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after  # seconds the API asked us to wait (Retry-After)


class TailscaleAuthError(TailscaleError):
    """401 or 403: the credential is invalid or lacks a scope."""


class TailscaleNotFoundError(TailscaleError):
    """404 from the Tailscale API."""


class PreconditionFailedError(TailscaleError):
    """412: the policy changed since we read it."""


class TerraformError(ExternalError):
    """A Terraform file could not be edited, or the apply command failed."""


class ClusterError(ExternalError):
    """The Kubernetes API failed, refused us, or a controller reported a failure."""


class ClusterNotFoundError(ClusterError):
    """404 for an object whose kind the cluster knows (a missing CRD is a plain ClusterError)."""


class OrchestratorError(ExternalError):
    """Prefect's API failed: the run stopped where it was; work that passed its checks stays."""


class GitError(ExternalError):
    """A git operation on the GitOps repo failed."""


class PushRejectedError(GitError):
    """The remote refused the push even after a rebase."""


class SliceFailedError(ExternalError):
    """A slice failed part-way and was rolled back (exit code 1)."""


class ValidationFailedError(SliceFailedError):
    """A check after a step failed; the slice is rolled back."""


class ApprovalRejectedError(ExternalError):
    """The approver rejected phase 2; the slice is rolled back."""


class DriftError(ExternalError):
    """Something a migration left has changed behind the tool's back."""


def yaml_problem(exc: BaseException, line_offset: int = 0) -> tuple[int | None, int, str]:
    """(line, column, problem) of a YAML parser's error, lines counted from the file's start.

    libyaml reports where it noticed the problem, often the line after the mistake; the line
    where the unfinished construct started (its context) is named in the problem too.
    """
    mark = getattr(exc, "problem_mark", None)
    text = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context:
        where = ""
        if context_mark is not None:
            where = f" that starts at line {context_mark.line + 1 + line_offset}"
            where += f", column {context_mark.column + 1}"
        text += f" ({context}{where})"
    if mark is None:
        return None, 0, text
    return mark.line + 1 + line_offset, mark.column + 1, text


def describe_yaml_error(exc: BaseException, line_offset: int = 0) -> str:
    """`line N, column M: not valid YAML: problem` for a YAML parser's error."""
    line, column, text = yaml_problem(exc, line_offset)
    if line is None:
        return f"not valid YAML: {text}"
    return f"line {line}, column {column}: not valid YAML: {text}"
