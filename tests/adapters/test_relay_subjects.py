"""Names on the wire (docs/architecture.md: Names): subjects from topics, message ids,
per-schema streams."""

from __future__ import annotations

from adapters.nats.subjects import Topology, msg_id, subject_tail


def test_a_topic_becomes_a_snake_case_subject_under_convtrack() -> None:
    assert Topology().subject_for("convtrack:MemberTimeline.ClickRecorded") == \
        "convtrack.member_timeline.click_recorded"


def test_every_aggregate_and_event_name_maps_to_one_token_each() -> None:
    assert subject_tail("convtrack:InsightTag.DomainRegistered") == "insight_tag.domain_registered"
    assert subject_tail("convtrack:ConversionAction.CampaignsLinked") == \
        "conversion_action.campaigns_linked"
    assert subject_tail("convtrack:Account.Created") == "account.created"


def test_a_library_topic_keeps_only_the_class_path() -> None:
    assert subject_tail("eventsourcing.domain:Aggregate.Created") == "aggregate.created"


def test_the_message_id_is_the_application_and_the_notification_id() -> None:
    assert msg_id("ingestion", 42) == "ingestion:42"


def test_the_public_schema_uses_the_documented_stream_and_subjects() -> None:
    topology = Topology.for_schema("public")
    assert (topology.stream, topology.subjects) == ("CONVTRACK", ["convtrack.>"])


def test_another_schema_gets_a_stream_whose_subjects_cannot_overlap() -> None:
    topology = Topology.for_schema("t_abc123")
    assert topology.stream == "CONVTRACK_T_ABC123"
    assert topology.subjects == ["convtrack_t_abc123.>"]
    assert topology.durable_for("attribution") == "projection_attribution"
