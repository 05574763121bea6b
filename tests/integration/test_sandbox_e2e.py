"""Whole migrations on the sandbox, through the real command line: `python -m flows.sandbox up`
in the background, then `python -m flows.migrate --sandbox` against it (a real Prefect server,
real git with a bare origin, the Kubernetes and tailnet emulators, the Flux and operator
simulators, TCP and TLS probes over loopback)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from ingress2tailscale.adapters.kubernetes import connect
from tests.conftest import EXAMPLE_CONFIG, FIXTURE_REPO, ROOT, git, write_config
from tests.faults.test_approval_prompt import PROMPT, read_until
from tests.integration.prefect_server import clean_env, prefect_server, wait_until

pytestmark = pytest.mark.e2e
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect")) as url:
        yield url


class Sandboxed:
    """A sandbox up for one test in `tmp_path/.sandbox`, and commands run next to it."""

    def __init__(self, where: Path, api_url: str | None, config: Path = EXAMPLE_CONFIG) -> None:
        """`api_url`: the Prefect server the commands use (PREFECT_API_URL); None: the
        sandbox's own."""
        self.where, self.config = where, config
        self.env = clean_env(PYTHONPATH=str(ROOT))
        self.env |= {"PREFECT_API_URL": api_url} if api_url else {}
        self.info: dict[str, Any] = {}

    def up(self) -> Sandboxed:
        done = self.run("flows.sandbox", "up", "--config", str(self.config))
        assert done.returncode == 0, done.stderr + done.stdout
        assert "sandbox up" in done.stdout
        self.info = json.loads((self.where / ".sandbox" / "sandbox.json").read_text())
        return self

    def down(self) -> None:
        self.run("flows.sandbox", "down")

    def run(self, module: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.where,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            **options,
        )

    def migrate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("flows.migrate", "--sandbox", "--config", str(self.config), *args)

    def drift(self) -> subprocess.CompletedProcess[str]:
        return self.run(
            "flows.drift", "--sandbox", "--config", str(self.config), "--output", "json"
        )

    @property
    def prefect_api(self) -> str:
        """The server its runs are on."""
        return self.env.get("PREFECT_API_URL") or str(self.info["prefect_api_url"])

    @property
    def origin(self) -> Path:
        return Path(self.info["origin"])

    def tree(self) -> str:
        return git(self.origin, "rev-parse", "main^{tree}")

    def log(self) -> str:
        return git(self.origin, "log", "--format=%B", "main")


def fast_config(where: Path, repo: Path = FIXTURE_REPO, reachability: str = "required") -> Path:
    """The example config with waits short enough for a failure to be seen in seconds."""

    def edit(text: str) -> str:
        text = text.replace(
            "kubernetes:\n",
            "kubernetes:\n  timeouts: {reconcile_s: 60, ready_s: 15, recycle_s: 60}\n",
        )
        return (
            text + f"validate:\n  deadline_s: 10\n  retry_s: 0.5\n  reachability: {reachability}\n"
        )

    return write_config(where, repo, edit, cluster=True)


@pytest.fixture
def sandbox(tmp_path: Path, prefect_api: str) -> Iterator[Sandboxed]:
    box = Sandboxed(tmp_path, prefect_api, fast_config(tmp_path)).up()
    try:
        yield box
    finally:
        box.down()


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxed]:
    """One sandbox for the fault rehearsals, its tailnet prerequisites done once; its runs are
    on the sandbox's own Prefect server."""
    where = tmp_path_factory.mktemp("rehearsal")
    box = Sandboxed(where, None, fast_config(where)).up()
    try:
        done = box.migrate("--slice", "db", "--phase", "prereq")
        assert done.returncode == 0, done.stderr[-4000:]
        yield box
    finally:
        box.down()


