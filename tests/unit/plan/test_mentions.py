"""What else still points at a slice's old host: listed as info notices, never edited."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.plan.mentions import MentionIndex
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree, build_inventory
from tests.unit.plan.test_access import BACKEND, write
from tests.unit.plan.test_discovery import FORWARD_AUTH, ingress

SETTINGS = textwrap.dedent("""\
    # grafana.x.net is only named in this comment
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata: {name: grafana, namespace: apps}
    spec:
      values:
        grafana.ini:
          server:
            root_url: https://grafana.x.net
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: dex, namespace: auth}
    data:
      config.yaml: |
        staticClients:
          - id: grafana
            redirectURIs: ["https://grafana.x.net/login/generic_oauth"]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: apps}
    spec:
      template:
        spec:
          containers:
            - name: web
              env:
                - name: GF_SERVER_DOMAIN
                  value: grafana.x.net
              livenessProbe:
                httpGet:
                  path: /api/health
                  httpHeaders: [{name: Host, value: grafana.x.net}]
    """)


def test_other_places_naming_the_old_host_are_listed_not_edited(tmp_path: Path) -> None:
    files = {
        "mw.yaml": FORWARD_AUTH,
        "svc.yaml": BACKEND,
        "ingress.yaml": ingress("grafana", "apps", "grafana.x.net"),
        "settings.yaml": SETTINGS,
        "kustomization.yaml": "# grafana.x.net\nresources: [mw.yaml, svc.yaml, ingress.yaml, "
        "settings.yaml]\n",
    }
    repo = write(tmp_path / "repo", files)
    config_path = tmp_path / "migration.yaml"
    config_path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  grafana:\n    expose: https\n"
        "    from: {kind: Ingress, namespace: apps, name: grafana}\n",
        encoding="utf-8",
    )
    plan = plan_slice(load_config(config_path), RepoTree(repo), "grafana", "1").plan
    mentions = {n.subject: n for n in plan.notices if "names grafana.x.net" in n.message}
    assert set(mentions) == {
        "HelmRelease apps/grafana",
        "ConfigMap auth/dex",
        "Deployment apps/web",
    }
    assert all(n.level == "info" for n in mentions.values())
    assert "line 9 (`root_url`)" in mentions["HelmRelease apps/grafana"].message
    assert "https://grafana.t.ts.net" in mentions["HelmRelease apps/grafana"].message
    assert "(`GF_SERVER_DOMAIN`)" in mentions["Deployment apps/web"].message
    assert {c.path for c in plan.file_changes} == {"kustomization.yaml", "tailnet-ingress.yaml"}


def test_the_mention_index_finds_what_a_scan_of_every_text_finds(tmp_path: Path) -> None:
    """Host -> files from each dot of a text, kept current as files change."""
    hosts = ["grafana.x.net", "a.b", "x.net", "nodot"]
    texts = {
        "one.yaml": "kind: ConfigMap\nmetadata: {name: one}\ndata: {u: grafana.x.net}\n",
        "two.yaml": "kind: ConfigMap\nmetadata: {name: two}\ndata: {u: 'http://xa.b.c'}\n",
        "three.yaml": "kind: ConfigMap\nmetadata: {name: three}\ndata: {u: grafana.x.ne}\n",
    }
    write(tmp_path, texts)
    inventory = build_inventory(RepoTree(tmp_path))
    index = MentionIndex(inventory, hosts)

    def scanned(host: str) -> set[str]:
        return {p for p in inventory.files() if host in inventory.text_of(p)}

    for host in hosts[:3]:
        assert index.files(host) == scanned(host)
    assert index.files("x.net") == {"one.yaml"} and index.files("nodot") is None
    inventory = inventory.with_changes({"one.yaml": None, "three.yaml": texts["one.yaml"]})
    index.update(inventory, ["one.yaml", "three.yaml"])
    assert index.files("grafana.x.net") == {"three.yaml"} == scanned("grafana.x.net")


def test_a_name_is_indexed_where_it_stands_whole(tmp_path: Path) -> None:
    """Name -> files where no `-`, `.` or word character touches it (as a TLS Secret is looked
    for), kept current as files change; a name that cannot stand whole is not indexed."""
    texts = {
        "one.yaml": "kind: ConfigMap\nmetadata: {name: one}\ndata: {s: web-tls}\n",
        "two.yaml": "kind: ConfigMap\nmetadata: {name: two}\ndata: {s: 'web-tls-old'}\n",
        "three.yaml": 'kind: ConfigMap\nmetadata: {name: three}\ndata: {s: "web-tls"}\n',
    }
    write(tmp_path, texts)
    inventory = build_inventory(RepoTree(tmp_path))
    index = MentionIndex(inventory, [], ["web-tls", "${APP}-tls"])
    assert index.files("web-tls") == {"one.yaml", "three.yaml"}
    assert index.files("${APP}-tls") is None and index.files("other-tls") is None
    inventory = inventory.with_changes({"one.yaml": texts["two.yaml"], "two.yaml": None})
    index.update(inventory, ["one.yaml", "two.yaml"])
    assert index.files("web-tls") == {"three.yaml"}
