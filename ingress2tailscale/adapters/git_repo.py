"""The GitOps repo's git operations (GitPython): commit a step with trailers, push, revert a slice.

The only module that imports git. Pushes are never forced: a rejected push is fetched, rebased
and retried, or stopped with a clear error.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
JOURNAL = "in-progress.json"  # under .git/ingress2tailscale/: what a commit is about to write
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
            raise PlanError(f"{path}: {_not_a_root(path)} (gitops.path)") from exc
        self.path, self.branch, self.remote, self.push_enabled = path, branch, remote, push
        # GitPython keeps `git cat-file` helpers running; stop them when we are dropped
        weakref.finalize(self, self.repo.close)

    def close(self) -> None:
        self.repo.close()

    def branches(self) -> list[str]:
        """The repo's local branches."""
        return sorted(head.name for head in self.repo.heads)

    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def tree_hash(self) -> str:
        return self.repo.head.commit.tree.hexsha

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

    def ensure_clean(self) -> None:
        """Clean and on the branch; files an interrupted commit or revert of ours left are
        restored first (they are recognised by the journal written before them)."""
        self._refuse_operation_in_progress()
        self.recover_interrupted()
        if self.repo.head.is_detached:
            raise PlanError(
                f"{self.path}: HEAD is detached (at {self.head()[:12]}), not on branch "
                f"{self.branch} (gitops.branch); run `git -C {self.path} switch {self.branch}` "
                "and run again"
            )
        if self.repo.is_dirty(untracked_files=True):
            raise PlanError(
                f"{self.path}: the working tree has uncommitted changes; commit or stash them first"
            )
        if self.repo.active_branch.name != self.branch:
            raise PlanError(
                f"{self.path}: on branch {self.repo.active_branch.name}, expected {self.branch}"
            )

    def _refuse_operation_in_progress(self) -> None:
        git_dir = Path(self.repo.git_dir)
        for marker, op in (("rebase-merge", "rebase"), ("rebase-apply", "rebase")):
            if (git_dir / marker).exists():
                raise PlanError(
                    f"{self.path}: a {op} is in progress (an interrupted push may have left it); "
                    f"run `git -C {self.path} {op} --abort`, then run the slice again"
                )
        if (git_dir / "REVERT_HEAD").exists() and not self._journal().exists():
            raise PlanError(
                f"{self.path}: a revert is in progress; run `git -C {self.path} revert --abort`, "
                "then run the slice again"
            )
        if (git_dir / "MERGE_HEAD").exists():
            raise PlanError(
                f"{self.path}: a merge is in progress; finish it (`git -C {self.path} merge "
                "--continue`) or abort it (`git merge --abort`), then run the slice again"
            )

    def _journal(self) -> Path:
        return Path(self.repo.git_dir) / "ingress2tailscale" / JOURNAL

    def _begin(self, op: str, paths: Sequence[str], after: Mapping[str, str | None]) -> None:
        """Say what we are about to write, so a run killed before its commit can be undone."""
        journal = self._journal()
        journal.parent.mkdir(parents=True, exist_ok=True)
        record = {"op": op, "head": self.head(), "paths": list(paths), "after": dict(after)}
        journal.write_text(json.dumps(record), encoding="utf-8")

    def _end(self) -> None:
        self._journal().unlink(missing_ok=True)

    def recover_interrupted(self) -> list[str]:
        """Undo what an interrupted commit or revert of ours left in the tree: restore exactly
        the files it wrote to HEAD's content. Other changes are refused (naming the command)."""
        journal = self._journal()
        if not journal.exists():
            return []
        record = json.loads(journal.read_text(encoding="utf-8"))
        dirty = self._dirty_paths()
        if not dirty or record["head"] != self.head():
            self._end()  # the commit was made (or nothing was written)
            return []
        ours = set(record["paths"])
        changed_since = [p for p in dirty if p not in ours or not self._as_left(p, record)]
        if changed_since:
            raise PlanError(
                f"{self.path}: an interrupted ingress2tailscale {record['op']} left files, and "
                f"{', '.join(sorted(changed_since))} changed since; look at `git -C {self.path} "
                f"status`, restore them (`git -C {self.path} reset -q && git -C {self.path} "
                "checkout -- .`) and run the slice again"
            )
        if record["op"] == "revert":
            with suppress(GitError):  # git keeps no revert state for --no-commit on some versions
                self._git("revert", "--abort")
        self._restore_to_head(sorted(ours))
        self._end()
        log.warning(
            "restored %d file(s) an interrupted %s had written: %s",
            len(dirty),
            record["op"],
            ", ".join(sorted(dirty)),
        )
        return sorted(dirty)

    def _as_left(self, path: str, record: Mapping[str, object]) -> bool:
        """Whether the file is as our interrupted operation wrote it (or as HEAD has it)."""
        after = record.get("after")
        if record["op"] != "commit" or not isinstance(after, dict) or path not in after:
            return True  # a revert's texts come from git itself
        target = self.path / path
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        return current in (after[path], self.text_at("HEAD", path))

    def _restore_to_head(self, paths: Sequence[str]) -> None:
        self._git("reset", "-q", "--", *paths)
        for path in paths:
            if self.text_at("HEAD", path) is None:
                (self.path / path).unlink(missing_ok=True)
            else:
                self._git("checkout", "HEAD", "--", path)

    def _dirty_paths(self) -> list[str]:
        out = self.repo.git.status("--porcelain", "-z", "--untracked-files=all")
        entries = [e for e in str(out).split("\0") if e]
        return sorted({e[3:] for e in entries if len(e) > 3})

    def commit_changes(
        self, changes: Sequence[FileChange], subject: str, body: str, trailers: Mapping[str, str]
    ) -> str | None:
        """Write the files, check they were as planned, commit; None when nothing changed."""
        self._check_before(changes)
        start = self.head()
        self._begin("commit", [c.path for c in changes], {c.path: c.after for c in changes})
        try:
            for change in changes:
                self._write(change)
            if not self.repo.is_dirty(untracked_files=True):
                self._end()
                return None
            lines = [subject, "", body, ""] + [f"{k}: {v}" for k, v in trailers.items()]
            self._git("commit", "-q", "-m", "\n".join(lines).strip() + "\n")
        except BaseException:  # a refused commit (a hook, signing) or Ctrl-C: the tree as it was
            if self.head() == start:
                self._restore(changes)
            self._end()
            raise
        self._end()  # (a kill before this line leaves the journal: the next run recovers)
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
        return [_migration_commit(c.hexsha, str(c.message)) for c in listed]

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
        for group in _phase_groups(pending):
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

    def files_of(self, sha: str) -> dict[str, str | None]:
        """Files a commit changed, with their text at HEAD (None when HEAD has no such file)."""
        names = self._git("diff-tree", "--no-commit-id", "--name-only", "-r", sha).splitlines()
        found: dict[str, str | None] = {}
        for name in names:
            target = self.path / name
            found[name] = target.read_text(encoding="utf-8") if target.is_file() else None
        return found

    def text_at(self, rev: str, path: str) -> str | None:
        """A file's text at a revision, None when it has no such file."""
        try:
            blob = self.repo.commit(rev).tree / path
        except (KeyError, ValueError, git.BadName) as exc:
            log.debug("no %s at %s: %s", path, rev, exc)
            return None
        return bytes(blob.data_stream.read()).decode("utf-8")

    def migration_commits(self, slice_name: str, limit: int = 500) -> list[MigrationCommit]:
        """Commits of a slice, newest first (found by their trailers)."""
        found = []
        for commit in self.repo.iter_commits(self.branch, max_count=limit):
            made = _migration_commit(commit.hexsha, str(commit.message))
            if made.trailers.get(TRAILER_SLICE) == slice_name:
                found.append(made)
        return found

    def migration_commits_of(self, slice_names: Iterable[str]) -> dict[str, list[MigrationCommit]]:
        """`migration_commits` of every slice, newest first, from one walk of the branch's
        whole history (drift reads every slice's: one walk per slice cost O(slices x history))."""
        found: dict[str, list[MigrationCommit]] = {name: [] for name in slice_names}
        for commit in self.repo.iter_commits(self.branch):
            made = _migration_commit(commit.hexsha, str(commit.message))
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
            trailers = _migration_commit(commit.hexsha, str(commit.message)).trailers
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
            # a session of its own: a terminal's Ctrl-C stops our run between steps, and never
            # cuts a commit, a push or a hook in half
            return str(self.repo.git.execute(["git", *args], env=env, start_new_session=True))
        except git.GitCommandError as exc:
            detail = (exc.stderr or "").strip().replace("\n", " ")
            raise GitError(f"git {args[0]} failed in {self.path}: {detail}") from exc

    def _has_identity(self) -> bool:
        reader = self.repo.config_reader()
        return bool(reader.get_value("user", "email", "")) and bool(
            reader.get_value("user", "name", "")
        )


def _not_a_root(path: Path) -> str:
    """Why `path` is not a repo to work in: not in git at all, or a folder inside one."""
    try:
        outer = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return "not a git repository; set gitops.path to your clone of the Flux repo"
    top = outer.working_tree_dir
    outer.close()
    return (
        f"not the root of a git repository (the repository's root is {top}); set gitops.path "
        "to the root of your clone of the Flux repo"
    )


def _migration_commit(sha: str, message: str) -> MigrationCommit:
    trailers = dict(_TRAILER.findall(message.strip().split("\n\n")[-1]))
    return MigrationCommit(sha, message.split("\n")[0], trailers)


def _phase_groups(commits: Sequence[MigrationCommit]) -> list[list[MigrationCommit]]:
    """Consecutive commits of the same slice and phase, in order."""
    groups: list[list[MigrationCommit]] = []
    for commit in commits:
        key = (commit.trailers.get(TRAILER_SLICE), commit.trailers.get(TRAILER_PHASE))
        last = groups[-1][-1] if groups else None
        if last is not None and key == (
            last.trailers.get(TRAILER_SLICE),
            last.trailers.get(TRAILER_PHASE),
        ):
            groups[-1].append(commit)
        else:
            groups.append([commit])
    return groups


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
