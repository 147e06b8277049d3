"""A batch's columns as PostgreSQL binary arrays, built in bulk (ADR 0034).

Ingestion sends each batch as one array per column (ADR 0004). psycopg dumps a list element by
element in Python, looking for the element type first: ~1 µs per element on the CI machine, and
a fact takes about fifteen (its event's four columns, its key's five, its lookups), which was a
tenth of the time a fact cost (bench/ingest_direct.py). These build the bytes PostgreSQL's
`array_send` writes (one dimension, lower bound 1; each element its length, -1 for NULL, then
its binary form) with a join per array, and psycopg passes them on as they are, typed by the
array's OID. tests/adapters/test_binary_arrays.py compares them with psycopg's own.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain
from typing import ClassVar
from uuid import UUID

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

_HEADER = struct.Struct("!iiIii")  # dimensions, has NULLs, element OID; length, lower bound
_EMPTY = struct.Struct("!iiI")  # no dimension: the empty array
_UUID = b"\x00\x00\x00\x10"  # every uuid's length, 16
_NULL = b"\xff\xff\xff\xff"  # -1


class BinaryArray(bytes):
    """An array already in PostgreSQL's binary format; its class says the type."""

    element_oid: ClassVar[int]
    array_oid: ClassVar[int]


class UuidArray(BinaryArray):
    element_oid, array_oid = 2950, 2951


class TextArray(BinaryArray):
    element_oid, array_oid = 25, 1009


class Int8Array(BinaryArray):
    element_oid, array_oid = 20, 1016


class ByteaArray(BinaryArray):
    element_oid, array_oid = 17, 1001


def _array(cls: type[BinaryArray], count: int, has_null: bool, body: bytes) -> BinaryArray:
    if not count:
        return cls(_EMPTY.pack(0, 0, cls.element_oid))
    return cls(_HEADER.pack(1, int(has_null), cls.element_oid, count, 1) + body)


def uuid_array(values: Sequence[UUID | str]) -> BinaryArray:
    """uuid[] of these ids, UUIDs or their text (none NULL)."""
    return _array(UuidArray, len(values), False, b"".join([
        _UUID + (value.bytes if value.__class__ is UUID else UUID(str(value)).bytes)
        for value in values]))


def int8_array(values: Sequence[int]) -> BinaryArray:
    """bigint[] of these numbers (none NULL)."""
    body = struct.pack(f"!{'iq' * len(values)}", *chain.from_iterable((8, v) for v in values))
    return _array(Int8Array, len(values), False, body)


def text_array(values: Sequence[str | None]) -> BinaryArray:
    """text[] of these strings, None as NULL."""
    return _bytes_array(TextArray, [None if v is None else v.encode() for v in values])


def bytea_array(values: Sequence[bytes | None]) -> BinaryArray:
    """bytea[] of these values, None as NULL."""
    return _bytes_array(ByteaArray, values)


def _bytes_array(cls: type[BinaryArray], values: Sequence[bytes | None]) -> BinaryArray:
    has_null = None in values
    body = b"".join([_NULL if v is None else len(v).to_bytes(4, "big") + v for v in values])
    return _array(cls, len(values), has_null, body)


def _dumper(cls: type[BinaryArray]) -> type[Dumper]:
    class ArrayDumper(Dumper):
        format = Format.BINARY
        oid = cls.array_oid

        def dump(self, obj: bytes) -> bytes:
            return obj

    return ArrayDumper


# On psycopg's global map: these classes are ours, so nothing else is dumped differently.
for _cls in (UuidArray, TextArray, Int8Array, ByteaArray):
    psycopg.adapters.register_dumper(_cls, _dumper(_cls))
