"""Arrays built in bulk reach PostgreSQL as the arrays psycopg would send (ADR 0034)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from adapters.postgres.binary_arrays import bytea_array, int8_array, text_array, uuid_array


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


CASES: list[tuple[Callable[[Any], bytes], str, Sequence[Any]]] = [
    (uuid_array, "uuid", [uuid4() for _ in range(50)]),
    (uuid_array, "uuid", [str(uuid4()), str(uuid4())]),  # the text of ids, too
    (int8_array, "bigint", [0, 1, -1, 2**63 - 1, -(2**63), 1000]),
    (text_array, "text", ["a", "", "é€😀", "with, comma", '"quoted"', "{braces}", "NULL"]),
    (text_array, "text", [None, "x", None]),
    (text_array, "text", [None]),
    (bytea_array, "bytea", [b"", b"\x00\xff", bytes(range(256)), None]),
    (uuid_array, "uuid", []),
    (text_array, "text", []),
    (int8_array, "bigint", []),
]


@pytest.mark.parametrize(("build", "kind", "values"), CASES)
def test_an_array_built_in_bulk_is_the_array_psycopg_sends(
    conn: psycopg.Connection[Any], build: Callable[[Any], bytes], kind: str,
    values: Sequence[Any],
) -> None:
    row = conn.execute(f"SELECT %b::{kind}[], %b::{kind}[] IS NOT DISTINCT FROM %b::{kind}[], "
                       f"array_length(%b::{kind}[], 1)",
                       (build(values), build(values), list(values), build(values))).fetchone()
    assert row is not None
    back, same, length = row
    expected = [str(v) if kind == "uuid" and isinstance(v, str) else v for v in values]
    assert [str(v) if kind == "uuid" else v for v in back] == \
        [str(v) if kind == "uuid" else v for v in expected]
    assert same is True
    assert length == (len(values) or None)
