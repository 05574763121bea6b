"""LAN load balancers: a MetalLB address shared between Services (`allow-shared-ip`) is said to
stay allocated; a Cilium LB-IPAM LoadBalancer is a LAN load balancer like a MetalLB one."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ingress2tailscale.config import load_config
from ingress2tailscale.model import ResourceRef
from ingress2tailscale.plan.discovery import propose_config
from ingress2tailscale.plan.planner import plan_slice
from ingress2tailscale.repo.inventory import RepoTree, read_inventory
from tests.unit.plan.test_access import write


def lb(name: str, annotations: str, port: int = 1883) -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
          namespace: home
          annotations: {{{annotations}}}
        spec:
          type: LoadBalancer
          selector: {{app: {name}}}
          ports: [{{port: {port}}}]
        """)


SHARED = "metallb.io/loadBalancerIPs: 192.168.1.25, metallb.io/allow-shared-ip: dns-shared"


def tcp_config(tmp_path: Path, repo: Path, name: str) -> Path:
    path = tmp_path / "migration.yaml"
    path.write_text(
        f"tailnet: t.ts.net\ngitops: {{path: {repo}}}\nslices:\n  {name}:\n    expose: tcp\n"
        f"    from: {{kind: Service, namespace: home, name: {name}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_shared_address_stays_allocated_until_its_last_service_moves(tmp_path: Path) -> None:
    files = {"mqtt.yaml": lb("mosquitto", SHARED), "dns.yaml": lb("blocky-dns", SHARED, 53)}
    repo = write(tmp_path / "repo", files)
    config = load_config(tcp_config(tmp_path, repo, "mosquitto"))
    first = plan_slice(config, RepoTree(repo), "mosquitto", "1")
    plan = plan_slice(config, RepoTree(repo, first.overrides), "mosquitto", "2").plan
    [shared] = [n for n in plan.notices if "shares its LAN address" in n.message]
    assert shared.level == "info" and "Service home/blocky-dns" in shared.message
    assert "'dns-shared'" in shared.message and "until the last Service" in shared.message
    [change] = plan.file_changes
    assert change.path == "mqtt.yaml" and "allow-shared-ip" not in (change.after or "")


def test_cilium_lb_ipam_load_balancers_are_lan_load_balancers(tmp_path: Path) -> None:
    pool = textwrap.dedent("""\
        apiVersion: cilium.io/v2alpha1
        kind: CiliumLoadBalancerIPPool
        metadata: {name: lan}
        spec: {blocks: [{cidr: 192.168.1.0/24}]}
        """)
    annotated = lb("mqtt", "lbipam.cilium.io/ips: 192.168.1.40")
    plain = lb("db", "x: y", 5432)
    assert "db" not in {
        s.name
        for s in propose_config(read_inventory(write(tmp_path / "a", {"s.yaml": plain}))).slices
    }
    proposal = propose_config(read_inventory(write(tmp_path / "b", {"a.yaml": annotated})))
    assert [s.candidate.source.ref for s in proposal.slices] == [
        ResourceRef("Service", "home", "mqtt")
    ]
    with_pool = write(tmp_path / "c", {"pool.yaml": pool, "s.yaml": plain})
    assert [s.name for s in propose_config(read_inventory(with_pool)).slices] == ["db"]

    repo = tmp_path / "b"
    config = load_config(tcp_config(tmp_path, repo, "mqtt"))
    first = plan_slice(config, RepoTree(repo), "mqtt", "1")
    plan = plan_slice(config, RepoTree(repo, first.overrides), "mqtt", "2").plan
    [change] = plan.file_changes
    assert "lbipam.cilium.io" not in (change.after or "") and "ClusterIP" in (change.after or "")
