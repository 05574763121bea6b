"""The live checks after phase 1 and phase 2 (DESIGN.md section 5): Flux, the operator's
objects, the tailnet device and reachability, run over the injected clients in the order of the
catalogue (`plan/validation.py`), each a `Check` with the seconds it took.

Deadlines are per area, shared by its checks: Flux waits `kubernetes.timeouts.reconcile_s` in
all, the operator's objects `ready_s` (watches, in the adapter), the tailnet device and the
probes `validate.deadline_s` (retried every `validate.retry_s` while the answer could change).
A `ClusterError` or a `TailscaleError` that outlives its deadline is a `fail` saying what timed
out. Once an area has a failure, the later areas are not run (the slice is rolled back anyway;
waiting for them would only delay that): they are inconclusive, "not run".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingress2tailscale.adapters.git_repo import GitRepo
from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.probes import (
    FileResolver,
    Probe,
    Resolver,
    StaticResolver,
    SystemResolver,
    probe_dns,
    probe_https,
    probe_tcp,
)
from ingress2tailscale.adapters.tailscale_api import Device, TailscaleClient
from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import ClusterError, TailscaleAuthError, TailscaleError
from ingress2tailscale.kinds import (
    GIT_REPOSITORY,
    KUSTOMIZATION,
    PROXY_READY_CONDITION,
    TAILSCALE_CLASS,
    TRAEFIK_KINDS,
)
from ingress2tailscale.model import Check, CheckArea, CheckStatus
from ingress2tailscale.plan.exposure import Exposure
from ingress2tailscale.plan.validation import LiveCheck, ValidatedPhase, live_catalogue
from ingress2tailscale.steps.repo import StepResult, validate_static

__all__ = ["LiveTargets", "blocking", "live_checks", "resolver_for", "validate_step"]

PROBE_TIMEOUT_S = 10.0  # one connection attempt of a probe (bounded by the deadline too)
MIN_WAIT_S = 1.0  # a wait whose area's deadline has passed still looks once
NO_CREDENTIALS = (
    "not checked: no Tailscale credentials (TS_API_KEY, or TS_OAUTH_CLIENT_ID and "
    "TS_OAUTH_CLIENT_SECRET)"
)

Verdict = tuple[CheckStatus, str]


def resolver_for(config: MigrationConfig) -> Resolver:
    """`validate.resolve_file` or `validate.resolve` when the config has one, else the
    system's resolver."""
    if config.validation.resolve_file is not None:
        return FileResolver(config.validation.resolve_file)
    table = config.validation.resolve
    return StaticResolver(table) if table else SystemResolver()


@dataclass(frozen=True)
class LiveTargets:
    """What one slice's live checks run against: its exposure as derived before phase 2 (the
    old object is gone after it), the cluster (None: `kubernetes.enabled` is false), the
    tailnet (None: no credentials) and the probes' resolver."""

    exposure: Exposure
    kube: KubeClient | None
    tailnet: TailscaleClient | None
    resolver: Resolver


def validate_step(
    config: MigrationConfig,
    repo: GitRepo,
    result: StepResult,
    live: LiveTargets | None,
) -> list[Check]:
    """The static checks of what the step committed, then (after phase 1 and phase 2, with
    `live`) the live checks against the revision now on the branch."""
    checks = validate_static(repo, result)
    phase = {"phase-1": "1", "phase-2": "2"}.get(result.step.name)
    if live is None or phase is None or any(c.status == "fail" for c in checks):
        return checks
    validated: ValidatedPhase = "1" if phase == "1" else "2"
    return checks + live_checks(
        config,
        live.exposure,
        live.kube,
        live.tailnet,
        repo.head(),
        validated,
        live.resolver,
        config.validation.ca_file,
    )


def live_checks(
    config: MigrationConfig,
    exposure: Exposure,
    kube: KubeClient | None,
    tailnet: TailscaleClient | None,
    revision: str,
    phase: ValidatedPhase,
    resolver: Resolver,
    ca_file: Path | None,
) -> list[Check]:
    """Every live check of the slice after `phase`, in order, against the pushed `revision`.
    `kube` may be None only when the config has no cluster (the catalogue then has no cluster
    checks); `tailnet` None (no credentials) leaves the device check inconclusive."""
    run = _Run(config, exposure, kube, tailnet, revision, resolver, ca_file)
    catalogue = live_catalogue(config, exposure, phase)
    return [run.check(check) for check in catalogue.checks]


def blocking(checks: list[Check], config: MigrationConfig) -> list[Check]:
    """The checks that stop the slice: every failure, and an inconclusive reachability check
    when `validate.reachability` is `required`."""
    required = config.validation.reachability == "required"
    return [
        c
        for c in checks
        if c.status == "fail"
        or (c.status == "inconclusive" and c.area == "reachability" and required)
    ]


