"""The GitOps repo's git operations (GitPython): commit a step with trailers, push, revert a slice.

The only module that imports git. Pushes are never forced: a rejected push is fetched, rebased
and retried, or stopped with a clear error.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import git

from ingress2tailscale.errors import GitError, PlanError, PushRejectedError, RepoLockedError
from ingress2tailscale.model import FileChange

log = logging.getLogger(__name__)

TRAILER_SLICE = "Migration-Slice"
TRAILER_PHASE = "Migration-Phase"
TRAILER_RUN = "Migration-Run"
TRAILER_OLD_HOST = "Migration-Old-Host"
PUSH_ATTEMPTS = 3
FALLBACK_NAME = "ingress2tailscale"
FALLBACK_EMAIL = "ingress2tailscale@localhost"
_TRAILER = re.compile(r"^([A-Za-z-]+): (.+)$", re.M)


@dataclass(frozen=True)
class MigrationCommit:
    sha: str
    subject: str
    trailers: Mapping[str, str]


class GitRepo:
    """A clone of the GitOps repo on `branch`, pushing to `remote` unless `push` is False."""

    def __init__(self, path: Path, branch: str = "main", remote: str = "origin", push: bool = True):
        try:
            self.repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise PlanError(f"{path}: not a git repository (gitops.path)") from exc
        self.path, self.branch, self.remote, self.push_enabled = path, branch, remote, push
        # GitPython keeps `git cat-file` helpers running; stop them when we are dropped
        weakref.finalize(self, self.repo.close)

    def close(self) -> None:
        self.repo.close()

    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def tree_hash(self) -> str:
        return self.repo.head.commit.tree.hexsha

    def ensure_clean(self) -> None:
        if self.repo.is_dirty(untracked_files=True):
            raise PlanError(
                f"{self.path}: the working tree has uncommitted changes; commit or stash them first"
            )
        if self.repo.active_branch.name != self.branch:
            raise PlanError(
                f"{self.path}: on branch {self.repo.active_branch.name}, expected {self.branch}"
            )

    def commit_changes(
        self, changes: Sequence[FileChange], subject: str, body: str, trailers: Mapping[str, str]
    ) -> str | None:
        """Write the files, check they were as planned, commit; None when nothing changed."""
        self._check_before(changes)
        try:
            for change in changes:
                self._write(change)
            if not self.repo.is_dirty(untracked_files=True):
                return None
            lines = [subject, "", body, ""] + [f"{k}: {v}" for k, v in trailers.items()]
            self._git("commit", "-q", "-m", "\n".join(lines).strip() + "\n")
        except Exception:
            self._restore(changes)  # a refused commit (a hook, signing) leaves the tree as it was
            raise
        return self.head()

    def _restore(self, changes: Sequence[FileChange]) -> None:
        paths = [c.path for c in changes]
        self._git("reset", "-q", "--", *paths)
        for change in changes:
            target = self.path / change.path
            if change.before is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(change.before, encoding="utf-8")

    def _check_before(self, changes: Sequence[FileChange]) -> None:
        for change in changes:
            target = self.path / change.path
            current = target.read_text(encoding="utf-8") if target.exists() else None
            if current not in (change.before, change.after):
                raise PlanError(f"{change.path} changed since the plan was made; plan again")

    def _write(self, change: FileChange) -> None:
        target = self.path / change.path
        if change.after is None:
            if target.exists():
                self._git("rm", "-q", "--", change.path)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(change.after, encoding="utf-8")
        self._git("add", "--", change.path)

    def push(self) -> None:
        """Push the branch; on a rejection fetch, rebase and retry, never force."""
        if not self.push_enabled:
            return
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                self._git("push", "-q", self.remote, f"HEAD:refs/heads/{self.branch}")
                return
            except GitError as exc:
                log.warning("push to %s rejected (attempt %d): %s", self.remote, attempt, exc)
                self._rebase_on_remote()
        raise PushRejectedError(
            f"{self.path}: {self.remote} kept rejecting the push of {self.branch}; "
            "fetch, resolve, and run the slice again"
        )

    def _rebase_on_remote(self) -> None:
        self._git("fetch", "-q", self.remote, self.branch)
        try:
            self._git("rebase", "-q", f"{self.remote}/{self.branch}")
        except GitError as exc:
            self._git("rebase", "--abort")
            raise PushRejectedError(
                f"{self.path}: our commits do not rebase cleanly on {self.remote}/{self.branch} "
                "(someone changed the same lines); nothing was pushed"
            ) from exc

    def migration_commits(self, slice_name: str, limit: int = 500) -> list[MigrationCommit]:
        """Commits of a slice, newest first (found by their trailers)."""
        found = []
        for commit in self.repo.iter_commits(self.branch, max_count=limit):
            message = str(commit.message)
            trailers = dict(_TRAILER.findall(message.split("\n\n")[-1]))
            if trailers.get(TRAILER_SLICE) == slice_name:
                found.append(MigrationCommit(commit.hexsha, message.split("\n")[0], trailers))
        return found

    def recorded_old_host(self, slice_name: str) -> str | None:
        """The old host the slice's latest phase-2 commit recorded (None if never retired)."""
        return self.recorded_old_hosts([slice_name]).get(slice_name)

    def recorded_old_hosts(self, slice_names: Iterable[str], limit: int = 500) -> dict[str, str]:
        """`recorded_old_host` of every slice, from one walk of the history (newest first: a
        slice's first rollback or recorded host decides)."""
        wanted, decided = set(slice_names), set[str]()
        found: dict[str, str] = {}
        for commit in self.repo.iter_commits(self.branch, max_count=limit):
            message = str(commit.message)
            trailers = dict(_TRAILER.findall(message.split("\n\n")[-1]))
            name = trailers.get(TRAILER_SLICE)
            if name is None or name not in wanted or name in decided:
                continue
            if trailers.get(TRAILER_PHASE) == "rollback":
                decided.add(name)
            elif TRAILER_OLD_HOST in trailers:
                found[name] = trailers[TRAILER_OLD_HOST]
                decided.add(name)
        return found

    def revert_slice(self, slice_name: str, run_id: str) -> list[str]:
        """Revert the slice's not-yet-reverted commits, newest first; returns the new shas."""
        commits = self.migration_commits(slice_name)
        reverted = {c.trailers.get("Reverts") for c in commits}
        start = self.head()
        made = []
        for commit in commits:
            if commit.trailers.get(TRAILER_PHASE) == "rollback" or commit.sha in reverted:
                continue
            try:
                self._git("revert", "--no-commit", commit.sha)
            except GitError as exc:
                self._abandon_revert(start)
                raise GitError(
                    f"{self.path}: cannot revert {commit.sha[:12]} ({commit.subject}): later "
                    "commits changed the same lines; nothing was reverted. Revert it by hand, "
                    "or revert those later commits first"
                ) from exc
            trailers = {
                TRAILER_SLICE: slice_name,
                TRAILER_PHASE: "rollback",
                TRAILER_RUN: run_id,
                "Reverts": commit.sha,
            }
            lines = [f'Revert "{commit.subject}"', "", f"This reverts commit {commit.sha}.", ""]
            lines += [f"{k}: {v}" for k, v in trailers.items()]
            self._git("commit", "-q", "--allow-empty", "-m", "\n".join(lines) + "\n")
            made.append(self.head())
        return made

    def _abandon_revert(self, start: str) -> None:
        """Back to `start`: no half-done revert, no reverts of this rollback kept."""
        with suppress(GitError):  # when no revert is in progress
            self._git("revert", "--abort")
        self._git("reset", "-q", "--hard", start)

    def rollback_run(self, slice_name: str, run_id: str) -> list[str]:
        """Undo a failed slice: drop its commits the remote never got, revert the pushed ones.

        The repo ends with the tree it had before the slice, and the history (local and
        remote) shows the slice's commits and their reverts.
        """
        if self.push_enabled and self._unpushed_are_from(slice_name):
            self._git("reset", "-q", "--hard", f"{self.remote}/{self.branch}")
        made = self.revert_slice(slice_name, run_id)
        if made:
            self.push()
        return made

    def _unpushed_are_from(self, slice_name: str) -> bool:
        try:
            self._git("fetch", "-q", self.remote, self.branch)
        except GitError:
            return False
        upstream = f"{self.remote}/{self.branch}"
        unpushed = list(self.repo.iter_commits(f"{upstream}..HEAD"))
        slices = {dict(_TRAILER.findall(str(c.message))).get(TRAILER_SLICE) for c in unpushed}
        return bool(unpushed) and slices == {slice_name}

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Only one run at a time may change this repo (an exclusive lock in its .git folder,
        released by the kernel when the holder's process ends, even if it is killed)."""
        path = Path(self.repo.git_dir) / "ingress2tailscale.lock"
        with path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise RepoLockedError(
                    f"{self.path}: another ingress2tailscale run is changing this repo"
                    f"{_holder(path)}; nothing was changed"
                ) from exc
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {time.time():.0f}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _git(self, *args: str) -> str:
        env = {} if self._has_identity() else _fallback_identity()
        try:
            return str(self.repo.git.execute(["git", *args], env=env))
        except git.GitCommandError as exc:
            detail = (exc.stderr or "").strip().replace("\n", " ")
            raise GitError(f"git {args[0]} failed in {self.path}: {detail}") from exc

    def _has_identity(self) -> bool:
        reader = self.repo.config_reader()
        return bool(reader.get_value("user", "email", "")) and bool(
            reader.get_value("user", "name", "")
        )


def _fallback_identity() -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": FALLBACK_NAME,
        "GIT_AUTHOR_EMAIL": FALLBACK_EMAIL,
        "GIT_COMMITTER_NAME": FALLBACK_NAME,
        "GIT_COMMITTER_EMAIL": FALLBACK_EMAIL,
    }


def trailers_for(slice_name: str, phase: str, run_id: str) -> dict[str, str]:
    return {TRAILER_SLICE: slice_name, TRAILER_PHASE: phase, TRAILER_RUN: run_id}


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


def _holder(lock_file: Path) -> str:
    """` (pid N since HH:MM)` from what the lock's holder wrote, or '' if it wrote nothing yet."""
    try:
        pid, started = lock_file.read_text(encoding="utf-8").split()[:2]
        since = time.strftime("%H:%M", time.localtime(float(started)))
    except (OSError, ValueError):
        return ""
    return f" (pid {pid} since {since})"
