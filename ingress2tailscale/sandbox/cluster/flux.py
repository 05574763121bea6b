"""A small Flux: the GitRepository follows a branch of a bare `origin`, each Kustomization
applies its path at that revision into the emulated cluster, prunes what it no longer renders,
and reports its status the way kustomize-controller does (contract C.1).

It acts on `reconcile.fluxcd.io/requestedAt` (the GitRepository: fetch the branch head; a
Kustomization: apply again) and on a new source revision (every Kustomization follows it).
On failure nothing of that Kustomization is applied: `Ready=False` with the reason and the
message, `lastAttemptedRevision` only. `reconcile_all()` loads the cluster at start-up.
"""

from __future__ import annotations

import contextlib
import io
import logging
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingress2tailscale.kinds import (
    FLUX_NAME_LABEL,
    FLUX_NAMESPACE_LABEL,
    GIT_REPOSITORY,
    KUSTOMIZATION,
    READY_CONDITION,
    RECONCILE_ANNOTATION,
    ApiKind,
)
from ingress2tailscale.repo.inventory import read_inventory
from ingress2tailscale.sandbox.cluster.kube import KubeEmulator
from ingress2tailscale.sandbox.cluster.loop import DEFAULT_INTERVAL_S, PollLoop
from ingress2tailscale.sandbox.cluster.render import (
    BuildError,
    Source,
    dry_run_errors,
    kubectl_binary,
    render,
)
from ingress2tailscale.sandbox.faults import FLUX_FAILS, Faults

GIT_TIMEOUT_S = 30
MAX_PASSES = 20  # reconcile_all: Kustomizations applying Kustomizations, this deep at most
APPLY_FIRST = ("Namespace", "CustomResourceDefinition")  # Flux applies these in a first stage
LOCAL_FIELDS = ("status",)  # what an apply never writes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """One reconcile of a Kustomization: Ready or not, at which revision, and why."""

    namespace: str
    name: str
    revision: str
    ready: bool
    reason: str
    message: str