def test_every_slice_of_the_demo_migrates_and_the_cluster_follows(sandbox: Sandboxed) -> None:
    done = sandbox.migrate("--slice", "all", "--yes", "--output", "json")
    assert done.returncode == 0, done.stderr[-4000:]
    outcomes = json.loads(done.stdout)
    assert [o["slice"] for o in outcomes] == [
        "db", "homepage", "pgadmin", "longhorn", "traefik", "grafana", "links",
    ]  # fmt: skip
    for outcome in outcomes[:-1]:
        names = [s["name"] for s in outcome["steps"]]
        assert names.count("validate") == 2 and "phase-2" in names, outcome
        checks = [c for s in outcome["steps"] for c in s.get("checks", [])]
        assert {c["check"] for c in checks} >= {"tailnet status", "tailnet device", "dns"}
        assert all(c["status"] == "pass" for c in checks), outcome
    assert outcomes[0]["sandbox"]["origin"] == sandbox.info["origin"]
    log = sandbox.log()
    assert log.count("Migration-Phase: 1") == 6 and log.count("Migration-Phase: 2") == 6
    with connect(Path(sandbox.info["kubeconfig"]), "sandbox", read_only=True) as kube:
        db = kube.exposed("Service", "tazlab-db", "tazlab-db-tailnet")
        assert db is not None and db.hostname == "tazlab-db.magellanic-gondola.ts.net"
        assert kube.exposed("Ingress", "pgadmin", "pgadmin") is None  # phase 2 retired it
        grafana = kube.exposed("Ingress", "monitoring", "grafana-tailnet")
        assert grafana is not None and grafana.hostname == "grafana.magellanic-gondola.ts.net"
    again = sandbox.migrate("--slice", "db", "--yes")
    assert again.returncode == 0, again.stderr[-4000:]
    assert sandbox.log() == log  # a completed slice: nothing to do, no commit
    drift = sandbox.drift()
    assert drift.returncode == 0, drift.stdout + drift.stderr[-4000:]
    probed = {(f["slice"], f["check"]) for f in json.loads(drift.stdout)["findings"]}
    assert {("db", "reachability: tcp 5432"), ("grafana", "reachability: https")} <= probed
    armed = sandbox.run("flows.sandbox", "fault", "dns-fails")  # no tailnet name resolves
    assert armed.returncode == 0, armed.stderr
    drifted = sandbox.drift()
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr[-4000:]
    found = [f for f in json.loads(drifted.stdout)["findings"] if f["drifted"]]
    # inconclusive, and drift because validate.reachability is required here
    assert {f["check"] for f in found} == {
        "reachability: dns", "reachability: tcp 5432", "reachability: https",
    }  # fmt: skip
    assert {f["slice"] for f in found} == {o["slice"] for o in outcomes[:-1]}
    assert all(f["inconclusive"] for f in found)


def test_a_running_sandbox_runs_the_prefect_server_its_runs_use_and_down_stops_it(
    tmp_path: Path,
) -> None:
    box = Sandboxed(tmp_path, None, fast_config(tmp_path)).up()
    try:
        api, ui = box.info["prefect_api_url"], box.info["prefect_ui_url"]
        status = box.run("flows.sandbox", "status")
        assert f"Prefect UI     {ui}  (API {api}" in status.stdout
        assert httpx.get(f"{ui}/ui-settings", timeout=10).json()["api_url"] == api
        assert "<html" in httpx.get(ui, follow_redirects=True, timeout=10).text.lower()
        done = box.migrate("--slice", "db", "--phase", "prereq")
        assert done.returncode == 0, done.stderr[-3000:]
        assert "temporary Prefect server" not in done.stderr
        assert f"sandbox: the run is on the sandbox's Prefect server (UI {ui})" in done.stderr
        drift = box.run("flows.drift", "--sandbox", "--config", str(box.config))
        assert drift.returncode == 0, drift.stderr[-3000:]
        assert "drift of 0 migrated slice(s)" in drift.stdout
        runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
        found = sorted((r["state_type"], r["parameters"].get("slice", "-")) for r in runs)
        assert found == [("COMPLETED", "-"), ("COMPLETED", "db")]  # the drift run, the migrate run
    finally:
        box.down()
    pids = (box.info["pid"], box.info["prefect_pid"])
    assert wait_until(lambda: not any(alive(pid) for pid in pids), 20, "the sandbox to stop")
    assert box.run("flows.sandbox", "status").stdout.strip() == "no sandbox is running"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(") ", 1)[1][0] != "Z"  # a zombie has ended


FAULTS = [
    ("refuse-tags", "grafana", "tailnet status"),
    ("proxy-never-ready", "db", "tailnet status"),
    ("https-off", "grafana", "tailnet status"),
    ("dns-fails", "pgadmin", "dns"),
    ("flux-fails", "db", "flux"),
    ("api-500", "longhorn", "tailnet device"),
]


