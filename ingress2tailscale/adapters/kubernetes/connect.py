"""Connecting to a cluster: the in-cluster service account, or a kubeconfig's context
(checked first: a missing file or an unknown context is a `ConfigError` naming them), then
one GET /version with the credentials."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as _k8s_config
from kubernetes.config.config_exception import ConfigException

from ingress2tailscale.adapters.kubernetes.client import KubeClient
from ingress2tailscale.config import KubernetesTimeouts, MigrationConfig
from ingress2tailscale.errors import ConfigError, describe_yaml_error

DEFAULT_KUBECONFIG = Path("~/.kube/config")
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"

# `kubernetes.config` carries no annotations (the API classes do)
k8s_config: Any = _k8s_config


def connect(
    kubeconfig: Path | None = None,
    context: str | None = None,
    *,
    timeouts: KubernetesTimeouts | None = None,
    read_only: bool = False,
) -> KubeClient:
    """A client for `context` of `kubeconfig`, checked with one cheap read.

    Neither given: the in-cluster service account inside a pod, else the default kubeconfig
    (`$KUBECONFIG`, `~/.kube/config`) at its current context. Every problem is a
    `ConfigError` naming the file and context; an unreachable server is a `ClusterError`.
    """
    if kubeconfig is None and context is None and os.environ.get(IN_CLUSTER_ENV):
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(f"cannot use the in-cluster service account: {exc}") from None
        api_client = k8s.ApiClient(configuration)
        kube = KubeClient(api_client, timeouts=timeouts, source="in-cluster", read_only=read_only)
    else:
        path = (kubeconfig or _default_kubeconfig()).expanduser()
        context = _check_context(path, context)
        try:
            api_client = k8s_config.new_client_from_config(config_file=str(path), context=context)
        except (ConfigException, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"the kubeconfig {path} cannot be used with context {context!r}: "
                f"{type(exc).__name__}: {exc}; check kubernetes.kubeconfig and kubernetes.context"
            ) from None
        kube = KubeClient(
            api_client, context=context, source=str(path), timeouts=timeouts, read_only=read_only
        )
    try:
        kube.check_access()
    except BaseException:
        kube.close()
        raise
    return kube


def connect_cluster(config: MigrationConfig, *, read_only: bool = False) -> KubeClient | None:
    """The configured cluster's client; None when `kubernetes.enabled` is false."""
    kube = config.kubernetes
    if not kube.enabled:
        return None
    return connect(kube.kubeconfig, kube.context, timeouts=kube.timeouts, read_only=read_only)


def _default_kubeconfig() -> Path:
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first) if first else DEFAULT_KUBECONFIG


def _check_context(path: Path, context: str | None) -> str:
    """The context to use; a missing file or an unknown context is a ConfigError."""
    if not path.is_file():
        raise ConfigError(
            f"the kubeconfig {path} does not exist; set kubernetes.kubeconfig in the config "
            "(or $KUBECONFIG) to the file that reaches the cluster"
        )
    try:
        contexts, active = k8s_config.list_kube_config_contexts(config_file=str(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"the kubeconfig {path}: {describe_yaml_error(exc)}") from None
    except (ConfigException, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"the kubeconfig {path} cannot be read: {type(exc).__name__}: {exc}"
        ) from None
    names = sorted(str(c.get("name")) for c in contexts or [])
    known = ", ".join(names) or "none"
    if context is None:
        if not active:
            raise ConfigError(
                f"the kubeconfig {path} has no current-context; set kubernetes.context to one "
                f"of: {known}"
            )
        return str(active["name"])
    if context not in names:
        raise ConfigError(
            f"the kubeconfig {path} has no context {context!r}; known contexts: {known}; "
            "set kubernetes.context to one of them"
        )
    return context
