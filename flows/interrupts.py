"""Ctrl-C on the command line: a clean stop at the next safe point, never a half-done git
operation, and never a signal that reaches the run's helpers (git, kubectl, Prefect's server).

`install()` blocks SIGINT in the main thread before any helper starts, so every process and
thread started afterwards inherits it blocked; one thread waits for it instead. The first
Ctrl-C asks the run to stop between steps; a second one stops the main thread at once.
"""

from __future__ import annotations

import _thread
import select
import signal
import sys
import threading

from ingress2tailscale.errors import RunInterruptedError

STOP = threading.Event()
POLL_S = 0.2
_installed = threading.Event()


def install() -> None:
    if _installed.is_set() or threading.current_thread() is not threading.main_thread():
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    threading.Thread(target=_wait_for_ctrl_c, name="ctrl-c", daemon=True).start()
    _installed.set()


def _wait_for_ctrl_c() -> None:
    while True:
        signal.sigwait({signal.SIGINT})
        if STOP.is_set():
            _thread.interrupt_main()  # the second Ctrl-C: stop now
            return
        STOP.set()
        print(
            "\nCtrl-C: stopping at the next safe point (the current step finishes; "
            "Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


def check_stop(done: str) -> None:
    """A safe point: stop here when Ctrl-C was pressed; `done` says what is complete."""
    if STOP.is_set():
        raise RunInterruptedError(f"{done}; run the same command again to finish")


def read_answer(done: str) -> str:
    """A line from the terminal; Ctrl-C while waiting for it stops the run."""
    while True:
        check_stop(done)
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready:
            return sys.stdin.readline()
