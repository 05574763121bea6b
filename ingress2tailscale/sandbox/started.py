"""`with` for the sandbox's servers and loops: `start()` on entering, `stop()` on leaving."""

from __future__ import annotations

from typing import Self


class Started:
    """A base for what runs in the background: subclasses implement `start` and `stop`."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
