"""Drift: is every migrated slice still what its migration left? Reads the repo, the tailnet,
(when configured) the cluster, and probes the tailnet names (`validate.reachability`); changes
nothing. Each finding says what was expected and found."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from ingress2tailscale.adapters.git_repo import TRAILER_PHASE, GitRepo
from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.probes import Probe, Resolver, probe_dns, probe_https, probe_tcp
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig, ServiceSlice
from ingress2tailscale.errors import MigrationError
from ingress2tailscale.kinds import HOSTNAME_ANNOTATION, METALLB_PREFIXES, TAILSCALE_CLASS
from ingress2tailscale.model import Check as CheckResult
from ingress2tailscale.model import Document
from ingress2tailscale.plan.exposure import new_object_ref
from ingress2tailscale.plan.validation import service_ports
from ingress2tailscale.repo.inventory import Inventory, RepoTree, build_inventory
from ingress2tailscale.steps.acl import plan_acl
from ingress2tailscale.steps.oauth_scopes import plan_oauth_scopes
from ingress2tailscale.steps.validate import PROBE_TIMEOUT_S, blocking, resolver_for

TAILNET = "(tailnet)"  # the slice column of the findings every slice shares


@dataclass(frozen=True)
class Finding:
    slice: str
    check: str
    expected: str
    found: str
    drifted: bool
    inconclusive: bool = False  # the check could not tell (a name that does not resolve here)

    def to_json(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "check": self.check,
            "expected": self.expected,
            "found": self.found,
            "drifted": self.drifted,
            "inconclusive": self.inconclusive,
        }


def migrated_slices(config: MigrationConfig, repo: GitRepo) -> list[str]:
    """Service slices whose phase-2 commit is in the history and not reverted."""
    found = []
    for name, commits in repo.migration_commits_of(config.service_slices()).items():
        reverted = {c.trailers.get("Reverts") for c in commits}
        if any(c.trailers.get(TRAILER_PHASE) == "2" and c.sha not in reverted for c in commits):
            found.append(name)
    return found


def tailnet_hostname(config: MigrationConfig, inventory: Inventory, name: str) -> str | None:
    """The slice's tailnet name: its `hostname`, else what its tailnet object in the repo says."""
    spec = config.service_slices()[name]
    if spec.hostname:
        return spec.hostname
    doc = inventory.get(new_object_ref(config, name))
    return None if doc is None else _hostname_in(doc)


def check_repo(config: MigrationConfig, inventory: Inventory, name: str) -> list[Finding]:
    spec = config.service_slices()[name]
    new = new_object_ref(config, name)
    have_new = inventory.get(new) is not None
    findings = [_finding(name, "repo: tailnet exposure", f"{new} in the repo", have_new)]
    old = inventory.find(spec.source.kind, spec.source.namespace, spec.source.name)
    retired = old is None or (spec.expose == "tcp" and not _still_load_balancer(old))
    what = "gone" if spec.expose == "https" or spec.cleanup == "comment-out" else "a ClusterIP"
    findings.append(
        Finding(
            name,
            "repo: old exposure retired",
            f"{spec.source.kind} {spec.source.namespace}/{spec.source.name} {what}",
            "retired" if retired else "still exposed (Traefik Ingress or LoadBalancer)",
            not retired,
        )
    )
    return findings


