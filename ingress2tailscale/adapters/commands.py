"""The configured apply command (e.g. `terraform apply`): run without a shell, its output logged
with secrets masked, its process group stopped when it outlives the timeout."""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from ingress2tailscale.errors import ConfigError, TerraformError
from ingress2tailscale.limits import APPLY_COMMAND

OUTPUT_TAIL_LINES = 20
SECRET_ENV_VARS = ("TS_API_KEY", "TS_OAUTH_CLIENT_SECRET")
TOKEN_PATTERN = re.compile(r"tskey-[A-Za-z0-9_-]+")
MASK = "[redacted]"
READER_JOIN_SECONDS = 10.0

log = logging.getLogger(__name__)


def run_apply(command: str, *, cwd: Path, environ: Mapping[str, str], timeout: float) -> None:
    """Run the apply command without a shell, its output logged line by line with secrets
    masked; TerraformError with the output's tail when it fails or outlives `timeout`."""
    shown = mask_secrets(command, environ)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"tailscale.oauth_client.apply: cannot split `{shown}`: {exc}") from None
    log.info("running `%s` in %s", shown, cwd)
    lines: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    with _start(argv, cwd, environ, shown) as process:
        reader = threading.Thread(target=_log_output, args=(process.stdout, environ, lines))
        reader.start()
        code = _wait(process, timeout)
        reader.join(timeout=READER_JOIN_SECONDS)
    tail = ":\n" + "\n".join(lines) if lines else " (no output)"
    if code is None:
        raise TerraformError(f"`{shown}` did not finish in {timeout:.0f} s and was stopped{tail}")
    if code != 0 and APPLY_COMMAND.exceeded(code, "\n".join(lines)):
        raise TerraformError(
            f"`{shown}` needed more than {APPLY_COMMAND.describe()} and was stopped{tail}"
        )
    if code != 0:
        raise TerraformError(f"`{shown}` failed with exit code {code}{tail}")


def _start(
    argv: list[str], cwd: Path, environ: Mapping[str, str], shown: str
) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, so a timeout stops its children too
            preexec_fn=APPLY_COMMAND.preexec(),
        )
    except OSError as exc:
        raise TerraformError(f"cannot run `{shown}` in {cwd}: {exc.strerror}") from None


def _log_output(stream: IO[str], environ: Mapping[str, str], lines: deque[str]) -> None:
    """Each line of the command's output to the log, secrets masked; the last ones kept."""
    for raw in stream:
        line = mask_secrets(raw.rstrip("\n"), environ)
        log.info("apply: %s", line)
        lines.append(line)


def _wait(process: subprocess.Popen[str], timeout: float) -> int | None:
    """The exit code, or None after killing the process group when it took too long."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


def mask_secrets(text: str, environ: Mapping[str, str], extra: Iterable[str] = ()) -> str:
    """`text` without the Tailscale secrets of `environ` (and `extra`), nor any `tskey-` token."""
    for secret in [*(environ.get(name, "") for name in SECRET_ENV_VARS), *extra]:
        if secret.strip():
            text = text.replace(secret.strip(), MASK)
    return TOKEN_PATTERN.sub(MASK, text)
