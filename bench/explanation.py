"""The cost of one explanation for a member with a long history (issue 9: explanations bounded).

Records one member with N conversions (and a click every 100) through the ingestion
application into a fresh schema on the configured PostgreSQL, catches the read models up, then
times explanations of the member's newest and oldest conversions through the read service, and,
as the baseline in the same run, the whole-history re-run explanations used before (every
touch and conversion of the member read and attributed). Prints p50/p95 per way and the ratio.
Not a test: run it by hand.

    python bench/explanation.py [--conversions 5000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from adapters.bootstrap import build_container, build_read_models, catch_up_from_store, read_service
from adapters.settings import Settings
from application.access import Caller
from application.facts import ConversionIn, TouchIn
from domain.attribution import CampaignStatusHistory
from domain.member_attribution import attribute_recorded

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url = os.environ.get("CONVTRACK_DATABASE_URL") or os.environ.get(
        "CONVTRACK_TEST_DATABASE_URL", DEFAULT_DB)
    schema = f"bench_expl_{uuid.uuid4().hex[:8]}"
    container = build_container(Settings(database_url=url, database_schema=schema), "admin")
    models = build_read_models(container)
    try:
        run(container, models, args.conversions, args.repeat)
    finally:
        models.close()
        container.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def run(container, models, conversions: int, repeat: int) -> None:  # type: ignore[no-untyped-def]
    admin = Caller.admin()
    app = container.management
    owner = Caller.account(str(app.create_account(admin, "Busy").account.id))
    tag = str(app.create_tag(owner, "shop").id)
    campaign = str(app.create_campaign(owner, "C", "text_ad", "active").id)
    action = str(app.create_action(owner, tag, {"name": "buy", "category": "purchase",
                                                 "campaign_ids": [campaign]}).id)
    now = datetime.now(UTC)
    start = now - timedelta(days=85)
    step = timedelta(days=84) / conversions
    print(f"recording one member with {conversions:,} conversions, a click every 100")
    for first in range(0, conversions, 500):
        batch = range(first, min(first + 500, conversions))
        container.ingestion.record_touches(admin, [TouchIn(
            f"k{i}", "busy", "click", campaign, start + step * i, {}) for i in batch
            if i % 100 == 0])
        container.ingestion.record_conversions(owner, [ConversionIn(
            f"c{i}", action, "busy", None, start + step * i + step / 2, None, {})
            for i in batch])
    catch_up_from_store(models, container)
    reads = read_service(container, models)
    queries = models.conversions

    def whole_history(event_id: str) -> None:
        record = queries.find_conversions(event_id, [tag])[0]
        facts = queries.get_member_facts(record.timeline_id)
        campaigns = queries.list_campaigns({t.campaign_id for t in facts.touches})
        history = CampaignStatusHistory({c: s.history for c, s in campaigns.items()})
        attribute_recorded(facts.conversions, facts.touches, history)

    for label, event_id in (("newest", f"c{conversions - 1}"), ("oldest", "c0")):
        timed: dict[str, list[float]] = {"windows (now)": [], "whole history (before)": []}
        for _ in range(repeat):
            began = time.perf_counter()
            reads.explain_conversion(owner, event_id)
            timed["windows (now)"].append(time.perf_counter() - began)
            began = time.perf_counter()
            whole_history(event_id)
            timed["whole history (before)"].append(time.perf_counter() - began)
        figures = {way: (statistics.median(t) * 1000,
                         statistics.quantiles(t, n=20)[-1] * 1000) for way, t in timed.items()}
        for way, (p50, p95) in figures.items():
            print(f"{label:6} {way:24} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms")
        ratio = figures["windows (now)"][0] / figures["whole history (before)"][0]
        print(f"{label:6} ratio windows / whole history (p50): {ratio:.3f}")


if __name__ == "__main__":
    main()
