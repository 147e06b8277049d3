"""Putting a fetched batch in log order, and finding the holes NATS left (ADR: ordering).

JetStream delivers in stream order, but a redelivery, a re-publish after a relay crash, or a
message the broker lost breaks the positions' sequence. A projection must apply each source's
events in position order with none missing (one member's events in order, docs/attribution.md), so:
drop what is already tracked, sort per source, and name the holes to read from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from projections.base import Envelope


def fresh_by_application(arrivals: Sequence[Envelope], tracked: Mapping[str, int]
                         ) -> dict[str, list[Envelope]]:
    """Per source, the envelopes above its tracked position, once each, in position order."""
    fresh: dict[str, dict[int, Envelope]] = {}
    for envelope in arrivals:
        if envelope.position > tracked.get(envelope.application, 0):
            fresh.setdefault(envelope.application, {}).setdefault(envelope.position, envelope)
    return {app: [by_position[p] for p in sorted(by_position)]
            for app, by_position in fresh.items()}


def holes(fresh: Mapping[str, Sequence[Envelope]], tracked: Mapping[str, int]
          ) -> list[tuple[str, int, int]]:
    """The missing positions `(application, first, last)` below each fresh envelope."""
    missing = []
    for app, envelopes in fresh.items():
        expected = tracked.get(app, 0) + 1
        for envelope in envelopes:
            if envelope.position > expected:
                missing.append((app, expected, envelope.position - 1))
            expected = envelope.position + 1
    return missing


def in_log_order(arrivals: Sequence[Envelope], fresh: Mapping[str, Sequence[Envelope]],
                 fills: Mapping[str, Sequence[Envelope]]) -> list[Envelope]:
    """Fresh envelopes and gap fills, sorted per source, interleaved as the sources arrived.

    Within a source the order is the log's; across sources the arrival order is kept (it is the
    relay's publishing order), each fill going just before the envelope that revealed it.
    """
    merged = {app: sorted([*envelopes, *fills.get(app, ())], key=lambda e: e.position)
              for app, envelopes in fresh.items()}
    cursors = dict.fromkeys(merged, 0)
    fresh_keys = {(e.application, e.position) for envs in fresh.values() for e in envs}
    ordered: list[Envelope] = []
    seen: set[tuple[str, int]] = set()
    for arrival in arrivals:
        app = arrival.application
        key = (app, arrival.position)
        if key not in fresh_keys or key in seen:
            continue
        seen.add(key)
        # One slot per fresh arrival of this source: emit its log up to the next fresh envelope.
        items = merged[app]
        while cursors[app] < len(items):
            item = items[cursors[app]]
            cursors[app] += 1
            ordered.append(item)
            if (item.application, item.position) in fresh_keys:
                break
    return ordered
