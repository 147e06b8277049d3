"""The event store's part of `GET /health`: its own short-lived connection, hard-bounded.

It never borrows from the write path's pools, so a saturated or stalled pool cannot delay the
answer, and a lost database is named within `timeout` seconds (issue 9).
"""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.sql import SQL, Identifier


async def check_event_store(database_url: str, schema: str, events_table: str,
                            timeout: float = 2.0) -> tuple[str, int | None]:
    """("ok", the log's last position), or ("unreachable: why", None) within `timeout` s."""
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(
                database_url, autocommit=True, connect_timeout=max(1, round(timeout)),
                options=f"-c statement_timeout={int(timeout * 1000)}")
            async with conn:
                cursor = await conn.execute(SQL("SELECT max(notification_id) FROM {}.{}").format(
                    Identifier(schema), Identifier(events_table)))
                row = await cursor.fetchone()
    except TimeoutError:
        return f"unreachable: no answer within {timeout:g} s", None
    except psycopg.Error as error:
        return f"unreachable: {first_line(error)}", None
    return "ok", int(row[0] or 0) if row else 0


def first_line(error: BaseException) -> str:
    """An error's first line (libpq's messages go on with hints and context)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
