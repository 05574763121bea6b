"""Static checks of planned files, on small real repo trees in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingress2tailscale.checks.manifests import check_files
from ingress2tailscale.model import Notice

# The seed story's Service after the MetalLB annotations were removed by hand.
SEED_LONGHORN = """\
apiVersion: v1
kind: Service
metadata:
  name: longhorn
  namespace: longhorn-system
  spec:                # <- indented under metadata!
  type: ClusterIP
  ports:
    - name: http
      port: 80
      targetPort: http
  selector:
    app: longhorn-ui
"""

TAILNET_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: tazlab-db-tailnet
  namespace: tazlab-db
  annotations:
    tailscale.com/hostname: tazlab-db
    tailscale.com/tags: tag:k8s
spec:
  type: LoadBalancer
  loadBalancerClass: tailscale
  selector:
    app: postgres
  ports:
    - name: postgres
      port: 5432
      targetPort: 5432
      protocol: TCP
"""

TAILNET_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pgadmin-tailnet
  namespace: pgadmin
  annotations:
    tailscale.com/tags: tag:internal-apps
    tailscale.com/experimental-forward-cluster-traffic-via-ingress: "true"
spec:
  ingressClassName: tailscale
  defaultBackend:
    service:
      name: pgadmin
      port:
        number: 80
  tls:
    - hosts:
        - pgadmin
"""

EXTERNAL_SECRET = """\
# the wildcard certificate, synced from the vault
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: wildcard-tls
  namespace: pgadmin
spec:
  refreshInterval: 1h
  secretStoreRef: {name: vault, kind: ClusterSecretStore}
  target:
    name: wildcard-tls
    template:
      type: kubernetes.io/tls
  dataFrom:
    - extract: {key: tls/wildcard}
"""

OLD_LOAD_BALANCER = """\
apiVersion: v1
kind: Service
metadata:
  name: tazlab-db-external
  namespace: tazlab-db
spec:
  type: ClusterIP
  externalTrafficPolicy: Local
  loadBalancerIP: 192.168.1.241
  loadBalancerSourceRanges: [192.168.1.0/24]
  selector:
    app: postgres
  ports:
    - port: 5432
      targetPort: 5432
      nodePort: 30432
