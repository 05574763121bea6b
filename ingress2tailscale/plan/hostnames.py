"""The tailnet hostname every slice derives, indexed once per plan and kept current as the
slices before are applied: a duplicate-hostname question is one lookup, not a derivation of
every other slice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from ingress2tailscale.config import MigrationConfig
from ingress2tailscale.errors import PlanError
from ingress2tailscale.plan.exposure import derive_exposure
from ingress2tailscale.repo.inventory import Inventory

RefKey = tuple[str, str, str]


class HostnameIndex:
    """Slice -> the hostname it derives on an inventory (None: it cannot be derived there)."""

    def __init__(self, config: MigrationConfig, inventory: Inventory) -> None:
        self._config = config
        self._names = list(config.service_slices())
        self._by_ref: dict[RefKey, list[str]] = {}
        for name, sl in config.service_slices().items():
            key = (sl.source.kind, sl.source.namespace, sl.source.name)
            self._by_ref.setdefault(key, []).append(name)
        self._order = {name: i for i, name in enumerate(self._names)}
        self._host: dict[str, str | None] = {}
        self._by_host: dict[str, set[str]] = {}
        self._path: dict[str, str | None] = {}  # the file of the slice's `from` object
        self._by_path: dict[str, set[str]] = {}
        self._rederive(inventory, self._names)

    def users(self, hostname: str, but: str) -> list[str]:
        """The slices other than `but` deriving `hostname`, in config order."""
        users = self._by_host.get(hostname, set()) - {but}
        return sorted(users, key=self._order.__getitem__)

    def update(self, inventory: Inventory, changed: Iterable[str]) -> None:
        """`inventory` is the one before with the files `changed` (repo paths) replaced."""
        if inventory.kustomize_namespaces is not self._namespaces:
            self._rederive(inventory, self._names)  # rescoped: any document may have moved
            return
        affected: set[str] = set()
        for path in changed:
            affected |= self._by_path.get(path, set())
            for doc in inventory.in_file(path):
                affected.update(self._by_ref.get((doc.kind, doc.namespace, doc.name), ()))
        self._rederive(inventory, sorted(affected, key=self._order.__getitem__))

    def _rederive(self, inventory: Inventory, names: list[str]) -> None:
        self._namespaces = inventory.kustomize_namespaces
        slices = self._config.service_slices()
        for name in names:
            old = self._path.get(name)
            if old is not None:
                self._by_path[old].discard(name)
            sl = slices[name]
            source = inventory.find(sl.source.kind, sl.source.namespace, sl.source.name)
            self._path[name] = source.path if source is not None else None
            self._set_host(name, None)
            if source is None:  # gone (retired by phase 2), or never there
                continue
            self._by_path.setdefault(source.path, set()).add(name)
            with contextlib.suppress(PlanError):  # cannot be derived: no hostname to clash
                self._set_host(name, derive_exposure(self._config, inventory, name).hostname)

    def _set_host(self, name: str, hostname: str | None) -> None:
        old = self._host.get(name)
        if old is not None:
            self._by_host[old].discard(name)
        self._host[name] = hostname
        if hostname is not None:
            self._by_host.setdefault(hostname, set()).add(name)
