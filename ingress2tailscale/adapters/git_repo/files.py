"""A single file (the Terraform file, the policy file) written and, when it is in a git work
tree, committed alone with the tool's trailers; texts read and written with their line endings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import git

from ingress2tailscale.adapters.git_repo.repo import GitRepo
from ingress2tailscale.errors import GitError, PlanError


def repo_containing(path: Path) -> GitRepo | None:
    """The git work tree holding `path` (its current branch, push off); None outside git."""
    try:
        found = git.Repo(path.parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if found.working_tree_dir is None:  # a bare repository holds no files to edit
        return None
    branch = "HEAD" if found.head.is_detached else found.active_branch.name
    return GitRepo(Path(found.working_tree_dir).resolve(), branch=branch, push=False)


def commit_file(
    path: Path, change: tuple[str, str], subject: str, body: str, trailers: Mapping[str, str]
) -> str | None:
    """Write `change` (before, after) over `path` and, in a git work tree, commit that file alone.

    Returns the new commit's sha, or None when the file is not in a git repo (written only).
    Other staged or untracked files of that repo are left out of the commit; the file itself
    must have no uncommitted change (it would go into our commit). Line endings are kept."""
    before, after = change
    if read_exact(path) != before:
        raise PlanError(f"{path} changed while it was being edited; run again")
    repo = repo_containing(path)
    relative = path.resolve().relative_to(repo.path).as_posix() if repo else ""
    if repo is not None and repo.repo.git.status("--porcelain", "--", relative).strip():
        raise PlanError(
            f"{path} has uncommitted changes (branch {repo.branch}): commit or stash them first, "
            "so the migration's commit holds only its own edit"
        )
    write_exact(path, after)
    if repo is None:
        return None
    lines = [subject, "", body, ""] + [f"{k}: {v}" for k, v in trailers.items()]
    try:
        repo._git("add", "--", relative)
        repo._git("commit", "-q", "-m", "\n".join(lines).strip() + "\n", "--", relative)
    except GitError:
        repo._git("reset", "-q", "--", relative)
        write_exact(path, before)  # a refused commit leaves the file as it was
        raise
    return repo.head()


def read_exact(path: Path) -> str:
    """The file's text with its line endings as they are (CRLF stays CRLF)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def write_exact(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)