"""


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (where a notice must point)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def errors(notices: list[Notice]) -> list[Notice]:
    return [n for n in notices if n.level == "error"]


def test_seed_mis_indented_spec_is_one_indentation_error(tmp_path: Path) -> None:
    path = "infrastructure/longhorn/service.yaml"
    notices = check_files(tmp_path, {path: SEED_LONGHORN})
    assert len(notices) == 1
    (notice,) = notices
    assert notice.level == "error"
    assert notice.subject == f"{path}:{line_of(SEED_LONGHORN, 'spec:')}"
    assert "check the indentation of `spec`" in notice.message
    assert "nested under `metadata`" in notice.message
    assert "Required value" not in notice.message and "not a field" not in notice.message


def test_spec_nested_under_metadata_of_a_custom_resource_is_found(tmp_path: Path) -> None:
    text = EXTERNAL_SECRET.replace("\nspec:", "\n  spec:")
    notices = check_files(tmp_path, {"es.yaml": text})
    assert [(n.level, n.subject) for n in notices] == [
        ("error", f"es.yaml:{line_of(text, 'spec:')}")
    ]
    assert "indentation of `spec`" in notices[0].message


def test_metadata_field_at_top_level_is_an_indentation_error(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\nname: homepage\ndata:\n  a: b\n"
    (notice,) = check_files(tmp_path, {"cm.yaml": text})
    assert notice.subject == "cm.yaml:4"
    assert "indentation of `name`" in notice.message and "under `metadata`" in notice.message


@pytest.mark.parametrize(
    "text",
    [TAILNET_SERVICE, TAILNET_INGRESS, EXTERNAL_SECRET, namespace("pgadmin")],
    ids=["tailscale-service", "tailscale-ingress", "external-secret", "namespace"],
)
def test_valid_manifests_give_no_notice(tmp_path: Path, text: str) -> None:
    assert check_files(tmp_path, {"apps/x.yaml": text}) == []


def test_commented_out_documents_are_comments(tmp_path: Path) -> None:
    disabled = "".join(f"# {line}\n" for line in SEED_LONGHORN.splitlines())
    text = f"{TAILNET_SERVICE}---\n{disabled}---\n{TAILNET_INGRESS}"
    assert check_files(tmp_path, {"svc.yaml": text}) == []


FORWARD_LINE = '    tailscale.com/experimental-forward-cluster-traffic-via-ingress: "true"\n'
TLS_BLOCK = "  tls:\n    - hosts:\n        - pgadmin\n"
PORTS_BLOCK = TAILNET_SERVICE[TAILNET_SERVICE.index("  ports:") :]
RULE_CASES = [
    # id, (replace this, with that), line the error points at, what its message says
    ("no-forward", (FORWARD_LINE, ""), "annotations:", "forward-cluster-traffic-via-ingress"),
    ("forward-not-string", ('"true"', "yes"), "experimental-forward", 'the string "true"'),
    ("tag-prefix", ("tag:internal-apps", "internal-apps"), "com/tags:", "starting with `tag:`"),
    ("no-tls", (TLS_BLOCK, ""), "spec:", "needs `spec.tls[0].hosts[0]`"),
    (
        "rule-host",
        ("  tls:", "  rules:\n    - host: pgadmin.tazlab.net\n  tls:"),
        "- host:",
        "drops",
    ),
    ("bad-hostname", ("hostname: tazlab-db", "hostname: Tazlab_DB"), "hostname:", "a DNS label"),
    ("class-on-cluster-ip", ("type: LoadBalancer", "type: ClusterIP"), "Class:", "type: LoadBal"),
    ("bad-type", ("type: LoadBalancer", "type: LoadBalancerr"), "type:", "use one of"),
    ("no-ports", (PORTS_BLOCK, ""), "spec:", "has no `spec.ports`"),
    ("unknown-field", ("  selector:", "  bogus: 1\n  selector:"), "bogus", "`spec.bogus` is not"),
    ("wrong-type", ("port: 5432", "port: eighty"), "port: eighty", "not of type 'integer'"),
]


@pytest.mark.parametrize(
    ("edit", "needle", "expected"), [c[1:] for c in RULE_CASES], ids=[c[0] for c in RULE_CASES]
)
def test_rule_violations_are_errors_at_their_line(
    tmp_path: Path, edit: tuple[str, str], needle: str, expected: str
) -> None:
    base = TAILNET_INGRESS if edit[0] in TAILNET_INGRESS else TAILNET_SERVICE
    text = base.replace(*edit, 1)
    assert text != base
    found = [n for n in errors(check_files(tmp_path, {"m.yaml": text})) if expected in n.message]
    assert [n.subject for n in found] == [f"m.yaml:{line_of(text, needle)}"]


@pytest.mark.parametrize(
    "field", ["externalTrafficPolicy", "loadBalancerIP", "loadBalancerSourceRanges", "nodePort"]
)
def test_load_balancer_leftovers_on_cluster_ip_are_errors(tmp_path: Path, field: str) -> None:
    notices = errors(check_files(tmp_path, {"svc.yaml": OLD_LOAD_BALANCER}))
    mine = [n for n in notices if f"`{field}`" in n.message or f"`spec.{field}`" in n.message]
    assert [n.subject for n in mine] == [f"svc.yaml:{line_of(OLD_LOAD_BALANCER, field + ':')}"]
    assert "API server rejects it" in mine[0].message


def test_node_port_service_may_keep_external_traffic_policy(tmp_path: Path) -> None:
    text = OLD_LOAD_BALANCER.replace("type: ClusterIP", "type: NodePort")
    remaining = {n.message.split("`")[1] for n in check_files(tmp_path, {"svc.yaml": text})}
    assert remaining == {"spec.loadBalancerIP", "spec.loadBalancerSourceRanges"}


def test_fqdn_tls_host_is_a_warning_naming_the_label(tmp_path: Path) -> None:
    text = TAILNET_INGRESS.replace("- pgadmin\n", "- pgadmin.tazlab.net\n")
    (notice,) = check_files(tmp_path, {"ing.yaml": text})
    assert notice.level == "warning" and "write `pgadmin`" in notice.message


def test_missing_hostname_annotation_is_a_warning(tmp_path: Path) -> None:
    text = TAILNET_SERVICE.replace("    tailscale.com/hostname: tazlab-db\n", "")
    (notice,) = check_files(tmp_path, {"svc.yaml": text})
    assert notice.level == "warning" and "tailscale.com/hostname" in notice.message


def test_malformed_yaml_is_an_error_with_its_line(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   namespace: y\n"
    (notice,) = check_files(tmp_path, {"bad.yaml": text})
    assert notice.level == "error"
    assert notice.subject == "bad.yaml:5"
    assert "line 5, column" in notice.message and "mapping values" in notice.message


def test_kustomization_listing_a_deleted_file_is_an_error(tmp_path: Path) -> None:
    kust = "resources:\n  - namespace.yaml\n  - ingress.yaml\n"
    files = {"apps/kustomization.yaml": kust, "apps/namespace.yaml": namespace("pgadmin")}
    write_tree(tmp_path, {**files, "apps/ingress.yaml": TAILNET_INGRESS})
    notices = errors(check_files(tmp_path, {"apps/ingress.yaml": None}))
    listed = [n for n in notices if "`ingress.yaml`" in n.message]
    assert [n.subject for n in listed] == [f"apps/kustomization.yaml:{line_of(kust, 'ingress')}"]
    assert "deletes it" in listed[0].message


@pytest.mark.parametrize(
    ("entry", "extra", "ok"),
    [
        ("base", {"apps/base/kustomization.yaml": "resources: []\n"}, True),
        ("base", {"apps/base/namespace.yaml": namespace("a")}, False),
        ("missing.yaml", {}, False),
        ("github.com/org/repo//deploy?ref=v1", {}, True),
        ("https://example.com/crds.yaml", {}, True),
    ],
)
def test_kustomization_resources_must_exist(
    tmp_path: Path, entry: str, extra: dict[str, str], ok: bool
) -> None:
    kust = f"resources:\n  - namespace.yaml\n  - {entry}\n"
    write_tree(tmp_path, {"apps/namespace.yaml": namespace("a"), **extra})
    notices = check_files(tmp_path, {"apps/kustomization.yaml": kust})
    bad = [n for n in errors(notices) if f"`{entry}`" in n.message]
    assert (bad == []) is ok


@pytest.mark.parametrize("entry", ["github.com/org/repo//deploy?ref=v1", "../../elsewhere"])
def test_a_kustomization_the_build_cannot_follow_says_so(tmp_path: Path, entry: str) -> None:
    kust = f"resources:\n  - namespace.yaml\n  - {entry}\n"
    write_tree(tmp_path, {"apps/namespace.yaml": namespace("a")})
    notices = check_files(tmp_path, {"apps/kustomization.yaml": kust})
    (notice,) = [n for n in notices if "cannot follow" in n.message]
    assert notice.level == "warning" and notice.subject == "apps/kustomization.yaml:1"
    assert f"`{entry}`" in notice.message and "not run for this folder" in notice.message


def test_new_file_not_in_its_kustomization_is_a_warning(tmp_path: Path) -> None:
    write_tree(tmp_path, {"apps/kustomization.yaml": "resources:\n  - ingress.yaml\n"})
    write_tree(tmp_path, {"apps/ingress.yaml": TAILNET_INGRESS.replace("-tailnet", "")})
    notices = check_files(tmp_path, {"apps/tailnet-ingress.yaml": TAILNET_INGRESS})
    assert [(n.level, n.subject) for n in notices] == [("warning", "apps/tailnet-ingress.yaml:1")]
    assert "not listed in apps/kustomization.yaml" in notices[0].message


def test_new_file_listed_by_the_changed_kustomization_is_fine(tmp_path: Path) -> None:
    write_tree(tmp_path, {"apps/ingress.yaml": TAILNET_INGRESS.replace("-tailnet", "")})
    changed = {
        "apps/kustomization.yaml": "resources:\n  - ingress.yaml\n  - tailnet-ingress.yaml\n",
        "apps/tailnet-ingress.yaml": TAILNET_INGRESS,
    }
    assert check_files(tmp_path, changed) == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_kustomize_failure_is_reported(tmp_path: Path) -> None:
    # Both files are listed and exist, so only kustomize itself sees the duplicate object.
    kust = "resources:\n  - namespace.yaml\n  - again.yaml\n"
    write_tree(tmp_path, {"apps/kustomization.yaml": kust, "apps/namespace.yaml": namespace("a")})
    notices = check_files(tmp_path, {"apps/again.yaml": namespace("a")})
    assert [(n.level, n.subject) for n in notices] == [("error", "apps/kustomization.yaml:1")]
    assert "kubectl kustomize" in notices[0].message and "already registered" in notices[0].message
    assert str(tmp_path) not in notices[0].message


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_kustomize_sees_the_planned_tree_not_the_disk(tmp_path: Path) -> None:
    # On disk the folder is broken (a missing resource); the plan adds the file, which fixes it.
    kust = "resources:\n  - namespace.yaml\n"
    write_tree(tmp_path, {"apps/kustomization.yaml": kust})
    assert check_files(tmp_path, {"apps/namespace.yaml": namespace("a")}) == []


def test_many_documents_are_checked(tmp_path: Path) -> None:
    docs = [TAILNET_SERVICE.replace("tazlab-db-tailnet", f"svc-{i}") for i in range(1000)]
    docs += [TAILNET_INGRESS.replace("pgadmin-tailnet", f"ing-{i}") for i in range(999)]
    docs.append(OLD_LOAD_BALANCER)
    notices = check_files(tmp_path, {"many.yaml": "---\n".join(docs)})
    assert len(errors(notices)) == 4  # the one leftover Service, four leftover fields
    assert {n.subject.rpartition(":")[0] for n in notices} == {"many.yaml"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_does_not_repeat_an_error_already_found(tmp_path: Path) -> None:
    write_tree(tmp_path, {"apps/kustomization.yaml": "resources:\n  - namespace.yaml\n"})
    notices = check_files(tmp_path, {"apps/namespace.yaml": "kind: [\n"})
    assert [(n.level, n.subject) for n in notices] == [("error", "apps/namespace.yaml:2")]
