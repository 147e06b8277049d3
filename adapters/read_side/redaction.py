"""Nothing secret on the wire: the relay publishes an event's secret fields as null (ADR 0022).

A message's body is the stored bytes (ADR 0008), except for the few topics whose events may hold
a secret (`domain.account.SECRET_FIELDS`: today the key hash in accounts' v1 creation events).
Those are decoded with the source's mapper steps, their secret fields set to null, and encoded
again the same way, so a worker decodes the body as it decodes any other. No projection reads a
secret field (the audit trail leaves them out by name), so what a projection computes is the
same from NATS and from the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import Mapper

from domain.account import SECRET_FIELDS


class Redactor:
    """The body to publish for a stored event: its state, with any secret field nulled."""

    def __init__(self, mappers: Mapping[str, Mapper[Any]],
                 secret_fields: Mapping[str, frozenset[str]] = SECRET_FIELDS) -> None:
        self.mappers = dict(mappers)
        self.secret_fields = dict(secret_fields)

    def body(self, application: str, topic: str, state: bytes) -> bytes:
        """`state` itself unless the event holds a secret (one dict lookup for every other)."""
        fields = self.secret_fields.get(topic)
        if not fields:
            return state
        mapper = self.mappers[application]
        data = _decoded(mapper, state)
        if all(data.get(name) is None for name in fields):
            return state  # nothing to hide (v2 creation events record None): the stored bytes
        for name in fields & data.keys():
            data[name] = None
        return _encoded(mapper, data)


def _decoded(mapper: Mapper[Any], state: bytes) -> dict[str, Any]:
    """The mapper's decoding steps, without turning the state into an event."""
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    data: dict[str, Any] = mapper.transcoder.decode(state)
    return data


def _encoded(mapper: Mapper[Any], data: dict[str, Any]) -> bytes:
    """The mapper's encoding steps, in its order."""
    state = mapper.transcoder.encode(data)
    if mapper.compressor:
        state = mapper.compressor.compress(state)
    if mapper.cipher:
        state = mapper.cipher.encrypt(state)
    return state
