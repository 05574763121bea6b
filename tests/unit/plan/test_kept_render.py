"""The manifest phase 1 renders is kept between runs under the object it is rendered from:
planned again on the same inputs, the kept text is used; any other object is rendered anew."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ingress2tailscale.checks.verdicts import RENDER_STORE, typed, verdict_store
from ingress2tailscale.config import load_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from tests.unit.plan.test_access import write
from tests.unit.plan.test_dashboards import INGRESS  # an Ingress and its Service

NEW_FILE = "tailnet-ingress.yaml"


def new_text(tmp_path: Path, repo: Path, tags: str) -> str:
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  grafana:\n"
        "    expose: https\n    from: {kind: Ingress, namespace: apps, name: grafana}\n"
        f"    tags: [{tags}]\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(path), RepoTree(repo), "grafana", "1").plan
    assert not plan.has_errors, plan.notices
    [new] = [c for c in plan.file_changes if c.path == NEW_FILE]
    return new.after or ""


def kept_texts(repo: Path) -> list[Path]:
    store = verdict_store(repo, RENDER_STORE)
    assert store is not None
    return sorted(p for p in store.iterdir() if not p.name.startswith("."))


def test_a_kept_render_is_used_for_the_same_object_and_not_for_another(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"grafana.yaml": INGRESS})
    (repo / ".git").mkdir()  # the store lives in .git, as in a real repo
    first = new_text(tmp_path, repo, "tag:web")
    assert "tag:web" in first and first.startswith("# Tailscale Ingress")
    [kept] = kept_texts(repo)
    marked = first.replace("# Tailscale Ingress", "# kept from an earlier run", 1)
    kept.write_text(json.dumps(marked), encoding="utf-8")

    assert new_text(tmp_path, repo, "tag:web") == marked  # the same inputs: the kept text
    other = new_text(tmp_path, repo, "tag:grafana")  # another object: rendered anew
    assert "tag:grafana" in other and other.startswith("# Tailscale Ingress")
    assert len(kept_texts(repo)) == 2


def test_a_damaged_kept_render_is_rendered_again(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"grafana.yaml": INGRESS})
    (repo / ".git").mkdir()
    first = new_text(tmp_path, repo, "tag:web")
    [kept] = kept_texts(repo)
    kept.write_text("{not json", encoding="utf-8")
    assert new_text(tmp_path, repo, "tag:web") == first


def test_the_key_tells_apart_what_renders_differently() -> None:
    assert typed({"port": 80}) != typed({"port": "80"})
    assert typed({"a": True}) != typed({"a": 1})
    assert typed(["x"]) != typed([DoubleQuotedScalarString("x")])
    assert typed({1: "a"}) != typed({"1": "a"})
    assert typed({"a": 1, "b": 2}) != typed({"b": 2, "a": 1})  # the order is rendered
    with pytest.raises(TypeError):
        typed({"when": datetime.date(2026, 12, 2)})
