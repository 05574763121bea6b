"""`python -m flows.sandbox up|down|status|fault`: the emulated cluster and tailnet, for any config.

    python -m flows.sandbox up [--config config/migration.yaml]   # starts it in the background
    python -m flows.migrate --slice all --sandbox --yes            # runs against it
    python -m flows.sandbox fault proxy-never-ready --slice grafana
    python -m flows.sandbox down

`up` copies the config's GitOps repo (with a bare `origin`), its Terraform and policy files into
`.sandbox/`, starts the Kubernetes and Tailscale API emulators with the Flux and operator
simulators, loads the cluster with what Flux applies from the repo, and writes
`.sandbox/sandbox.json` (what runs, where) and `.sandbox/migration.yaml` (the config pointed at
it all). A running sandbox also runs a Prefect server with its UI (`.sandbox/prefect/`, SQLite).
`--sandbox` on another command uses a running sandbox and its Prefect server (unless
PREFECT_API_URL names one), or starts a temporary sandbox, and a temporary server, for that
command alone. `python -m flows.serve --sandbox` serves the deployments against it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.cli import run_cli
from flows.sandbox_server import SandboxPrefectServer
from flows.temp_server import begin_temporary_server
from ingress2tailscale.config import load_config
from ingress2tailscale.errors import ConfigError, MigrationError
from ingress2tailscale.sandbox.faults import FAULT_NAMES

STATE_DIR = Path(".sandbox")
INFO_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
DEFAULT_CONFIG = Path("config/migration.yaml")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
KEEP_A_SANDBOX = (
    "keep a sandbox running (`python -m flows.sandbox up`): --sandbox runs then use its Prefect "
    "server"
)


def _nothing() -> None:
    """What waits for a Prefect server that need not start."""


@dataclass(frozen=True)
class SandboxRun:
    """What a command run with `--sandbox` uses: the sandbox's config and credentials."""

    config_path: Path
    environ: dict[str, str]  # PREFECT_API_URL too: the running sandbox's server, unless set
    info: dict[str, Any]
    temporary: bool = False  # removed when the command ends
    # waits for the temporary Prefect server (when one was asked for and is needed)
    server_ready: Callable[[], object] = _nothing


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state = args.state.resolve()
    if args.command == "up":
        return _up(args.config, state)
    if args.command == "down":
        return _down(state)
    if args.command == "status":
        return _status(state)
    if args.command == "fault":
        return _fault(state, args.name, args.slice, args.clear)
    return _serve(args.config, state)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.sandbox",
        description="The emulated Kubernetes cluster and tailnet that --sandbox runs against.",
    )
    parser.add_argument("--state", type=Path, default=STATE_DIR, help="the sandbox's folder")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a sandbox in the background for a config")
    up.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    commands.add_parser("down", help="stop the running sandbox")
    commands.add_parser("status", help="say whether a sandbox runs, and where")
    fault = commands.add_parser("fault", help="arm a failure for a rehearsal")
    fault.add_argument("name", help="; ".join(_fault_names()))
    fault.add_argument("--slice", help="only for this slice (default: every slice)")
    fault.add_argument("--clear", action="store_true", help="disarm it instead")
    serve = commands.add_parser("serve", help=argparse.SUPPRESS)  # the background process
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    return parser


# --- up, down, status, fault -------------------------------------------------------------


def _up(config_path: Path, state: Path) -> int:
    running = running_info(state)
    if running is not None:
        raise ConfigError(
            f"a sandbox is already up (pid {running['pid']}, for {running['config']}): "
            "run `python -m flows.sandbox down` first"
        )
    load_config(config_path)  # a bad config is said here, not in the background's log
    _clear(state)
    state.mkdir(parents=True, exist_ok=True)
    log = (state / LOG_FILE).open("wb")
    command = [sys.executable, "-m", "flows.sandbox", "--state", str(state), "serve"]
    command += ["--config", str(config_path.resolve())]
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while (info := running_info(state)) is None or info["pid"] != child.pid:
        if child.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            tail = (state / LOG_FILE).read_text(encoding="utf-8", errors="replace")[-2000:]
            where = state / LOG_FILE
            raise MigrationError(f"the sandbox did not start; its log ({where}):\n{tail}")
        time.sleep(0.1)
    print(describe(info, started=True))
    return 0


def _down(state: Path) -> int:
    info = running_info(state)
    if info is None:
        print("no sandbox is running")
        return 0
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)
    (state / INFO_FILE).unlink(missing_ok=True)
    print(f"sandbox stopped (pid {info['pid']}); its files stay in {state}")
    return 0


def _status(state: Path) -> int:
    info = running_info(state)
    print(describe(info, started=False) if info else "no sandbox is running")
    return 0


def _fault(state: Path, name: str, slice_name: str | None, clear: bool) -> int:
    # the emulators are the `sandbox` extra: imported only where a sandbox is run or armed, so
    # `down`, `status` and `--sandbox` against a running sandbox start without them
    from ingress2tailscale.sandbox.world import arm_fault

    info = running_info(state)
    if info is None:
        raise ConfigError("no sandbox is running: start one with `python -m flows.sandbox up`")
    said = arm_fault(info, name, slice_name, clear=clear)
    print(said)
    return 0


