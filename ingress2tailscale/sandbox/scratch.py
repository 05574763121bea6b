"""The sandbox's copy of what a config points at: the GitOps repo (a fresh git repo with a bare
clone as its `origin`), the Terraform file and the policy file (each in a git repo of its own),
and the config rewritten to use them and the emulators.

The user's files are only read. The copies are working trees as they are now (uncommitted
changes included), each committed once as "sandbox: the starting state".
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ConfigError

GIT_IDENTITY = {"user.name": "ingress2tailscale sandbox", "user.email": "sandbox@localhost"}
IGNORED = shutil.ignore_patterns(".git", ".sandbox", "__pycache__")
START_MESSAGE = "sandbox: the starting state"


@dataclass(frozen=True)
class Scratch:
    """Where the copies are."""

    root: Path
    repo: Path  # the GitOps repo's working copy
    origin: Path  # its bare `origin`
    terraform: Path | None  # the copied .tf file
    policy: Path | None  # the copied HuJSON policy file (policy.source: file)


def make_scratch(config: MigrationConfig, root: Path) -> Scratch:
    """Copy the config's repo, .tf and policy file under `root` (which must not exist yet)."""
    root.mkdir(parents=True)
    source = config.gitops.path
    if not source.is_dir():
        raise ConfigError(f"{config.source_path}: gitops.path: {source} is not a folder")
    repo = root / "repos" / source.name
    shutil.copytree(source, repo, ignore=IGNORED, symlinks=True)
    _git(repo.parent, "init", "-q", "-b", config.gitops.branch, repo.name)
    _commit_all(repo)
    origin = root / "origin" / f"{source.name}.git"
    origin.parent.mkdir()
    _git(root, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "add", config.gitops.remote, str(origin))
    _git(repo, "fetch", "-q", config.gitops.remote)
    branch = config.gitops.branch
    _git(repo, "branch", "-q", f"--set-upstream-to={config.gitops.remote}/{branch}", branch)
    oauth, policy = config.tailscale.oauth_client, config.tailscale.policy
    tf = _copy_file(oauth.terraform, root / "infra") if oauth and oauth.terraform else None
    hujson = policy.path if policy is not None and policy.source == "file" else None
    return Scratch(root, repo, origin, tf, _copy_file(hujson, root / "policy") if hujson else None)


def sandbox_config(
    config: MigrationConfig, scratch: Scratch, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The user's config as data, pointed at the copies; `overrides` are merged in by section
    (the emulators' URLs, the kubeconfig, the apply command, the probes' resolver and CA)."""
    data: dict[str, Any] = dict(yaml.safe_load(config.source_path.read_text(encoding="utf-8")))
    data["gitops"] = {**data["gitops"], "path": str(scratch.repo)}
    tailscale = dict(data.get("tailscale") or {})
    if scratch.terraform is not None:
        tailscale["oauth_client"] = {
            **tailscale["oauth_client"],
            "terraform": str(scratch.terraform),
        }
    if scratch.policy is not None:
        tailscale["policy"] = {**tailscale["policy"], "path": str(scratch.policy)}
    data["tailscale"] = tailscale
    for section, values in overrides.items():
        current = data.get(section)
        merged = (
            {**current, **values}
            if isinstance(current, dict) and isinstance(values, dict)
            else values
        )
        data[section] = merged
    return data


def write_config(data: Mapping[str, Any], path: Path) -> Path:
    header = "# written by the sandbox: the config it was started with, pointed at its emulators\n"
    path.write_text(header + yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def _copy_file(path: Path, folder: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"{path}: not a file (the sandbox copies it)")
    folder.mkdir(parents=True)
    copy = folder / path.name
    shutil.copy2(path, copy)
    _git(folder.parent, "init", "-q", "-b", "main", folder.name)
    _commit_all(folder)
    return copy


def _commit_all(repo: Path) -> None:
    """The first commit, by the sandbox's own identity (the runs' commits use it too)."""
    for key, value in GIT_IDENTITY.items():
        _git(repo, "config", key, value)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", START_MESSAGE)


def _git(cwd: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"the sandbox could not prepare {cwd}: git {args[0]}: {done.stderr}")
