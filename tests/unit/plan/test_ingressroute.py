"""Traefik IngressRoutes as a slice's source: hosts, paths and backends read from the routes;
what the tailnet Ingress cannot carry is a notice; phase 2 removes the route and its unused
certificate source."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.ingressroute import read_ingressroute
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.conftest import HOMELAB_REPO
from tests.unit.plan.test_access import write


def route(match: str, services: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: traefik.io/v1alpha1
        kind: IngressRoute
        metadata: {{name: web, namespace: apps}}
        spec:
          routes:
            - match: {match}
              kind: Rule
              services: {services}
        """) + textwrap.indent(textwrap.dedent(extra), "  ")


SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: apps}
spec: {selector: {app: api}, ports: [{port: 8080}]}
"""


def test_hosts_paths_and_backends_are_read_from_the_matches() -> None:
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "routes": [
                {
                    "match": "(Host(`a.x`) || Host(`b.x`)) && PathPrefix(`/app`)",
                    "services": [{"name": "web", "port": "http"}],
                },
                {"match": 'Host("a.x", "c.x") && Path(`/api`)', "services": [{"name": "api"}]},
                {
                    "match": "Host(`a.x`)",
                    "services": [{"name": "api@internal", "kind": "TraefikService"}],
                },
            ],
            "tls": {"secretName": "wildcard-tls"},
        },
    }
    view = read_ingressroute(body)
    assert view.hosts == ("a.x", "b.x", "c.x")
    assert view.paths == (("/app", "web", "http"), ("/api", "api", 80))
    assert view.others == ("api@internal (TraefikService)",)
    assert view.tls_secret == "wildcard-tls"


def config_for(tmp_path: Path, repo: Path, extra: str = "") -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  web:\n    expose: https\n"
        "    from: {kind: IngressRoute, namespace: apps, name: web}\n" + extra,
        encoding="utf-8",
    )
    return path


def test_several_backends_copy_their_paths_and_several_hosts_are_a_notice(tmp_path: Path) -> None:
    match = "'Host(`web.x`) || Host(`www.x`)'"
    two = route(match, "[{name: web, port: http}]").replace(
        "      services: [{name: web, port: http}]\n",
        "      services: [{name: web, port: http}]\n"
        "    - match: Host(`web.x`) && PathPrefix(`/api`)\n"
        "      services: [{name: api, port: 8080}]\n",
    )
    assert "/api" in two
    repo = write(tmp_path / "repo", {"route.yaml": two, "svc.yaml": SERVICES})
    plan = plan_slice(load_config(config_for(tmp_path, repo)), RepoTree(repo), "web", "1").plan
    assert not plan.has_errors
    [created] = [c for c in plan.file_changes if c.op == "create"]
    assert "path: /api" in (created.after or "") and "name: api" in (created.after or "")
    assert "defaultBackend" not in (created.after or "")
    [several] = [n for n in plan.notices if "routes 2 hosts" in n.message]
    assert several.level == "warning" and "www.x is not carried over" in several.message


def test_a_route_to_traefik_itself_is_an_error_saying_what_to_do(tmp_path: Path) -> None:
    own = route("Host(`t.x`)", "[{name: api@internal, kind: TraefikService}]")
    repo = write(tmp_path / "repo", {"route.yaml": own})
    plan = plan_slice(load_config(config_for(tmp_path, repo)), RepoTree(repo), "web").plan
    [error] = [n for n in plan.notices if n.level == "error"]
    assert "routes to no Kubernetes Service" in error.message
    assert "api@internal (TraefikService)" in error.message and "backend" in error.message


def test_phase_2_removes_the_route_and_its_unused_external_secret(tmp_path: Path) -> None:
    tls = "tls: {secretName: web-tls}\n"
    secret = textwrap.dedent("""\
        apiVersion: external-secrets.io/v1beta1
        kind: ExternalSecret
        metadata: {name: web-tls, namespace: apps}
        spec: {target: {name: web-tls}}
        """)
    files = {
        "route.yaml": route("Host(`web.x`)", "[{name: web, port: http}]", tls),
        "svc.yaml": SERVICES,
        "cert.yaml": secret,
    }
    repo = write(tmp_path / "repo", files)
    config = load_config(config_for(tmp_path, repo))
    first = plan_slice(config, RepoTree(repo), "web", "1")
    plan = plan_slice(config, RepoTree(repo, first.overrides), "web", "2").plan
    assert not plan.has_errors
    assert sorted((c.path, c.op) for c in plan.file_changes) == [
        ("cert.yaml", "delete"),
        ("route.yaml", "delete"),
    ]


def test_discover_on_the_homelab_proposes_the_internal_routes_only() -> None:
    proposal = propose_config(read_inventory(HOMELAB_REPO))
    proposed = {
        s.name: s.candidate.source.ref
        for s in proposal.slices
        if s.candidate.source.kind == "IngressRoute"
    }
    assert proposed == {
        "miniflux": ResourceRef("IngressRoute", "default", "miniflux"),
        "paperless": ResourceRef("IngressRoute", "default", "paperless"),
        "z2m": ResourceRef("IngressRoute", "home", "zigbee2mqtt"),
    }
    reasons = {x.document.ref: x.reason for x in proposal.left_out}
    assert reasons[ResourceRef("IngressRoute", "default", "whoami")].startswith("public")
    assert "api@internal" in reasons[ResourceRef("IngressRoute", "network", "traefik-dashboard")]
    assert "DNS" in reasons[ResourceRef("Service", "network", "blocky-dns")]
    [miniflux] = [s for s in proposal.slices if s.name == "miniflux"]
    assert "rss.${SECRET_DOMAIN}" in miniflux.candidate.remarks[0]
