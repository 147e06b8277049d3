"""Small helpers shared by the embedded servers: start errors, log tails, stopping children."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType

_log = logging.getLogger("convtrack.runtime.supervisor")


class ServerDidNotStart(RuntimeError):
    """An embedded server did not come up in time; the message carries the tail of its log."""


def log_tail(path: Path, lines: int = 40) -> str:
    """Return the last `lines` lines of a log file, or a note saying why there are none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(no log at {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def terminate(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Stop a child politely (SIGTERM), then forcibly (SIGKILL) if it outlives `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _log.warning(
            "child ignored SIGTERM for %.1f s, killing it (pid %d)",
            timeout,
            process.pid,
            extra={"pid": process.pid, "timeout_seconds": timeout},
        )
        process.kill()
        # After SIGKILL the wait is short; it reaps the child so no zombie is left behind.
        process.wait(timeout=timeout)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_termination_signals() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks and atexit hooks stop embedded servers.

    Python dies on SIGTERM without unwinding, which would orphan nats-server and leave the
    embedded PostgreSQL running. SIGINT already raises KeyboardInterrupt. A handler someone else
    installed is left alone, and signals can only be handled from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_system_exit)