def check_cluster(
    config: MigrationConfig, kube: KubeClient, name: str, hostname: str | None
) -> list[Finding]:
    spec = config.service_slices()[name]
    new = new_object_ref(config, name)
    fqdn = f"{hostname}.{config.tailnet}" if hostname else "(the tailnet name)"
    live = kube.exposed(new.kind, new.namespace, new.name)
    found = "not in the cluster" if live is None else (live.hostname or "no hostname in status")
    findings = [Finding(name, "cluster: tailnet status", f"{new} has {fqdn}", found, found != fqdn)]
    if spec.expose == "tcp":
        ready = None if live is None else live.proxy_ready
        state = "missing" if ready is None else ready.status
        findings.append(
            Finding(
                name, "cluster: proxy ready", "TailscaleProxyReady=True", state, state != "True"
            )
        )
    old = kube.exposed(spec.source.kind, spec.source.namespace, spec.source.name)
    public = old is not None and _publicly_exposed(
        spec, old.ingress_class, old.service_type, old.load_balancer_class
    )
    findings.append(
        Finding(
            name,
            "cluster: old exposure retired",
            f"no Traefik Ingress or LAN LoadBalancer for {spec.source.namespace}/"
            f"{spec.source.name}",
            "still exposed" if public else "retired",
            public,
        )
    )
    return findings


def check_tailnet(
    config: MigrationConfig, client: TailscaleClient, hostnames: dict[str, str | None]
) -> list[Finding]:
    """HTTPS on, the policy and OAuth client still as the prerequisites left them, and a device
    with the slice's tags for every migrated slice."""
    findings = []
    if config.tailscale.https:
        https = bool(client.get_settings().https_enabled)
        findings.append(_finding(TAILNET, "tailnet: HTTPS certificates", "on", https, "off"))
    for step in (plan_acl(config, client), plan_oauth_scopes(config, client)):
        findings.append(
            Finding(
                TAILNET,
                f"tailnet: {step.name}",
                "nothing to change",
                step.reason if step.action != "none" else "nothing to change",
                step.action != "none",
            )
        )
    devices = client.list_devices()
    for name, hostname in sorted(hostnames.items()):
        spec = config.service_slices()[name]
        device = next((d for d in devices if hostname and d.hostname == hostname), None)
        tags = ", ".join(spec.tags)
        found = "no device" if device is None else f"tags {', '.join(device.tags) or 'none'}"
        ok = device is not None and set(spec.tags) <= set(device.tags)
        findings.append(
            Finding(name, "tailnet: device", f"{hostname or '?'} with {tags}", found, not ok)
        )
    return findings


def check_reachability(
    config: MigrationConfig,
    inventory: Inventory,
    name: str,
    hostname: str | None,
    resolver: Resolver,
) -> list[Finding]:
    """The migrate flow's probes of the slice's tailnet name, each tried once (drift looks at
    today; it does not wait for a proxy to start): DNS, then HTTPS for an https slice or TCP
    on each port of its tailnet Service in the repo. An inconclusive probe (the name does not
    resolve here) is drift only under `validate.reachability: required`, as it blocks a
    migration (`blocking`)."""
    if not hostname:
        return [Finding(name, "reachability", "a tailnet name", "not run: no tailnet name", True)]
    fqdn = f"{hostname}.{config.tailnet}"
    dns = probe_dns(fqdn, resolver)
    findings = [_reached(config, name, "dns", f"{fqdn} resolves", dns)]
    unresolved = Probe("inconclusive", f"not run: {fqdn} does not resolve here")
    for check, expected, attempt in _connections(config, inventory, name, fqdn, resolver):
        probe = attempt() if dns.status == "pass" else unresolved
        findings.append(_reached(config, name, check, expected, probe))
    return findings


def _connections(
    config: MigrationConfig, inventory: Inventory, name: str, fqdn: str, resolver: Resolver
) -> list[tuple[str, str, Callable[[], Probe]]]:
    """(check, expected, the probe) of each connection the slice's tailnet name should take."""
    ca_file = config.validation.ca_file
    if config.service_slices()[name].expose == "https":
        expected = f"https://{fqdn}/ answers with a certificate valid for the name"
        return [("https", expected, partial(probe_https, fqdn, resolver, ca_file, PROBE_TIMEOUT_S))]
    doc = inventory.get(new_object_ref(config, name))
    ports = service_ports(doc.body) if doc is not None else []
    return [
        (f"tcp {port}", f"{fqdn}:{port} accepts a connection",
         partial(probe_tcp, fqdn, port, resolver, PROBE_TIMEOUT_S))
        for port in ports
    ]  # fmt: skip


