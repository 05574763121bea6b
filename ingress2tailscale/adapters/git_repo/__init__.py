"""The GitOps repo's git operations (GitPython): commit a step with trailers, push, revert a slice.

The only package that imports git. `trailers.py` (the commit trailers, pure text), `local.py`
(`LocalRepo`: the journalled commit, its recovery, the repo lock), `repo.py` (`GitRepo`: the
remote, the slice's history, revert and rollback), `files.py` (one file committed alone).
Callers import from here.

May import: what `adapters/` may.
"""

from ingress2tailscale.adapters.git_repo.files import commit_file, read_exact
from ingress2tailscale.adapters.git_repo.repo import GitRepo
from ingress2tailscale.adapters.git_repo.trailers import (
    TRAILER_OLD_HOST,
    TRAILER_PHASE,
    TRAILER_RUN,
    TRAILER_SLICE,
    MigrationCommit,
    trailers_for,
)

__all__ = [
    "TRAILER_OLD_HOST",
    "TRAILER_PHASE",
    "TRAILER_RUN",
    "TRAILER_SLICE",
    "GitRepo",
    "MigrationCommit",
    "commit_file",
    "read_exact",
    "trailers_for",
]
