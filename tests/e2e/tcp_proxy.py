"""A TCP proxy a fault test can cut: the real server stays up, its clients lose it (issue 9).

`cut()` drops every open connection and then holds new ones open without forwarding a byte, as
a network partition does; `restore()` lets them through again. Threads only, on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


def _connect(target: tuple[str, int]) -> socket.socket:
    """A connection to the target: a TCP address, or (libpq's way of naming one) the Unix
    socket of a PostgreSQL whose host is a directory, as the embedded server's is."""
    host, port = target
    if host.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(f"{host}/.s.PGSQL.{port}")
        return sock
    return socket.create_connection(target, timeout=2)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`, until cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so the accept loop sees close() soon
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # forwarded connections, both ends
        self._held: list[socket.socket] = []  # accepted while cut, never answered
        self._cut = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection; new ones are accepted and then left without an answer."""
        with self._lock:
            self._cut = True
            dropped, self._open = self._open, set()
        for sock in dropped:
            _drop(sock)

    def restore(self) -> None:
        """Forward new connections again (the held ones are closed: they were never served)."""
        with self._lock:
            self._cut = False
            held, self._held = self._held, []
        for sock in held:
            _drop(sock)

    def close(self) -> None:
        """Stop accepting and drop everything."""
        self._closed.set()
        self._thread.join(2)
        self._listener.close()
        self.cut()
        self.restore()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._cut:
                    self._held.append(client)
                    continue
            try:
                upstream = _connect(self.target)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _drop(source)
            _drop(sink)


def _drop(sock: socket.socket) -> None:
    # shutdown first: it wakes a thread blocked in recv on the socket, close alone may not.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
