"""The `oauth-scopes` step: the operator's OAuth client has the scopes it needs, both in its
Terraform file (edited, committed, applied with the configured command) and live (keys API)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingress2tailscale.adapters.commands import mask_secrets, run_apply
from ingress2tailscale.adapters.git_repo import commit_file, read_exact, trailers_for
from ingress2tailscale.adapters.kubernetes import KubeClient
from ingress2tailscale.adapters.tailscale_api import TailscaleClient
from ingress2tailscale.config import MigrationConfig, OAuthClientConfig
from ingress2tailscale.edit.terraform import (
    LEGACY_SCOPES,
    OAuthClientResource,
    ScopesEdit,
    check_terraform_fmt,
    edit_scopes,
    find_oauth_client,
)
from ingress2tailscale.errors import (
    ClusterError,
    ClusterNotFoundError,
    ConfigError,
    TailscaleError,
    TerraformError,
)
from ingress2tailscale.model import Change, FileChange, RemoteChange, Step
from ingress2tailscale.steps.oauth_lookup import LiveClient, find_live_client

STEP_NAME = "oauth-scopes"
RECYCLE_NOTE = "the operator pod must be recycled to pick up new tokens"
RECYCLE_PLAN = (
    "then the operator pod is recycled and must come back Ready, and the operator's own "
    "credentials must list /vip-services"
)
PHASE = "prereq"
NO_MATCH = (
    "no live OAuth client matches it yet (set tailscale.oauth_client.client_id if it exists: "
    "with an API key the keys list may show only that user's keys)"
)
NOT_CONFIGURED = "no tailscale.oauth_client in the config: the OAuth client is left as it is"
APPLY_TIMEOUT_SECONDS = 900.0
OAUTH_RESOURCE_TYPE = "tailscale_oauth_client"
OAUTH_BLOCK = re.compile(rf'^[ \t]*resource\s+"{OAUTH_RESOURCE_TYPE}"\s+"([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class TerraformFile:
    """The .tf file of the OAuth client: where it is, the resource in it, and the scopes edit."""

    path: Path
    resource: OAuthClientResource
    edit: ScopesEdit


@dataclass(frozen=True)
class _Found:
    """The .tf file (None: not configured) and the live client (None: not found or not read)."""

    tf: TerraformFile | None
    live: LiveClient | None
    lacking: Sequence[str]  # wanted scopes the live client lacks
    checked: bool = True  # False: the live client was not read (no credentials)

    @property
    def complete(self) -> bool:
        return (self.tf is None or not self.tf.edit.added) and not self.lacking


def plan_oauth_scopes(
    config: MigrationConfig, client: TailscaleClient | None, *, cluster: bool = False
) -> Step:
    """What the .tf file and the live client lack; read-only (`client` None: .tf only).
    `cluster`: the run will have a cluster to recycle the operator in."""
    oauth = config.tailscale.oauth_client
    if oauth is None:
        return Step(STEP_NAME, "none", NOT_CONFIGURED)
    if client is None:
        tf = read_terraform(oauth)
        reason = _says(oauth, _Found(tf, None, (), checked=False))
        return Step(STEP_NAME, "unknown", reason, _changes(oauth, tf))
    found = _look(client, oauth)
    if found.complete:
        return Step(STEP_NAME, "none", _says(oauth, found))
    reason = _join(_says(oauth, found), RECYCLE_PLAN if cluster else RECYCLE_NOTE)
    return Step(STEP_NAME, "change", reason, _changes(oauth, found.tf))


def apply_oauth_scopes(
    config: MigrationConfig,
    client: TailscaleClient,
    run_id: str,
    slice_name: str,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = APPLY_TIMEOUT_SECONDS,
    kube: KubeClient | None = None,
) -> Step:
    """Edit and commit the .tf, run the apply command, confirm the live client's scopes, then
    (with a cluster) recycle the operator's pod and check its own credentials.

    Does nothing (no commit, no command) when the file and the live client already have them.
    `environ` is the apply command's environment (default: this process's)."""
    oauth = config.tailscale.oauth_client
    if oauth is None:
        return Step(STEP_NAME, "none", NOT_CONFIGURED)
    found = _look(client, oauth)
    if found.complete:
        return Step(STEP_NAME, "none", _says(oauth, found))
    tf = found.tf
    done = [commit_terraform(tf, run_id, slice_name)] if tf and tf.edit.added else []
    env = os.environ if environ is None else environ
    try:
        done.append(_make_live(config, client, oauth, found.live, env, timeout))
    except TerraformError as exc:
        if not done:
            raise
        raise TerraformError(
            f"{exc}\n{done[0]}, but it is not applied yet: fix the apply and run the step "
            "again (it finds the file done and only applies), or revert that commit"
        ) from exc
    after = _look(client, oauth)
    if after.lacking:
        raise TerraformError(
            f"after the update the live OAuth client still lacks {', '.join(after.lacking)} "
            f"({_live_says(after.live, after.lacking)}); check that `apply` targets "
            f"{oauth.resource}"
        )
    picked_up = RECYCLE_NOTE if kube is None else recycle_operator(config, kube)
    reason = _join(*done, _says(oauth, _Found(None, after.live, ())), picked_up)
    return Step(STEP_NAME, "change", reason, _changes(oauth, tf))


def recycle_operator(config: MigrationConfig, kube: KubeClient) -> str:
    """The operator reads its OAuth client once, at start (contract B.1): delete its pod, wait
    for a new Ready one, then check that its credentials can list the tailnet's VIP services
    (#19471). Raises ClusterError when the pod does not come back, TailscaleError when the
    operator's client still cannot list them."""
    op = config.kubernetes.operator
    selector = kube.deployment_selector(op.namespace, op.deployment)
    pod = kube.recycle_pods(op.namespace, selector, kube.timeouts.recycle_s)
    recycled = f"recycled the operator: new pod {op.namespace}/{pod} is Ready"
    return _join(recycled, _operator_lists_services(config, kube))


def _operator_lists_services(config: MigrationConfig, kube: KubeClient) -> str:
    op = config.kubernetes.operator
    where = f"Secret {op.namespace}/{op.oauth_secret}"
    try:
        credentials = kube.oauth_client_of(op.namespace, op.oauth_secret)
    except ClusterNotFoundError:
        return f"could not check the operator's credentials: no {where}"
    except ClusterError as exc:
        return f"could not check the operator's credentials: {exc}"
    if credentials is None:
        return f"could not check the operator's credentials: {where} lacks client_id/client_secret"
    api = config.tailscale.api_url
    with TailscaleClient(credentials, api_url=api, tailnet=config.tailnet) as operator:
        try:
            operator.list_vip_services()
        except TailscaleError as exc:
            raise TailscaleError(
                f"the operator's OAuth client {credentials.client_id} ({where}) cannot list "
                f"/vip-services: {exc}; it needs the `services` scope (#19471)"
            ) from exc
    return f"the operator's client {credentials.client_id} lists /vip-services"


def _look(client: TailscaleClient, oauth: OAuthClientConfig) -> _Found:
    tf = read_terraform(oauth)
    live = find_live_client(client, oauth, tf.resource if tf else None)
    return _Found(tf, live, missing_scopes(oauth.scopes, live.key.scopes if live else ()))


def missing_scopes(wanted: Sequence[str], have: Sequence[str]) -> list[str]:
    """Wanted scopes the client lacks; a legacy scope (`devices`) grants its successor."""
    return [s for s in dict.fromkeys(wanted) if s not in have and LEGACY_SCOPES.get(s) not in have]


def read_terraform(oauth: OAuthClientConfig) -> TerraformFile | None:
    """The configured .tf file and the scopes edit it needs; None when no file is configured."""
    if oauth.terraform is None:
        return None
    path = oauth.terraform
    try:
        text = read_exact(path)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the Terraform file (tailscale.oauth_client.terraform): "
            f"{exc.strerror}"
        ) from exc
    try:
        resource = find_oauth_client(text, oauth.resource, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{exc}{_clients_in(text)}") from exc
    return TerraformFile(path, resource, edit_scopes(text, oauth.resource, oauth.scopes, str(path)))


def _clients_in(text: str) -> str:
    """A hint naming the OAuth client resources the file does have, with their lines."""
    found = [
        f"{OAUTH_RESOURCE_TYPE}.{m.group(1)} at line {text.count(chr(10), 0, m.start(1)) + 1}"
        for m in OAUTH_BLOCK.finditer(text)
    ]
    return f" (the file has {', '.join(found)})" if found else ""


def commit_terraform(tf: TerraformFile, run_id: str, slice_name: str) -> str:
    """Write the edited .tf (`terraform fmt`-checked when installed) and commit it in its repo."""
    problem = check_terraform_fmt(tf.edit.after)
    if problem and check_terraform_fmt(tf.edit.before) is None:
        raise TerraformError(f"{tf.path}: the edited file fails {problem}; nothing was written")
    name = tf.resource.name
    subject = f"Tailscale OAuth client {name}: add scopes {', '.join(tf.edit.added)}"
    body = (
        "The Tailscale Kubernetes operator needs them to create proxies\n"
        "(tailscale/tailscale#19471 for `services`)."
    )
    trailers = trailers_for(slice_name, PHASE, run_id)
    sha = commit_file(tf.path, (tf.edit.before, tf.edit.after), subject, body, trailers)
    added = ", ".join(tf.edit.added)
    if sha is None:
        return f"added {added} to {tf.path} (not in a git repo: written, not committed)"
    return f"added {added} to {tf.path} and committed it ({sha[:12]})"


def _make_live(
    config: MigrationConfig,
    client: TailscaleClient,
    oauth: OAuthClientConfig,
    live: LiveClient | None,
    environ: Mapping[str, str],
    timeout: float,
) -> str:
    """Bring the live client in line: the configured apply command, or the keys API."""
    if oauth.apply:
        cwd = config.source_path.resolve().parent  # paths in the config are relative to it
        run_apply(oauth.apply, cwd=cwd, environ=environ, timeout=timeout)
        return f"ran `{mask_secrets(oauth.apply, environ)}`"
    if oauth.terraform is not None:
        raise TerraformError(
            f"{oauth.terraform} now has the scopes, but tailscale.oauth_client.apply is not set: "
            "run `terraform apply` for it yourself (or set `apply`), then run the step again"
        )
    if live is None:  # find_live_client raises before this when client_id is set
        raise ConfigError("tailscale.oauth_client: set client_id or terraform")
    scopes = [*live.key.scopes, *missing_scopes(oauth.scopes, live.key.scopes)]
    client.update_oauth_client(
        live.key.id, scopes=scopes, tags=list(live.key.tags), description=live.key.description
    )
    return f"set the scopes of OAuth client {live.key.id} through the keys API"


def _changes(oauth: OAuthClientConfig, tf: TerraformFile | None) -> tuple[Change, ...]:
    changes: list[Change] = []
    if tf is not None and tf.edit.added:
        edited = {"path": str(tf.path), "diff": _diff(tf)}
        changes.append(RemoteChange("terraform", "modify", edited))
    if oauth.apply:
        command = mask_secrets(oauth.apply, os.environ)
        changes.append(RemoteChange("terraform", "apply", {"command": command}))
    elif tf is None:
        wanted = {"client_id": oauth.client_id, "scopes": list(oauth.scopes)}
        changes.append(RemoteChange("tailscale", "update-oauth-client", wanted))
    return tuple(changes)


def _diff(tf: TerraformFile) -> str:
    return FileChange(tf.path.name, "modify", tf.edit.before, tf.edit.after).diff


def _says(oauth: OAuthClientConfig, found: _Found) -> str:
    """What the file and the live client have, and the legacy scope names that count."""
    parts = []
    if found.tf is not None:
        where = f"{found.tf.path} line {found.tf.resource.line}: {oauth.resource}"
        added = found.tf.edit.added
        parts.append(f"{where} lacks {', '.join(added)}" if added else f"{where} has them")
    parts.append(
        _live_says(found.live, found.lacking)
        if found.checked
        else "could not check the live OAuth client"
    )
    have = {*(found.tf.resource.scopes if found.tf else ()), *_live_scopes(found.live)}
    legacy = [s for s in oauth.scopes if s not in have and LEGACY_SCOPES.get(s) in have]
    parts += [f"the legacy scope `{LEGACY_SCOPES[s]}` grants `{s}`" for s in legacy]
    return _join(*parts)


def _live_says(live: LiveClient | None, lacking: Sequence[str]) -> str:
    if live is None:
        return NO_MATCH
    state = f"lacks {', '.join(lacking)}" if lacking else "has the scopes"
    return f"live OAuth client {live.key.id} (matched {live.how}) {state}"


def _live_scopes(live: LiveClient | None) -> tuple[str, ...]:
    return live.key.scopes if live else ()


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
