"""Names on the wire: the stream, subjects per event, message ids, consumer names
(docs/architecture.md: Names; ADR 0023).

Every name carries the deployment's identity, a random id stored in its database at bootstrap
(adapters/postgres/deployment.py), never the schema's spelling: two deployments on one NATS
server (two `public` schemas in two databases, or schemas differing only in case or `-`/`_`)
get disjoint streams, subjects and message ids. Subjects are `convtrack-<id>.<aggregate>.<event>`
in snake case, derived from the event's stable TOPIC, so a consumer may filter by aggregate or by
event. `Nats-Msg-Id` is `<id>:<application>:<notification id>`: a re-published event carries the
same id and JetStream drops it within the duplicate window (ADR 0008), and no other
deployment's event ever carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

STREAM = "CONVTRACK"
ROOT = "convtrack"

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_A_TOKEN = re.compile(r"[^a-z0-9_]+")
# What a deployment id may be: one subject token, and part of a stream name, as it stands.
_DEPLOYMENT = re.compile(r"[a-z0-9]{1,32}")


@lru_cache(maxsize=512)
def snake(name: str) -> str:
    """`MemberTimeline` → `member_timeline`; anything else NATS cannot take becomes `_`."""
    return _NOT_A_TOKEN.sub("_", _CAMEL_BOUNDARY.sub("_", name).lower()).strip("_") or "_"


@lru_cache(maxsize=512)
def subject_tail(topic: str) -> str:
    """`convtrack:MemberTimeline.ClickRecorded` → `member_timeline.click_recorded`."""
    # The part before ':' names the package (or our `convtrack` namespace): not in the subject.
    name = topic.rpartition(":")[2]
    return ".".join(snake(part) for part in name.split(".") if part)


def msg_id(deployment: str, application: str, position: int) -> str:
    """The JetStream de-duplication id of one event: `<deployment>:<application>:<position>`."""
    return f"{deployment}:{application}:{position}"


@dataclass(frozen=True)
class Topology:
    """One deployment's identity, stream and subject root (ADR 0023).

    Built by the composition root from the id in the database (`for_deployment`); tests and
    tools may pass another one explicitly (ReadSideOptions.topology, Relay, ProjectionWorker).
    """

    deployment: str
    stream: str
    root: str
    duplicate_window: float = 120.0  # seconds; longer than any relay restart (ADR 0008)

    @classmethod
    def for_deployment(cls, deployment: str) -> Topology:
        """`CONVTRACK-<ID>` capturing `convtrack-<id>.>`.

        The `-` keeps every name apart from those of earlier versions (`CONVTRACK`,
        `CONVTRACK_<SCHEMA>`; `convtrack.>`, `convtrack_<schema>.>`), whose streams may still
        exist on the server: JetStream refuses a stream whose subjects overlap another's.
        """
        if not _DEPLOYMENT.fullmatch(deployment):
            raise ValueError(f"a deployment id is 1-32 of [a-z0-9], not {deployment!r}")
        return cls(deployment, stream=f"{STREAM}-{deployment.upper()}",
                   root=f"{ROOT}-{deployment}")

    @property
    def subjects(self) -> list[str]:
        """What the stream captures."""
        return [f"{self.root}.>"]

    def subject_for(self, topic: str) -> str:
        """The subject an event with this topic is published on."""
        return f"{self.root}.{subject_tail(topic)}"

    def msg_id(self, application: str, position: int) -> str:
        """The `Nats-Msg-Id` of one of this deployment's events."""
        return msg_id(self.deployment, application, position)

    def durable_for(self, projection: str) -> str:
        """The durable consumer of a projection: its name is stable forever
        (docs/architecture.md); JetStream scopes it to the stream, so to the deployment."""
        return f"projection_{snake(projection)}"

    # Accepted browser fires travel in a stream of their own (ADR 0032): they are the only copy
    # until recorded, unlike the events, which the store keeps. Its names carry the deployment
    # too, and its subject stays outside the events' root, so neither stream captures the other.
    @property
    def fires_stream(self) -> str:
        """`CONVTRACK-<ID>-FIRES`."""
        return f"{self.stream}-FIRES"

    @property
    def fires_subject(self) -> str:
        """`convtrack-<id>-fires.collected`."""
        return f"{self.root}-fires.collected"

    def fire_msg_id(self, tag_id: str, event_id: str) -> str:
        """The `Nats-Msg-Id` of a fire: `<id>:fire:<tag_id>:<eid>`, so a retried fire is dropped."""
        return f"{self.deployment}:fire:{tag_id}:{event_id}"
