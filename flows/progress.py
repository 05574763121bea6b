"""The migrate run's progress artifact: the fraction of the run's steps done, updated as each
step of each slice ends (the per-step lines themselves go to the log: `running.progress`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.model import PREREQ_STEPS, phase_of_step


def run_steps(config: MigrationConfig, name: str, phase: str) -> list[str]:
    """The steps a run of `phase` makes for the slice, in order, each `validate` included (a
    slice already done still reports each of them, as `none`)."""
    steps = []
    if phase in ("prereq", "all"):
        steps += [s for s in PREREQ_STEPS if s != "tailnet-https" or config.tailscale.https]
    if phase == "prereq":
        return steps
    repo_steps = ("phase-1", "phase-2") if name in config.service_slices() else ("links",)
    for step in repo_steps:
        if phase in (phase_of_step(step), "all"):
            steps += [step, "validate"]
    return steps


class RunProgress:
    """One progress artifact per run (`key`: Prefect's lowercase letters, digits, dashes),
    created at 0 and moved as steps end; 100 once the run has done all it will do."""

    def __init__(self, key: str, total: int, description: str) -> None:
        self.total, self.done, self.about = max(total, 1), 0, description
        made = create_progress_artifact(0.0, key=key, description=self._say("started"))
        self.id = cast(UUID, made)  # typed for async callers too; a sync flow gets the UUID

    @classmethod
    def of_run(
        cls, config: MigrationConfig, names: Sequence[str], phase: str, key: str
    ) -> RunProgress:
        total = sum(len(run_steps(config, name, phase)) for name in names)
        return cls(key, total, f"migrate {', '.join(names)} (phase {phase})")

    def step_done(self, slice_name: str, step: str) -> None:
        self.done = min(self.done + 1, self.total)
        self._update(100.0 * self.done / self.total, f"last: {slice_name} {step}")

    def finished(self) -> None:
        """The run has done all it will (a slice not approved ends early)."""
        self.done = self.total
        self._update(100.0, "done")

    def stopped(self, why: str) -> None:
        self._update(100.0 * self.done / self.total, f"stopped: {why}")

    def _update(self, progress: float, said: str) -> None:
        update_progress_artifact(self.id, progress, description=self._say(said))

    def _say(self, said: str) -> str:
        return f"{self.about}: {self.done} of {self.total} step(s) done; {said}"
