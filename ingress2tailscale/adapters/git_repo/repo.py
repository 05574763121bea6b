"""The GitOps repo with its remote (GitPython): pushes (never forced: a rejected push is
fetched, rebased and retried, or stopped with a clear error), the resume of unpushed commits,
the slice's commits found by their trailers, revert and rollback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress

from ingress2tailscale.adapters.git_repo.local import LocalRepo
from ingress2tailscale.adapters.git_repo.trailers import (
    TRAILER_LINE,
    TRAILER_OLD_HOST,
    TRAILER_PHASE,
    TRAILER_RUN,
    TRAILER_SLICE,
    MigrationCommit,
    migration_commit,
    phase_groups,
)
from ingress2tailscale.errors import GitError, PlanError, PushRejectedError

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 3


class GitRepo(LocalRepo):
    """A clone of the GitOps repo on `branch`, pushing to `remote` unless `push` is False."""

    def refuse_foreign_commits(self, slice_names: Sequence[str]) -> None:
        """The branch may be ahead of the remote only with the tool's commits of these slices:
        anything else would leave with our push, unannounced."""
        try:
            foreign = self.foreign_unpushed(slice_names)
        except GitError as exc:
            raise PlanError(
                f"{self.path}: cannot compare {self.branch} with {self.remote} ({exc}); "
                "check the remote (gitops.remote), or set gitops.push: false"
            ) from exc
        if foreign:
            listed = ", ".join(f"{c.sha[:12]} ({c.subject})" for c in foreign)
            raise PlanError(
                f"{self.path}: {self.branch} has {len(foreign)} commit(s) {self.remote} does not "
                f"have that are not this slice's: {listed}; our push would publish them. Push "
                "or drop them first, or pass --push-local-commits to publish them with ours"
            )

    def push(self, after_rebase: Callable[[], None] | None = None) -> None:
        """Push the branch; on a rejection fetch, rebase and retry, never force.

        `after_rebase` runs after each rebase, before the retry: the caller checks again what
        the rebased commits now mean (it raises to stop the push)."""
        if not self.push_enabled:
            return
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                self._git("push", "-q", self.remote, f"HEAD:refs/heads/{self.branch}")
                return
            except GitError as exc:
                log.warning("push to %s rejected (attempt %d): %s", self.remote, attempt, exc)
                self._rebase_on_remote()
                if after_rebase is not None:
                    after_rebase()
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

    def fetch(self) -> None:
        """Bring `remote/branch` up to date (the remote's point of view)."""
        self._git("fetch", "-q", self.remote, self.branch)

    def upstream_exists(self) -> bool:
        return f"{self.remote}/{self.branch}" in {r.name for r in self.repo.refs}

    def unpushed(self) -> list[MigrationCommit]:
        """Commits on HEAD the remote does not have, oldest first (as of the last fetch)."""
        if not self.push_enabled or not self.upstream_exists():
            return []
        listed = self.repo.iter_commits(f"{self.remote}/{self.branch}..HEAD", reverse=True)
        return [migration_commit(c.hexsha, str(c.message)) for c in listed]

    def foreign_unpushed(self, slice_names: Sequence[str]) -> list[MigrationCommit]:
        """Unpushed commits that are not the tool's commits of these slices (fetches first)."""
        if not self.push_enabled:
            return []
        self.fetch()
        return [c for c in self.unpushed() if c.trailers.get(TRAILER_SLICE) not in slice_names]

    def push_pending(self, slice_name: str, phases: Sequence[str]) -> list[MigrationCommit]:
        """Push what an interrupted run committed but never pushed: the slice's unpushed commits
        whose phase is one of `phases`, one push per phase, in order. Returns those pushed."""
        if not self.push_enabled:
            return []
        self.fetch()
        pending = self.unpushed()
        pushed: list[MigrationCommit] = []
        for group in phase_groups(pending):
            ours = {c.trailers.get(TRAILER_SLICE) for c in group} == {slice_name}
            if not ours or group[0].trailers.get(TRAILER_PHASE) not in phases:
                break  # later phases (or others' commits) go with their own step
            self._push_commit(group[-1].sha)
            pushed += group
        return pushed

    def _push_commit(self, sha: str) -> None:
        """Push `sha` (a descendant of the remote branch); a moved remote stops the resume."""
        try:
            self._git("push", "-q", self.remote, f"{sha}:refs/heads/{self.branch}")
        except GitError as exc:
            raise PushRejectedError(
                f"{self.path}: {self.remote} refused the commits an interrupted run left "
                f"unpushed ({exc}); run `git -C {self.path} pull --rebase {self.remote} "
                f"{self.branch}` and run the slice again"
            ) from exc
        self.fetch()

    def migration_commits(self, slice_name: str, limit: int = 500) -> list[MigrationCommit]:
        """Commits of a slice, newest first (found by their trailers)."""
        found = []
        for commit in self.repo.iter_commits(self.branch, max_count=limit):
            made = migration_commit(commit.hexsha, str(commit.message))
            if made.trailers.get(TRAILER_SLICE) == slice_name:
                found.append(made)
        return found

    def migration_commits_of(self, slice_names: Iterable[str]) -> dict[str, list[MigrationCommit]]:
        """`migration_commits` of every slice, newest first, from one walk of the branch's
        whole history (drift reads every slice's: one walk per slice cost O(slices x history))."""
        found: dict[str, list[MigrationCommit]] = {name: [] for name in slice_names}
        for commit in self.repo.iter_commits(self.branch):
            made = migration_commit(commit.hexsha, str(commit.message))
            name = made.trailers.get(TRAILER_SLICE)
            if name in found:
                found[name].append(made)
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
            trailers = migration_commit(commit.hexsha, str(commit.message)).trailers
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
            paths = list(self.files_of(commit.sha))
            self._begin("revert", paths, {})
            try:
                self._git("revert", "--no-commit", commit.sha)
            except GitError as exc:
                self._end()
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
            self._end()
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
        if made or (self.push_enabled and self.unpushed()):
            self.push()
        return made

    def _unpushed_are_from(self, slice_name: str) -> bool:
        try:
            self._git("fetch", "-q", self.remote, self.branch)
        except GitError:
            return False
        upstream = f"{self.remote}/{self.branch}"
        unpushed = list(self.repo.iter_commits(f"{upstream}..HEAD"))
        slices = {dict(TRAILER_LINE.findall(str(c.message))).get(TRAILER_SLICE) for c in unpushed}
        return bool(unpushed) and slices == {slice_name}
