"""The tool's commits, as their trailers name them (`Migration-Slice`, `-Phase`, `-Run`,
`-Old-Host`): what is written into a commit message and read back from one. Pure text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TRAILER_SLICE = "Migration-Slice"
TRAILER_PHASE = "Migration-Phase"
TRAILER_RUN = "Migration-Run"
TRAILER_OLD_HOST = "Migration-Old-Host"
TRAILER_LINE = re.compile(r"^([A-Za-z-]+): (.+)$", re.M)


@dataclass(frozen=True)
class MigrationCommit:
    sha: str
    subject: str
    trailers: Mapping[str, str]


def migration_commit(sha: str, message: str) -> MigrationCommit:
    trailers = dict(TRAILER_LINE.findall(message.strip().split("\n\n")[-1]))
    return MigrationCommit(sha, message.split("\n")[0], trailers)


def phase_groups(commits: Sequence[MigrationCommit]) -> list[list[MigrationCommit]]:
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


def trailers_for(slice_name: str, phase: str, run_id: str) -> dict[str, str]:
    return {TRAILER_SLICE: slice_name, TRAILER_PHASE: phase, TRAILER_RUN: run_id}
