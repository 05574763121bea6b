"""The Flux simulator over a real bare origin and the emulated cluster, observed through the
product's Kubernetes client: Ready at the pushed revision, prune, and the failures Flux reports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingress2tailscale.errors import ClusterError
from ingress2tailscale.kinds import FLUX_NAME_LABEL, GIT_REPOSITORY
from ingress2tailscale.sandbox.faults import FLUX_FAILS, Faults
from tests.integration.sandbox_sim import (
    DEPLOYMENT,
    SERVICE,
    Sandbox,
    make_tailnet,
    open_sandbox,
)

PORTLESS = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: web
spec:
  selector: {app: web}
"""
# the seed's mistake: `spec` indented under `metadata`
MIS_INDENTED = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: web
  spec:
    selector: {app: web}
    ports:
      - port: 80
"""


@pytest.fixture(params=["auto"])
def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    yield from open_sandbox(tmp_path, make_tailnet(), kubectl=request.param)


# these run twice: with `kubectl kustomize`, and rendered from the product's inventory alone
BOTH_RENDERERS = pytest.mark.parametrize(
    "sandbox", ["auto", None], ids=["kubectl", "inventory"], indirect=True
)


def reconcile(sandbox: Sandbox, *kustomizations: str) -> None:
    """What the product's reconcile step does: annotate the source, then each Kustomization."""
    sandbox.client.request_reconcile("flux-system", "GitRepository", "flux-system")
    for name in kustomizations:
        sandbox.client.request_reconcile("flux-system", "Kustomization", name)
    sandbox.flux.step()


@BOTH_RENDERERS
def test_start_up_applies_every_kustomization_at_the_branch_head(sandbox: Sandbox) -> None:
    outcomes = sandbox.flux.reconcile_all()
    sha = sandbox.gitops.head()
    assert {(o.name, o.ready) for o in outcomes} == {("flux-system", True), ("apps", True)}
    for name in ("flux-system", "apps"):
        status = sandbox.client.wait_kustomization_ready("flux-system", name, sha, 5)
        assert status.last_applied_revision == f"main@sha1:{sha}"
        assert status.ready is not None and status.ready.reason == "ReconciliationSucceeded"
    deployment = sandbox.kube.get(sandbox.kube.api_kind("apps/v1", "Deployment"), "web", "web")
    assert deployment is not None
    assert deployment["metadata"]["labels"][FLUX_NAME_LABEL] == "apps"
    assert sandbox.kube.get("Namespace", None, "web") is not None
    certificate = sandbox.kube.api_kind("cert-manager.io/v1", "Certificate")
    assert sandbox.kube.get(certificate, "web", "web") is not None  # a CRD served for the repo
    repo = sandbox.kube.get(GIT_REPOSITORY, "flux-system", "flux-system")
    assert repo is not None and repo["status"]["artifact"]["revision"] == f"main@sha1:{sha}"


def test_a_push_and_a_reconcile_request_bring_ready_at_the_pushed_revision(
    sandbox: Sandbox,
) -> None:
    sandbox.flux.reconcile_all()
    edited = DEPLOYMENT.replace("replicas: 1", "replicas: 3")
    sha = sandbox.gitops.push({"apps/web/deployment.yaml": edited}, "Scale web")
    sandbox.flux.step()  # nothing asked yet: Flux keeps the revision it has
    before = sandbox.client.kustomization_status("flux-system", "apps")
    assert before.last_applied_revision is not None
    assert not before.last_applied_revision.endswith(sha)
    reconcile(sandbox, "apps")
    status = sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    assert status.last_applied_revision == f"main@sha1:{sha}"
    deployment = sandbox.kube.get(sandbox.kube.api_kind("apps/v1", "Deployment"), "web", "web")
    assert deployment is not None and deployment["spec"]["replicas"] == 3


@BOTH_RENDERERS
def test_a_removed_document_is_pruned(sandbox: Sandbox) -> None:
    sandbox.flux.reconcile_all()
    assert sandbox.kube.get("Service", "web", "db") is not None
    kustomization = sandbox.gitops.work / "apps/web/kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8").replace("  - db-service.yaml\n", "")
    sha = sandbox.gitops.push(
        {"apps/web/db-service.yaml": None, "apps/web/kustomization.yaml": text}, "Drop db"
    )
    reconcile(sandbox, "apps")
    sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    assert sandbox.kube.get("Service", "web", "db") is None
    assert sandbox.kube.get("Service", "web", "web") is not None  # the rest stays


