"""A relay or a worker in its own process, so a fault test can kill it for real.

    python -m tests.e2e.fault_process worker DATABASE_URL SCHEMA NATS_URL [--die-after-commit]
    python -m tests.e2e.fault_process relay DATABASE_URL SCHEMA NATS_URL

`--die-after-commit` ends the process with os._exit right after the counting projection
committed its first batch of ingestion events, before the worker could ack it: the crash of
issue 3's first fault test, with nothing cleaned up.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from adapters.bootstrap import build_container
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime, run_worker
from adapters.read_side.worker import WorkerOptions
from adapters.settings import Settings
from projections.base import Envelope
from tests.adapters.read_side_support import CountingProjection

WORKER_OPTIONS = WorkerOptions(batch_size=50, idle_interval=0.2, ack_wait=2.0,
                               heartbeat_interval=0.2, retry_base=0.001)


class DiesAfterCommit(CountingProjection):
    """Commits a batch with ingestion events, then the process dies before anything else."""

    def process_batch(self, batch: Sequence[Envelope]) -> None:
        super().process_batch(batch)
        if any(e.application == "ingestion" for e in batch):
            os._exit(9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker", "relay"])
    parser.add_argument("database_url")
    parser.add_argument("schema")
    parser.add_argument("nats_url")
    parser.add_argument("--die-after-commit", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    container = build_container(Settings(database_url=args.database_url,
                                         database_schema=args.schema, pool_size=2), "unused")
    if args.role == "relay":
        runtime = ReadSideRuntime(container.read_side, [], args.nats_url,
                                  ReadSideOptions(relay=True, workers=False, relay_page_size=200))
        runtime.start()
        runtime.join()
        return
    cls = DiesAfterCommit if args.die_after_commit else CountingProjection
    projection = cls(args.database_url, args.schema)
    run_worker(container.read_side, [projection], args.nats_url,
               options=ReadSideOptions(relay=False, worker=WORKER_OPTIONS))


if __name__ == "__main__":
    main()