@dataclass
class _Run:
    """One validation: the clients, the areas' deadlines, and what earlier checks found."""

    config: MigrationConfig
    exp: Exposure
    kube: KubeClient | None
    tailnet: TailscaleClient | None
    revision: str
    resolver: Resolver
    ca_file: Path | None
    deadlines: dict[str, float] = field(default_factory=dict)
    failed: tuple[CheckArea, str] | None = None  # the first failure: (its area, its name)
    requested: bool = False  # the Flux reconcile was asked for
    reconcile_error: str | None = None  # and refused
    unresolved: str | None = None  # the name does not resolve here: the probes need not run

    def check(self, check: LiveCheck) -> Check:
        if self.failed is not None and self.failed[0] != check.area:
            detail = f"not run: {self.failed[1]} failed"
            return Check(check.name, "inconclusive", detail, area=check.area)
        start = time.monotonic()
        status, detail = RUNNERS[check.id](self, check)
        if status == "fail" and self.failed is None:
            self.failed = (check.area, check.name)
        return Check(check.name, status, detail, time.monotonic() - start, check.area)

    def remaining(self, area: CheckArea) -> float:
        """Seconds left of the area's deadline (started by its first check), at least a look."""
        budget = _budget(self.config, area)
        key = "tailnet" if area in ("tailnet", "reachability") else area
        deadline = self.deadlines.setdefault(key, time.monotonic() + budget)
        return max(deadline - time.monotonic(), min(MIN_WAIT_S, budget))

    @property
    def cluster(self) -> KubeClient:
        if self.kube is None:  # the catalogue lists cluster checks only with a cluster
            raise ValueError("a cluster check needs a Kubernetes client")
        return self.kube

    def retry(self, area: CheckArea, attempt: Callable[[], Probe]) -> Verdict:
        """`attempt` until it settles or the area's deadline passes; its last answer."""
        deadline = time.monotonic() + self.remaining(area)
        pause = self.config.validation.retry_s
        tries = 1
        probe = attempt()
        while not probe.settled and time.monotonic() + pause < deadline:
            time.sleep(pause)
            probe, tries = attempt(), tries + 1
        if tries > 1 and probe.status != "pass":
            return probe.status, f"{probe.reason} (still so after {tries} attempts)"
        return probe.status, probe.reason


def _budget(config: MigrationConfig, area: CheckArea) -> float:
    timeouts = config.kubernetes.timeouts
    return {
        "flux": timeouts.reconcile_s,
        "cluster": timeouts.ready_s,
    }.get(area, config.validation.deadline_s)


# --- Flux -----------------------------------------------------------------------------------


def _flux(run: _Run, check: LiveCheck) -> Verdict:
    """The first Flux check asks for a reconcile of the source and every Kustomization (Flux
    works on them meanwhile); each waits for its Kustomization Ready at the revision."""
    flux = run.config.gitops.flux
    if not run.requested:
        run.requested = True
        run.remaining("flux")  # the deadline starts with the requests
        try:
            run.cluster.request_reconcile(flux.namespace, GIT_REPOSITORY.kind, flux.source)
            for name in flux.kustomizations:
                run.cluster.request_reconcile(flux.namespace, KUSTOMIZATION.kind, name)
        except ClusterError as exc:
            run.reconcile_error = f"could not ask Flux to reconcile: {exc}"
    if run.reconcile_error:
        return "fail", run.reconcile_error
    try:
        status = run.cluster.wait_kustomization_ready(
            flux.namespace, check.target, run.revision, run.remaining("flux")
        )
    except ClusterError as exc:
        return "fail", str(exc)
    return "pass", f"{flux.namespace}/{check.target}: {status}"


# --- the cluster ----------------------------------------------------------------------------


def _status(run: _Run, check: LiveCheck) -> Verdict:
    new, fqdn = run.exp.new_ref, run.exp.fqdn
    try:
        found = run.cluster.wait_load_balancer_hostname(
            new.kind, new.namespace, new.name, run.remaining("cluster")
        )
    except ClusterError as exc:
        return "fail", str(exc)
    if found.rstrip(".") != fqdn:
        return "fail", (
            f"{new} status.loadBalancer has {found}, not {fqdn}: the tailnet named the device "
            f"differently (an old device may hold {run.exp.hostname}); remove that device from "
            "the tailnet, then run the slice again"
        )
    return "pass", f"{new} status.loadBalancer has {found}"


def _proxy_ready(run: _Run, check: LiveCheck) -> Verdict:
    new = run.exp.new_ref
    try:
        found = run.cluster.wait_service_condition(
            new.namespace, new.name, PROXY_READY_CONDITION, run.remaining("cluster")
        )
    except ClusterError as exc:
        return "fail", str(exc)
    return "pass", f"{new}: {found}"


def _proxy_secret(run: _Run, check: LiveCheck) -> Verdict:
    new, fqdn = run.exp.new_ref, run.exp.fqdn
    operator = run.config.kubernetes.operator.namespace
    try:
        secret = run.cluster.wait_proxy_secret(
            new.kind,
            new.namespace,
            new.name,
            operator,
            https=new.kind == "Ingress",
            deadline_s=run.remaining("cluster"),
        )
    except ClusterError as exc:
        return "fail", str(exc)
    device = (secret.device_fqdn or "").rstrip(".")
    if device != fqdn:
        return "fail", f"Secret {operator}/{secret.name}: device_fqdn is {device}, not {fqdn}"
    https = f", https_endpoint {secret.https_endpoint}" if new.kind == "Ingress" else ""
    return "pass", f"Secret {operator}/{secret.name}: device_fqdn {device}{https}"


