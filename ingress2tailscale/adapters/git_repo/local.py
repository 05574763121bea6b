"""The clone's own side (GitPython): its branch and head, a journalled commit (so a killed
commit is recognised and its files restored), the repo lock. `GitRepo` adds the remote."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import git

from ingress2tailscale.errors import GitError, PlanError, RepoLockedError
from ingress2tailscale.model import FileChange

log = logging.getLogger(__name__)

JOURNAL = "in-progress.json"  # under .git/ingress2tailscale/: what a commit is about to write
FALLBACK_NAME = "ingress2tailscale"
FALLBACK_EMAIL = "ingress2tailscale@localhost"


class LocalRepo:
    """A clone of the GitOps repo on `branch`: what is done without its remote."""

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


def _fallback_identity() -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": FALLBACK_NAME,
        "GIT_AUTHOR_EMAIL": FALLBACK_EMAIL,
        "GIT_COMMITTER_NAME": FALLBACK_NAME,
        "GIT_COMMITTER_EMAIL": FALLBACK_EMAIL,
    }


def _holder(lock_file: Path) -> str:
    """` (pid N since HH:MM)` from what the lock's holder wrote, or '' if it wrote nothing yet."""
    try:
        pid, started = lock_file.read_text(encoding="utf-8").split()[:2]
        since = time.strftime("%H:%M", time.localtime(float(started)))
    except (OSError, ValueError):
        return ""
    return f" (pid {pid} since {since})"
