"""discover: which exposures of a repo become slices, and the YAML that proposes them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ingress2tailscale.config import ServiceSlice, load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import Proposal, propose_config
from ingress2tailscale.plan.exposure import derive_exposure
from ingress2tailscale.plan.proposal import comment_text, render_proposal
from ingress2tailscale.repo.inventory import read_inventory
from tests.conftest import EXAMPLE_CONFIG, FIXTURE_REPO

FORWARD_AUTH = """\
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: sso, namespace: auth}
spec:
  forwardAuth: {address: "http://sso.auth:4180/auth"}
"""


def ingress(
    name: str,
    namespace: str,
    host: str,
    middlewares: str | None = "auth-sso@kubernetescrd",
    ingress_class: str = "ingressClassName: traefik",
    backend: str = "web",
) -> str:
    annotation = (
        f"\n  annotations:\n    traefik.ingress.kubernetes.io/router.middlewares: {middlewares}"
        if middlewares
        else ""
    )
    legacy = ingress_class.startswith("kubernetes.io/")
    if legacy:
        annotation = (annotation or "\n  annotations:") + f"\n    {ingress_class}"
    return (
        textwrap.dedent(f"""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: {name}
          namespace: {namespace}""")
        + annotation
        + textwrap.dedent(f"""
        spec:
          {"" if legacy else ingress_class}
          rules:
            - host: "{host}"
              http:
                paths:
                  - path: /
                    pathType: Prefix
                    backend: {{service: {{name: {backend}, port: {{number: 80}}}}}}
        """)
    )


def service(name: str, namespace: str, extra: str = "", ports: str = "[{port: 5432}]") -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
          namespace: {namespace}
          annotations: {{metallb.io/loadBalancerIPs: 192.168.1.50}}
        spec:
          type: LoadBalancer
          selector: {{app: {name}}}
          ports: {ports}
        """) + textwrap.indent(textwrap.dedent(extra), "  ")


def propose(tmp_path: Path, files: dict[str, str], tag: str = "tag:k8s") -> Proposal:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    return propose_config(read_inventory(tmp_path), tag=tag)


def proposed_refs(proposal: Proposal) -> dict[str, ResourceRef]:
    return {s.name: s.candidate.source.ref for s in proposal.slices}


def left_out(proposal: Proposal) -> dict[ResourceRef, str]:
    return {x.document.ref: x.reason for x in proposal.left_out}


def write_config(tmp_path: Path, proposal: Proposal, tailnet: str | None = "t.ts.net") -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(render_proposal(proposal, str(tmp_path), tailnet), encoding="utf-8")
    return path


# --- the seed's repo ---------------------------------------------------------------------------


def test_seed_repo_proposes_exactly_what_the_seed_migrated() -> None:
    proposal = propose_config(read_inventory(FIXTURE_REPO), tag="tag:internal-apps")
    seed = load_config(EXAMPLE_CONFIG)
    wanted = {
        (s.expose, ResourceRef(s.source.kind, s.source.namespace, s.source.name))
        for s in seed.service_slices().values()
    }
    found = {(s.candidate.expose, s.candidate.source.ref) for s in proposal.slices}
    assert found == wanted
    consumer = seed.slices["links"].consumers.homepage  # type: ignore[union-attr]
    assert proposal.homepage is not None and consumer is not None
    assert (proposal.homepage.configmap, proposal.homepage.deployment) == (
        consumer.configmap,
        consumer.deployment,
    )


def test_seed_repo_lists_every_other_exposure_with_its_reason() -> None:
    inventory = read_inventory(FIXTURE_REPO)
    proposal = propose_config(inventory)
    exposures = {d.ref for d in inventory.of_kind("Ingress")} | {
        d.ref for d in inventory.of_kind("Service") if d.body["spec"].get("type") == "LoadBalancer"
    }
    taken = set(proposed_refs(proposal).values())
    reasons = left_out(proposal)
    assert set(reasons) == exposures - taken
    assert "no forward-auth" in reasons[ResourceRef("Ingress", "auth", "dex")]
    assert "entrypoint" in reasons[ResourceRef("Service", "traefik", "traefik")]
    assert "Ingress pgadmin/pgadmin" in reasons[ResourceRef("Service", "pgadmin", "pgadmin")]


def test_seed_slices_come_tcp_first_then_https_in_file_order() -> None:
    proposal = propose_config(read_inventory(FIXTURE_REPO))
    kinds = [s.candidate.expose for s in proposal.slices]
    assert kinds == sorted(kinds, key=lambda e: e != "tcp")
    https_paths = [
        s.candidate.source.path for s in proposal.slices if s.candidate.expose == "https"
    ]
    assert https_paths == sorted(https_paths)


def test_seed_flux_target_is_the_kustomizations_holding_the_slices() -> None:
    proposal = propose_config(read_inventory(FIXTURE_REPO))
    seed = load_config(EXAMPLE_CONFIG)
    assert proposal.flux is not None
    assert set(proposal.flux.kustomizations) == set(seed.gitops.flux.kustomizations)
    assert (proposal.flux.source, proposal.flux.branch) == (seed.gitops.flux.source, "main")


