"""The benchmark's synthetic repo: what the inventory finds in it, and that its slices plan."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.generate import commit_repo, generate_repo, write_config
from ingress2tailscale.config import load_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import Inventory, RepoTree, build_inventory
from tests.conftest import ROOT, git

APPS = 20
METALLB_PREFIXES = ("metallb.io/", "metallb.universe.tf/")
FORWARD_AUTH = "auth-oauth2-proxy@kubernetescrd"


@pytest.fixture(scope="module")
def bench_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("bench")
    repo, config = where / "repo", where / "migration.yaml"
    generate_repo(repo, APPS)
    commit_repo(repo)
    write_config(config, repo, APPS)
    return repo, config


@pytest.fixture(scope="module")
def inventory(bench_repo: tuple[Path, Path]) -> Inventory:
    return build_inventory(RepoTree(bench_repo[0]))


def test_every_app_has_a_deployment_a_service_and_an_ingress(inventory: Inventory) -> None:
    kinds = Counter(d.kind for d in inventory.documents)
    assert kinds["Deployment"] == kinds["Service"] == kinds["Ingress"] == APPS
    apps = {d.name for d in inventory.of_kind("Deployment")}
    assert (
        apps
        == {d.name for d in inventory.of_kind("Ingress")}
        == {f"app-{i:04d}" for i in range(APPS)}
    )


def test_every_kustomization_file_is_a_kustomize_document(
    bench_repo: tuple[Path, Path], inventory: Inventory
) -> None:
    files = {str(p.relative_to(bench_repo[0])) for p in bench_repo[0].rglob("kustomization.yaml")}
    kustomize = {
        d.path
        for d in inventory.of_kind("Kustomization")
        if d.api_version.startswith("kustomize.config.k8s.io/")
    }
    assert kustomize == files
    assert len(files) > APPS  # one per app, plus the shared folders
    flux = [d for d in inventory.of_kind("Kustomization") if "fluxcd" in d.api_version]
    assert {d.body["spec"]["path"] for d in flux} >= {"./apps"}


def test_about_every_tenth_service_is_a_metallb_load_balancer(inventory: Inventory) -> None:
    balancers = [
        d for d in inventory.of_kind("Service") if d.body["spec"]["type"] == "LoadBalancer"
    ]
    assert len(balancers) == APPS // 10
    for doc in balancers:
        annotations = doc.body["metadata"]["annotations"]
        assert any(key.startswith(METALLB_PREFIXES) for key in annotations), doc
    prefixes = {k.split("/")[0] for d in balancers for k in d.body["metadata"]["annotations"]}
    assert prefixes == {"metallb.io", "metallb.universe.tf"}


def test_ingresses_are_traefik_most_behind_forward_auth_with_tls(inventory: Inventory) -> None:
    ingresses = inventory.of_kind("Ingress")
    assert {d.body["spec"]["ingressClassName"] for d in ingresses} == {"traefik"}
    middlewares = [
        d.body["metadata"]["annotations"].get("traefik.ingress.kubernetes.io/router.middlewares")
        for d in ingresses
    ]
    assert 0 < middlewares.count(FORWARD_AUTH) < len(ingresses)
    secrets = inventory.of_kind("ExternalSecret")
    assert secrets, "a namespace gets its certificate from an ExternalSecret"
    for secret in secrets:
        users = inventory.ingresses_using_secret(secret.namespace, secret.name)
        assert len(users) > 1  # shared by the namespace's Ingresses


def test_a_kustomization_namespace_is_the_documents_namespace(inventory: Inventory) -> None:
    forced = inventory.kustomize_namespaces
    assert forced, "some kustomizations set `namespace:`"
    for folder, namespace in forced.items():
        assert {d.namespace for d in inventory.documents if d.path.startswith(folder + "/")} == {
            namespace
        }


def test_generation_is_deterministic(tmp_path: Path, bench_repo: tuple[Path, Path]) -> None:
    generate_repo(tmp_path / "again", APPS)
    commit_repo(tmp_path / "again")
    tree = git(tmp_path / "again", "rev-parse", "HEAD^{tree}")
    assert tree == git(bench_repo[0], "rev-parse", "HEAD^{tree}")
    assert git(bench_repo[0], "status", "--porcelain") == ""


@pytest.mark.parametrize("name", ["web", "shop", "db", "cache"])
def test_each_slice_of_the_config_plans_without_error(
    bench_repo: tuple[Path, Path], name: str
) -> None:
    repo, config_path = bench_repo
    config = load_config(config_path)
    plan = plan_slice(config, RepoTree(repo), name).plan
    assert not plan.has_errors, plan.notices
    created = {c.path for c in plan.file_changes if c.op == "create"}
    https = config.service_slices()[name].expose == "https"
    new_file = "tailnet-ingress.yaml" if https else "tailnet-service.yaml"
    assert len(created) == 1 and created.pop().endswith("/" + new_file)


def test_the_benchmark_command_ends_with_the_four_ratios(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.run", "--apps", str(APPS), "--repeat", "1"]
    done = subprocess.run(
        [*command, "--work", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-4:]
    assert re.fullmatch(r"cold_ratio=\d+\.\d\d", last[0]), done.stdout
    assert re.fullmatch(r"warm_ratio=\d+\.\d\d", last[1]), done.stdout
    assert re.fullmatch(r"all_1600_ratio=\d+\.\d\d", last[2]), done.stdout
    assert re.fullmatch(r"growth_400_1600=\d+\.\d\d", last[3]), done.stdout
