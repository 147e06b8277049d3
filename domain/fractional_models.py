"""Fractional attribution models: one conversion's credit shared along a path of touches.

docs/attribution.md (Fractional models) and ADR 0035. The touches given are a conversion's
candidates, already screened by the rules every model shares (linked, active at the touch's
time, inside its window, past the counting filter); these functions only share the credit.
Pure and deterministic: the projection, the explanation and a rebuild get the same numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from domain.attribution_facts import Touch
from domain.values import FRACTIONAL_MODELS

__all__ = ["FRACTIONAL_MODELS", "HALF_LIFE_HOURS", "SharedPath", "path_of", "share_path",
           "value_share"]

HALF_LIFE_HOURS = 168.0  # time_decay: a 7-day half-life

# value_share: how close to an exact half a product must be to count as one. A credit is a
# float, so 1/6 is stored a hair below one sixth and 9 x 1/6 would otherwise round to 1
# instead of 2 (1.5, half to even). A float's error is ~1e-16 of the product: far below the
# tolerance for any amount under 10^9 minor units.
_HALF_TOLERANCE = Fraction(1, 10**6)
_HALF = Fraction(1, 2)


@dataclass(frozen=True, slots=True)
class SharedPath:
    """A conversion's path, each touch's share, and each campaign's credit (its shares' sum).

    `credits` holds only the campaigns with a share above 0 (under `first_touch` the other
    campaigns of the path get nothing, so they are not credited and keep their touches under
    counting "one"); its values add up to 1.
    """

    model: str
    touches: tuple[Touch, ...]
    shares: tuple[float, ...]
    credits: dict[str, float]

    @property
    def kind(self) -> str:
        """The kind of touch the path is made of: "click" or "impression"."""
        return self.touches[0].kind

    def position(self, touch: Touch) -> int | None:
        """The touch's index on the path, or None when it is not on it."""
        for index, on_path in enumerate(self.touches):
            if on_path is touch:
                return index
        return None


def _path_order(touch: Touch) -> tuple[datetime, int, str]:
    # Time order; equal times in the order recorded (docs/attribution.md: Order).
    return touch.occurred_at, touch.seq, touch.event_id


def path_of(candidates: Iterable[Touch]) -> tuple[Touch, ...]:
    """The candidate clicks of all campaigns in time order; without any, the impressions.

    docs/attribution.md, Fractional models: so a click still beats any impression, and all
    the credits of one conversion have one kind.
    """
    touches = list(candidates)
    clicks = [t for t in touches if t.kind == "click"]
    return tuple(sorted(clicks or touches, key=_path_order))


# The rational models as integer numerators over one denominator: exact sums per campaign, then
# a single correctly rounded division (what float(Fraction) gives, without its cost).
_Shares = tuple[list[int], int]


def _first_touch(n: int) -> _Shares:
    return [1] + [0] * (n - 1), 1


def _linear(n: int) -> _Shares:
    return [1] * n, n


def _position_based(n: int) -> _Shares:
    # 40/20/40, with the two short paths spelled out (docs/attribution.md): over 5(n - 2),
    # the ends get 2(n - 2) each (0.4) and each touch between gets 1 (0.2 / (n - 2)).
    if n <= 2:
        return [1] * n, n
    return [2 * (n - 2), *[1] * (n - 2), 2 * (n - 2)], 5 * (n - 2)


_RATIONAL: dict[str, Callable[[int], _Shares]] = {
    "first_touch": _first_touch, "linear": _linear, "position_based": _position_based,
}


def _decay_weights(path: Sequence[Touch], converted_at: datetime) -> list[float]:
    # 0.5^(h / 168), h the hours from the touch to the conversion.
    return [0.5 ** ((converted_at - t.occurred_at).total_seconds() / 3600 / HALF_LIFE_HOURS)
            for t in path]


def share_path(model: str, candidates: Iterable[Touch], converted_at: datetime) -> SharedPath:
    """The path of the candidates and the credit the model gives each touch and campaign."""
    if model not in FRACTIONAL_MODELS:
        raise ValueError(f"not a fractional model: {model!r}")
    path = path_of(candidates)
    if not path:
        return SharedPath(model, path, (), {})
    # A campaign's credit is summed exactly (integer numerators; for time decay, fsum of the raw
    # weights over fsum of all), so a campaign holding the whole path gets exactly 1.0 and the
    # credits of a conversion add up to 1 within a float's rounding.
    credits: dict[str, float]
    if model == "time_decay":
        weights = _decay_weights(path, converted_at)
        total = math.fsum(weights)
        per_campaign: dict[str, list[float]] = defaultdict(list)
        for touch, weight in zip(path, weights, strict=True):
            per_campaign[touch.campaign_id].append(weight)
        credits = {c: math.fsum(ws) / total for c, ws in per_campaign.items()}
        shares = tuple(w / total for w in weights)
    else:
        numerators, denominator = _RATIONAL[model](len(path))
        exact: dict[str, int] = defaultdict(int)
        for touch, numerator in zip(path, numerators, strict=True):
            exact[touch.campaign_id] += numerator
        credits = {c: n / denominator for c, n in exact.items()}
        shares = tuple(n / denominator for n in numerators)
    return SharedPath(model, path, shares, {c: v for c, v in credits.items() if v > 0})


def value_share(amount_minor: int, credit: float) -> int:
    """A credit's share of a value: amount x credit in minor units, rounded half to even.

    docs/attribution.md, Fractional models: rounded per credit, so a conversion's shares may
    differ from its value by up to half a minor unit per credit.
    """
    if credit == 1.0:
        return amount_minor
    exact = Fraction(credit) * amount_minor
    below = math.floor(exact)
    rest = exact - below
    if abs(rest - _HALF) <= _HALF_TOLERANCE:
        return below + (below % 2)
    return below if rest < _HALF else below + 1
