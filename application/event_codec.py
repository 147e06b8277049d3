"""The ingestion events' JSON, written by msgspec: the library's bytes, at a fraction of the cost.

eventsourcing's `JSONTranscoder` encodes an event's state with `json.JSONEncoder` and calls back
into Python for every value JSON has no type for (here the two datetimes of every fact, as
`{"_type_": "datetime_iso", "_data_": isoformat}`); that was ~10 µs of the ~14 µs a stored fact
cost (bench/ingest_direct.py, ADR 0034). `MsgspecTranscoder` first puts such values in the same
tagged form, with the library's own transcodings, and then has msgspec write the JSON in one C
call. Stored bytes are unchanged, byte for byte (tests/application/test_event_codec.py, over
every code point): the library's decoder, the read side's msgspec decoders and the relay's
stored bytes on NATS see the same events whichever transcoder wrote them, so nothing stored
needs upcasting and a rollback can read everything written meanwhile.

Only a state made of exact JSON types (str, int, bool, None, and dicts with str keys and lists
of those) and registered types takes this path: msgspec writes types such as UUID, Decimal,
tuples or str subclasses its own way, where the library calls its transcodings or `json`
writes them as it does; such a state is encoded by the library's transcoder, unchanged.
Decoding is the library's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder

_encode = msgspec.json.Encoder().encode
_ISO = DatetimeAsISO.name
_ATOMS = frozenset({str, int, bool, type(None)})
# What `json` writes itself, never asking the library: floats, tuples, and subclasses of these.
_JSON_NATIVE = (str, int, float, list, tuple, dict)


def _isoformat(moment: datetime) -> str:
    """`moment.isoformat()`, the library's DatetimeAsISO, in a quarter of the time for UTC.

    An aware datetime's isoformat took 2.6 µs here, mostly formatting its offset; msgspec
    writes the same text but for the offset of UTC, `Z` where isoformat writes `+00:00`
    (checked over the whole range of years in tests/application/test_event_codec.py).
    """
    if moment.tzinfo is UTC:
        return _encode(moment)[1:-2].decode() + "+00:00"
    return moment.isoformat()


class _NotPlain(Exception):
    """A value this transcoder leaves to the library's."""


class MsgspecTranscoder(JSONTranscoder):
    """The library's JSON transcoder, encoding plain states with msgspec (same bytes)."""

    def encode(self, obj: Any) -> bytes:
        """The library's JSON of `obj`, written by msgspec when `obj` is plain enough."""
        try:
            tagged = self._tagged(obj)
        except (_NotPlain, RecursionError):  # a cycle: the library's encoder reports it
            return super().encode(obj)
        return _encode(tagged)

    def _tagged(self, obj: Any) -> Any:
        """`obj` with every registered type in the library's tagged form; `_NotPlain` if
        anything else than exact JSON types is in it."""
        kind = type(obj)
        if kind is dict:
            tagged = obj.copy()
            # Two datetimes per fact: tagged here as the library's DatetimeAsISO does, saving
            # a call each.
            as_iso = type(self.types.get(datetime)) is DatetimeAsISO
            for key, value in obj.items():
                if type(key) is not str:
                    raise _NotPlain
                kind = type(value)
                if kind in _ATOMS:
                    continue
                if kind is datetime and as_iso:
                    tagged[key] = {"_type_": _ISO, "_data_": _isoformat(value)}
                else:
                    tagged[key] = self._tagged(value)
            return tagged
        if kind in _ATOMS:
            return obj
        if kind is list:
            return [self._tagged(value) for value in obj]
        if isinstance(obj, _JSON_NATIVE):
            raise _NotPlain
        if kind not in self.types:
            raise _NotPlain
        # The library's own tagging ({"_type_": name, "_data_": ...}), whose data may hold
        # further registered types, as json's `default` hook would recurse into them.
        return self._tagged(self._encode_obj(obj))
