"""Bounds on every external command we run (`kubectl`, `terraform`, the apply command): memory
and CPU time are set in the child before it starts (setrlimit); wall-clock time is each
caller's timeout. A YAML alias bomb or a runaway plugin stops at the bound, not at the machine's."""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1024 * 1024
OUT_OF_MEMORY = ("cannot allocate memory", "out of memory", "MemoryError")


@dataclass(frozen=True)
class Limits:
    """Heap memory (RLIMIT_DATA: Go programs reserve address space they never use, so RLIMIT_AS
    would refuse to start them) and CPU seconds of one command and what it runs."""

    memory_bytes: int
    cpu_seconds: int

    def preexec(self) -> Callable[[], None]:
        memory, cpu = self.memory_bytes, self.cpu_seconds

        def apply_limits() -> None:  # runs in the child between fork and exec
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

        return apply_limits

    def describe(self) -> str:
        return f"{self.memory_bytes // MIB} MiB of memory or {self.cpu_seconds} s of CPU"

    def exceeded(self, returncode: int, output: str) -> bool:
        """Whether the command was stopped by one of these bounds."""
        by_signal = returncode in (-signal.SIGXCPU, -signal.SIGKILL)
        return by_signal or any(text in output for text in OUT_OF_MEMORY)


KUBECTL = Limits(1024 * MIB, 60)
TERRAFORM_FMT = Limits(512 * MIB, 30)
APPLY_COMMAND = Limits(4096 * MIB, 1800)  # terraform apply and its providers (each bounded)
