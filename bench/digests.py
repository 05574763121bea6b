"""`python -m bench.digests`: SHA-256 of `--slice all --dry-run --output json` for N slices of the
generated repo, to show that a change of the planner plans the same bytes.

    python -m bench.digests --slices 100 400            # print the digests
    python -m bench.digests --slices 100 400 --record   # store them in bench/plan-digests.json
    python -m bench.digests --slices 100 400 --check    # compare with the stored ones (exit 1)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.generate import commit_repo, generate_repo
from bench.slices import PROJECT, write_slice_configs

WORK = PROJECT / "bench" / ".work"
RECORDED = PROJECT / "bench" / "plan-digests.json"
PLAN_TIMEOUT_S = 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.digests", description=__doc__)
    parser.add_argument("--apps", type=int, default=2000, help="apps to generate (default 2000)")
    parser.add_argument("--slices", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--work", type=Path, default=WORK, help="folder for the repo and configs")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--record", action="store_true", help=f"write {RECORDED.name}")
    mode.add_argument("--check", action="store_true", help=f"compare with {RECORDED.name}")
    args = parser.parse_args(argv)
    repo = args.work / "repo"
    generate_repo(repo, args.apps)
    commit_repo(repo)
    configs = write_slice_configs(args.work, repo, args.slices)
    found = {f"{args.apps}x{n}": plan_digest(configs[n]) for n in args.slices}
    for key, row in found.items():
        print(f"{key}: sha256={row['sha256']} exit={row['exit']} ({row['seconds']:.1f} s)")
    if args.record:
        recorded = _read_recorded()
        recorded.update({k: {"sha256": r["sha256"], "exit": r["exit"]} for k, r in found.items()})
        RECORDED.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    if args.check:
        return _compare(found, _read_recorded())
    return 0


def plan_digest(config: Path) -> dict[str, object]:
    """The digest of the JSON plan the CLI prints for `--slice all` (and its exit code)."""
    command = [sys.executable, "-m", "flows.migrate", "--slice", "all", "--dry-run"]
    command += ["--output", "json", "--config", str(config)]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=PROJECT, capture_output=True, check=False, timeout=PLAN_TIMEOUT_S
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 2) or not done.stdout:
        raise SystemExit(f"bench: the plan failed:\n{done.stderr.decode(errors='replace')}")
    digest = hashlib.sha256(done.stdout).hexdigest()
    return {"sha256": digest, "exit": done.returncode, "seconds": seconds}


def _read_recorded() -> dict[str, dict[str, object]]:
    if not RECORDED.exists():
        return {}
    data: dict[str, dict[str, object]] = json.loads(RECORDED.read_text())
    return data


def _compare(found: dict[str, dict[str, object]], recorded: dict[str, dict[str, object]]) -> int:
    bad = 0
    for key, row in found.items():
        want = recorded.get(key)
        same = want is not None and (want["sha256"], want["exit"]) == (row["sha256"], row["exit"])
        print(f"{key}: {'same as recorded' if same else f'DIFFERENT (recorded {want})'}")
        bad += not same
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
