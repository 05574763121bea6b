"""`python -m bench.run`: times inventory + plan of one slice on a synthetic repo, cold and warm,
against a plain libyaml parse of the same files; the last two lines are the two ratios."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.generate import commit_repo, generate_repo, write_config

PROJECT = Path(__file__).resolve().parent.parent
WORK = PROJECT / "bench" / ".work"
BENCH_SLICE = "web"  # https, from the Ingress of app 1000
SKIP_PARTS = {".git"}
WORKER_TIMEOUT_S = 600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--apps", type=int, default=2000, help="apps to generate (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument("--work", type=Path, default=WORK, help="folder for the repo and config")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "SLICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(Path(args.worker[0]), args.worker[1])
    repo, config = prepare_repo(args.work, args.apps)
    results = measure_all(repo, config, max(1, args.repeat))
    print_report(results, args.apps, max(1, args.repeat))
    return 0


def prepare_repo(work: Path, apps: int) -> tuple[Path, Path]:
    """Generate and commit the repo, write the config, and read every file once (page cache)."""
    repo, config = work / "repo", work / "migration.yaml"
    print(f"generating {apps} apps into {repo} ...", file=sys.stderr, flush=True)
    generate_repo(repo, apps)
    commit_repo(repo)
    write_config(config, repo, apps)
    parse_all(yaml_files(repo))  # untimed: every measure then reads from memory alike
    return repo, config


def measure_all(repo: Path, config: Path, repeat: int) -> dict[str, Any]:
    """Each repeat: the baseline parse, a cold run (no scan cache), then a warm run."""
    files = yaml_files(repo)
    runs: dict[str, list[Any]] = {"baseline": [], "cold": [], "warm": []}
    for _ in range(repeat):
        runs["baseline"].append(parse_all(files))
        clear_scan_cache(repo)
        runs["cold"].append(run_subprocess(config))
        runs["warm"].append(run_subprocess(config))
    digests = {r["plan_sha256"] for r in runs["cold"] + runs["warm"]}
    if len(digests) != 1:
        raise SystemExit("bench: cold and warm runs planned different things")
    return {"files": len(files), **runs}


def yaml_files(repo: Path) -> list[Path]:
    paths = [*repo.rglob("*.yaml"), *repo.rglob("*.yml")]
    return sorted(p for p in paths if not SKIP_PARTS & set(p.relative_to(repo).parts))


def parse_all(files: list[Path]) -> dict[str, float]:
    """The baseline: read every file and parse all its documents with libyaml."""
    start = time.perf_counter()
    documents = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        documents += sum(1 for _ in yaml.load_all(text, Loader=yaml.CSafeLoader))
    return {"seconds": time.perf_counter() - start, "documents": documents}


def clear_scan_cache(repo: Path) -> None:
    from ingress2tailscale.repo.cache import scan_cache_path

    path = scan_cache_path(repo)
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


def run_subprocess(config: Path) -> dict[str, Any]:
    """One fresh interpreter planning the slice; nothing survives in memory between two runs."""
    command = [sys.executable, "-m", "bench.run", "--worker", str(config), BENCH_SLICE]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=PROJECT, capture_output=True, text=True, check=False, timeout=WORKER_TIMEOUT_S
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench: the measured run failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall": wall}


def run_worker(config_path: Path, name: str) -> int:
    """Inside the fresh interpreter: time imports, then inventory + plan; print one JSON line."""
    start = time.perf_counter()
    from ingress2tailscale.config import load_config
    from ingress2tailscale.plan.planner import plan_slice
    from ingress2tailscale.repo.inventory import RepoTree, build_inventory

    imported = time.perf_counter()
    config = load_config(config_path)
    before = time.perf_counter()
    tree = RepoTree(config.repo_path)
    inventory = build_inventory(tree)
    scanned = time.perf_counter()
    plan = plan_slice(config, tree, name).plan
    after = time.perf_counter()
    if plan.has_errors or not plan.file_changes:
        print(json.dumps(plan.to_json(), indent=2), file=sys.stderr)
        return 1
    digest = hashlib.sha256(json.dumps(plan.to_json(), sort_keys=True).encode()).hexdigest()
    timings = {
        "imports": imported - start,
        "config": before - imported,
        "inventory": scanned - before,
        "plan": after - scanned,
        "measured": after - before,
    }
    print(json.dumps({**timings, "documents": len(inventory.documents), "plan_sha256": digest}))
    return 0


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def print_report(results: dict[str, Any], apps: int, repeat: int) -> None:
    base = median(results["baseline"], "seconds")
    cold, warm = results["cold"], results["warm"]
    docs = results["baseline"][0]["documents"]
    print(f"{apps} apps, {results['files']} YAML files, {docs} documents; slice {BENCH_SLICE}")
    print(f"median of {repeat} run(s)              seconds  ratio")
    print(f"baseline: read + CSafeLoader parse  {base:7.3f}   1.00")
    for label, runs in (("cold", cold), ("warm", warm)):
        total = median(runs, "measured")
        print(f"{label}: inventory + plan          {total:7.3f}  {total / base:5.2f}")
        print(f"  inventory {median(runs, 'inventory'):.3f}, plan {median(runs, 'plan'):.3f}")
    print("not counted (per fresh interpreter):")
    outside = [r["wall"] - r["imports"] - r["config"] - r["measured"] for r in cold + warm]
    print(f"  start-up and exit {statistics.median(outside):.3f}")
    print(f"  imports {median(cold + warm, 'imports'):.3f}, config {median(cold, 'config'):.3f}")
    print(f"cold_ratio={median(cold, 'measured') / base:.2f}")
    print(f"warm_ratio={median(warm, 'measured') / base:.2f}")


if __name__ == "__main__":
    sys.exit(main())