@pytest.mark.parametrize(("fault", "slice_name", "check"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_fails_validation_and_the_slice_is_rolled_back(
    rehearsal: Sandboxed, fault: str, slice_name: str, check: str
) -> None:
    before = rehearsal.tree()
    scope = ["--slice", slice_name] if fault in ("refuse-tags", "proxy-never-ready") else []
    armed = rehearsal.run("flows.sandbox", "fault", fault, *scope)
    assert armed.returncode == 0, armed.stderr
    try:
        done = rehearsal.migrate("--slice", slice_name, "--phase", "1")
    finally:
        cleared = rehearsal.run("flows.sandbox", "fault", fault, *scope, "--clear")
        assert cleared.returncode == 0, cleared.stderr
    assert done.returncode == 1, done.stdout + done.stderr[-4000:]
    assert f"slice {slice_name} failed and was rolled back" in done.stderr
    assert f"validation failed: {check}" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert rehearsal.tree() == before  # the revert is pushed: origin's tree is as before
    assert git(rehearsal.origin, "log", "-1", "--format=%s", "main").startswith("Revert")
    if fault == "https-off":  # the rehearsal's next slices need it back on
        assert rehearsal.migrate("--slice", "db", "--phase", "prereq").returncode == 0


def test_provisioning_waits_for_the_operator_recycle_after_the_scopes_change(
    sandbox: Sandboxed,
) -> None:
    kubeconfig = Path(sandbox.info["kubeconfig"])

    def operator_pods() -> set[str]:
        with k8s_config.new_client_from_config(str(kubeconfig), context="sandbox") as api:
            listed = k8s.CoreV1Api(api).list_namespaced_pod("tailscale")
            return {
                p.metadata.name for p in listed.items if p.metadata.labels.get("app") == "operator"
            }

    early = sandbox.migrate("--slice", "db", "--phase", "1")  # the client lacks `services`
    assert early.returncode == 1, early.stderr[-3000:]
    assert "validation failed: tailnet status" in early.stderr
    assert "InvalidOAuth" in early.stderr or "services" in early.stderr
    before = operator_pods()
    prereq = sandbox.migrate("--slice", "db", "--phase", "prereq")
    assert prereq.returncode == 0, prereq.stderr[-3000:]
    assert "recycled the operator: new pod tailscale/" in prereq.stdout
    after = operator_pods()
    assert after and not after & before  # a new pod, the old one gone
    done = sandbox.migrate("--slice", "db", "--phase", "1")
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_seeds_mis_indented_service_is_stopped_before_any_commit(
    tmp_path: Path, prefect_api: str
) -> None:
    repo = tmp_path / "tazlab-k8s"
    shutil.copytree(FIXTURE_REPO, repo)
    service = repo / "apps/pgadmin/service.yaml"
    service.write_text(service.read_text().replace("\nspec:\n", "\n  spec:\n", 1))
    box = Sandboxed(tmp_path, prefect_api, fast_config(tmp_path, repo)).up()
    try:
        before = box.log()
        done = box.migrate("--slice", "pgadmin", "--yes")
        assert done.returncode == 2, done.stderr[-3000:]
        assert "indentation of `spec`" in done.stderr
        assert box.log() == before
    finally:
        box.down()


def test_a_config_of_another_repo_migrates_in_a_temporary_sandbox(
    tmp_path: Path, prefect_api: str
) -> None:
    config = write_other_repo(tmp_path)
    box = Sandboxed(tmp_path, prefect_api, config)
    done = box.migrate("--slice", "all", "--yes", "--output", "json")
    assert done.returncode == 0, done.stderr[-4000:]
    outcomes = json.loads(done.stdout)
    assert [o["slice"] for o in outcomes] == ["wiki", "cache", "status"]  # Ingress, LB, route
    for outcome in outcomes:
        checks = [c for s in outcome["steps"] for c in s.get("checks", [])]
        assert checks and all(c["status"] == "pass" for c in checks), outcome
    assert not Path(outcomes[0]["sandbox"]["repo"]).exists()  # the temporary one is gone
    assert not (tmp_path / ".sandbox").exists()


def test_rollback_after_a_completed_slice_restores_the_tree(sandbox: Sandboxed) -> None:
    before = sandbox.tree()
    done = sandbox.migrate("--slice", "pgadmin", "--yes")
    assert done.returncode == 0, done.stderr[-4000:]
    assert sandbox.tree() != before
    back = sandbox.migrate("--slice", "pgadmin", "--rollback")
    assert back.returncode == 0, back.stderr[-4000:]
    assert sandbox.tree() == before


def test_a_run_killed_between_the_phases_resumes_without_duplicate_commits(
    sandbox: Sandboxed,
) -> None:
    terminal, tty = os.openpty()  # the approval prompt needs a terminal
    argv = [sys.executable, "-m", "flows.migrate", "--sandbox", "--slice", "longhorn"]
    process = subprocess.Popen(
        [*argv, "--config", str(sandbox.config)],
        cwd=sandbox.where,
        env=sandbox.env,
        stdin=tty,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(tty)
    assert process.stdout is not None
    try:
        read_until(process.stdout.fileno(), PROMPT)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        os.close(terminal)
        process.stdout.close()
    assert sandbox.log().count("Migration-Phase: 1") == 1
    done = sandbox.migrate("--slice", "longhorn", "--yes")
    assert done.returncode == 0, done.stderr[-4000:]
    log = sandbox.log()
    assert log.count("Migration-Phase: 1") == 1 and log.count("Migration-Phase: 2") == 1


# --- a second repo, not the demo's: a different layout, names, tailnet and ports -------------

OTHER_FILES = {
    "cluster/flux/sync.yaml": """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: lab, namespace: flux-system}
spec:
  interval: 5m
  ref: {branch: trunk}
  url: https://git.lab.example.org/ops/lab.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: workloads, namespace: flux-system}
spec:
  interval: 10m
  path: ./workloads
  prune: true
  sourceRef: {kind: GitRepository, name: lab}
""",
    "workloads/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - wiki
  - cache
  - status
""",
    "workloads/status/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [uptime.yaml]
""",
    "workloads/status/uptime.yaml": """\
apiVersion: v1
kind: Namespace
metadata: {name: status}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: uptime, namespace: status}
spec:
  selector: {matchLabels: {app: uptime}}
  template:
    metadata: {labels: {app: uptime}}
    spec:
      containers: [{name: uptime, image: "ghcr.io/example/up:1", ports: [{containerPort: 3001}]}]
---
apiVersion: v1
kind: Service
metadata: {name: uptime, namespace: status}
spec:
  selector: {app: uptime}
  ports: [{name: web, port: 3001, targetPort: 3001}]
---
# the status page through a Traefik route of its own
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: uptime, namespace: status}
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`status.lab.example.org`)
      kind: Rule
      services: [{name: uptime, port: 3001}]
  tls: {secretName: status-tls}
""",
    "workloads/wiki/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [app.yaml, route.yaml]
""",
    "workloads/wiki/app.yaml": """\
apiVersion: v1
kind: Namespace
metadata: {name: docs}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: wiki, namespace: docs}
spec:
  selector: {matchLabels: {app: wiki}}
  template:
    metadata: {labels: {app: wiki}}
    spec:
      containers: [{name: wiki, image: "ghcr.io/example/wiki:3", ports: [{containerPort: 3000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: wiki, namespace: docs}
spec:
  selector: {app: wiki}
  ports: [{name: http, port: 3000, targetPort: 3000}]
""",
    "workloads/wiki/route.yaml": """\
# the wiki on the LAN name, through Traefik
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: wiki
  namespace: docs
spec:
  ingressClassName: traefik
  tls: [{hosts: [wiki.lab.example.org], secretName: wiki-tls}]
  rules:
    - host: wiki.lab.example.org
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: wiki, port: {number: 3000}}}}
""",
    "workloads/cache/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [redis.yaml]
""",
    "workloads/cache/redis.yaml": """\
apiVersion: v1
kind: Namespace
metadata: {name: cache}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis, namespace: cache}
spec:
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: "redis:7", ports: [{containerPort: 6379}]}]
---
apiVersion: v1
kind: Service
metadata:
  name: redis-lan
  namespace: cache
  annotations:
    metallb.universe.tf/loadBalancerIPs: 192.168.40.12
spec:
  type: LoadBalancer
  selector: {app: redis}
  ports: [{name: redis, port: 6379, targetPort: 6379}]
""",
}

OTHER_CONFIG = """\
tailnet: lab-otter.ts.net
gitops:
  path: {repo}
  branch: trunk
  flux: {{namespace: flux-system, source: lab, kustomizations: [workloads]}}
kubernetes:
  timeouts: {{reconcile_s: 60, ready_s: 15, recycle_s: 60}}
tailscale:
  oauth_client: {{scopes: [devices:core, auth_keys, services]}}
  policy:
    tag_owners: {{"tag:lab": ["tag:k8s-operator"]}}
    acls: [{{action: accept, src: ["tag:laptop"], dst: ["tag:lab:443", "tag:lab:6379"]}}]
validate: {{deadline_s: 10, retry_s: 0.5, reachability: required}}
slices:
  wiki:
    expose: https
    from: {{kind: Ingress, namespace: docs, name: wiki}}
    tags: ["tag:lab"]
  cache:
    expose: tcp
    from: {{kind: Service, namespace: cache, name: redis-lan}}
    hostname: lab-redis
    tags: ["tag:lab"]
  status:
    expose: https
    from: {{kind: IngressRoute, namespace: status, name: uptime}}
    tags: ["tag:lab"]
"""


def write_other_repo(where: Path) -> Path:
    """A small Flux repo of another shape (branch `trunk`, no Terraform: the operator's client
    is fixed through the keys API) and its config."""
    repo = where / "lab-ops"
    for name, text in OTHER_FILES.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(where, "init", "-q", "-b", "trunk", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Lab", "-c", "user.email=lab@example.org", "commit", "-qm", "lab")
    config = where / "lab.yaml"
    config.write_text(OTHER_CONFIG.format(repo=repo), encoding="utf-8")
    return config