def _fault_names() -> list[str]:
    return list(FAULT_NAMES)


# --- the background process ------------------------------------------------------------


def _serve(config_path: Path, state: Path) -> int:
    from ingress2tailscale.sandbox.world import Sandbox  # the `sandbox` extra (see `_fault`)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    prefect = SandboxPrefectServer(state / "prefect")
    with Sandbox(load_config(config_path), state, [prefect]) as sandbox:
        print(describe(sandbox.info, started=True), flush=True)
        stop.wait()
    return 0


# --- --sandbox on the other commands ------------------------------------------------------


@contextlib.contextmanager
def sandboxed(
    config_path: Path, state: Path = STATE_DIR, *, prefect: bool = False
) -> Iterator[SandboxRun]:
    """The running sandbox when it emulates `config_path`, else a temporary one for the
    duration of the `with` (stopped and removed at its end). With `prefect`, the run's Prefect
    server: the running sandbox's, else a temporary one that starts while the sandbox does
    (`server_ready` waits for it)."""
    run = running_sandbox(config_path, state)
    server_ready: Callable[[], object] = _nothing
    if prefect and (run is None or "PREFECT_API_URL" not in run.environ):
        server_ready = begin_temporary_server(KEEP_A_SANDBOX)  # nothing if PREFECT_API_URL is set
    if run is not None:
        yield dataclasses.replace(run, server_ready=server_ready)
        return
    from ingress2tailscale.sandbox.world import Sandbox  # the `sandbox` extra (see `_fault`)

    with (
        tempfile.TemporaryDirectory(prefix="ingress2tailscale-sandbox-") as scratch,
        Sandbox(load_config(config_path), Path(scratch) / "sandbox") as sandbox,
    ):
        run = _run_of(sandbox.info, temporary=True)
        yield dataclasses.replace(run, server_ready=server_ready)


def running_sandbox(config_path: Path, state: Path = STATE_DIR) -> SandboxRun | None:
    """The running sandbox, when one runs; it must emulate `config_path`."""
    info = running_info(state.resolve())
    if info is None:
        return None
    if Path(info["config"]) != config_path.resolve():
        raise ConfigError(
            f"the running sandbox emulates {info['config']}, not {config_path}: run "
            f"`python -m flows.sandbox down`, then `up --config {config_path}` (or pass "
            f"--config {info['config']} to use the running one)"
        )
    return _run_of(info)


def _run_of(info: dict[str, Any], *, temporary: bool = False) -> SandboxRun:
    env_file = Path(info["env_file"])
    environ = json.loads(env_file.read_text(encoding="utf-8"))
    if info.get("prefect_api_url") and not os.environ.get("PREFECT_API_URL"):
        environ["PREFECT_API_URL"] = info["prefect_api_url"]
    return SandboxRun(Path(info["sandbox_config"]), environ, info, temporary)


def running_info(state: Path) -> dict[str, Any] | None:
    """What `.sandbox/sandbox.json` says, when its process is alive."""
    try:
        info: dict[str, Any] = json.loads((state / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info.get("pid"), int) and _alive(info["pid"]) else None


def describe(info: dict[str, Any], *, started: bool) -> str:
    head = "sandbox up" if started else "sandbox running"
    serve = ["  python -m flows.serve --sandbox    # the deployments, for the UI"]
    return "\n".join(
        [
            f"{head} (pid {info['pid']}), emulating {info['config']}",
            f"  GitOps repo    {info['repo']}  (origin {info['origin']})",
            f"  Kubernetes     {info['kube_url']}  (kubeconfig {info['kubeconfig']}, context "
            f"{info['context']})",
            f"  Tailscale API  {info['tailnet_url']}  (tailnet {info['tailnet']})",
            *_prefect_lines(info),
            f"  its config     {info['sandbox_config']}",
            "use it:",
            "  python -m flows.migrate --slice all --sandbox --yes",
            *(serve if info.get("prefect_api_url") else []),
            "  python -m flows.sandbox fault proxy-never-ready --slice NAME",
            "  python -m flows.sandbox down",
        ]
    )


def _prefect_lines(info: dict[str, Any]) -> list[str]:
    if not info.get("prefect_api_url"):
        return []
    ui, api = info["prefect_ui_url"], info["prefect_api_url"]
    used = (
        "PREFECT_API_URL is set: --sandbox runs use that one"
        if os.environ.get("PREFECT_API_URL")
        else "--sandbox runs use it"
    )
    return [f"  Prefect UI     {ui}  (API {api}, data {info['prefect_home']}; {used})"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear(state: Path) -> None:
    """A stopped sandbox's files go before a new one starts."""
    if state.exists():
        shutil.rmtree(state)


if __name__ == "__main__":
    sys.exit(run_cli(main))
