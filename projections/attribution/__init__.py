"""The attribution read model: every conversion credited to the touch that earned it.

The centre: `projection.AttributionProjection` (one handler per event), `records` (what the
model holds and the interface its stores implement), `batch.AttributionBatch` (what one batch
adds and which members it recomputes) and `explanation.explain` (the rules re-run for one
conversion). `cache` and `members` keep what the projection last committed in memory;
`facts` are the light records store catch-up decodes member facts into.
"""

from projections.attribution.explanation import explain
from projections.attribution.projection import AttributionProjection
from projections.attribution.records import (
    AttributionQueries,
    AttributionView,
    ConversionFilter,
    ConversionRecord,
)

__all__ = ["AttributionProjection", "AttributionQueries", "AttributionView", "ConversionFilter",
           "ConversionRecord", "explain"]
