"""The fractional models cross-checked against the peer library marketing-attribution-models
(MAM 2.1.1, imported as `mam`) on 200 random journeys (docs/attribution.md: Fractional models).

How the two are fed the same thing (ADR 0035):
- MAM knows channels and journeys, not touch kinds, windows or campaigns' statuses. It is
  given our path as ATTRIBUTION.md states it (the candidate clicks in time order, equal times
  in the order recorded; with no click, the impressions), written as its "journey" format:
  "C1 > C2 > C1", and beside it the hours from each touch to the conversion, "300.5 > 2.0 > 0.25".
  Its "session" format would measure hours to the journey's last touch instead of to the
  conversion, so it is not used.
- Each journey's channels are prefixed with the journey ("j7:C1"), so MAM's per-channel totals
  are per journey and campaign: one run per model checks every conversion's every credit.
- MAM's `run_time_decay(half_life_hours=...)` takes the half-life in hours: 168 is our 7 days,
  and its weight is ours, 0.5^(h / half-life), normalised per journey. Its position-based model
  is ours too (1; 0.5 each; 0.4, 0.2 / (n - 2) each, 0.4), and its first click is our first
  touch. No convention differs once the inputs are these, so the expected numbers are MAM's own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from mam import MAM

from domain.attribution import (
    ActionRules,
    CampaignStatusHistory,
    Conversion,
    Touch,
    attribute_member,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CAMPAIGNS = ("C1", "C2", "C3", "C4", "C5")
HISTORY = CampaignStatusHistory({c: [(T0 - timedelta(days=400), "active")] for c in CAMPAIGNS})
JOURNEYS = 200
TOLERANCE = 1e-6

MamRun = Callable[[MAM], Any]
RUNS: dict[str, MamRun] = {
    "first_touch": lambda mam: mam.run_first_click(),
    "linear": lambda mam: mam.run_linear(),
    "time_decay": lambda mam: mam.run_time_decay(half_life_hours=168.0),
    "position_based": lambda mam: mam.run_position_based(),
}


def journeys(seed: int = 20260301) -> list[list[Touch]]:
    """Random touches per journey, every one a candidate (30-day click and view windows);
    whole seconds before the conversion, with some equal times."""
    rng = random.Random(seed)
    found = []
    for j in range(JOURNEYS):
        seconds_choices = [rng.randrange(0, 30 * 86400) for _ in range(4)]
        touches = []
        for i in range(rng.randint(1, 9)):
            # One draw in four reuses a time already drawn: ties go to the order recorded.
            seconds = rng.choice(seconds_choices) if rng.random() < 0.25 else \
                rng.randrange(0, 30 * 86400)
            kind = "click" if rng.random() < 0.6 else "impression"
            touches.append(Touch(f"j{j}t{i}", rng.choice(CAMPAIGNS), kind,
                                 T0 - timedelta(seconds=seconds), rng.randrange(10**9)))
        found.append(touches)
    return found


def path(touches: list[Touch]) -> list[Touch]:
    """ATTRIBUTION.md's path, stated here on its own: clicks, else impressions; time order,
    then order recorded."""
    clicks = [t for t in touches if t.kind == "click"]
    return sorted(clicks or touches, key=lambda t: (t.occurred_at, t.seq))


def ours(model: str, all_touches: list[list[Touch]]) -> dict[str, float]:
    rules = ActionRules("A1", 30, 30, "each", model, frozenset(CAMPAIGNS), "none", None)
    credits: dict[str, float] = {}
    for j, touches in enumerate(all_touches):
        shuffled = random.Random(j).sample(touches, len(touches))  # arrival order is irrelevant
        [result] = attribute_member([Conversion(f"x{j}", "A1", T0, 10**9 + j, None, rules)],
                                    shuffled, HISTORY, explain=False)
        for credit in result.credits:
            credits[f"j{j}:{credit.campaign_id}"] = credit.credit
    return credits


def theirs(model: str, all_touches: list[list[Touch]]) -> dict[str, float]:
    rows = []
    for j, touches in enumerate(all_touches):
        on_path = path(touches)
        rows.append({
            "journey_id": f"j{j}",
            "channels": " > ".join(f"j{j}:{t.campaign_id}" for t in on_path),
            "time_till_conv": " > ".join(repr((T0 - t.occurred_at).total_seconds() / 3600)
                                         for t in on_path),
            "has_conversion": 1,
        })
    mam = MAM(pl.DataFrame(rows), format_type="journey", channels_colname="channels",
              journey_with_conv_colname="has_conversion", user_id_colname="journey_id",
              time_till_conv_colname="time_till_conv")
    result = RUNS[model](mam).to_dict()
    return {str(c): float(v) for c, v in zip(result["channels"], result["attribution"],
                                              strict=True)}


@pytest.mark.parametrize("model", list(RUNS))
def test_every_campaigns_credit_equals_the_peer_librarys(model: str) -> None:
    all_touches = journeys()
    expected, actual = theirs(model, all_touches), ours(model, all_touches)
    assert len(actual) >= JOURNEYS
    for channel in expected.keys() | actual.keys():
        assert actual.get(channel, 0.0) == pytest.approx(expected.get(channel, 0.0),
                                                          abs=TOLERANCE), (model, channel)


def test_the_random_journeys_have_ties_mixed_kinds_and_long_paths() -> None:
    # The cross-check is only as good as its journeys: they must exercise every rule.
    all_touches = journeys()
    assert any(len(path(t)) >= 5 for t in all_touches)
    assert any(len({x.occurred_at for x in path(t)}) < len(path(t)) for t in all_touches)
    assert any({x.kind for x in t} == {"click", "impression"} for t in all_touches)
    assert any({x.kind for x in t} == {"impression"} for t in all_touches)
