"""Catch-up throughput of the attribution projection on PostgreSQL (issue 3: >= 20,000 events/s).

Records N members' touches and conversions through the ingestion application into a fresh
schema, then drives the attribution projection from the event store in batches of 1,000 and
prints events/s. Baseline in the same run: reading and decoding the same notification log with
no projection at all (the ceiling a store catch-up can reach).

    python bench/projection_catch_up.py [--members 8000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from adapters.bootstrap import build_container
from adapters.postgres.event_log import fast_sources
from adapters.read_side import build_read_models, event_sources
from adapters.settings import Settings
from application.access import Caller
from application.facts import ConversionIn, TouchIn
from domain.values import Money
from projections.catch_up import catch_up, read_envelopes


def record_facts(container, members: int) -> None:  # type: ignore[no-untyped-def]
    """Touches (4 per member) and conversions (1-2 per member), in batches of 1,000."""
    management, ingestion = container.management, container.ingestion
    owner = Caller.account(str(management.create_account(Caller.admin(), "bench").account.id))
    tag = str(management.create_tag(owner, "bench").id)
    campaigns = [str(management.create_campaign(owner, f"c{i}", "text_ad", "active").id)
                 for i in range(5)]
    actions = [str(management.create_action(owner, tag, {
        "name": f"a{i}", "category": c, "campaign_ids": campaigns}).id)
        for i, c in enumerate(("purchase", "lead", "download"))]
    now = datetime.now(UTC)
    rng = random.Random(7)
    touches, conversions = [], []
    for m in range(members):
        for t in range(4):
            kind = "click" if rng.random() < 0.3 else "impression"
            event_id = f"t{m}_{t}"
            touches.append(TouchIn(event_id, f"m{m}", kind, rng.choice(campaigns),
                                   now - timedelta(days=rng.uniform(0, 40)), {}))
        for c in range(1 + (m % 2)):
            conversions.append(ConversionIn(
                f"x{m}_{c}", rng.choice(actions), f"m{m}", None,
                now - timedelta(days=rng.uniform(0, 20)), Money(rng.randint(100, 9999), "USD"),
                {}))
    for i in range(0, len(touches), 1000):
        ingestion.record_touches(Caller.admin(), touches[i:i + 1000])
    for i in range(0, len(conversions), 1000):
        ingestion.record_conversions(owner, conversions[i:i + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    url = os.environ.get("CONVTRACK_DATABASE_URL") or os.environ.get(
        "CONVTRACK_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    container = build_container(Settings(database_url=url, database_schema=schema), "bench")
    try:
        started = time.perf_counter()
        record_facts(container, args.members)
        sources = fast_sources(event_sources(container))
        total = sum(app.recorder.max_notification_id() or 0 for app in sources.values())
        print(f"recorded {total} events in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        for name, app in sources.items():
            position = 0
            while batch := read_envelopes(name, app, position, args.batch):
                position = batch[-1].position
        baseline = total / (time.perf_counter() - started)
        print(f"baseline, read + decode only: {baseline:,.0f} events/s")

        models = build_read_models(container)
        try:
            started = time.perf_counter()
            applied = catch_up(models.attribution, sources, args.batch)
            rate = applied / (time.perf_counter() - started)
            print(f"attribution catch-up: {applied} events, {rate:,.0f} events/s "
                  f"(batches of {args.batch}; {rate / baseline:.0%} of the baseline)")
            started = time.perf_counter()
            applied = catch_up(models.audit, sources, args.batch)
            print(f"audit catch-up: {applied / (time.perf_counter() - started):,.0f} events/s")
        finally:
            models.close()
    finally:
        container.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
