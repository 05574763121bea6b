"""Namespaces set from outside a document: parent kustomizations and Flux targetNamespace."""

from __future__ import annotations

from pathlib import Path

from ingress2tailscale.repo.inventory import RepoTree, build_inventory

INGRESS = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n"
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"


def kustomization(resources: list[str], namespace: str | None = None) -> str:
    head = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    ns = f"namespace: {namespace}\n" if namespace else ""
    return head + ns + "resources:\n" + "".join(f"  - {r}\n" for r in resources)


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def namespaces_of_web(root: Path) -> list[str]:
    return [d.namespace for d in build_inventory(RepoTree(root)).of_kind("Ingress")]


def test_a_parent_kustomization_namespaces_what_it_includes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/kustomization.yaml": kustomization(["web"], namespace="apps"),
            "apps/web/kustomization.yaml": kustomization(["ingress.yaml", "ns.yaml"]),
            "apps/web/ingress.yaml": INGRESS,
            "apps/web/ns.yaml": NAMESPACE,
        },
    )
    assert namespaces_of_web(tmp_path) == ["apps"]
    inventory = build_inventory(RepoTree(tmp_path))
    assert [d.namespace for d in inventory.of_kind("Namespace")] == [""]


def test_the_outermost_kustomization_wins(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/kustomization.yaml": kustomization(["web"], namespace="outer"),
            "apps/web/kustomization.yaml": kustomization(["ingress.yaml"], namespace="inner"),
            "apps/web/ingress.yaml": INGRESS,
        },
    )
    assert namespaces_of_web(tmp_path) == ["outer"]


def test_a_folder_not_included_keeps_its_own(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/kustomization.yaml": kustomization(["other"], namespace="outer"),
            "apps/other/kustomization.yaml": kustomization([]),
            "apps/web/kustomization.yaml": kustomization(["ingress.yaml"], namespace="inner"),
            "apps/web/ingress.yaml": INGRESS,
        },
    )
    assert namespaces_of_web(tmp_path) == ["inner"]


def test_flux_target_namespace_wins_below_its_path(tmp_path: Path) -> None:
    flux = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata:\n  name: apps\n  namespace: flux-system\n"
        "spec:\n  path: ./apps\n  targetNamespace: team-a\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    write(
        tmp_path,
        {
            "clusters/prod/apps.yaml": flux,
            "apps/web/kustomization.yaml": kustomization(["ingress.yaml"], namespace="inner"),
            "apps/web/ingress.yaml": INGRESS,
        },
    )
    assert namespaces_of_web(tmp_path) == ["team-a"]
    inventory = build_inventory(RepoTree(tmp_path))
    flux_doc = inventory.find("Kustomization", "flux-system", "apps")
    assert flux_doc is not None
    assert flux_doc.namespace == "flux-system"  # outside the path: its own
    changed = inventory.with_changes({"apps/web/extra.yaml": INGRESS.replace("web", "extra")})
    assert sorted(d.namespace for d in changed.of_kind("Ingress")) == ["team-a", "team-a"]
