"""`python -m bench.drift`: drift of 200 migrated slices against the sandbox, 50 ms added to
every answer of both emulators (the Kubernetes API and the Tailscale API), checked concurrently
(`drift.concurrency`) and one slice after another (concurrency 1) in the same run. The drift
check is the product's `check_drift` over real sockets; the last line is
`drift_ratio=<sequential seconds / concurrent seconds>`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.drift_state import migrate_without_migrations, write_source
from flows.drift import check_drift
from ingress2tailscale.config import MigrationConfig, load_config
from ingress2tailscale.sandbox.world import Sandbox
from ingress2tailscale.steps.drift import DriftReport

WORK = Path(__file__).resolve().parent / ".work" / "drift"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__)
    parser.add_argument("--slices", type=int, default=200, help="migrated slices (apps)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added per emulator call")
    parser.add_argument("--concurrency", type=int, default=8, help="the concurrent run's bound")
    parser.add_argument("--work", type=Path, default=WORK, help="emptied, then written")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = time.monotonic()
    source = load_config(write_source(args.work, args.slices))
    with Sandbox(source, args.work / "sandbox") as sandbox:
        env = json.loads(Path(sandbox.info["env_file"]).read_text(encoding="utf-8"))
        os.environ.update(env)  # the emulated tailnet's API key, for the product's client
        config = load_config(Path(sandbox.info["sandbox_config"]))
        migrate_without_migrations(config)
        ready = time.monotonic() - started
        print(f"{args.slices} migrated slices ready in {ready:.1f} s", flush=True)
        sandbox.set_latency(args.latency_ms / 1000)
        concurrent, many = timed(config, args.concurrency)
        sequential, one = timed(config, 1)
    check_reports(args.slices, many, one)
    print(f"{len(many.findings)} findings per run, none drifted; +{args.latency_ms:g} ms per call")
    print(f"concurrent (concurrency {args.concurrency}): {concurrent:8.2f} s")
    print(f"sequential (concurrency 1):  {sequential:8.2f} s")
    print(f"drift_ratio={sequential / concurrent:.2f}")
    return 0


def timed(config: MigrationConfig, concurrency: int) -> tuple[float, DriftReport]:
    bounded = config.model_copy(
        update={"drift": config.drift.model_copy(update={"concurrency": concurrency})}
    )
    start = time.perf_counter()
    report = check_drift(bounded)
    return time.perf_counter() - start, report


def check_reports(count: int, many: DriftReport, one: DriftReport) -> None:
    """Both runs checked every slice, found the same, and found no drift (else the timing
    would be of something else)."""
    if len(many.slices) != count:
        raise SystemExit(f"bench: drift saw {len(many.slices)} migrated slices, not {count}")
    for report in (many, one):
        if report.drifted:
            said = "; ".join(f"{f.slice}: {f.check}: {f.found}" for f in report.drifted[:5])
            raise SystemExit(f"bench: {len(report.drifted)} drift(s), e.g. {said}")
    if sorted(many.findings, key=str) != sorted(one.findings, key=str):
        raise SystemExit("bench: the concurrent and the sequential runs found different things")


if __name__ == "__main__":
    sys.exit(main())
