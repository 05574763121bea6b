"""One sandbox: the emulators, the simulators and the copies of a config's files, in threads of
one process (`python -m flows.sandbox up` runs it in the background; `--sandbox` alone runs a
temporary one in the command's own process).

    with Sandbox(config, state_dir) as sandbox:
        sandbox.info["sandbox_config"]   # the config pointed at the sandbox
        sandbox.info["env_file"]          # the tool's credentials (TS_API_KEY), owner-only

The caller may add services of its own (`flows.sandbox up` adds a Prefect server): each begins
before the emulators start and is waited for once they run; what it says goes into the info.

Nothing here is product logic: the product reaches the sandbox only through the config it is
given (the API URL, the kubeconfig, the apply command, the probes' name map and CA).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ingress2tailscale.config import MigrationConfig, ServiceSlice, load_config
from ingress2tailscale.errors import ConfigError
from ingress2tailscale.sandbox.cluster.flux import FluxSimulator
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.cluster.loop import PollLoop
from ingress2tailscale.sandbox.cluster.operator import OperatorSimulator
from ingress2tailscale.sandbox.endpoints import Endpoints
from ingress2tailscale.sandbox.faults import FAULT_NAMES, Faults
from ingress2tailscale.sandbox.scratch import make_scratch, sandbox_config, write_config
from ingress2tailscale.sandbox.started import Started
from ingress2tailscale.sandbox.starting import starting_tailnet
from ingress2tailscale.sandbox.tailnet.emulator import TailnetEmulator

INFO_FILE = "sandbox.json"
HOST_FAULTS = ("refuse-tags", "proxy-never-ready", "dns-fails")  # the others are tailnet-wide


class Service(Protocol):
    """A service the caller runs with the sandbox, started while the emulators start."""

    def begin(self) -> None: ...  # start, without waiting for it

    def ready(self) -> dict[str, Any]: ...  # wait until it answers; its entries of the info

    def stop(self) -> None: ...


class Sandbox(Started):
    """Started by `with` (or `start()`), stopped by leaving it (or `stop()`)."""

    def __init__(
        self,
        config: MigrationConfig,
        state_dir: Path,
        services: Sequence[Service] = (),
        latency_s: float = 0.0,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.services = tuple(services)
        self.info: dict[str, Any] = {}
        self._stack: list[Any] = []
        self._latency_s = latency_s
        self.kube: KubeEmulator | None = None  # the emulators, once started
        self.tailnet: TailnetEmulator | None = None

    def set_latency(self, seconds: float) -> None:
        """Add `seconds` to every answer of both emulators (the Kubernetes API and the
        Tailscale API), as remote servers would; 0 takes it away."""
        self._latency_s = seconds
        if self.kube is not None:
            self.kube.latency_s = seconds
        if self.tailnet is not None:
            self.tailnet.state.delay_seconds = seconds

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._stack:
            self._stack.pop().stop()
        (self.state_dir / INFO_FILE).unlink(missing_ok=True)

    def _start(self) -> dict[str, Any]:
        cfg, state = self.config, self.state_dir
        state.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            self._stack.append(service)
            service.begin()
        scratch = make_scratch(cfg, state / "work")
        start = starting_tailnet(cfg)
        faults = Faults(state / "faults.json")
        faults.save()
        start.state.delay_seconds = self._latency_s
        tailnet = self.tailnet = self._started(TailnetEmulator(start.state))
        (state / "kube").mkdir()
        kube = self.kube = self._started(KubeEmulator(state / "kube", latency_s=self._latency_s))
        endpoints = Endpoints(state / "endpoints", faults=faults)
        self._stack.append(_Closing(endpoints))
        op = cfg.kubernetes.operator
        flux_cfg = cfg.gitops.flux
        flux = FluxSimulator(
            kube,
            scratch.origin,
            cfg.gitops.branch,
            namespace=flux_cfg.namespace,
            source=flux_cfg.source,
            faults=faults,
        )
        flux.reconcile_all()
        operator = OperatorSimulator(
            kube,
            start.state,
            cfg.tailnet,
            operator_namespace=op.namespace,
            operator_deployment=op.deployment,
            client_id=start.operator.id,
            endpoints=endpoints,
            faults=faults,
            oauth_secret=op.oauth_secret,
        )
        operator.install()  # the chart's objects are there before anyone asks for them
        names = NamesFile(endpoints, state / "names.json")
        for loop in (flux, operator, names):
            loop.start()
            self._stack.append(loop)
        overrides = _overrides(cfg, scratch.terraform, tailnet.url, kube, start)
        overrides["validate"] = {"ca_file": str(endpoints.ca_path), "resolve_file": str(names.path)}
        derived = write_config(sandbox_config(cfg, scratch, overrides), state / "migration.yaml")
        env_file = state / "env.json"
        env_file.touch(mode=0o600)
        env_file.write_text(json.dumps({"TS_API_KEY": start.api_key}), encoding="utf-8")
        self.info = {
            "pid": os.getpid(),
            "config": str(cfg.source_path.resolve()),
            "sandbox_config": str(derived),
            "repo": str(scratch.repo),
            "origin": str(scratch.origin),
            "kube_url": kube.url,
            "kubeconfig": str(kube.kubeconfig_path),
            "context": kube.context,
            "tailnet_url": tailnet.url,
            "tailnet": cfg.tailnet,
            "ca_file": str(endpoints.ca_path),
            "names_file": str(names.path),
            "faults_file": str(faults.path),
            "env_file": str(env_file),
        }
        for service in self.services:
            self.info.update(service.ready())
        (state / INFO_FILE).write_text(json.dumps(self.info, indent=2), encoding="utf-8")
        return self.info

    def _started(self, server: Any) -> Any:
        server.start()
        self._stack.append(server)
        return server


def _overrides(
    cfg: MigrationConfig,
    terraform: Path | None,
    tailnet_url: str,
    kube: KubeEmulator,
    start: Any,
) -> dict[str, Any]:
    """The sections of the config that point at the sandbox instead of the real systems."""
    tailscale: dict[str, Any] = {"api_url": tailnet_url}
    oauth = cfg.tailscale.oauth_client
    if oauth is not None:
        tailscale["oauth_client"] = {
            **oauth.model_dump(mode="json", exclude_none=True),
            "client_id": start.operator.id,
        }
        if terraform is not None:
            apply = [sys.executable, "-m", "ingress2tailscale.sandbox.terraform_apply"]
            apply += ["--tf", str(terraform), "--resource", oauth.resource]
            apply += ["--api-url", tailnet_url, "--client-id", start.operator.id]
            tailscale["oauth_client"]["apply"] = shlex.join(apply)
            tailscale["oauth_client"]["terraform"] = str(terraform)
    kubernetes = {
        **cfg.kubernetes.model_dump(mode="json", exclude_none=True),
        "enabled": True,
        "kubeconfig": str(kube.kubeconfig_path),
        "context": kube.context,
    }
    return {"tailscale": tailscale, "kubernetes": kubernetes}


class _Closing:
    """`stop()` for the endpoints, which close."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    def stop(self) -> None:
        self.endpoints.close_all()


