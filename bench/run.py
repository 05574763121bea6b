"""`python -m bench.run`: times inventory + plan of one slice on a synthetic repo, cold and warm,
against a plain libyaml parse of the same files; then `--slice all` of 100, 400 and 1,600 of
discover's slices, cold and warm. The last four lines are the ratios."""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.generate import commit_repo, generate_repo, write_config
from bench.slices import discover_peak_rss, write_slice_configs

PROJECT = Path(__file__).resolve().parent.parent
WORK = PROJECT / "bench" / ".work"
BENCH_SLICE = "web"  # https, from the Ingress of app 1000
SKIP_PARTS = {".git"}
WORKER_TIMEOUT_S = 3600
ALL_SLICES = (100, 400, 1600)  # `--slice all` of that many of discover's slices...
BENCH_APPS = 2000  # ...for this many apps (scaled for a smaller repo)
RECORDED_DIGESTS = PROJECT / "bench" / "plan-digests.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--apps", type=int, default=2000, help="apps to generate (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument("--work", type=Path, default=WORK, help="folder for the repo and config")
    parser.add_argument(
        "--all-repeat", type=int, default=1, help="cold runs of each `--slice all` (median)"
    )
    parser.add_argument(
        "--warm-repeat", type=int, default=3, help="warm runs of each `--slice all` (median)"
    )
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "SLICE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker[1] == "all":
            return run_all_worker(Path(args.worker[0]))
        return run_worker(Path(args.worker[0]), args.worker[1])
    repo, config = prepare_repo(args.work, args.apps)
    results = measure_all(repo, config, max(1, args.repeat))
    counts = [max(1, n * args.apps // BENCH_APPS) for n in ALL_SLICES]
    configs = write_slice_configs(args.work, repo, counts)
    many = measure_slices_all(repo, configs, max(1, args.all_repeat), max(1, args.warm_repeat))
    many["discover_rss_kb"] = discover_peak_rss(repo)
    print_report(results, args.apps, max(1, args.repeat), many, args.apps)
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


def measure_slices_all(
    repo: Path, configs: dict[int, Path], repeat: int, warm_repeat: int
) -> dict[str, Any]:
    """`--slice all` for each config: cold (no scan cache, no kept verdicts), then warm; each
    run right after a baseline parse of its own (the machine's load moves), which it is
    divided by."""
    files = yaml_files(repo)
    runs: dict[str, Any] = {"baseline": [], "cold": {}, "warm": {}}
    for count, config in configs.items():
        for mode in ("cold", "warm"):
            runs[mode][count] = []
        for _ in range(repeat):
            clear_scan_cache(repo)
            runs["cold"][count].append(_next_to_baseline(files, config))
        for _ in range(warm_repeat):
            runs["warm"][count].append(_next_to_baseline(files, config))
        runs["baseline"] += [r["baseline"] for r in runs["cold"][count] + runs["warm"][count]]
        digests = {r["plan_sha256"] for r in runs["cold"][count] + runs["warm"][count]}
        if len(digests) != 1:
            raise SystemExit(f"bench: cold and warm runs of {count} slices planned differently")
    return runs


def _next_to_baseline(files: list[Path], config: Path) -> dict[str, Any]:
    """A baseline parse, then `--slice all` of `config`: its seconds over the baseline's."""
    baseline = parse_all(files)["seconds"]
    run = run_subprocess(config, "all")
    return {**run, "baseline": baseline, "ratio": run["measured"] / baseline}


def run_subprocess(config: Path, name: str = BENCH_SLICE) -> dict[str, Any]:
    """One fresh interpreter planning the slice; nothing survives in memory between two runs."""
    command = [sys.executable, "-m", "bench.run", "--worker", str(config), name]
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


def run_all_worker(config_path: Path) -> int:
    """Inside the fresh interpreter: `--slice all` as a dry run plans it (inventory + plans);
    the digest is of the JSON the CLI prints (`bench.digests`)."""
    from ingress2tailscale.config import load_config
    from ingress2tailscale.plan.planner import plan_slices
    from ingress2tailscale.repo.inventory import RepoTree
    from ingress2tailscale.report import plans_to_json
    from ingress2tailscale.steps.prereq import plan_prereq
    from ingress2tailscale.steps.repo import open_repo, recorded_old_hosts

    config = load_config(config_path)
    prereq = plan_prereq(config, None)  # what a dry run without credentials plans (untimed)
    hosts = recorded_old_hosts(config, open_repo(config))
    names = config.slice_names()
    before = time.perf_counter()
    plans = plan_slices(config, RepoTree(config.repo_path), names, "all", True, prereq, hosts)
    after = time.perf_counter()
    text = plans_to_json(plans, single=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256(text.encode()).hexdigest()
    errors = sum(p.has_errors for p in plans)
    result = {"measured": after - before, "peak_rss_kb": rss, "plan_sha256": digest}
    print(json.dumps({**result, "slices": len(plans), "with_errors": errors}))
    return 0


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def print_report(
    results: dict[str, Any], apps: int, repeat: int, many: dict[str, Any], app_count: int
) -> None:
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
    all_base = statistics.median(many["baseline"])
    ratios = print_many(many, all_base, app_count)
    print(f"cold_ratio={median(cold, 'measured') / base:.2f}")
    print(f"warm_ratio={median(warm, 'measured') / base:.2f}")
    mid, large = list(ratios["warm"])[1:3]
    print(f"all_1600_ratio={ratios['warm'][large]:.2f}")
    print(f"growth_400_1600={ratios['warm'][large] / ratios['warm'][mid]:.2f}")


def print_many(many: dict[str, Any], base: float, apps: int) -> dict[str, dict[int, float]]:
    """The `--slice all` table; returns seconds / baseline per mode and number of slices."""
    recorded = _recorded_digests()
    print(f"--slice all (dry run: inventory + plans); baseline next to them {base:.3f} s (median)")
    print("each ratio: a run's seconds over the baseline parse measured just before it (median)")
    print("slices  mode   seconds  ratio  peak RSS MB  digest")
    ratios: dict[str, dict[int, float]] = {"cold": {}, "warm": {}}
    for count in many["cold"]:
        for mode in ("cold", "warm"):
            runs = many[mode][count]
            seconds = median(runs, "measured")
            ratios[mode][count] = median(runs, "ratio")
            rss = max(r["peak_rss_kb"] for r in runs) / 1024
            digest = runs[0]["plan_sha256"]
            known = recorded.get(f"{apps}x{count}")
            same = "" if known is None else " (= before)" if known == digest else " (CHANGED)"
            print(
                f"{count:6d}  {mode}  {seconds:8.3f}  {ratios[mode][count]:5.2f}  {rss:11.0f}  "
                f"{digest[:12]}{same}"
            )
    mid, large = list(many["cold"])[1:3]
    for mode in ("cold", "warm"):
        growth = ratios[mode][large] / ratios[mode][mid]
        print(f"  {mode}: t{large} / t{mid} = {growth:.2f}")
    print(f"discover: peak RSS {many['discover_rss_kb'] / 1024:.0f} MB")
    return ratios


def _recorded_digests() -> dict[str, str]:
    """The digests `bench.digests --record` stored from the code before the change."""
    if not RECORDED_DIGESTS.exists():
        return {}
    data = json.loads(RECORDED_DIGESTS.read_text())
    return {key: str(row["sha256"]) for key, row in data.items()}


if __name__ == "__main__":
    sys.exit(main())
