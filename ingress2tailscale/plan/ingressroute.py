"""A Traefik IngressRoute (`traefik.io/v1alpha1`, or the older `traefik.containo.us`) read as a
slice's source: `Host()` and `PathPrefix()`/`Path()` matches become the tailnet Ingress's host
and paths, `services[].name/port` its backends, `middlewares` what stood in front of it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HOST = re.compile(r"\bHost\(([^)]*)\)")
PATH = re.compile(r"\b(?:PathPrefix|Path)\(([^)]*)\)")
ARG = re.compile(r"`([^`]*)`|\"([^\"]*)\"")


@dataclass(frozen=True)
class RouteView:
    """What an IngressRoute routes: its hosts, paths and backends, in the order written."""

    hosts: tuple[str, ...]
    paths: tuple[tuple[str, str, int | str], ...]  # (path, service, port)
    others: tuple[str, ...]  # backends that are no Kubernetes Service of its namespace
    middlewares: tuple[tuple[str, str | None], ...]  # (name, namespace)
    tls_secret: str | None

    @property
    def backends(self) -> tuple[tuple[str, int | str], ...]:
        return tuple(dict.fromkeys((svc, port) for _, svc, port in self.paths))

    @property
    def references(self) -> tuple[str, ...]:
        """The middlewares as `namespace/name` (or a bare name)."""
        return tuple(f"{ns}/{name}" if ns else name for name, ns in self.middlewares)


def read_ingressroute(body: Mapping[str, Any]) -> RouteView:
    spec = body.get("spec") or {}
    namespace = (body.get("metadata") or {}).get("namespace")
    hosts: list[str] = []
    paths: list[tuple[str, str, int | str]] = []
    others: list[str] = []
    middlewares: list[tuple[str, str | None]] = []
    for route in spec.get("routes") or []:
        match = str(route.get("match") or "")
        hosts += [h for h in _args(HOST, match) if h not in hosts]
        route_paths = _args(PATH, match) or ["/"]
        for service in route.get("services") or []:
            name, kind = str(service.get("name", "")), service.get("kind") or "Service"
            other_ns = service.get("namespace") not in (None, namespace)
            if kind != "Service" or "@" in name or other_ns:
                others.append(f"{name} ({kind})" if kind != "Service" else name)
                continue
            port = service.get("port", 80)
            port = port if isinstance(port, int) else str(port)
            paths += [(p, name, port) for p in route_paths]
        for mw in route.get("middlewares") or []:
            ref = (str(mw.get("name", "")), mw.get("namespace"))
            if ref not in middlewares:
                middlewares.append(ref)
    tls = spec.get("tls") if isinstance(spec.get("tls"), Mapping) else {}
    secret = tls.get("secretName") if tls else None
    return RouteView(tuple(hosts), tuple(paths), tuple(others), tuple(middlewares), secret)


def ingress_paths(view: RouteView) -> list[dict[str, Any]]:
    """The routes as Ingress HTTP paths (Traefik's PathPrefix is an Ingress Prefix path)."""
    return [
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {"service": {"name": service, "port": _port(port)}},
        }
        for path, service, port in view.paths
    ]


def _port(port: int | str) -> dict[str, int | str]:
    return {"number": port} if isinstance(port, int) else {"name": port}


def _args(pattern: re.Pattern[str], match: str) -> list[str]:
    found = []
    for call in pattern.findall(match):
        found += [a or b for a, b in ARG.findall(call)]
    return found