class NamesFile(PollLoop):
    """The sandbox's name map, published as the JSON file the probes' `FileResolver` reads
    (`validate.resolve_file`), rewritten (atomically) whenever the endpoints change."""

    name = "sandbox-names"

    def __init__(self, endpoints: Endpoints, path: Path) -> None:
        super().__init__()
        self.endpoints, self.path = endpoints, path
        self._written: str | None = None
        self.step()

    def step(self) -> None:
        text = json.dumps(self.endpoints.names(), indent=2, sort_keys=True)
        if text != self._written:
            partial = self.path.with_suffix(".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(self.path)
            self._written = text


def arm_fault(info: dict[str, Any], name: str, slice_name: str | None, *, clear: bool) -> str:
    """Arm (or clear) a fault of the running sandbox, for one slice's hostname or all."""
    if name not in FAULT_NAMES:
        raise ConfigError(f"unknown fault {name!r}: one of {', '.join(FAULT_NAMES)}")
    host = None
    if slice_name is not None:
        if name not in HOST_FAULTS:
            raise ConfigError(f"the fault {name} is for the whole sandbox: drop --slice")
        host = _hostname_of(Path(info["sandbox_config"]), slice_name)
    faults = Faults.load(Path(info["faults_file"]))
    what = f"{name} for {slice_name} ({host})" if host else name
    if clear:
        faults.disarm(name, host)
        faults.save()
        return f"cleared {what}"
    faults.arm(name, host)
    faults.save()
    return f"armed {what}"


def _hostname_of(config_path: Path, slice_name: str) -> str:
    from ingress2tailscale.plan.exposure import derive_exposure
    from ingress2tailscale.repo.inventory import RepoTree, build_inventory

    config = load_config(config_path)
    if not isinstance(config.slices.get(slice_name), ServiceSlice):
        names = ", ".join(config.service_slices())
        raise ConfigError(f"no service slice {slice_name!r} in {config_path} (it has {names})")
    inventory = build_inventory(RepoTree(config.gitops.path))
    return derive_exposure(config, inventory, slice_name).hostname
