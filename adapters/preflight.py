"""Start-up checks of the configured servers: fail at once, with one paragraph, or not at all.

A malformed or unreachable CONVTRACK_DATABASE_URL / CONVTRACK_NATS_URL used to surface as a
traceback from deep in a library, or as minutes of silent retries (issue 9). Here each is
parsed and reached once, with a short timeout, before anything is built; the message names the
setting, what was tried and what failed. Once running, the service rides out outages instead.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from urllib.parse import urlsplit

import nats
import psycopg
from psycopg.conninfo import conninfo_to_dict

DATABASE_SETTING = "CONVTRACK_DATABASE_URL"
NATS_SETTING = "CONVTRACK_NATS_URL"
NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@|(password\s*=\s*)\S+")


class StartupError(Exception):
    """The service cannot start as configured; the message is the paragraph to show."""


def redact(url: str) -> str:
    """The URL without its password, fit for a message."""
    return _PASSWORD.sub(lambda m: f"{m.group(1)}***@" if m.group(1) else f"{m.group(2)}***",
                         url)


def check_database(url: str, timeout: float = 5.0) -> None:
    """Parse the PostgreSQL URL and run one query on it, or raise StartupError."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error as error:
        raise StartupError(
            f"{DATABASE_SETTING} ({redact(url)}) is not a PostgreSQL connection URL: "
            f"{first_line(error)}. Expected postgresql://user:password@host:port/database, or "
            "leave it unset for `convtrack serve` to run an embedded PostgreSQL.") from error
    where = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}" \
            f"/{info.get('dbname') or info.get('user') or ''}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout))
                             ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        raise StartupError(
            f"{DATABASE_SETTING} ({redact(url)}): PostgreSQL at {where} could not be reached "
            f"within {timeout:g} s: {first_line(error)}. Check that the server runs and "
            "accepts this user, or leave the setting unset for `convtrack serve` to run an "
            "embedded PostgreSQL.") from error


def check_nats(url: str, timeout: float = 5.0) -> None:
    """Parse the NATS URL and connect to it with JetStream, or raise StartupError."""
    problem = nats_url_problem(url)
    if problem:
        raise StartupError(
            f"{NATS_SETTING} ({redact(url)}) is not a NATS URL: {problem}. Expected "
            "nats://host:port, or leave it unset for `convtrack serve` to run an embedded "
            "nats-server.")
    try:
        _reach_tcp(url, timeout)
        asyncio.run(_reach_jetstream(url, timeout))
    except Exception as error:
        why = first_line(error)
        if isinstance(error, ConnectionRefusedError):
            why = f"connection refused ({why})"
        raise StartupError(
            f"{NATS_SETTING} ({redact(url)}): no NATS server with JetStream answered within "
            f"{timeout:g} s: {why}. Check that nats-server runs with -js (JetStream) and is "
            "reachable, or leave the setting unset for `convtrack serve` to run an embedded "
            "nats-server.") from error


def nats_url_problem(url: str) -> str | None:
    """What is wrong with a NATS URL (several may be given, comma-separated), or None."""
    for server in url.split(","):
        try:
            parts = urlsplit(server.strip())
            port = parts.port
        except ValueError as error:
            return str(error)
        if parts.scheme not in NATS_SCHEMES:
            return f"the scheme is {parts.scheme or 'missing'!r}, not one of {NATS_SCHEMES}"
        if not parts.hostname:
            return "no host"
        if port == 0:
            return "port 0"
    return None


def _reach_tcp(url: str, timeout: float) -> None:
    """Fail at once on a refused port: nats-py would retry it until the timeout."""
    failure: OSError | None = None
    for server in url.split(","):
        parts = urlsplit(server.strip())
        if parts.scheme not in ("nats", "tls") or not parts.hostname:
            return  # a websocket URL: only nats-py checks it
        try:
            with socket.create_connection((parts.hostname, parts.port or 4222), timeout):
                return  # one reachable server is enough: nats-py tries them in turn
        except OSError as error:
            failure = error
    if failure is not None:
        raise failure


async def _reach_jetstream(url: str, timeout: float) -> None:
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        # nats-py 2.16 retries a refused first connect until the timeout, whatever
        # allow_reconnect says: its last error is the one worth showing.
        errors.append(error)

    servers = [s.strip() for s in url.split(",")]
    try:
        async with asyncio.timeout(timeout):
            nc = await nats.connect(servers, connect_timeout=timeout, allow_reconnect=False,
                                    max_reconnect_attempts=0, error_cb=remember)
            try:
                await nc.jetstream().account_info()
            finally:
                await nc.close()
    except TimeoutError:
        if errors:
            raise errors[-1] from None
        raise


def check_tls(cert: str | None, key: str | None) -> None:
    """Both of CONVTRACK_TLS_CERT and CONVTRACK_TLS_KEY or neither, and a usable pair, or raise
    StartupError."""
    if not cert and not key:
        return
    if not cert or not key:
        missing = "CONVTRACK_TLS_KEY" if cert else "CONVTRACK_TLS_CERT"
        raise StartupError(f"{missing} is unset: HTTPS needs both CONVTRACK_TLS_CERT (the PEM "
                           "certificate chain) and CONVTRACK_TLS_KEY (its private key), or "
                           "neither for plain HTTP.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise StartupError(
            f"CONVTRACK_TLS_CERT ({cert}) and CONVTRACK_TLS_KEY ({key}) are not a readable PEM "
            f"certificate chain and its private key: {first_line(error)}.") from error


def first_line(error: BaseException) -> str:
    """An error's first line (libpq's messages go on with hints and context)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
