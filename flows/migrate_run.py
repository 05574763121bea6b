"""The command line's real run: the `migrate` or `rollback` flow in this process, its outcome
printed as text or JSON; a Prefect API that goes away is said with the command that finishes.

Importing this module imports Prefect; the command line does so only for real runs.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from argparse import Namespace

from flows.migrate_flow import api_gone, migrate, orchestrator_failure, rollback
from flows.running import render_outcome, summary_line
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import MigrationError, OrchestratorError, RunInterruptedError


class _QuietExpectedErrors(logging.Filter):
    """Our own errors are explained by their message: Prefect need not print their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if isinstance(exc, MigrationError) or orchestrator_failure(exc) is not None:
                record.exc_info, record.exc_text = None, None
        return True


def run_migration(config: MigrationConfig, names: list[str], args: Namespace) -> int:
    """The command line's real run: one flow run; exit 0 done, 1 failed and rolled back."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_QuietExpectedErrors())
    _show_our_log_lines()
    try:
        return _run(config, args)
    except BaseException as exc:
        if isinstance(exc, RunInterruptedError) or orchestrator_failure(exc) is None:
            raise
        again = _same_command(config, args)
        raise OrchestratorError(f"{api_gone(args.slice, exc)}. To finish, run: {again}") from None


def _same_command(config: MigrationConfig, args: Namespace) -> str:
    words = ["python", "-m", "flows.migrate", "--slice", args.slice, "--phase", args.phase]
    words += ["--config", str(config.source_path)]
    words += [flag for flag, on in (("--rollback", args.rollback), ("--yes", args.yes)) if on]
    return shlex.join(words)


def _run(config: MigrationConfig, args: Namespace) -> int:
    if args.rollback:
        made = rollback(
            slice=args.slice,
            config=str(config.source_path),
            push_local_commits=args.push_local_commits,
            exclusive=False,
        )
        print(f"rolled back {args.slice}: {len(made)} revert commit(s)")
        return 0
    if not args.yes and args.phase == "all" and not sys.stdin.isatty():
        raise MigrationError("phase 2 needs approval: run from a terminal, or pass --yes")
    done = migrate(
        slice=args.slice,
        phase=args.phase,
        config=str(config.source_path),
        require_approval=not args.yes,
        approval_mode="prompt",
        push_local_commits=args.push_local_commits,
        exclusive=False,  # a killed CLI run must not hold them until their lease expires
    )
    if getattr(args, "sandbox_info", None):
        done = [{**outcome, "sandbox": args.sandbox_info} for outcome in done]
    if args.output == "json":
        print(json.dumps(done if args.slice == "all" else done[0], indent=2))
    else:
        print("\n".join(render_outcome(outcome) for outcome in done))
        print(summary_line(done, getattr(args, "sandbox_info", None)))
    return 0


def _show_our_log_lines() -> None:
    """Prefect sends our loggers to the flow run's log (the UI); the terminal shows them too."""
    ours = logging.getLogger("ingress2tailscale")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    ours.addHandler(handler)
    ours.propagate = False  # Prefect's console handler would print warnings twice
    # Prefect resets the level of the logger it was given; our modules' own loggers keep theirs
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("ingress2tailscale."):
            logging.getLogger(name).setLevel(logging.INFO)
