"""Names on the wire (docs/architecture.md: Names; ADR 0023): subjects from topics, message ids,
a stream per deployment."""

from __future__ import annotations

import re

import pytest

from adapters.nats.subjects import Topology, msg_id, subject_tail
from adapters.postgres.deployment import new_deployment_id

# What NATS accepts: stream names without whitespace, `.`, `*`, `>` or path separators;
# subject tokens without whitespace, `.`, `*` or `>`.
STREAM_NAME = re.compile(r"[^\s.*>/\\]+")
TOKEN = re.compile(r"[^\s.*>]+")


def test_a_topic_becomes_a_snake_case_subject_under_the_deployments_root() -> None:
    assert Topology.for_deployment("3f9a0c1b2d4e").subject_for(
        "convtrack:MemberTimeline.ClickRecorded") == \
        "convtrack-3f9a0c1b2d4e.member_timeline.click_recorded"


def test_every_aggregate_and_event_name_maps_to_one_token_each() -> None:
    assert subject_tail("convtrack:InsightTag.DomainRegistered") == "insight_tag.domain_registered"
    assert subject_tail("convtrack:ConversionAction.CampaignsLinked") == \
        "conversion_action.campaigns_linked"
    assert subject_tail("convtrack:Account.Created") == "account.created"


def test_a_library_topic_keeps_only_the_class_path() -> None:
    assert subject_tail("eventsourcing.domain:Aggregate.Created") == "aggregate.created"


def test_the_message_id_is_the_deployment_the_application_and_the_notification_id() -> None:
    assert msg_id("3f9a0c1b2d4e", "ingestion", 42) == "3f9a0c1b2d4e:ingestion:42"
    assert Topology.for_deployment("3f9a0c1b2d4e").msg_id("ingestion", 42) == \
        "3f9a0c1b2d4e:ingestion:42"


def test_a_deployment_gets_its_own_stream_subjects_and_message_ids() -> None:
    topology = Topology.for_deployment("3f9a0c1b2d4e")
    assert topology.deployment == "3f9a0c1b2d4e"
    assert topology.stream == "CONVTRACK-3F9A0C1B2D4E"
    assert topology.subjects == ["convtrack-3f9a0c1b2d4e.>"]
    # Consumers live inside the stream, so the deployment's stream scopes them.
    assert topology.durable_for("attribution") == "projection_attribution"


def test_generated_ids_make_short_names_nats_accepts() -> None:
    for _ in range(200):
        topology = Topology.for_deployment(new_deployment_id())
        assert STREAM_NAME.fullmatch(topology.stream) and len(topology.stream) <= 32
        assert all(TOKEN.fullmatch(token) for token in topology.root.split("."))
        assert len(topology.root.split(".")) == 1  # the root is one token


def test_no_deployment_name_can_overlap_the_names_of_earlier_versions() -> None:
    # Earlier versions named streams CONVTRACK or CONVTRACK_<SCHEMA>, capturing convtrack.> or
    # convtrack_<schema>.>; such a stream may still exist, and JetStream refuses overlaps.
    topology = Topology.for_deployment(new_deployment_id())
    assert not topology.stream.startswith(("CONVTRACK_",)) and topology.stream != "CONVTRACK"
    first_token = topology.root.split(".")[0]
    assert first_token != "convtrack" and not first_token.startswith("convtrack_")


@pytest.mark.parametrize("bad", ["", "Public", "a.b", "a-b", "a b", "a>", "*", "x" * 33])
def test_an_id_that_would_make_an_invalid_or_ambiguous_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Topology.for_deployment(bad)
