"""Failures armed for a rehearsal: which fault is on, for one tailnet hostname or for all.

A `Faults` is shared by the simulators of one sandbox and is safe across their threads. It can
be saved to a JSON file so another process (the `fault` command) arms it for a running sandbox:
`Faults(path)` re-reads that file on `refresh()`, which each simulator calls once per pass.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

REFUSE_TAGS = "refuse-tags"  # the operator treats the proxy's tags as not owned by its tag
PROXY_NEVER_READY = "proxy-never-ready"  # the proxy never authenticates: no status, no device
HTTPS_OFF = "https-off"  # the tailnet's HTTPS setting is turned off
DNS_FAILS = "dns-fails"  # the name is missing from the sandbox's name map
FLUX_FAILS = "flux-fails"  # the next reconcile of the Kustomization (or of all) fails
API_500 = "api-500"  # the tailnet API answers 500
FAULT_NAMES = (REFUSE_TAGS, PROXY_NEVER_READY, HTTPS_OFF, DNS_FAILS, FLUX_FAILS, API_500)
EVERYWHERE = "*"  # in the saved file: armed for every hostname (or Kustomization)
USED = "-"  # `-NAME` beside `*`: a one-shot fault already used up for NAME


class Faults:
    """Armed faults: name -> the hostnames (or Kustomization names) it applies to, or all."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._armed: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self.refresh()

    @classmethod
    def load(cls, path: Path) -> Faults:
        """The faults saved in `path` (none when it does not exist), kept in step with it."""
        return cls(path)

    def save(self, path: Path | None = None) -> Path:
        """Write the armed faults as JSON (atomically: a reader never sees half a file)."""
        target = path or self.path
        if target is None:
            raise ValueError("no file to save the faults to")
        with self._lock:
            data = {name: sorted(hosts) for name, hosts in sorted(self._armed.items())}
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(scratch, target)
        return target

    def arm(self, name: str, host: str | None = None) -> None:
        """Arm `name` for `host` (a tailnet hostname or a Kustomization name), or for all."""
        _check(name)
        with self._lock:
            self._armed.setdefault(name, set()).add(host or EVERYWHERE)
        self._write_back()

    def disarm(self, name: str | None = None, host: str | None = None) -> None:
        """Disarm `name` for `host` (or for all); no name: every fault."""
        with self._lock:
            if name is None:
                self._armed.clear()
            elif host is None:
                self._armed.pop(_check(name), None)
            else:
                self._armed.get(_check(name), set()).discard(host)
        self._write_back()

    def armed(self, name: str, host: str | None = None) -> bool:
        """Whether `name` applies to `host` (armed for it or for all); no host: armed at all."""
        with self._lock:
            return _applies(self._armed.get(_check(name), set()), host)

    def take(self, name: str, host: str) -> bool:
        """Whether `name` applies to `host`, using it up for that host (a one-shot fault such
        as `flux-fails`: the next reconcile of each Kustomization it names fails, the one
        after works again)."""
        with self._lock:
            hosts = self._armed.get(_check(name), set())
            hit = _applies(hosts, host)
            if host in hosts:
                hosts.discard(host)
            elif hit:
                hosts.add(f"{USED}{host}")  # armed for all: used up for this one
            if hosts and all(h.startswith(USED) for h in hosts):
                hosts.clear()
        if hit:
            self._write_back()
        return hit

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {name: sorted(hosts) for name, hosts in self._armed.items() if hosts}

    def refresh(self) -> None:
        """Re-read the file when it changed since the last read (another process armed one)."""
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # being replaced: the next pass reads it
        armed = {
            str(name): {str(h) for h in hosts}
            for name, hosts in (data.items() if isinstance(data, dict) else ())
            if name in FAULT_NAMES and isinstance(hosts, list)
        }
        with self._lock:
            self._armed, self._seen = armed, seen

    def _write_back(self) -> None:
        if self.path is not None:
            self.save()
            stat = self.path.stat()
            self._seen = (stat.st_mtime_ns, stat.st_size)


def _applies(hosts: set[str], host: str | None) -> bool:
    if host is None:
        return any(not h.startswith(USED) for h in hosts)
    return host in hosts or (EVERYWHERE in hosts and f"{USED}{host}" not in hosts)


def _check(name: str) -> str:
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}: one of {', '.join(FAULT_NAMES)}")
    return name
