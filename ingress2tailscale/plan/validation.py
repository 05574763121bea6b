"""The live checks of a slice's `validate` step, as a catalogue: which run with this config after
phase 1 and after phase 2, in order, and which are skipped and why. The plan's `validate` line
(`describe_validation`) and `steps/validate.live_checks` both read it, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.kinds import (
    DEVICE_FQDN_KEY,
    HTTPS_ENDPOINT_KEY,
    INGRESS_ROUTE_KIND,
    PROXY_READY_CONDITION,
)
from ingress2tailscale.model import CheckArea
from ingress2tailscale.plan.exposure import Exposure

CheckId = Literal[
    "flux", "retired", "status", "proxy-ready", "proxy-secret", "events", "device", "dns", "tcp",
    "https",
]  # fmt: skip
ValidatedPhase = Literal["1", "2"]
NEEDS_CREDENTIALS = "needs credentials"
GROUPED = ("flux", "reachability")  # areas the plan line says in one phrase


@dataclass(frozen=True)
class LiveCheck:
    """One check as the report names it (`name`) and as the plan line promises it (`says`)."""

    id: CheckId
    area: CheckArea
    name: str
    says: str
    target: str = ""  # flux: the Kustomization
    port: int = 0  # tcp: the port probed


@dataclass(frozen=True)
class Catalogue:
    phase: ValidatedPhase
    checks: tuple[LiveCheck, ...]
    skipped: tuple[str, ...]  # "Flux: no gitops.flux.kustomizations in the config"


def live_catalogue(config: MigrationConfig, exp: Exposure, phase: ValidatedPhase) -> Catalogue:
    """The checks after `phase`, in the order they run: Flux, (after phase 2) the old exposure,
    the operator's objects, the tailnet device, reachability."""
    checks: list[LiveCheck] = []
    skipped: list[str] = []
    no_cluster = _no_cluster(config)
    if no_cluster:
        skipped.append(f"Flux and cluster: {no_cluster}")
    else:
        checks += _flux(config, skipped)
        if phase == "2":
            checks.append(_retired(exp))
        checks += _cluster(exp)
    tags = ", ".join(exp.spec.tags)
    says = f"tailnet device {exp.hostname} tagged {tags} ({NEEDS_CREDENTIALS})"
    if config.validation.tailnet == "off":
        skipped.append("tailnet device: validate.tailnet is off")
    else:
        checks.append(LiveCheck("device", "tailnet", "tailnet device", says))
    reachability = config.validation.reachability
    if reachability == "off":
        skipped.append("reachability: validate.reachability is off")
    else:
        checks += _reachability(exp)
    return Catalogue(phase, tuple(checks), tuple(skipped))


def describe_validation(config: MigrationConfig, exp: Exposure) -> str:
    """The plan's `validate` line: what will be checked after each phase, and what will not."""
    first = live_catalogue(config, exp, "1")
    second = live_catalogue(config, exp, "2")
    mode = config.validation.reachability
    if not first.checks:
        return "after each phase: the static checks of the committed files. Skipped: " + (
            "; ".join(first.skipped)
        )
    names = {c.name for c in first.checks}
    extra = _phrases([c for c in second.checks if c.name not in names], mode)
    line = "after phase 1: " + "; ".join(_phrases(first.checks, mode))
    line += ". After phase 2: the same" + (f", and {'; '.join(extra)}" if extra else "")
    if first.skipped:
        line += ". Skipped: " + "; ".join(first.skipped)
    return line


def _phrases(checks: Sequence[LiveCheck], mode: str) -> list[str]:
    """One phrase per check; the Flux ones and the reachability ones said together."""
    phrases = []
    grouped = groupby(checks, lambda c: c.area if c.area in GROUPED else c.name)
    for key, group in grouped:
        says = ", ".join(c.says for c in group)
        if key == "flux":
            phrases.append(f"Flux {says} Ready at the pushed revision")
        elif key == "reachability":
            phrases.append(f"reachability ({mode}): {says}")
        else:
            phrases.append(says)
    return phrases


def _no_cluster(config: MigrationConfig) -> str:
    return "" if config.kubernetes.enabled else "kubernetes.enabled is false (no cluster to check)"


def _flux(config: MigrationConfig, skipped: list[str]) -> list[LiveCheck]:
    flux = config.gitops.flux
    if not flux.kustomizations:
        skipped.append("Flux: no gitops.flux.kustomizations in the config (nothing to wait for)")
        return []
    return [
        LiveCheck(
            "flux",
            "flux",
            f"flux {name}",
            name,
            target=name,
        )
        for name in flux.kustomizations
    ]


def _retired(exp: Exposure) -> LiveCheck:
    old = exp.source.ref
    if old.kind == "Service":
        says = f"{old} no longer a LAN LoadBalancer (or gone)"
    else:
        says = f"{old} gone from the cluster"
    return LiveCheck("retired", "cluster", "old exposure retired", says)


def _cluster(exp: Exposure) -> list[LiveCheck]:
    new = exp.new_ref
    checks = [LiveCheck("status", "cluster", "tailnet status", f"{new} status has {exp.fqdn}")]
    if new.kind == "Service":
        says = f"{PROXY_READY_CONDITION} True"
        checks.append(LiveCheck("proxy-ready", "cluster", "proxy ready", says))
    keys = DEVICE_FQDN_KEY + (f" and {HTTPS_ENDPOINT_KEY}" if new.kind == "Ingress" else "")
    checks.append(LiveCheck("proxy-secret", "cluster", "proxy secret", f"proxy Secret has {keys}"))
    checks.append(LiveCheck("events", "cluster", "warning events", "no Warning events"))
    return checks


def _reachability(exp: Exposure) -> list[LiveCheck]:
    checks = [LiveCheck("dns", "reachability", "dns", "DNS")]
    if exp.spec.expose == "https":
        says = "HTTPS with a certificate for the name"
        checks.append(LiveCheck("https", "reachability", "https", says))
        return checks
    for port in tcp_ports(exp):
        checks.append(LiveCheck("tcp", "reachability", f"tcp {port}", f"TCP {port}", port=port))
    return checks


def tcp_ports(exp: Exposure) -> list[int]:
    """The ports the tailnet Service forwards: the old Service's (phase 1 copies them)."""
    if exp.source.kind in ("Ingress", INGRESS_ROUTE_KIND):
        return []
    return service_ports(exp.source.body)


def service_ports(body: Mapping[str, Any]) -> list[int]:
    """The ports a Service's `spec.ports` lists, in order, once each (what the TCP probes
    try: the old Service's before phase 2, the tailnet Service's for drift)."""
    ports = (body.get("spec") or {}).get("ports") or []
    found = [p.get("port") for p in ports if isinstance(p, dict)]
    return list(dict.fromkeys(p for p in found if isinstance(p, int)))