@BOTH_RENDERERS
def test_a_field_removed_from_git_is_removed_from_the_object(sandbox: Sandbox) -> None:
    sandbox.flux.reconcile_all()
    labelled = SERVICE.replace("  namespace: web\n", "  namespace: web\n  labels: {tier: a}\n")
    sandbox.gitops.push({"apps/web/service.yaml": labelled}, "Label web")
    reconcile(sandbox, "apps")
    sha = sandbox.gitops.push({"apps/web/service.yaml": SERVICE}, "Unlabel web")
    reconcile(sandbox, "apps")
    sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    service = sandbox.kube.get("Service", "web", "web")
    assert service is not None and "tier" not in service["metadata"]["labels"]


@BOTH_RENDERERS
@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"apps/web/service.yaml": PORTLESS},
            "Service/web/web dry-run failed: spec.ports: Required value",
        ),
        (
            {"apps/web/service.yaml": MIS_INDENTED},
            "Service/web/web dry-run failed: spec.ports: Required value",
        ),
        (
            {
                "apps/web/ingress.yaml": "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
                "metadata: {name: web, namespace: web}\nspec: {ingressClassName: tailscale}\n"
            },
            "either `defaultBackend` or `rules` must be specified",
        ),
        ({"apps/web/certificate.yaml": None}, "certificate.yaml"),
        (
            {"apps/web/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: [\n"},
            "kustomize build failed",
        ),
    ],
    ids=[
        "port-less Service",
        "mis-indented Service",
        "Ingress without rules",
        "missing resource",
        "YAML error",
    ],
)
def test_a_bad_commit_is_not_ready_and_applies_nothing(
    sandbox: Sandbox, files: dict[str, str | None], message: str
) -> None:
    sandbox.flux.reconcile_all()
    before = sandbox.client.kustomization_status("flux-system", "apps").last_applied_revision
    deployment_kind = sandbox.kube.api_kind("apps/v1", "Deployment")
    scaled = {"apps/web/deployment.yaml": DEPLOYMENT.replace("replicas: 1", "replicas: 5")}
    sha = sandbox.gitops.push({**scaled, **files}, "A bad change")
    reconcile(sandbox, "apps")
    with pytest.raises(ClusterError, match="Flux could not apply") as failed:
        sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    assert message in str(failed.value)
    status = sandbox.client.kustomization_status("flux-system", "apps")
    assert status.last_attempted_revision == f"main@sha1:{sha}"
    assert status.last_applied_revision == before
    deployment = sandbox.kube.get(deployment_kind, "web", "web")
    if "apps/web/deployment.yaml" not in files:
        assert deployment is not None and deployment["spec"]["replicas"] == 1  # nothing applied


def test_flux_fails_fails_the_next_reconcile_only(sandbox: Sandbox) -> None:
    sandbox.flux.reconcile_all()
    sandbox.faults.arm(FLUX_FAILS, "apps")
    sha = sandbox.gitops.push({"apps/web/service.yaml": SERVICE + "  type: ClusterIP\n"}, "x")
    reconcile(sandbox, "apps")
    with pytest.raises(ClusterError, match="flux-fails"):
        sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    reconcile(sandbox, "apps")  # asked again: it works
    sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)


def test_a_fault_armed_by_another_process_through_the_file_is_seen(sandbox: Sandbox) -> None:
    sandbox.flux.reconcile_all()
    assert sandbox.faults.path is not None
    other = Faults.load(sandbox.faults.path)  # as the `fault` command would
    other.arm(FLUX_FAILS)
    sha = sandbox.gitops.push({"apps/web/service.yaml": SERVICE + "  type: ClusterIP\n"}, "x")
    reconcile(sandbox, "apps")
    with pytest.raises(ClusterError, match="flux-fails"):
        sandbox.client.wait_kustomization_ready("flux-system", "apps", sha, 5)
    root = sandbox.client.kustomization_status("flux-system", "flux-system")  # armed for all
    assert root.ready is not None and root.ready.status == "False"
    assert root.last_attempted_revision == f"main@sha1:{sha}"
