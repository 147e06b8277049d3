"""Putting fetched batches in log order and finding holes (ADR: ordering), without I/O."""

from __future__ import annotations

from adapters.read_side.ordering import fresh_by_application, holes, in_log_order
from projections.base import Envelope


def env(app: str, position: int) -> Envelope:
    return Envelope(app, position, object())


def keys(envelopes: list[Envelope]) -> list[tuple[str, int]]:
    return [(e.application, e.position) for e in envelopes]


def test_what_is_tracked_already_is_dropped_and_the_rest_sorted() -> None:
    arrivals = [env("ingestion", 7), env("ingestion", 5), env("ingestion", 3), env("ingestion", 6)]
    fresh = fresh_by_application(arrivals, {"ingestion": 4})
    assert keys(fresh["ingestion"]) == [("ingestion", 5), ("ingestion", 6), ("ingestion", 7)]


def test_a_redelivered_copy_in_the_same_batch_counts_once() -> None:
    arrivals = [env("ingestion", 1), env("ingestion", 1), env("ingestion", 2)]
    assert keys(fresh_by_application(arrivals, {})["ingestion"]) == [("ingestion", 1),
                                                                      ("ingestion", 2)]


def test_holes_are_named_per_application_from_the_tracked_position() -> None:
    fresh = fresh_by_application([env("ingestion", 9), env("ingestion", 6),
                                  env("management", 3)], {"ingestion": 2, "management": 2})
    assert holes(fresh, {"ingestion": 2, "management": 2}) == [
        ("ingestion", 3, 5), ("ingestion", 7, 8)]


def test_fills_go_just_before_the_envelope_that_revealed_them_keeping_arrival_order() -> None:
    arrivals = [env("management", 1), env("ingestion", 4), env("management", 2)]
    fresh = fresh_by_application(arrivals, {})
    fills = {"ingestion": [env("ingestion", 2), env("ingestion", 3)]}
    # ingestion 1 is a hole in the store's own sequence (a rolled-back transaction): not filled.
    assert keys(in_log_order(arrivals, fresh, fills)) == [
        ("management", 1), ("ingestion", 2), ("ingestion", 3), ("ingestion", 4),
        ("management", 2)]


def test_an_out_of_order_source_is_sorted_inside_its_own_slots() -> None:
    arrivals = [env("ingestion", 3), env("management", 1), env("ingestion", 2)]
    fresh = fresh_by_application(arrivals, {"ingestion": 1})
    assert keys(in_log_order(arrivals, fresh, {})) == [
        ("ingestion", 2), ("management", 1), ("ingestion", 3)]
