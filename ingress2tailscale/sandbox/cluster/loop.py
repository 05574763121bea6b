"""The poll loop both simulators run: `step()` once per interval in a background thread, until
`stop()`. Tests call `step()` themselves instead, for passes they can count."""

from __future__ import annotations

import logging
import threading

from ingress2tailscale.sandbox.started import Started

DEFAULT_INTERVAL_S = 0.1

log = logging.getLogger(__name__)


class PollLoop(Started):
    """A controller's loop: subclasses implement `step()` (one pass, safe to call any time)."""

    name = "controller"

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.lock = threading.RLock()  # one pass at a time, from the loop or a test
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10 * self.interval_s + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # a pass that failed is logged; the next pass tries again
                log.exception("%s: a pass failed", self.name)
