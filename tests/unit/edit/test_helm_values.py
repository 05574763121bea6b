"""Edits of HelmRelease values: the entry added, removed or changed, and every other byte of
the file as it was (comments, anchors and aliases, quoting, flow style, key order)."""

from __future__ import annotations

import difflib
import textwrap

from ingress2tailscale.edit import helm_values, manifests
from ingress2tailscale.model import Document
from ingress2tailscale.repo.inventory import split_documents

RELEASE = textwrap.dedent("""\
    # kept: the comment before the document
    ---
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata:
      name: &app db
    spec:
      values:
        controllers:
          db:
            containers:
              app:
                securityContext: { runAsUser: 568 }  # flow style, spaced
                env:
                  PORT: &port 5432
        service:
          app:
            controller: db
            # LAN clients use the address below
            type: LoadBalancer
            annotations:
              metallb.io/loadBalancerIPs: 192.168.1.30
              metallb.io/allow-shared-ip: 'shared'
            externalTrafficPolicy: Local
            ports:
              pg:
                port: *port
                nodePort: 30432
        ingress:
          app:
            hosts:
              - host: &host "db.${SECRET_DOMAIN}"
            tls:
              - hosts: [*host]
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: other}
    """)


def edit(text: str, *edits: manifests.Edit) -> str:
    [(start, end)] = [(s, e) for s, e, _ in split_documents(text) if "HelmRelease" in text[s:e]]
    doc = Document("r.yaml", 0, 2, start, end, "HelmRelease", "v2", "db", "ns", text[start:end])

    def apply(data: object) -> None:
        for one in edits:
            one(data)  # type: ignore[arg-type]

    return helm_values.keep_spacing(text, manifests.edit_document(text, doc, apply))


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [x[2:] for x in diff if x[:2] == "- "], [x[2:] for x in diff if x[:2] == "+ "]


def test_a_service_entry_becomes_clusterip_and_nothing_else_changes() -> None:
    after = edit(RELEASE, helm_values.strip_service_load_balancer(("service", "app")))
    removed, added = changed_lines(RELEASE, after)
    assert added == []
    assert removed == [
        "        type: LoadBalancer",
        "        annotations:",
        "          metallb.io/loadBalancerIPs: 192.168.1.30",
        "          metallb.io/allow-shared-ip: 'shared'",
        "        externalTrafficPolicy: Local",
        "            nodePort: 30432",
    ]
    assert "# LAN clients use the address below" in after  # the comment stays with its key


def test_an_entry_added_next_to_another_is_new_text_without_aliases_of_the_file() -> None:
    new = {"controller": "db", "ports": {"pg": {"port": 5432}}, "note": "x"}
    after = edit(RELEASE, helm_values.add_entry(("service",), "app", "tailnet", new))
    removed, added = changed_lines(RELEASE, after)
    assert removed == []
    assert added == [
        "      tailnet:",
        "        controller: db",
        "        ports:",
        "          pg:",
        "            port: 5432",
        "        note: x",
    ]
    assert after.index("      tailnet:") < after.index("    ingress:")  # right after `app`


def test_removing_an_entry_removes_its_anchor_and_keeps_the_rest() -> None:
    after = edit(RELEASE, helm_values.remove_entry(("ingress",), "app"))
    assert "&host" not in after and "ingress: {}" in after
    assert "securityContext: { runAsUser: 568 }  # flow style, spaced" in after
    assert "PORT: &port 5432" in after and "port: *port" in after
    assert after.endswith("metadata: {name: other}\n") and after.startswith("# kept")


def test_a_key_set_before_another_leaves_the_comments_between_keys_where_they_were() -> None:
    after = edit(RELEASE, helm_values.set_value(("service", "app"), "primary", True, "controller"))
    removed, added = changed_lines(RELEASE, after)
    assert (removed, added) == ([], ["        primary: true"])
    lines = after.splitlines()
    at = lines.index("        primary: true")
    assert lines[at - 1 : at + 3] == [
        "      app:",
        "        primary: true",
        "        controller: db",
        "        # LAN clients use the address below",
    ]
