"""The garbage collector's settings for convtrack's long-running processes (ADR 0034).

With CPython's default thresholds (700, 10, 10) a batch of 1,000 facts, which keeps ~20,000
tracked objects alive until it commits, went through ~30 young collections that promoted most of
them to the oldest generation, and every few batches a full collection walked the whole heap
(~150 ms here): a quarter of the ingestion time (bench/ingest_direct.py). Two settings, common
for servers, remove that cost:

- `gc.freeze()` once start-up is done: the modules, classes and applications built at start
  live as long as the process, so full collections stop walking them (~65,000 objects);
- the young generation collected every 50,000 allocations instead of 700: a batch's objects are
  freed by reference counting when it ends, before a collection sees them.

Cyclic garbage is still collected, just later; a young collection then walks up to 50,000
objects (a few ms) instead of 700, far less often.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Freeze what start-up made and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