def _reached(
    config: MigrationConfig, name: str, check: str, expected: str, probe: Probe
) -> Finding:
    result = CheckResult(check, probe.status, probe.reason, area="reachability")
    found = probe.reason if probe.status != "inconclusive" else f"inconclusive: {probe.reason}"
    return Finding(
        name,
        f"reachability: {check}",
        expected,
        found,
        bool(blocking([result], config)),
        probe.status == "inconclusive",
    )


Check = tuple[str, Callable[[], list[Finding]]]  # (the slice it is about, or TAILNET; the check)


def check_slices(checks: Sequence[Check], concurrency: int) -> list[Finding]:
    """Run independent checks at most `concurrency` at a time; a check that cannot be made
    (an API error) is itself a finding of the slice it is about, never a crash."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(_guarded, checks))
    return [finding for found in results for finding in found]


def _guarded(check: Check) -> list[Finding]:
    subject, run = check
    try:
        return run()
    except MigrationError as exc:
        return [Finding(subject, "could not check", "an answer", str(exc), True)]


def _finding(name: str, check: str, expected: str, ok: bool, bad: str = "missing") -> Finding:
    return Finding(name, check, expected, "as expected" if ok else bad, not ok)


def _hostname_in(doc: Document) -> str | None:
    body = doc.body
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if annotations.get(HOSTNAME_ANNOTATION):
        return str(annotations[HOSTNAME_ANNOTATION])
    for tls in (body.get("spec") or {}).get("tls") or []:
        for host in tls.get("hosts") or []:
            return str(host).split(".")[0]
    return None


def _still_load_balancer(doc: Document) -> bool:
    spec = doc.body.get("spec") or {}
    annotations = (doc.body.get("metadata") or {}).get("annotations") or {}
    marked = any(str(k).startswith(METALLB_PREFIXES) for k in annotations)
    return spec.get("type") == "LoadBalancer" or marked


def _publicly_exposed(
    spec: ServiceSlice,
    ingress_class: str | None,
    service_type: str | None,
    load_balancer_class: str | None,
) -> bool:
    if spec.source.kind == "Ingress":
        return ingress_class != TAILSCALE_CLASS
    return service_type == "LoadBalancer" and load_balancer_class != TAILSCALE_CLASS


@dataclass(frozen=True)
class DriftReport:
    slices: tuple[str, ...]
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...]  # checks that were not made, and why

    @property
    def drifted(self) -> list[Finding]:
        return [f for f in self.findings if f.drifted]


def find_drift(
    config: MigrationConfig,
    tailnet: TailscaleClient,
    kube: KubeClient | None,
    concurrency: int,
) -> DriftReport:
    """Every migrated slice checked against the repo, the tailnet and the cluster."""
    repo = GitRepo(config.gitops.path, branch=config.gitops.branch, remote=config.gitops.remote)
    names = migrated_slices(config, repo)
    inventory = build_inventory(RepoTree(config.gitops.path))
    hostnames = {n: tailnet_hostname(config, inventory, n) for n in names}
    checks: list[Check] = [(n, partial(check_repo, config, inventory, n)) for n in names]
    skipped = []
    if config.validation.reachability == "off":
        skipped.append("reachability: validate.reachability is off")
    else:
        resolver = resolver_for(config)
        checks += [
            (n, partial(check_reachability, config, inventory, n, hostnames[n], resolver))
            for n in names
        ]
    if kube is None:
        skipped.append("cluster: kubernetes.enabled is false in the config")
    else:
        checks += [(n, partial(check_cluster, config, kube, n, hostnames[n])) for n in names]
    if names:
        checks.append((TAILNET, partial(check_tailnet, config, tailnet, hostnames)))
    findings = check_slices(checks, concurrency)
    return DriftReport(tuple(names), tuple(findings), tuple(skipped))
