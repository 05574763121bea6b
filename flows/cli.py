"""Shared command-line plumbing: turn our errors into one message and an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from ingress2tailscale.errors import MigrationError, RunInterruptedError


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run `main`; a MigrationError becomes `error: …` on stderr and its exit code (2 or 1)."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    try:
        return main(argv)
    except RunInterruptedError as exc:
        print(f"interrupted: stopped at a safe point: {exc}", file=sys.stderr)
        return exc.exit_code
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
