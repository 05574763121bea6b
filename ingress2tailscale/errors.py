"""The error tree. Every error we raise on purpose is a `MigrationError`; anything else is a bug.

    MigrationError                  exit 2: invalid input, nothing was changed
    ├── ConfigError                 config/migration.yaml (file and key path in the message)
    │   └── CredentialsError        no usable Tailscale credentials in the environment
    ├── InventoryError              GitOps repo content that cannot be read (file and line)
    ├── PlanError                   the plan cannot be built (unknown slice, missing `from` object…)
    ├── CheckError                  static checks failed on files the plan would write
    └── ExternalError               exit 1: a system outside us failed; the slice was rolled back
        ├── TailscaleError          the Tailscale API (status code kept, never a secret)
        │   ├── TailscaleAuthError        401 / 403 (missing scope named when known)
        │   ├── TailscaleNotFoundError    404
        │   └── PreconditionFailedError   412 on a policy write (someone else changed it)
        ├── TerraformError          a Terraform file or the configured apply command
        ├── ClusterError            the Kubernetes API
        └── GitError                the GitOps repo's git operations
            └── PushRejectedError   the remote refused our push and a rebase did not fix it

Messages name the file, key or line and say what to do; they never contain a secret.
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


class ExternalError(MigrationError):
    """A system outside the tool failed."""

    exit_code = 1


class TailscaleError(ExternalError):
    """The Tailscale API answered with an error or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TailscaleAuthError(TailscaleError):
    """401 or 403: the credential is invalid or lacks a scope."""


class TailscaleNotFoundError(TailscaleError):
    """404 from the Tailscale API."""


class PreconditionFailedError(TailscaleError):
    """412: the policy changed since we read it."""


class TerraformError(ExternalError):
    """A Terraform file could not be edited, or the apply command failed."""


class ClusterError(ExternalError):
    """The Kubernetes API failed."""


class GitError(ExternalError):
    """A git operation on the GitOps repo failed."""


class PushRejectedError(GitError):
    """The remote refused the push even after a rebase."""
