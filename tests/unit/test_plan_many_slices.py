"""`--slice all` plans each slice as if the ones before had been applied: the incremental path
(one inventory carried forward, indexes kept) plans exactly what planning each slice on a fresh
inventory of the accumulated tree plans. Not timed: speed is measured in bench/."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bench.generate import WILDCARD_SECRET, commit_repo, generate_repo
from bench.slices import accepted
from ingress2tailscale.config import MigrationConfig, load_config
from ingress2tailscale.model import Plan
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import known_old_hosts, plan_slice, plan_slices
from ingress2tailscale.plan.proposal import render_proposal
from ingress2tailscale.repo.inventory import RepoTree, build_inventory, read_inventory

APPS = 20
TAILNET = "bench-tailnet.ts.net"
SETTINGS = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-0007-settings
  namespace: team-00
data:
  # app-0012.example.net in a comment only
  root_url: https://app-0010.example.net/
  callback: https://login.app-0013.example.net.internal/cb
  # the Secret of app-0005 by its whole name; app-0004's only inside a longer one
  certificate: app-0005-tls
  previous: app-0004-tls-old
"""
OWN_SECRETS = ("app-0005", "app-0004")  # their Ingresses get a TLS Secret of their own


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> MigrationConfig:
    """Discover's proposal for a small generated repo, auth changes accepted, plus a slice whose
    `from` object is missing and one whose hostname another slice already derives."""
    where = tmp_path_factory.mktemp("many")
    repo = where / "repo"
    generate_repo(repo, APPS)
    with (repo / "apps" / "app-0007" / "service.yaml").open("a", encoding="utf-8") as file:
        file.write(SETTINGS)  # in a file an earlier slice edits
    for app in OWN_SECRETS:
        ingress = repo / "apps" / app / "ingress.yaml"
        text = ingress.read_text(encoding="utf-8")
        ingress.write_text(text.replace(WILDCARD_SECRET, f"{app}-tls"), encoding="utf-8")
    commit_repo(repo)
    text = render_proposal(propose_config(read_inventory(repo)), str(repo), TAILNET)
    data: dict[str, Any] = accepted(yaml.safe_load(text))
    slices = data["slices"]
    https = [n for n, s in slices.items() if s["expose"] == "https"]
    first_https = https[0]
    clash = {**slices[https[-1]], "hostname": first_https}
    slices["clash"] = clash
    slices["missing"] = {**slices[first_https], "from": {**slices[first_https]["from"]}}
    slices["missing"]["from"]["name"] = "no-such-ingress"
    slices["missing"]["hostname"] = "missing"
    path = where / "migration.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path)


def fresh_plans(config: MigrationConfig, names: list[str]) -> list[Plan]:
    """Each slice planned on an inventory built afresh from the tree the slices before leave."""
    tree = RepoTree(config.repo_path)
    old_hosts = known_old_hosts(config, build_inventory(tree))
    plans = []
    for name in names:
        inventory = build_inventory(tree)
        planned = plan_slice(config, tree, name, inventory=inventory, old_hosts=old_hosts)
        plans.append(planned.plan)
        tree = RepoTree(tree.root, planned.overrides)
    return plans


def test_the_incremental_plans_are_those_of_fresh_inventories(config: MigrationConfig) -> None:
    names = config.slice_names()
    incremental = plan_slices(config, RepoTree(config.repo_path), names)
    assert [p.to_json() for p in incremental] == [p.to_json() for p in fresh_plans(config, names)]


def test_the_plans_cover_the_interesting_cases(config: MigrationConfig) -> None:
    """The comparison above is worth something: secrets shared, a clash, a slice in error."""
    plans = {
        p.slice: p for p in plan_slices(config, RepoTree(config.repo_path), config.slice_names())
    }
    messages = [n.message for p in plans.values() for n in p.notices]
    assert any("kept its ExternalSecret" in m for m in messages)
    subjects = {(n.subject, n.message) for p in plans.values() for n in p.notices}
    own, other = (f"Secret team-00/{app}-tls" for app in OWN_SECRETS)
    assert (own, "kept its ExternalSecret: used by ConfigMap team-00/app-0007-settings") in subjects
    assert (other, "no ExternalSecret in the repo produces it") in subjects
    assert any("is also used by slice clash" in m for m in messages)
    assert any("names app-0010.example.net at line" in m for m in messages)
    assert any("names app-0013.example.net at line" in m for m in messages)
    assert not any("names app-0012.example.net" in m for m in messages)
    assert any("no-such-ingress" in n.message for n in plans["missing"].notices)
    assert sum(1 for p in plans.values() if p.file_changes) >= APPS // 2
