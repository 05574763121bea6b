"""What Flux applies: slices, backends and consumers come only from files a Flux Kustomization
reaches (tests/fixtures/homelab-k8s/FIXTURE.md is the answer key)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.plan.proposal import render_proposal
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.conftest import FIXTURE_REPO, HOMELAB_REPO, write_config

FLUX = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  path: {path}
  sourceRef: {{kind: GitRepository, name: flux-system}}
"""
KUSTOMIZE = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: apps}}
spec:
  ingressClassName: traefik
  rules: [{{host: {name}.example.com}}]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def test_homelab_applies_what_its_answer_key_says() -> None:
    inventory = read_inventory(HOMELAB_REPO)
    unapplied = sorted({d.path for d in inventory.documents if not inventory.is_applied(d.path)})
    assert unapplied == [
        "kubernetes/apps/media/old-sonarr-disabled/app/ingress.yaml",
        "kubernetes/apps/media/old-sonarr-disabled/app/kustomization.yaml",
        "kubernetes/apps/media/old-sonarr-disabled/ks.yaml",
        "kubernetes/archive/legacy-wiki/deployment.yaml",
        "kubernetes/archive/legacy-wiki/ingress.yaml",
        "kubernetes/archive/legacy-wiki/kustomization.yaml",
        "kubernetes/archive/legacy-wiki/service.yaml",
        "kubernetes/archive/sonarr/helmrelease.yaml",
    ]
    sonarr = inventory.get(ResourceRef("HelmRelease", "media", "sonarr"))
    assert sonarr is not None and sonarr.path == "kubernetes/apps/media/sonarr/app/helmrelease.yaml"
    assert inventory.appliers(sonarr.path) == [ResourceRef("Kustomization", "media", "sonarr")]
    assert inventory.appliers("kubernetes/apps/media/sonarr/ks.yaml") == [
        ResourceRef("Kustomization", "flux-system", "cluster-apps")
    ]
    assert inventory.get(ResourceRef("Ingress", "default", "wiki")) is None  # archive only


def test_folders_reached_through_dot_dot_and_folders_without_a_kustomization(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "clusters/prod/apps.yaml": FLUX.format(name="apps", path="./clusters/prod/apps"),
            "clusters/prod/apps/kustomization.yaml": "resources:\n  - ../../../apps/web\n",
            "apps/web/kustomization.yaml": "resources: [ingress.yaml]\n",
            "apps/web/ingress.yaml": INGRESS.format(name="web"),
            "apps/web/unlisted.yaml": INGRESS.format(name="unlisted"),
            "clusters/prod/plain.yaml": FLUX.format(name="plain", path="./plain"),
            "plain/a.yaml": INGRESS.format(name="a"),
            "plain/deeper/b.yaml": INGRESS.format(name="b"),
            "plain/own/kustomization.yaml": "resources:\n- c.yaml\n",
            "plain/own/c.yaml": INGRESS.format(name="c"),
            "plain/own/d.yaml": INGRESS.format(name="d"),
        },
    )
    inventory = read_inventory(tmp_path)
    applied = sorted(d.name for d in inventory.of_kind("Ingress", applied_only=True))
    assert applied == ["a", "b", "c", "web"]  # not: unlisted, d
    assert inventory.appliers("apps/web/ingress.yaml") == [
        ResourceRef("Kustomization", "flux-system", "apps")
    ]
    assert inventory.appliers("plain/deeper/b.yaml") == [
        ResourceRef("Kustomization", "flux-system", "plain")
    ]


def test_a_repo_without_flux_kustomizations_applies_everything(tmp_path: Path) -> None:
    write(tmp_path, {"a/ingress.yaml": INGRESS.format(name="a")})
    inventory = read_inventory(tmp_path)
    assert inventory.applied is None
    assert inventory.get(ResourceRef("Ingress", "apps", "a")) is not None


def test_an_archive_copy_first_in_file_order_loses_to_the_applied_object(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, repo)
    copy = (repo / "apps/pgadmin/ingress.yaml").read_text(encoding="utf-8")
    write(repo, {"_archive/pgadmin/ingress.yaml": copy.replace("pgadmin.tazlab", "old.tazlab")})
    config = load_config(write_config(tmp_path, repo))
    plan = plan_slice(config, RepoTree(repo), "pgadmin", "1").plan
    assert not plan.has_errors
    assert plan.facts["old_host"] == "pgadmin.tazlab.net"
    assert [c.path for c in plan.file_changes] == [
        "apps/pgadmin/kustomization.yaml",
        "apps/pgadmin/tailnet-ingress.yaml",
    ]
    [notice] = [n for n in plan.notices if "_archive/pgadmin/ingress.yaml:" in n.message]
    assert notice.level == "info" and "uses the applied one, apps/pgadmin/ingress.yaml" in (
        notice.message
    )


