"""Who could reach an exposure before: the Traefik middlewares in front of it, followed through
chains and across namespaces. A forward-auth or an IP allow-list keeps an app off the internet
(it is internal); what phase 2 replaces with the tailnet policy is named after them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ingress2tailscale.errors import InventoryError
from ingress2tailscale.kinds import (
    ALLOW_LIST_KEYS,
    FORWARD_AUTH_KEY,
    MIDDLEWARE_KIND,
    TRAEFIK_API_GROUPS,
)
from ingress2tailscale.model import Document, ResourceRef
from ingress2tailscale.repo.inventory import Inventory

Gate = Literal["forward-auth", "IP allow-list"]


@dataclass(frozen=True)
class Guard:
    """One middleware a route names: what it gates (through its chain), and what it does not
    carry over (e.g. headers). `found` is False when the repo does not hold it."""

    reference: str  # as the route writes it: `network-authentik@kubernetescrd`, `authentik`
    found: bool
    gates: tuple[tuple[str, Gate], ...] = ()  # (middleware name, what it gates)
    others: tuple[tuple[str, str], ...] = ()  # (middleware name, its type): not gates

    def phrases(self) -> list[str]:
        """`the authentik forward-auth`, `the lan-only IP allow-list`."""
        return [f"the {name} {gate}" for name, gate in self.gates]


def guards_of(
    inventory: Inventory, namespace: str, references: Sequence[tuple[str, str | None]]
) -> list[Guard]:
    """The guards of a route in `namespace` naming `references` ((name, namespace or None))."""
    found = []
    for reference, ns in references:
        doc = find_middleware(inventory, namespace, reference, ns)
        written = f"{ns}/{reference}" if ns else reference
        if doc is None:
            found.append(Guard(written, False))
            continue
        gates: list[tuple[str, Gate]] = []
        others: list[tuple[str, str]] = []
        _walk(inventory, doc, frozenset(), gates, others)
        found.append(Guard(written, True, tuple(gates), tuple(others)))
    return found


def is_internal(guards: Iterable[Guard]) -> bool:
    return any(g.gates or not g.found for g in guards)


def find_middleware(
    inventory: Inventory, namespace: str, reference: str, explicit_ns: str | None = None
) -> Document | None:
    """The applied Traefik Middleware a route names: `<namespace>-<name>@provider` (an
    Ingress annotation), or a name in `explicit_ns` or the route's own namespace."""
    wanted = reference.split("@")[0]
    for doc in inventory.of_kind(MIDDLEWARE_KIND, applied_only=True):
        if not doc.api_version.startswith(TRAEFIK_API_GROUPS):
            continue
        if explicit_ns is not None:
            if doc.namespace == explicit_ns and doc.name == wanted:
                return doc
        elif f"{doc.namespace}-{doc.name}" == wanted or (
            doc.namespace == namespace and doc.name == wanted
        ):
            return doc
    return None


def _walk(
    inventory: Inventory,
    doc: Document,
    seen: frozenset[ResourceRef],
    gates: list[tuple[str, Gate]],
    others: list[tuple[str, str]],
) -> None:
    spec = _spec(doc)
    if FORWARD_AUTH_KEY in spec:
        gates.append((doc.name, "forward-auth"))
    elif any(key in spec for key in ALLOW_LIST_KEYS):
        gates.append((doc.name, "IP allow-list"))
    elif "chain" in spec:
        chain = (spec.get("chain") or {}).get("middlewares") or []
        for item in chain if isinstance(chain, list) else []:
            name = str(item.get("name", "")) if isinstance(item, Mapping) else ""
            inner = find_middleware(inventory, doc.namespace, name)
            if inner is not None and inner.ref not in seen | {doc.ref}:
                _walk(inventory, inner, seen | {doc.ref}, gates, others)
    else:
        others.append((doc.name, ", ".join(str(k) for k in spec) or "empty"))


def _spec(doc: Document) -> Mapping[str, Any]:
    try:
        spec = doc.body.get("spec") or {}
    except InventoryError:
        return {}
    return spec if isinstance(spec, Mapping) else {}