class FluxSimulator(PollLoop):
    """Flux's source and kustomize controllers over `origin` and the emulated cluster."""

    name = "flux-simulator"

    def __init__(
        self,
        kube: KubeEmulator,
        origin: Path,
        branch: str,
        namespace: str = "flux-system",
        source: str = "flux-system",
        faults: Faults | None = None,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        kubectl: str | None = "auto",
    ) -> None:
        super().__init__(interval_s)
        self.kube, self.origin, self.branch = kube, origin, branch
        self.namespace, self.source = namespace, source
        self.faults = faults or Faults()
        self.kubectl = kubectl_binary() if kubectl == "auto" else kubectl
        self._scratch = Path(tempfile.mkdtemp(prefix="flux-simulator-"))
        self._sources: dict[str, Source] = {}
        self._applied: dict[tuple[str, str, str], dict[str, Any]] = {}  # what we last applied

    def stop(self) -> None:
        super().stop()
        with self.lock:
            self._sources.clear()
            shutil.rmtree(self._scratch, ignore_errors=True)

    # --- the passes ---------------------------------------------------------------------

    def reconcile_all(self) -> list[Outcome]:
        """Fetch the branch head and apply every Kustomization, those that others apply too."""
        with self.lock:
            self.faults.refresh()
            revision = self._fetch(requested=None)
            sha = revision.rpartition(":")[2]
            self._bootstrap(sha)
            done: dict[tuple[str, str], Outcome] = {}
            for _ in range(MAX_PASSES):
                pending = [k for k in self._kustomizations() if _key(k) not in done]
                if not pending:
                    break
                for ks in pending:
                    done[_key(ks)] = self._reconcile(ks, revision)
            return list(done.values())

    def step(self) -> None:
        """One pass: a requested source fetch, then each Kustomization that is asked to
        reconcile or whose source moved on."""
        with self.lock:
            self.faults.refresh()
            repo = self.kube.get(GIT_REPOSITORY, self.namespace, self.source)
            if repo is None:
                return
            if _requested(repo):
                self._fetch(requested=_requested(repo))
                repo = self.kube.get(GIT_REPOSITORY, self.namespace, self.source) or repo
            revision = ((repo.get("status") or {}).get("artifact") or {}).get("revision")
            if not revision:
                return
            for ks in self._kustomizations():
                status = ks.get("status") or {}
                if _requested(ks) or status.get("lastAttemptedRevision") != revision:
                    self._reconcile(ks, str(revision))

    # --- the source ---------------------------------------------------------------------

    def _fetch(self, requested: str | None) -> str:
        """Resolve the branch head of `origin` into the GitRepository's artifact revision."""
        sha = self._git("rev-parse", f"refs/heads/{self.branch}").strip()
        revision = f"{self.branch}@sha1:{sha}"
        status: dict[str, Any] = {
            "artifact": {"revision": revision},
            "conditions": [
                _condition("True", "Succeeded", f"stored artifact for revision '{revision}'")
            ],
        }
        if requested:
            status["lastHandledReconcileAt"] = requested
        if self.kube.get(GIT_REPOSITORY, self.namespace, self.source) is None:
            self.kube.create(self._git_repository())
        self.kube.patch(
            GIT_REPOSITORY, self.namespace, self.source, {"status": status}, subresource="status"
        )
        return revision

    def _git_repository(self) -> dict[str, Any]:
        return {
            "apiVersion": GIT_REPOSITORY.api_version,
            "kind": GIT_REPOSITORY.kind,
            "metadata": {"name": self.source, "namespace": self.namespace},
            "spec": {
                "interval": "1m0s",
                "ref": {"branch": self.branch},
                "url": f"file://{self.origin}",
            },
        }

    def _checkout(self, sha: str) -> Source:
        """The commit's tree in a scratch folder, read into the product's inventory."""
        if sha not in self._sources:
            root = self._scratch / sha
            archive = subprocess.run(
                ["git", "--git-dir", str(self.origin), "archive", "--format=tar", sha],
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=True,
            ).stdout
            # a `.git` folder keeps the inventory's scan cache inside the checkout (removed
            # with it) rather than one file per commit in the user's cache folder
            (root / ".git").mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(root, filter="data")
            self._sources = {sha: Source(root, read_inventory(root))}  # one commit kept
        return self._sources[sha]

    def _git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "--git-dir", str(self.origin), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} in {self.origin}: {done.stderr.strip()}")
        return done.stdout

    # --- Kustomizations -----------------------------------------------------------------

    def _bootstrap(self, sha: str) -> None:
        """Create the Kustomizations nothing in the repo applies (`flux bootstrap` did)."""
        source = self._checkout(sha)
        applied = source.inventory.applied
        if applied is None:
            return  # no Flux Kustomization in the repo
        for ks, _ in applied.live:
            if any(other != ks.ref for other in applied.appliers(ks.file)):
                continue  # another Kustomization applies it
            doc = source.inventory.get(ks.ref)
            namespace = ks.ref.namespace or self.namespace
            if doc is None or self.kube.get(KUSTOMIZATION, namespace, ks.ref.name):
                continue
            body = _without(dict(doc.body), LOCAL_FIELDS)
            body["metadata"] = {**(body.get("metadata") or {}), "namespace": namespace}
            self.kube.create(body)

    def _kustomizations(self) -> list[dict[str, Any]]:
        return sorted(self.kube.list(KUSTOMIZATION), key=lambda k: _key(k))

    def _reconcile(self, ks: Mapping[str, Any], revision: str) -> Outcome:
        namespace, name = _key(ks)
        spec = ks.get("spec") or {}
        try:
            if self.faults.take(FLUX_FAILS, name):
                raise BuildError(
                    "ReconciliationFailed",
                    f"the sandbox's {FLUX_FAILS} fault failed this reconcile of {name}; "
                    "the next one works again",
                )
            source = self._checkout(revision.rpartition(":")[2])
            path = _normal(str(spec.get("path") or "."))
            objects = render(source, path, spec.get("targetNamespace"), self.kubectl)
            inventory = self._apply(namespace, name, objects, bool(spec.get("prune")), ks)
        except BuildError as exc:
            outcome = Outcome(namespace, name, revision, False, exc.reason, exc.message)
            self._report(ks, outcome, None)
            log.info("Kustomization %s/%s failed at %s: %s", namespace, name, revision, exc)
            return outcome
        outcome = Outcome(
            namespace,
            name,
            revision,
            True,
            "ReconciliationSucceeded",
            f"Applied revision: {revision}",
        )
        self._report(ks, outcome, inventory)
        return outcome

    def _apply(
        self,
        namespace: str,
        name: str,
        objects: list[dict[str, Any]],
        prune: bool,
        ks: Mapping[str, Any],
    ) -> list[dict[str, str]]:
        """Validate everything, then create or update each object and prune the rest."""
        planned: list[tuple[ApiKind, dict[str, Any]]] = []
        problems: list[str] = []
        for obj in sorted(objects, key=lambda o: o.get("kind") not in APPLY_FIRST):
            api = self._kind(obj)
            meta = dict(obj.get("metadata") or {})
            if api.namespaced:
                meta.setdefault("namespace", "default")
            else:
                meta.pop("namespace", None)
            labels = {
                **(meta.get("labels") or {}),
                FLUX_NAME_LABEL: name,
                FLUX_NAMESPACE_LABEL: namespace,
            }
            desired = {**_without(obj, LOCAL_FIELDS), "metadata": {**meta, "labels": labels}}
            problems += dry_run_errors(desired, meta.get("namespace"))
            planned.append((api, desired))
        if problems:
            raise BuildError("ReconciliationFailed", "\n".join(problems))
        entries = [_entry(api, desired) for api, desired in planned]
        for api, desired in planned:
            self._put(api, desired)
        if prune:
            self._prune(ks, {e["id"] for e in entries})
        return entries

    def _kind(self, obj: Mapping[str, Any]) -> ApiKind:
        if obj.get("kind") == "CustomResourceDefinition":
            self._serve_crd(obj)
        return self.kube.api_kind(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
        """A CRD in the repo: serve its kind as it declares it."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            if isinstance(version, Mapping) and names.get("kind") and names.get("plural"):
                self.kube.serve(
                    (
                        ApiKind(
                            str(names["kind"]),
                            str(spec.get("group") or ""),
                            str(version.get("name")),
                            str(names["plural"]),
                            namespaced=spec.get("scope") != "Cluster",
                            crd_of="a CRD in the repo",
                        ),
                    )
                )

    def _put(self, api: ApiKind, desired: dict[str, Any]) -> None:
        meta = desired["metadata"]
        key = (
            api.api_version + "/" + api.kind,
            str(meta.get("namespace") or ""),
            str(meta["name"]),
        )
        live = self.kube.get(api, meta.get("namespace"), meta["name"])
        if live is None:
            self.kube.create(desired)
        else:  # fields we applied before and no longer render are removed, as SSA does
            patch = _merge_patch(self._applied.get(key, {}), desired)
            if patch:
                self.kube.patch(api, meta.get("namespace"), meta["name"], patch)
        self._applied[key] = desired

    def _prune(self, ks: Mapping[str, Any], keep: set[str]) -> None:
        before = ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []
        for entry in before:
            if entry.get("id") in keep:
                continue
            namespace, name, group, kind = str(entry.get("id")).split("_", 3)
            api_version = f"{group}/{entry.get('v')}" if group else str(entry.get("v"))
            api = self.kube.api_kind(api_version, kind)
            with contextlib.suppress(LookupError):  # gone already
                self.kube.delete(api, namespace or None, name)
            self._applied.pop((f"{api_version}/{kind}", namespace, name), None)

    def _report(
        self, ks: Mapping[str, Any], outcome: Outcome, inventory: list[dict[str, str]] | None
    ) -> None:
        status: dict[str, Any] = {
            "conditions": [
                _condition("True" if outcome.ready else "False", outcome.reason, outcome.message)
            ],
            "lastAttemptedRevision": outcome.revision,
            "observedGeneration": 1,
        }
        if _requested(ks):
            status["lastHandledReconcileAt"] = _requested(ks)
        if inventory is not None:
            status["lastAppliedRevision"] = outcome.revision
            status["inventory"] = {"entries": inventory}
        self.kube.patch(
            KUSTOMIZATION, outcome.namespace, outcome.name, {"status": status}, subresource="status"
        )


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _requested(obj: Mapping[str, Any]) -> str | None:
    """The reconcile request not handled yet, if any."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    asked = (meta.get("annotations") or {}).get(RECONCILE_ANNOTATION)
    return str(asked) if asked and asked != status.get("lastHandledReconcileAt") else None


def _condition(status: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": READY_CONDITION,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
        "observedGeneration": 1,
    }


def _entry(api: ApiKind, obj: Mapping[str, Any]) -> dict[str, str]:
    """Flux's inventory entry: `<namespace>_<name>_<group>_<kind>` and the version."""
    meta = obj.get("metadata") or {}
    ident = f"{meta.get('namespace') or ''}_{meta['name']}_{api.group}_{api.kind}"
    return {"id": ident, "v": api.version}


def _merge_patch(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch from `before` to `after` (a key dropped since becomes null)."""
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            inner = _merge_patch(old, value)
            if inner:
                patch[key] = inner
        elif value != old or key not in before:
            patch[key] = value
    return patch


def _without(obj: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _normal(path: str) -> str:
    normal = posixpath.normpath(path.lstrip("/").removeprefix("./"))
    return "." if normal in ("", ".") else normal
