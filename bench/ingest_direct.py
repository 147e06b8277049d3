"""Ingestion throughput without HTTP: what the fires consumer gets (issue 10, point 9).

Builds the service through the composition root (`adapters/bootstrap.build_container`) on the
configured PostgreSQL in a fresh schema, sets up an advertiser (account, tag, campaign, action)
through the management application, records the clicks that some conversions will name by
click id (untimed), then records N conversions (and, with --touches, that many touches first)
in batches of 1,000 from one thread, calling `IngestionApp.record_conversions` /
`record_touches` as the fires consumer calls `record_fires`. The mix: many members (a new
member costs a timeline, a key and two events), drawn at random so that members repeat across
and sometimes within batches, and a share of the conversions carrying only a click id that
resolves to the click's member.

Each batch is made just before it is recorded, as a consumer decodes one batch at a time: the
inputs of the whole run are never all in memory (they would make every full collection of the
garbage collector walk them). Throughput is over the time spent inside the record calls; the
wall clock including the making of the batches is printed beside it.

Prints facts/s, p50/p99 per batch, CPU per fact of this process and of its PostgreSQL backends,
WAL bytes per fact, time in the garbage collector, peak RSS, and a plain COPY of as many rows
into a scratch table in the same run (bench/ingest.py's baseline), with the ratio. Not a test:
run it by hand.

    python bench/ingest_direct.py --conversions 200000 --members 50000
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import psycopg

from adapters.bootstrap import build_container
from adapters.postgres.statistics import StatisticsKeeper
from adapters.runtime.gc_tuning import tune_garbage_collector
from adapters.settings import Settings
from application.access import Caller
from application.facts import ConversionIn, ItemResult, TouchIn
from domain.values import Money

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"


def copy_baseline(db: str, schema: str, rows: int) -> float:
    """Rows/s of a psycopg COPY of fact-like rows: the floor cost of storing a fact
    (the same table and rows as bench/ingest.py's baseline)."""
    now = datetime.now(UTC)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".copy_baseline (event_id text, member_id text, '
                     "kind text, campaign_id text, occurred_at timestamptz, state bytea)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                f'COPY "{schema}".copy_baseline FROM STDIN') as copy:
            for i in range(rows):
                copy.write_row((f"e{i}", f"m{i % 1000}", "click", "c", now,
                                b'{"event_id":"e","campaign_id":"c"}'))
        return rows / (time.perf_counter() - started)


class Backends:
    """CPU seconds of the PostgreSQL backends serving this process's connections (found by
    their client ports), so other sessions on a shared server do not count."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.port = int(psycopg.conninfo.conninfo_to_dict(db).get("port") or 5432)
        self.start: dict[int, float] = {}

    def _ours(self) -> dict[int, float]:
        ports = [c.laddr.port for c in psutil.Process().net_connections("tcp")
                 if c.raddr and c.raddr.port == self.port]
        with psycopg.connect(self.db, autocommit=True) as conn:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s) "
                "AND pid <> pg_backend_pid()", (ports,))]
        seconds = {}
        for pid in pids:
            try:
                seconds[pid] = sum(psutil.Process(pid).cpu_times()[:2])
            except psutil.Error:
                pass
        return seconds

    def begin(self) -> None:
        self.start = self._ours()

    def seconds(self) -> float:
        now = self._ours()
        return sum(t - self.start.get(pid, 0.0) for pid, t in now.items())


def wal_lsn(db: str) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        assert row is not None
        return int(row[0])


def percentile(values: list[float], q: int) -> float:
    return (statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1
            else values[0])


def set_up(container: Any) -> tuple[Caller, str, str]:
    """An advertiser with a tag, a campaign and an action linking it; the account as caller."""
    management = container.management
    account = management.create_account(Caller.admin(), "bench").account
    caller = Caller.account(str(account.id))
    tag = management.create_tag(caller, "bench")
    campaign = management.create_campaign(caller, "c", "text_ad", "active")
    action = management.create_action(caller, str(tag.id), {
        "name": "buy", "category": "purchase", "campaign_ids": [str(campaign.id)]})
    return caller, str(campaign.id), str(action.id)


def touch_batches(run: str, n: int, members: int, campaign_id: str, kind: str | None,
                  rng: random.Random, prefix: str, batch: int) -> Iterator[list[TouchIn]]:
    """Touches of random members; clicks only if `kind` is "click", else one in five."""
    now = datetime.now(UTC)
    for start in range(0, n, batch):
        made = []
        for i in range(start, min(n, start + batch)):
            member = f"{run}-m{rng.randrange(members)}"
            touch_kind = kind or ("click" if i % 5 == 0 else "impression")
            occurred = now - timedelta(hours=2, seconds=i % 3600)
            event_id = f"{run}-{prefix}{i}"
            made.append(TouchIn(event_id, member, touch_kind, campaign_id, occurred, {
                "event_id": event_id, "member_id": member, "kind": touch_kind,
                "campaign_id": campaign_id, "occurred_at": occurred.isoformat()}))
        yield made


def conversion_batches(run: str, n: int, members: int, action_id: str, clicks: Sequence[str],
                       click_share: float, rng: random.Random, batch: int
                       ) -> Iterator[list[ConversionIn]]:
    """Conversions: most name a member (drawn from `members`, so members repeat), a share
    name only a recorded click (resolved to its member); payloads as HTTP decodes them."""
    now = datetime.now(UTC)
    for start in range(0, n, batch):
        made = []
        for i in range(start, min(n, start + batch)):
            event_id = f"{run}-c{i}"
            occurred = now - timedelta(minutes=30, seconds=i % 600)
            value = Money(1000 + i % 5000, "USD")
            payload: dict[str, Any] = {"event_id": event_id, "action_id": action_id,
                                       "occurred_at": occurred.isoformat(),
                                       "value": {"amount_minor": value.amount_minor,
                                                 "currency": "USD"}}
            if clicks and rng.random() < click_share:
                click_id: str | None = rng.choice(clicks)
                member: str | None = None
                payload["click_id"] = click_id
            else:
                click_id, member = None, f"{run}-m{rng.randrange(members)}"
                payload["member_id"] = member
            made.append(ConversionIn(event_id, action_id, member, click_id, occurred, value,
                                     payload))
        yield made


class GcClock:
    """Time spent in the cyclic garbage collector, by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._began
            self.count[info["generation"]] += 1


def keep_statistics(db: str, schema: str, stop: threading.Event, analysed: list[str]) -> None:
    """What the read side's runtime does beside the fires consumer (ADR 0015): analyse the
    tables that changed much, every 5 s (autovacuum may be off, as on this machine)."""
    keeper = StatisticsKeeper(db, schema)
    while not stop.wait(5.0):
        analysed.extend(keeper.analyse_due())


def record_all(record: Callable[[Sequence[Any]], list[ItemResult]],
               batches: Iterator[Sequence[Any]], latencies: list[float]) -> int:
    """Record every batch; how many items. Anything but `accepted` stops the bench."""
    count = 0
    for chunk in batches:
        began = time.perf_counter()
        results = record(chunk)
        latencies.append(time.perf_counter() - began)
        count += len(chunk)
        bad = [r for r in results if r.status != "accepted"]
        if bad:
            raise SystemExit(f"unexpected answers: {bad[:3]}")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversions", type=int, default=200_000)
    parser.add_argument("--touches", type=int, default=0,
                        help="touches recorded (and timed) before the conversions")
    parser.add_argument("--members", type=int, default=50_000, help="distinct members")
    parser.add_argument("--clicks", type=int, default=5_000,
                        help="clicks recorded untimed beforehand, for click-id conversions")
    parser.add_argument("--click-share", type=float, default=0.1,
                        help="share of conversions sent with a click id only")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--python-gc", action="store_true",
                        help="keep CPython's default collector settings instead of those the "
                             "service's processes use (adapters/runtime/gc_tuning.py)")
    parser.add_argument("--database-url",
                        default=os.environ.get("CONVTRACK_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    db = args.database_url
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    rng = random.Random(args.seed)
    container = build_container(Settings(database_url=db, database_schema=schema, pool_size=2),
                                "admin_bench_token")
    stop, analysed = threading.Event(), list[str]()
    threading.Thread(target=keep_statistics, args=(db, schema, stop, analysed),
                     daemon=True).start()
    try:
        ingestion = container.ingestion
        caller, campaign_id, action_id = set_up(container)
        admin = Caller.admin()
        clicks = [f"{run}-k{i}" for i in range(args.clicks)]
        record_all(lambda b: ingestion.record_touches(admin, b),
                   touch_batches(run, args.clicks, args.members, campaign_id, "click", rng, "k",
                                 args.batch), [])
        latencies: list[float] = []
        if not args.python_gc:  # as `convtrack serve` and `worker` do once started
            tune_garbage_collector()
        gc_clock = GcClock()
        backends = Backends(db)
        backends.begin()
        rss_before = psutil.Process().memory_info().rss
        wal_before = wal_lsn(db)
        cpu_before = time.process_time()
        started = time.perf_counter()
        touched = record_all(lambda b: ingestion.record_touches(admin, b),
                             touch_batches(run, args.touches, args.members, campaign_id, None,
                                           rng, "t", args.batch), latencies)
        converted = record_all(lambda b: ingestion.record_conversions(caller, b),
                               conversion_batches(run, args.conversions, args.members,
                                                  action_id, clicks, args.click_share, rng,
                                                  args.batch), latencies)
        wall = time.perf_counter() - started
        own_cpu = time.process_time() - cpu_before
        pg_cpu, wal = backends.seconds(), wal_lsn(db) - wal_before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tracked = len(gc.get_objects())
    finally:
        stop.set()
        container.close()
    facts = touched + converted
    baseline = copy_baseline(db, schema, facts)
    if not args.keep:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    elapsed = sum(latencies)
    rate = facts / elapsed
    ms = [x * 1000 for x in latencies]
    print(f"facts recorded       {facts:,} ({touched:,} touches + {converted:,} conversions, "
          f"{args.click_share:.0%} by click id; {args.members:,} members, batches of "
          f"{args.batch}, one thread, no HTTP)")
    print(f"throughput           {rate:,.0f} facts/s ({elapsed:.1f} s in record calls; "
          f"{facts / wall:,.0f} facts/s over {wall:.1f} s with making the batches)")
    print(f"batch latency        p50 {percentile(ms, 50):.0f} ms  p99 {percentile(ms, 99):.0f} ms"
          f"  max {max(ms):.0f} ms")
    print(f"cpu per fact         this process {own_cpu / facts * 1e6:.0f} us (with making the "
          f"batches), its postgres backends {pg_cpu / facts * 1e6:.0f} us")
    print(f"wal per fact         {wal / facts:,.0f} bytes")
    print(f"gc                   {sum(gc_clock.seconds):.1f} s in {sum(gc_clock.count):,} "
          f"collections ({gc_clock.count[2]} of generation 2: {gc_clock.seconds[2]:.1f} s), "
          f"{'CPython defaults' if args.python_gc else 'the service settings'} "
          f"{gc.get_threshold()}")
    print(f"gc-tracked objects   {tracked:,} at the end (not counting frozen ones)")
    print(f"rss                  {rss_before / 2**20:,.0f} MiB before, peak "
          f"{peak / 2**20:,.0f} MiB (this process)")
    print(f"statistics           {len(analysed)} analyses by the keeper (as the read side's)")
    print(f"baseline COPY        {baseline:,.0f} rows/s")
    print(f"ratio                {rate / baseline:.3f} of COPY")


if __name__ == "__main__":
    main()