def test_rendered_seed_config_loads_and_names_the_hosts_exposure_derives(tmp_path: Path) -> None:
    proposal = propose_config(read_inventory(FIXTURE_REPO))
    text = render_proposal(proposal, str(FIXTURE_REPO), "magellanic-gondola.ts.net")
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "m.yaml")
    inventory = read_inventory(config.gitops.path)
    for name in config.service_slices():
        assert derive_exposure(config, inventory, name).hostname == name
    assert config.tailscale.policy is not None
    assert set(config.tailscale.policy.tag_owners) == {"tag:k8s"}
    assert config.tailscale.policy.acls[0].dst == ["tag:k8s:5432", "tag:k8s:443"]
    assert "# TODO decide: phase 2 drops forward-auth auth-oauth2-proxy@kubernetescrd" in text
    assert "# Not proposed: Ingress auth/dex (public: no forward-auth middleware)" in text


# --- Ingress rules -----------------------------------------------------------------------------


def test_legacy_class_annotation_counts_as_traefik(tmp_path: Path) -> None:
    legacy = ingress(
        "wiki", "docs", "wiki.x.net", ingress_class="kubernetes.io/ingress.class: traefik"
    )
    proposal = propose(tmp_path, {"mw.yaml": FORWARD_AUTH, "wiki.yaml": legacy})
    assert proposed_refs(proposal) == {"wiki": ResourceRef("Ingress", "docs", "wiki")}


def test_other_classes_and_non_auth_middlewares_are_left_out(tmp_path: Path) -> None:
    redirect = FORWARD_AUTH.replace(
        'forwardAuth: {address: "http://sso.auth:4180/auth"}', "redirectScheme: {scheme: https}"
    ).replace("name: sso", "name: https-only")
    assert "forwardAuth" not in redirect
    files = {
        "mw.yaml": redirect,
        "a.yaml": ingress("a", "apps", "a.x.net", middlewares="auth-https-only@kubernetescrd"),
        "b.yaml": ingress("b", "apps", "b.x.net", ingress_class="ingressClassName: nginx"),
    }
    reasons = left_out(propose(tmp_path, files))
    assert "not forward-auth" in reasons[ResourceRef("Ingress", "apps", "a")]
    assert "nginx" in reasons[ResourceRef("Ingress", "apps", "b")]


def test_a_chain_holding_forward_auth_protects(tmp_path: Path) -> None:
    chain = textwrap.dedent("""\
        apiVersion: traefik.io/v1alpha1
        kind: Middleware
        metadata: {name: secure, namespace: apps}
        spec:
          chain:
            middlewares: [{name: secure}, {name: auth-sso@kubernetescrd}]
        """)
    files = {"mw.yaml": FORWARD_AUTH, "chain.yaml": chain}
    files["app.yaml"] = ingress("app", "apps", "app.x.net", middlewares="apps-secure@kubernetescrd")
    assert list(proposed_refs(propose(tmp_path, files))) == ["app"]


def test_a_middleware_missing_from_the_repo_is_assumed_auth_and_flagged(tmp_path: Path) -> None:
    files = {"app.yaml": ingress("app", "apps", "app.x.net", middlewares="sso-chart@file")}
    proposal = propose(tmp_path, files)
    assert proposal.slices[0].candidate.unverified == ("sso-chart@file",)
    text = render_proposal(proposal, str(tmp_path), None)
    assert "# TODO check: middleware sso-chart@file is not in the repo" in text


def test_clashing_host_labels_get_the_namespace_and_a_hostname(tmp_path: Path) -> None:
    files = {
        "mw.yaml": FORWARD_AUTH,
        "a.yaml": ingress("grafana", "team-a", "grafana.a.net"),
        "b.yaml": ingress("grafana", "team-b", "grafana.b.net"),
    }
    config = load_config(write_config(tmp_path, propose(tmp_path, files)))
    slices = config.service_slices()
    assert set(slices) == {"grafana-team-a", "grafana-team-b"}
    assert {s.hostname for s in slices.values()} == set(slices)


def test_wildcard_host_falls_back_to_the_ingress_name(tmp_path: Path) -> None:
    files = {"mw.yaml": FORWARD_AUTH, "a.yaml": ingress("Docs_Site", "apps", "*.x.net")}
    proposal = propose(tmp_path, files)
    text = render_proposal(proposal, str(tmp_path), "t.ts.net")
    assert "hostname: docs-site  # TODO check: no DNS label in the old host *.x.net" in text


# --- LoadBalancer rules ------------------------------------------------------------------------


