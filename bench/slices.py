"""Configs of many slices for the generated repo: discover's proposal, auth changes accepted,
cut to its first N slices (in the proposal's order)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.generate import TAILNET

PROJECT = Path(__file__).resolve().parent.parent
DISCOVER_TIMEOUT_S = 600


def discover(repo: Path) -> dict[str, Any]:
    """`python -m flows.discover` on the repo, read back as data."""
    command = [sys.executable, "-m", "flows.discover", "--repo", str(repo), "--tailnet", TAILNET]
    done = subprocess.run(
        command,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=DISCOVER_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: discover failed:\n{done.stderr}")
    proposal: dict[str, Any] = yaml.safe_load(done.stdout)
    return proposal


def discover_peak_rss(repo: Path) -> int:
    """Peak RSS (KiB) of a fresh interpreter running discover on the repo."""
    command = [sys.executable, "-m", "bench.slices", str(repo)]
    done = subprocess.run(
        command,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=DISCOVER_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: discover failed:\n{done.stderr}")
    return int(done.stderr.strip().splitlines()[-1])


def accepted(proposal: dict[str, Any]) -> dict[str, Any]:
    """The proposal with every forward-auth removal accepted (what the user decides)."""
    slices = {}
    for name, body in proposal["slices"].items():
        body = dict(body)
        if body.get("expose") == "https":
            body["accept_auth_change"] = True
        slices[name] = body
    return {**proposal, "slices": slices}


def first_slices(proposal: dict[str, Any], count: int) -> dict[str, Any]:
    names = list(proposal["slices"])[:count]
    if len(names) < count:
        raise SystemExit(f"bench: discover proposed {len(names)} slices, fewer than {count}")
    return {**proposal, "slices": {n: proposal["slices"][n] for n in names}}


def write_slice_configs(work: Path, repo: Path, counts: list[int]) -> dict[int, Path]:
    """One config per count (`slices-N.yaml` in `work`), from one discover run."""
    proposal = accepted(discover(repo))
    paths = {}
    for count in counts:
        path = work / f"slices-{count}.yaml"
        text = yaml.safe_dump(first_slices(proposal, count), sort_keys=False)
        path.write_text(text, encoding="utf-8")
        paths[count] = path
    return paths


def _discover_and_measure(repo: str) -> int:
    """`python -m bench.slices REPO`: discover, then its peak RSS (KiB) on stderr."""
    import resource

    from flows.discover import main

    main(["--repo", repo, "--tailnet", TAILNET])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_discover_and_measure(sys.argv[1]))
