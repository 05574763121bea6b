"""What users see follows the slice: homepage and hajimari annotations move to the tailnet
Ingress with the link set to the tailnet URL, and homepage links written with a Flux variable
(`https://grafana.${SECRET_DOMAIN}`) are matched (other text keeps the variable as written)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from ingress2tailscale.config import load_config
from ingress2tailscale.edit.manifests import replace_hosts
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree
from tests.unit.plan.test_access import write

INGRESS = textwrap.dedent("""\
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: grafana
      namespace: apps
      annotations:
        gethomepage.dev/enabled: "true"
        gethomepage.dev/name: Grafana
        gethomepage.dev/href: https://grafana.${SECRET_DOMAIN}/d/home
        hajimari.io/icon: chart-line
    spec:
      ingressClassName: traefik
      rules:
        - host: grafana.${SECRET_DOMAIN}
          http:
            paths:
              - path: /
                pathType: Prefix
                backend: {service: {name: grafana, port: {number: 80}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: grafana, namespace: apps}
    spec: {selector: {app: grafana}, ports: [{port: 80}]}
    """)


def test_dashboard_annotations_move_to_the_tailnet_ingress_with_the_tailnet_link(
    tmp_path: Path,
) -> None:
    repo = write(tmp_path / "repo", {"grafana.yaml": INGRESS})
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  grafana:\n"
        "    expose: https\n    from: {kind: Ingress, namespace: apps, name: grafana}\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(path), RepoTree(repo), "grafana", "1").plan
    assert not plan.has_errors, plan.notices
    [new] = [c for c in plan.file_changes if c.op == "create"]
    annotations = yaml.safe_load(new.after or "")["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if not k.startswith("tailscale.com/")} == {
        "gethomepage.dev/enabled": "true",
        "gethomepage.dev/name": "Grafana",
        "gethomepage.dev/href": "https://grafana.t.ts.net",
        "hajimari.io/icon": "chart-line",
        "hajimari.io/url": "https://grafana.t.ts.net",
    }
    assert {c.path for c in plan.file_changes} == {"tailnet-ingress.yaml"}  # the old one stays


def test_links_written_with_a_flux_variable_are_matched_and_others_keep_it() -> None:
    services = textwrap.dedent("""\
        - Apps:
            - Grafana:
                href: https://grafana.${SECRET_DOMAIN}
                widget: {url: "https://grafana.${SECRET_DOMAIN}/api"}
            - Wiki:
                href: "https://wiki.${SECRET_DOMAIN}/start"
            - Blog:
                href: https://blog.${SECRET_DOMAIN}
        """)
    hosts = {
        "grafana.${secret_domain}": "grafana.t.ts.net",
        "wiki.${secret_domain}": "wiki.t.ts.net",
    }
    after = replace_hosts(services, hosts)
    assert "href: https://grafana.t.ts.net\n" in after
    assert 'href: "https://wiki.t.ts.net/start"' in after
    assert "href: https://blog.${SECRET_DOMAIN}" in after  # not a slice's host
    assert 'url: "https://grafana.${SECRET_DOMAIN}/api"' in after  # not a link the plan changes