def _events(run: _Run, check: LiveCheck) -> Verdict:
    new = run.exp.new_ref
    try:
        events = run.cluster.warning_events(new.namespace, new.kind, new.name)
    except ClusterError as exc:
        return "fail", str(exc)
    if events:
        said = "; ".join(f"{e.reason}: {e.message}" for e in events)
        return "fail", f"{new} has Warning events: {said}"
    return "pass", f"no Warning events on {new}"


def _retired(run: _Run, check: LiveCheck) -> Verdict:
    """After phase 2, Flux has applied the commit that retires the old exposure: one read."""
    old = run.exp.source
    try:
        if old.kind == "Service":
            return _service_retired(run)
        if old.kind == "Ingress":
            gone = run.cluster.exposed(old.kind, old.namespace, old.name) is None
        else:
            route = [
                k for k in TRAEFIK_KINDS if (k.kind, k.api_version) == (old.kind, old.api_version)
            ]
            gone = not route or not run.cluster.exists(route[0], old.namespace, old.name)
    except ClusterError as exc:
        return "fail", str(exc)
    if gone:
        return "pass", f"{old.ref} is gone from the cluster"
    return "fail", f"{old.ref} is still in the cluster (does its Flux Kustomization prune?)"


def _service_retired(run: _Run) -> Verdict:
    """The old Service is gone (commented out, pruned) or no longer a LAN load balancer."""
    old = run.exp.source
    live = run.cluster.exposed(old.kind, old.namespace, old.name)
    if live is None:
        return "pass", f"{old.ref} is gone from the cluster"
    lan_type = live.service_type == "LoadBalancer" and live.load_balancer_class != TAILSCALE_CLASS
    if lan_type or live.lan_annotations:
        what = ", ".join(["type LoadBalancer"] * lan_type + list(live.lan_annotations))
        return "fail", f"{old.ref} is still a LAN load balancer ({what})"
    return "pass", f"{old.ref} is now {live.service_type or 'ClusterIP'}, not a LAN load balancer"


# --- the tailnet and reachability -----------------------------------------------------------


def _device(run: _Run, check: LiveCheck) -> Verdict:
    tailnet = run.tailnet
    if tailnet is None:
        return "inconclusive", NO_CREDENTIALS
    exp = run.exp

    def attempt() -> Probe:
        try:
            devices = tailnet.list_devices()
        except TailscaleAuthError as exc:
            return Probe("fail", f"the Tailscale API refused to list devices: {exc}")
        except TailscaleError as exc:
            return Probe("fail", f"the Tailscale API did not answer: {exc}", transient=True)
        device = _device_named(devices, exp.fqdn, exp.hostname)
        if device is None:
            return Probe("fail", f"no device {exp.fqdn} on the tailnet", transient=True)
        missing = sorted(set(exp.spec.tags) - set(device.tags))
        if missing:
            has = ", ".join(device.tags) or "no tags"
            why = f"{device.name} lacks {', '.join(missing)} (it has {has})"
            return Probe("fail", why)
        return Probe("pass", f"{device.name} is on the tailnet, tagged {', '.join(device.tags)}")

    return run.retry("tailnet", attempt)


def _device_named(devices: list[Device], fqdn: str, hostname: str) -> Device | None:
    named = [d for d in devices if d.name.rstrip(".").lower() == fqdn]
    found = named or [d for d in devices if d.hostname == hostname]
    return found[0] if found else None


def _dns(run: _Run, check: LiveCheck) -> Verdict:
    status, detail = run.retry("reachability", lambda: probe_dns(run.exp.fqdn, run.resolver))
    if status != "pass":
        run.unresolved = run.exp.fqdn
    return status, detail


def _tcp(run: _Run, check: LiveCheck) -> Verdict:
    if run.unresolved:
        return "inconclusive", f"not run: {run.unresolved} does not resolve here"
    return run.retry(
        "reachability",
        lambda: probe_tcp(run.exp.fqdn, check.port, run.resolver, _probe_timeout(run)),
    )


def _https(run: _Run, check: LiveCheck) -> Verdict:
    if run.unresolved:
        return "inconclusive", f"not run: {run.unresolved} does not resolve here"
    return run.retry(
        "reachability",
        lambda: probe_https(run.exp.fqdn, run.resolver, run.ca_file, _probe_timeout(run)),
    )


def _probe_timeout(run: _Run) -> float:
    return min(PROBE_TIMEOUT_S, run.remaining("reachability"))


RUNNERS: dict[str, Callable[[_Run, LiveCheck], Verdict]] = {
    "flux": _flux,
    "retired": _retired,
    "status": _status,
    "proxy-ready": _proxy_ready,
    "proxy-secret": _proxy_secret,
    "events": _events,
    "device": _device,
    "dns": _dns,
    "tcp": _tcp,
    "https": _https,
}
