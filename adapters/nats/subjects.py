"""Names on the wire: the stream, subjects per event, message ids, consumer names
(docs/architecture.md: Names).

Subjects are `convtrack.<aggregate>.<event>` in snake case, derived from the event's stable
TOPIC, so a consumer may filter by aggregate or by event. `Nats-Msg-Id` is
`<application>:<notification id>`: a re-published event carries the same id and JetStream drops
it within the duplicate window (ADR: relay).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

STREAM = "CONVTRACK"
ROOT = "convtrack"
DEFAULT_SCHEMA = "public"

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_A_TOKEN = re.compile(r"[^a-z0-9_]+")


@lru_cache(maxsize=512)
def snake(name: str) -> str:
    """`MemberTimeline` → `member_timeline`; anything else NATS cannot take becomes `_`."""
    return _NOT_A_TOKEN.sub("_", _CAMEL_BOUNDARY.sub("_", name).lower()).strip("_") or "_"


@lru_cache(maxsize=512)
def subject_tail(topic: str) -> str:
    """`convtrack:MemberTimeline.ClickRecorded` → `member_timeline.click_recorded`."""
    # The part before ':' names the package (or our `convtrack` namespace): not part of the subject.
    name = topic.rpartition(":")[2]
    return ".".join(snake(part) for part in name.split(".") if part)


def msg_id(application: str, position: int) -> str:
    """The JetStream de-duplication id of one event: `<application>:<notification id>`."""
    return f"{application}:{position}"


@dataclass(frozen=True)
class Topology:
    """One deployment's stream and subject root; tests get their own so they never interfere."""

    stream: str = STREAM
    root: str = ROOT
    duplicate_window: float = 120.0  # seconds; longer than any relay restart (ADR: relay)

    @classmethod
    def for_schema(cls, schema: str) -> Topology:
        """The default names for the `public` schema, namespaced ones for any other.

        Two deployments sharing one NATS server but not one schema must not share a stream,
        and JetStream refuses two streams with overlapping subjects, so the root changes too.
        """
        if schema == DEFAULT_SCHEMA:
            return cls()
        token = snake(schema)
        return cls(stream=f"{STREAM}_{token.upper()}", root=f"{ROOT}_{token}")

    @property
    def subjects(self) -> list[str]:
        """What the stream captures."""
        return [f"{self.root}.>"]

    def subject_for(self, topic: str) -> str:
        """The subject an event with this topic is published on."""
        return f"{self.root}.{subject_tail(topic)}"

    def durable_for(self, projection: str) -> str:
        """The durable consumer of a projection: its name is stable forever
        (docs/architecture.md)."""
        return f"projection_{snake(projection)}"
