"""Prometheus metrics: facts at the door, the relay, the projection workers (issue 3, item 5).

Counters and histograms are process-local: they count what this process did. Positions, lags
and parked counts are set from the database when `/metrics` is scraped
(adapters/read_side/status.py), so they are right even when the relay or workers run in other
processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest

from application.facts import ItemResult

FACTS = Counter("convtrack_facts_total", "Facts received, by kind, outcome and rejection reason",
                ["kind", "status", "reason"])

RELAY_PUBLISHED = Counter("convtrack_relay_published_total",
                          "Events the relay published and JetStream confirmed", ["application"])
RELAY_DUPLICATES = Counter("convtrack_relay_duplicates_total",
                           "Re-published events JetStream dropped by Nats-Msg-Id", ["application"])
RELAY_FAILURES = Counter("convtrack_relay_failures_total",
                         "Relay rounds that failed and backed off", ["application"])
RELAY_POSITION = Gauge("convtrack_relay_position",
                       "Last position confirmed published", ["application"])
RELAY_LEADER = Gauge("convtrack_relay_leader",
                     "1 while this process's relay holds the lease and publishes (ADR 0017)")
RELAY_LAG = Gauge("convtrack_relay_lag",
                  "Events recorded but not yet confirmed published", ["application"])
STORE_POSITION = Gauge("convtrack_store_position",
                       "Highest notification id in the event store", ["application"])

READ_TIMEOUTS = Counter("convtrack_http_read_timeouts_total",
                        "Connections closed because a request did not arrive in full within "
                        "CONVTRACK_REQUEST_READ_TIMEOUT (ADR 0029)")

CLICKS_FOLLOWED = Counter("convtrack_clicks_followed_total",
                          "Click URLs followed, by outcome: recorded, repeated, rejected, "
                          "not_recorded (store unreachable: redirected anyway), not_found",
                          ["outcome"])

PROJECTION_EVENTS = Counter("convtrack_projection_events_total",
                            "Events applied by projection workers, by path (nats, gap, store)",
                            ["projection", "path"])
PROJECTION_GAP_FILLS = Counter("convtrack_projection_gap_filled_total",
                               "Events read from the store because NATS did not deliver them",
                               ["projection"])
PROJECTION_FOREIGN = Counter("convtrack_projection_foreign_messages_total",
                             "Messages of another deployment a worker acked and never applied "
                             "(ADR 0023)", ["projection"])
PROJECTION_FAILURES = Counter("convtrack_projection_failures_total",
                              "Failed attempts to apply a batch or an event", ["projection"])
PROJECTION_PARKED = Counter("convtrack_projection_parked_total",
                            "Events parked by this process after repeated failures",
                            ["projection"])
PROJECTION_POSITION = Gauge("convtrack_projection_position", "Tracked position",
                            ["projection", "application"])
PROJECTION_LAG = Gauge("convtrack_projection_lag",
                       "Events in the store not yet applied (consumer lag)",
                       ["projection", "application"])
PARKED_EVENTS = Gauge("convtrack_parked_events", "Events parked, per projection", ["projection"])
TRANSPORT_LATENCY = Histogram(
    "convtrack_transport_latency_seconds",
    "From an event's recorded timestamp to its storage in JetStream (the relay's share of "
    "the projection latency), seen by each projection's worker",
    ["projection"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
             2.5, 5.0, 10.0, 30.0, 60.0))
PROJECTION_LATENCY = Histogram(
    "convtrack_projection_latency_seconds",
    "From an event's recorded timestamp to its read-model commit (live path only)",
    ["projection"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
             2.5, 5.0, 10.0, 30.0, 60.0))

# Collection (ADR 0031-0033). Fires of a known tag are also counted per tag, so an advertiser can
# watch a tag work; only tags the collection model knows get a series, at most TAG_SERIES of
# them per process (the rest are summed under "other"): tag ids in fires are whatever a page
# sends, and a label per arbitrary id would let anyone grow the registry without bound.
COLLECT_FIRES = Counter("convtrack_collect_fires_total",
                        "Fires received at /collect, by outcome: accepted or the drop reason",
                        ["outcome"])
COLLECT_TAG_FIRES = Counter("convtrack_collect_tag_fires_total",
                            "Fires of known tags, by tag and outcome (rate() shows recent fires)",
                            ["tag_id", "outcome"])
COLLECT_MODEL_POSITION = Gauge("convtrack_collect_model_position",
                               "Management log position this process's collection model applied")
COLLECT_MODEL_STALENESS = Histogram(
    "convtrack_collect_model_staleness_seconds",
    "From a management event's recording to its use by this process's collector",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0))
FIRES_FAILURES = Counter("convtrack_fires_consumer_failures_total",
                         "Fire batches the fires consumer failed to record (retried)")
FIRES_UNRECORDABLE = Counter("convtrack_fires_unrecordable_total",
                             "Fires that kept failing to record and were dead-lettered")
TAG_SERIES = 1000
_tag_series: set[str] = set()


# The labelled children, looked up once: `/collect` counts every fire (bounded: outcomes are
# the collector's few, tags at most TAG_SERIES + 1).
_fire_series: dict[str, Any] = {}
_tag_fire_series: dict[tuple[str, str], Any] = {}


def count_fire(outcome: str, tag_id: str | None) -> None:
    """Count one fire by outcome, and by tag when its tag exists."""
    counter = _fire_series.get(outcome)
    if counter is None:
        counter = _fire_series[outcome] = COLLECT_FIRES.labels(outcome)
    counter.inc()
    if tag_id is None:
        return
    if tag_id not in _tag_series:
        if len(_tag_series) >= TAG_SERIES:
            tag_id = "other"
        else:
            _tag_series.add(tag_id)
    counter = _tag_fire_series.get((tag_id, outcome))
    if counter is None:
        counter = _tag_fire_series[(tag_id, outcome)] = COLLECT_TAG_FIRES.labels(tag_id, outcome)
    counter.inc()


def count_fact_results(kind: str, results: Iterable[ItemResult]) -> None:
    """Count one batch's answers: accepted, duplicate, or rejected by reason."""
    tally: dict[tuple[str, str], int] = {}
    for result in results:
        key = (result.status, result.reason or "")
        tally[key] = tally.get(key, 0) + 1
    for (status, reason), count in tally.items():
        FACTS.labels(kind, status, reason).inc(count)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text of every registered metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
