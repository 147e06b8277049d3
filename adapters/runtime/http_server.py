"""The HTTP server: uvicorn, with a deadline on reading each request (issue 9, ADR 0029).

uvicorn closes a keep-alive connection that stays idle after a response
(`timeout_keep_alive`), but has no limit on a connection that never sends a request, sends its
headers a byte at a time, or stops half-way through a body: each holds a socket and a slot until
the client goes away, which is how a slow-read attack starves a server. `ReadDeadlineProtocol`
adds the missing limit: from the moment a connection opens, or the first byte of a request
arrives, the whole request (headers and body) must be in within `read_timeout` seconds, or the
connection is closed. The deadline is not renewed by each byte, so trickling does not extend it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.metrics import READ_TIMEOUTS

log = logging.getLogger("convtrack.http")

# uvicorn builds protocols itself, in each worker process, from a class: the deadline is a class
# attribute, set before the server starts (`serve_http`) or in a subclass.
DEFAULT_READ_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection is kept after a response


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request to arrive in full."""

    read_timeout: float = DEFAULT_READ_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_a_request():
            self._arm()
        else:
            self._disarm()

    def _reading_a_request(self) -> bool:
        """Some of a request is in, not all of it: partial headers, or a body under way."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        return state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _arm(self) -> None:
        if self._read_deadline is None and self.read_timeout > 0:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server stopped reading (the app has not taken the body yet): the wait is
            # ours, not the client's.
            self._arm()
            return
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE):
            return  # the request is in; the response is on its way
        READ_TIMEOUTS.inc()
        log.info("request not received in time: connection closed",
                 extra={"client": "%s:%d" % self.client if self.client else None,
                        "read_timeout_s": self.read_timeout})
        self.transport.close()


def serve_http(app: Any, *, host: str, port: int, read_timeout: float,
               tls_cert: str | None = None, tls_key: str | None = None) -> None:
    """Run `app` until stopped, with the read deadline and the keep-alive timeout; over HTTPS
    when given a certificate chain and its key (PEM files, CONVTRACK_TLS_CERT / _KEY)."""
    import uvicorn

    ReadDeadlineProtocol.read_timeout = read_timeout
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                timeout_keep_alive=KEEP_ALIVE_TIMEOUT, http=ReadDeadlineProtocol,
                ssl_certfile=tls_cert, ssl_keyfile=tls_key)