def test_an_object_only_in_unapplied_files_is_an_error_naming_the_file(tmp_path: Path) -> None:
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {HOMELAB_REPO}}}\nslices:\n"
        "  wiki: {expose: https, from: {kind: Ingress, namespace: default, name: wiki}}\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(config_path), RepoTree(HOMELAB_REPO), "wiki").plan
    [error] = [n for n in plan.notices if n.level == "error"]
    assert "Ingress default/wiki is only in files no Flux Kustomization applies" in error.message
    assert "kubernetes/archive/legacy-wiki/ingress.yaml:" in error.message


def test_discover_leaves_out_unapplied_copies_and_names_the_appliers() -> None:
    proposal = propose_config(read_inventory(HOMELAB_REPO))
    proposed = {s.candidate.source.path for s in proposal.slices}
    assert not [p for p in proposed if "archive" in p or "disabled" in p]
    reasons = {x.document.path: x.reason for x in proposal.left_out}
    assert reasons["kubernetes/archive/legacy-wiki/ingress.yaml"].startswith("not applied")
    assert reasons["kubernetes/apps/media/old-sonarr-disabled/app/ingress.yaml"].startswith(
        "not applied"
    )
    assert reasons["kubernetes/archive/sonarr/helmrelease.yaml"].startswith("not applied")
    assert "kubernetes/archive/legacy-wiki/service.yaml" not in reasons  # ClusterIP: no exposure
    text = render_proposal(propose_config(read_inventory(FIXTURE_REPO)), "r", "t.ts.net")
    assert "# applied by Flux Kustomization flux-system/apps" in text


def test_planned_changes_apply_what_a_fresh_reading_of_the_changed_repo_applies(
    tmp_path: Path,
) -> None:
    """Each change is carried forward from the reading before it (or worked out again where it
    must be); either way every file answers as in a reading of the changed repo from scratch."""
    write(
        tmp_path,
        {
            "clusters/prod/apps.yaml": FLUX.format(name="apps", path="./apps"),
            "clusters/prod/plain.yaml": FLUX.format(name="plain", path="./plain"),
            "apps/kustomization.yaml": "resources: [web, shop]\n",
            "apps/web/kustomization.yaml": "resources: [ingress.yaml]\n",
            "apps/web/ingress.yaml": INGRESS.format(name="web"),
            "apps/shop/kustomization.yaml": "resources: [ingress.yaml, ../web/ingress.yaml]\n",
            "apps/shop/ingress.yaml": INGRESS.format(name="shop"),
            "plain/a.yaml": INGRESS.format(name="a"),
            "plain/own/kustomization.yaml": "resources: [c.yaml]\n",
            "plain/own/c.yaml": INGRESS.format(name="c"),
            "plain/kz/kustomization.yaml": f"{KUSTOMIZE}resources: [x.yaml, y.yaml]\n",
            "plain/kz/x.yaml": INGRESS.format(name="x"),
            "plain/kz/y.yaml": INGRESS.format(name="y"),
        },
    )
    changes: list[dict[str, str | None]] = [
        {"apps/web/tailnet.yaml": INGRESS.format(name="web-ts")},  # made, not listed
        {"apps/web/kustomization.yaml": "resources: [ingress.yaml, tailnet.yaml]\n"},
        {"apps/web/ingress.yaml": None},  # still listed here and by shop
        {"apps/web/kustomization.yaml": "resources: [tailnet.yaml]\n"},
        {"apps/shop/kustomization.yaml": "resources: [ingress.yaml]\n"},
        {"plain/b.yaml": INGRESS.format(name="b"), "plain/a.yaml": None},  # a generated folder
        {"plain/own/d.yaml": INGRESS.format(name="d")},  # under a kustomization: not listed
        {"plain/kz/x.yaml": None},  # the folder still has its kustomization
        {"plain/own/c.yaml": None},  # its last manifest
        {"apps/kustomization.yaml": "resources: [web]\n"},  # what the folder reaches changes
        {"plain/new/kustomization.yaml": "resources: [e.yaml]\n"},  # a folder gains one
        {"plain/new/e.yaml": INGRESS.format(name="e")},
        {"clusters/prod/plain.yaml": None},  # a Flux Kustomization goes
    ]
    inventory = read_inventory(tmp_path)
    assert inventory.applied is not None  # read: each change starts from it
    for change in changes:
        inventory = inventory.with_changes(change)
        fresh = read_inventory(tmp_path, inventory.tree.overrides)
        paths = sorted({*fresh.files(), *change, "apps/web/ingress.yaml", "plain/a.yaml"})
        carried = {p: (inventory.is_applied(p), inventory.appliers(p)) for p in paths}
        assert carried == {p: (fresh.is_applied(p), fresh.appliers(p)) for p in paths}, change
    assert not inventory.is_applied("plain/own/c.yaml")
    assert not inventory.is_applied("plain/kz/y.yaml")  # plain is gone
    assert inventory.is_applied("apps/web/tailnet.yaml")
    assert not inventory.is_applied("apps/shop/ingress.yaml")