def test_metallb_services_become_tcp_slices_named_without_suffix(tmp_path: Path) -> None:
    ip_only = service("cache-lb", "data").replace(
        "  annotations: {metallb.io/loadBalancerIPs: 192.168.1.50}\n", ""
    )
    ip_only += "  loadBalancerIP: 192.168.1.51\n"
    files = {"db.yaml": service("db-external", "data"), "cache.yaml": ip_only}
    config = load_config(write_config(tmp_path, propose(tmp_path, files)))
    slices = config.service_slices()
    assert {n: (s.expose, s.hostname, s.cleanup) for n, s in slices.items()} == {
        "cache": ("tcp", "cache", "comment-out"),
        "db": ("tcp", "db", "comment-out"),
    }


def test_other_load_balancers_are_left_out(tmp_path: Path) -> None:
    cloud = service("cloud", "x").replace(
        "annotations: {metallb.io/loadBalancerIPs: 192.168.1.50}", "labels: {}"
    )
    files = {
        "ts.yaml": service("ts", "x", "loadBalancerClass: tailscale\n"),
        "cloud.yaml": cloud,
        "nginx.yaml": service("ingress-nginx", "x", ports="[{port: 80}, {port: 443}]").replace(
            "{app: ingress-nginx}", "{app.kubernetes.io/name: ingress-nginx}"
        ),
    }
    proposal = propose(tmp_path, files)
    assert proposal.slices == ()
    reasons = left_out(proposal)
    assert "tailscale" in reasons[ResourceRef("Service", "x", "ts")]
    assert "MetalLB" in reasons[ResourceRef("Service", "x", "cloud")]
    assert "entrypoint" in reasons[ResourceRef("Service", "x", "ingress-nginx")]


def test_a_controller_on_other_ports_is_still_proposed(tmp_path: Path) -> None:
    files = {"t.yaml": service("traefik-admin", "x", ports="[{port: 9000}]")}
    assert list(proposed_refs(propose(tmp_path, files))) == ["traefik-admin"]


def test_the_backend_of_a_proposed_ingress_is_left_to_its_phase_2(tmp_path: Path) -> None:
    files = {
        "mw.yaml": FORWARD_AUTH,
        "app.yaml": ingress("app", "apps", "app.x.net", backend="app"),
        "svc.yaml": service("app", "apps", ports="[{port: 80}]"),
    }
    proposal = propose(tmp_path, files)
    assert list(proposed_refs(proposal)) == ["app"]
    assert "Ingress apps/app" in left_out(proposal)[ResourceRef("Service", "apps", "app")]


# --- the YAML ----------------------------------------------------------------------------------


def test_names_that_yaml_1_1_reads_as_booleans_stay_strings(tmp_path: Path) -> None:
    files = {
        "mw.yaml": FORWARD_AUTH,
        "a.yaml": ingress("'no'", "'on'", "yes.x.net"),
        "b.yaml": service("'off'", "'null'"),
    }
    config = load_config(write_config(tmp_path, propose(tmp_path, files)))
    slices = config.service_slices()
    assert set(slices) == {"yes", "off"}
    assert (slices["yes"].source.namespace, slices["yes"].source.name) == ("on", "no")
    assert (slices["off"].source.namespace, slices["off"].source.name) == ("null", "off")


def test_a_name_with_a_newline_cannot_escape_its_comment(tmp_path: Path) -> None:
    hostile = '"auth-sso@kubernetescrd,evil\\ntailnet: attacker.ts.net"'
    files = {"a.yaml": ingress("app", "apps", "app.x.net", middlewares=hostile)}
    files["mw.yaml"] = FORWARD_AUTH
    proposal = propose(tmp_path, files)
    assert any("\n" in m for m in proposal.slices[0].candidate.middlewares)
    config = load_config(write_config(tmp_path, proposal, tailnet="mine.ts.net"))
    assert config.tailnet == "mine.ts.net"
    assert isinstance(config.slices["app"], ServiceSlice)


def test_without_tailnet_the_placeholder_carries_a_todo(tmp_path: Path) -> None:
    proposal = propose(tmp_path, {"db.yaml": service("db", "data")})
    text = render_proposal(proposal, str(tmp_path), None)
    assert "tailnet: example.ts.net  # TODO your tailnet's MagicDNS suffix" in text
    assert "TODO" not in render_proposal(proposal, str(tmp_path), "t.ts.net").split("\n")[3]


def test_comment_text_is_one_printable_line() -> None:
    assert comment_text("a\nb:\tc\x00d\u2028e") == "a b: c d e"


def test_an_empty_repo_proposes_nothing_and_still_loads(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    proposal = propose_config(read_inventory(tmp_path / "repo"))
    assert (proposal.slices, proposal.homepage, proposal.left_out) == ((), None, ())
    config = load_config(write_config(tmp_path, proposal))
    assert config.slices == {}


@pytest.mark.parametrize("tag", ["tag:internal-apps", "tag:k8s"])
def test_the_tag_option_reaches_slices_and_tag_owners(tmp_path: Path, tag: str) -> None:
    config = load_config(
        write_config(tmp_path, propose(tmp_path, {"d.yaml": service("d", "x")}, tag))
    )
    assert config.service_slices()["d"].tags == [tag]
    assert config.tailscale.policy is not None
    assert config.tailscale.policy.tag_owners == {tag: ["tag:k8s-operator"]}
