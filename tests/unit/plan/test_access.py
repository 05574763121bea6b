"""Who could reach an exposure before: forward-auth and IP allow-lists (also through chains and
across namespaces) make it internal; what phase 2 replaces is named; what is already on the
tailnet is never proposed."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.plan.proposal import render_proposal
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.unit.plan.test_discovery import FORWARD_AUTH, ingress, left_out, proposed_refs, service

MIDDLEWARES = """\
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: lan-only, namespace: network}
spec:
  ipAllowList: {sourceRange: [192.168.0.0/16]}
---
apiVersion: traefik.containo.us/v1alpha1
kind: Middleware
metadata: {name: lan-only-legacy, namespace: network}
spec:
  ipWhiteList: {sourceRange: [192.168.0.0/16]}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: secure-headers, namespace: network}
spec:
  headers: {frameDeny: true}
---
apiVersion: traefik.containo.us/v1alpha1
kind: Middleware
metadata: {name: internal-chain, namespace: network}
spec:
  chain:
    middlewares:
      - name: lan-only-legacy
      - name: secure-headers
"""
BACKEND = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def test_ip_allow_lists_and_chains_across_namespaces_are_internal(tmp_path: Path) -> None:
    files = {
        "mw.yaml": MIDDLEWARES,
        "hass.yaml": ingress("hass", "apps", "hass.x.net", "network-lan-only@kubernetescrd"),
        "z2m.yaml": ingress("z2m", "apps", "z2m.x.net", "network-internal-chain@kubernetescrd"),
        "pub.yaml": ingress("pub", "apps", "pub.x.net", "network-secure-headers@kubernetescrd"),
    }
    proposal = propose_config(read_inventory(write(tmp_path, files)))
    assert list(proposed_refs(proposal)) == ["hass", "z2m"]
    assert (
        "not forward-auth nor an IP allow-list"
        in left_out(proposal)[ResourceRef("Ingress", "apps", "pub")]
    )
    text = render_proposal(proposal, str(tmp_path), "t.ts.net")
    assert "https://hass.x.net behind the lan-only IP allow-list" in text
    assert (
        "# TODO decide: phase 2 drops the lan-only-legacy IP allow-list "
        "(network-internal-chain@kubernetescrd)"
    ) in text


def test_the_plan_names_what_phase_2_replaces_and_what_it_does_not_carry(tmp_path: Path) -> None:
    files = {
        "mw.yaml": MIDDLEWARES,
        "svc.yaml": BACKEND,
        "z2m.yaml": ingress("z2m", "apps", "z2m.x.net", "network-internal-chain@kubernetescrd"),
    }
    repo = write(tmp_path / "repo", files)
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n"
        "  z2m: {expose: https, from: {kind: Ingress, namespace: apps, name: z2m}}\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(config_path), RepoTree(repo), "z2m").plan
    [error] = [n for n in plan.notices if n.level == "error"]
    assert error.message.startswith("phase 2 removes the lan-only-legacy IP allow-list")
    assert "Tailscale-User-Login" not in error.message  # an allow-list had no login to replace
    assert "accept_auth_change: true" in error.message
    [carried] = [n for n in plan.notices if "does not carry" in n.message]
    assert "secure-headers (headers)" in carried.message
    assert [n.message for n in plan.notices].count(error.message) == 1  # said once


def test_the_forward_auth_is_named_and_its_headers_replaced(tmp_path: Path) -> None:
    files = {"mw.yaml": FORWARD_AUTH, "svc.yaml": BACKEND, "a.yaml": ingress("a", "apps", "a.x")}
    repo = write(tmp_path / "repo", files)
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  a:\n    expose: https\n"
        "    from: {kind: Ingress, namespace: apps, name: a}\n    accept_auth_change: true\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(config_path), RepoTree(repo), "a").plan
    assert not plan.has_errors
    [warning] = [n for n in plan.notices if "phase 2 removes" in n.message]
    assert warning.message.startswith("phase 2 removes the sso forward-auth")
    assert "Tailscale-User-Login" in warning.message and "Accepted" in warning.message


def test_what_is_already_on_the_tailnet_is_never_proposed(tmp_path: Path) -> None:
    controller = textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: traefik-tailnet, namespace: network}
        spec:
          type: LoadBalancer
          loadBalancerClass: tailscale
          selector: {app.kubernetes.io/instance: traefik-tailnet}
          ports: [{port: 443}]
        """)
    exposed = (
        service("esphome", "home")
        .replace(
            "annotations: {metallb.io/loadBalancerIPs: 192.168.1.50}",
            'annotations: {tailscale.com/expose: "true"}',
        )
        .replace("type: LoadBalancer", "type: ClusterIP")
    )
    files = {
        "mw.yaml": FORWARD_AUTH,
        "ctl.yaml": controller,
        "esphome.yaml": exposed,
        "a.yaml": ingress("a", "apps", "a.x.net", ingress_class="ingressClassName: tailscale"),
        "b.yaml": ingress(
            "b", "apps", "b.x.net", ingress_class="ingressClassName: traefik-tailnet"
        ),
    }
    proposal = propose_config(read_inventory(write(tmp_path, files)))
    assert proposal.slices == ()
    reasons = left_out(proposal)
    assert reasons[ResourceRef("Ingress", "apps", "a")] == (
        "already on the tailnet (ingress class tailscale)"
    )
    assert reasons[ResourceRef("Ingress", "apps", "b")] == (
        "already on the tailnet (ingress class traefik-tailnet)"
    )
    assert reasons[ResourceRef("Service", "home", "esphome")] == (
        "already on the tailnet (tailscale.com/expose)"
    )
    assert "already on the tailnet" in reasons[ResourceRef("Service", "network", "traefik-tailnet")]


def test_a_repo_without_any_middleware_proposes_its_traefik_ingresses_to_check(
    tmp_path: Path,
) -> None:
    files = {"a.yaml": ingress("a", "apps", "a.x.net", middlewares=None)}
    proposal = propose_config(read_inventory(write(tmp_path, files)))
    assert list(proposed_refs(proposal)) == ["a"]
    text = render_proposal(proposal, str(tmp_path), "t.ts.net")
    assert "TODO check: the repo has no forward-auth or IP allow-list middleware" in text
    assert "accept_auth_change" not in text
    assert load_config(write(tmp_path, {"m.yaml": text}) / "m.yaml").slices
