"""End-to-end lag and projection throughput of the read side, with a raw JetStream baseline (issue 3).

1. Lag: the API (uvicorn, one process) and the read side (relay + workers, another process, as
   `convtrack worker --relay` would run it) on the configured PostgreSQL and NATS, in a fresh
   schema. Conversions go to POST /v1/conversions at a steady rate (batches every
   batch/rate seconds); GET /v1/conversions is polled (newest first, 100 a page) and each
   conversion's lag is the time from sending it to the first poll that shows it; p50/p95/p99.
2. Catch-up: with the workers stopped, a backlog is recorded through the ingestion application
   (not HTTP, to be quick), the relay publishes it (its rate is printed), then the workers
   start far behind and catch up from the store; events/s per projection.
3. Live path: a smaller backlog applied through NATS only (catch-up threshold disabled).
4. Baseline: nats-py publishing (publish_async, 1,000 in flight) and consuming (pull, fetch
   1,000, ack each) as many messages of the same size, with the same headers.

    python bench/e2e_lag.py [--rate 1000] [--seconds 30] [--backlog 1000000] [--live 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import psycopg

from read_side_processes import (
    ADMIN,
    METRICS_PORTS,
    RUNNING,
    check_alive,
    cpu_seconds,
    env_for,
    latency_quantiles,
    percentile,
    read_side_process,
    role_of,
    run_read_side,
    scrape_histograms,
    start_read_side,
    stop,
    stop_all,
    wait_for,
)

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_NATS = "nats://127.0.0.1:4222"


# --- 1. end-to-end lag ------------------------------------------------------------------------

def set_up(base: str, members: int, run: str) -> tuple[dict[str, str], str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    key = httpx.post(f"{base}/v1/accounts", json={"name": "bench"}, headers=admin).json()
    auth = {"Authorization": f"Bearer {key['api_key']}"}
    tag = httpx.post(f"{base}/v1/tags", json={"name": "bench"}, headers=auth).json()
    campaign = httpx.post(f"{base}/v1/campaigns", json={"name": "c", "type": "text_ad"},
                          headers=auth).json()["campaign_id"]
    action = httpx.post(f"{base}/v1/conversion-actions", headers=auth, json={
        "tag_id": tag["tag_id"], "name": "buy", "category": "purchase",
        "campaign_ids": [campaign]}).json()["action_id"]
    clicked = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for start in range(0, members, 1000):
        touches = [{"event_id": f"{run}-t{m}", "member_id": f"{run}-m{m}", "kind": "click",
                    "campaign_id": campaign, "occurred_at": clicked}
                   for m in range(start, min(members, start + 1000))]
        httpx.post(f"{base}/v1/touches", json={"touches": touches}, headers=admin, timeout=60)
    return auth, action, tag["tag_id"]


def read_model_observer(db: str, schema: str, tag_id: str
                        ) -> Callable[[list[str]], Awaitable[set[str]]]:
    """Which of these conversions the attribution read model holds (bypassing the API)."""
    connection: list[psycopg.AsyncConnection[Any]] = []

    async def observe(event_ids: list[str]) -> set[str]:
        if not connection:
            connection.append(await psycopg.AsyncConnection.connect(db, autocommit=True))
        rows = await (await connection[0].execute(
            f'SELECT event_id FROM "{schema}".attribution_conversions '
            "WHERE tag_id = %s AND event_id = ANY(%s)", (tag_id, event_ids))).fetchall()
        return {row[0] for row in rows}

    return observe


async def measure_lag(base: str, auth: dict[str, str], action: str, run: str, members: int,
                      rate: int, seconds: float, batch: int, poll: float,
                      observe: Callable[[list[str]], Awaitable[set[str]]] | None = None
                      ) -> tuple[list[float], list[float], int]:
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    posts: list[float] = []
    done = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as http:
        async def send(first: int) -> None:
            now = datetime.now(UTC).isoformat()
            items = [{"event_id": f"{run}-x{i}", "action_id": action,
                      "member_id": f"{run}-m{i % members}", "occurred_at": now,
                      "value": {"amount_minor": 1000, "currency": "USD"}}
                     for i in range(first, first + batch)]
            began = time.perf_counter()
            for item in items:
                sent[str(item["event_id"])] = began
            response = await http.post("/v1/conversions", json={"conversions": items})
            posts.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise SystemExit(f"POST failed: {response.status_code} {response.text[:200]}")

        async def poller() -> None:
            while not (done.is_set() and len(seen) >= len(sent)):
                if observe is not None:
                    found = await observe([e for e in sent if e not in seen])
                    now = time.perf_counter()
                    seen.update(dict.fromkeys(found, now))
                    await asyncio.sleep(poll)
                    continue
                cursor = None
                while True:
                    params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
                    page = (await http.get("/v1/conversions", params=params)).json()
                    now = time.perf_counter()
                    fresh = [i["event_id"] for i in page["items"]
                             if i["event_id"] in sent and i["event_id"] not in seen]
                    for event_id in fresh:
                        seen[event_id] = now
                    # A whole page of new ones: more may hide on the next page.
                    if len(fresh) < 100 or not page["next_cursor"]:
                        break
                    cursor = page["next_cursor"]
                await asyncio.sleep(poll)

        polling = asyncio.create_task(poller())
        interval = batch / rate
        began = time.perf_counter()
        tasks = []
        for k in range(int(rate * seconds / batch)):
            delay = began + k * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(k * batch)))
        await asyncio.gather(*tasks)
        done.set()
        try:
            await asyncio.wait_for(polling, 120)
        except TimeoutError:
            pass
    lags = [seen[e] - sent[e] for e in seen]
    return lags, posts, len(sent) - len(seen)


# --- 2. and 3. catch-up and live path ---------------------------------------------------------

def record_backlog(container: Any, events: int, run: str) -> int:
    """About `events` events: per member 1 creation, 6 touches, 3 conversions."""
    from application.access import Caller
    from application.facts import ConversionIn, TouchIn
    from domain.values import Money

    management, ingestion = container.management, container.ingestion
    owner = Caller.account(str(management.create_account(Caller.admin(), run).account.id))
    tag = str(management.create_tag(owner, run).id)
    campaigns = [str(management.create_campaign(owner, f"c{i}", "text_ad", "active").id)
                 for i in range(5)]
    actions = [str(management.create_action(owner, tag, {
        "name": f"a{i}", "category": c, "campaign_ids": campaigns}).id)
        for i, c in enumerate(("purchase", "lead", "download"))]
    rng = random.Random(7)
    now = datetime.now(UTC)
    members = max(1, events // 10)
    for start in range(0, members, 1000 // 6):
        chunk = range(start, min(members, start + 1000 // 6))
        touches = [TouchIn(f"{run}t{m}_{t}", f"{run}m{m}",
                           "click" if rng.random() < 0.3 else "impression",
                           rng.choice(campaigns), now - timedelta(days=rng.uniform(1, 40)), {})
                   for m in chunk for t in range(6)]
        ingestion.record_touches(Caller.admin(), touches)
        conversions = [ConversionIn(f"{run}x{m}_{c}", rng.choice(actions), f"{run}m{m}", None,
                                    now - timedelta(days=rng.uniform(0, 1)),
                                    Money(rng.randint(100, 9999), "USD"), {})
                       for m in chunk for c in range(3)]
        ingestion.record_conversions(owner, conversions)
        if start // (1000 // 6) % 100 == 0:
            print(f"  recorded {start * 10:,} / {members * 10:,} events", flush=True)
    return members * 10


def heads(container: Any) -> dict[str, int]:
    return {"management": container.management.recorder.max_notification_id() or 0,
            "ingestion": container.ingestion.recorder.max_notification_id() or 0}


def time_projections(container: Any, models: Any, only: str | None = None,
                     start: dict[str, int] | None = None) -> dict[str, tuple[int, float]]:
    """Poll until every projection reaches the store's head: events applied and seconds taken."""
    target = heads(container)
    projections = [p for p in models.projections if only in (None, p.name)]
    start = start or {p.name: sum(p.tracked_positions().values()) for p in projections}
    first: dict[str, float] = {}
    result: dict[str, tuple[int, float]] = {}
    while len(result) < len(projections):
        for p in projections:
            if p.name in result:
                continue
            position = p.tracked_positions()
            now = time.perf_counter()
            if sum(position.values()) > start[p.name] and p.name not in first:
                first[p.name] = now  # timed from the first progress: process start-up excluded
            if all(position.get(a, 0) >= h for a, h in target.items()):
                applied = sum(position.values()) - start[p.name]
                result[p.name] = (applied, now - first.get(p.name, now))
        check_alive()
        time.sleep(0.05)
    return result


def time_each(container: Any, models: Any, env: dict[str, str], names: list[str],
              threshold: int | None = None) -> dict[str, tuple[int, float]]:
    """Start each projection's worker alone and time it to the store's head."""
    result = {}
    for name in names:
        start = {p.name: sum(p.tracked_positions().values()) for p in models.projections}
        workers = [read_side_process("workers", env, threshold, name)]
        RUNNING.extend(workers)
        try:
            result.update(time_projections(container, models, name, start))
        finally:
            stop_all(workers)
    return result


def rate(events: int, seconds: float) -> float:
    """events/s, NaN when too few to time (caught up between two polls)."""
    return events / seconds if seconds > 0 else float("nan")


def relay_rate(container: Any, state: Any) -> float:
    """Events/s the relay publishes from now to the store's head (NaN if it is there already:
    a backlog too small to time)."""
    target = heads(container)
    began = time.perf_counter()
    before = sum(state.relay_positions().values())
    wait_for(lambda: state.relay_positions() == target, "the relay", interval=0.05)
    left = sum(target.values()) - before
    return left / (time.perf_counter() - began) if left else float("nan")


# --- 4. the raw JetStream baseline ------------------------------------------------------------

async def jetstream_baseline(url: str, count: int, size: int) -> tuple[float, float]:
    from nats.js.api import StreamConfig, StorageType

    connection = await nats.connect(url)
    js = connection.jetstream(publish_async_max_pending=2000)
    stream = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"],
                                     storage=StorageType.FILE, duplicate_window=120))
    body = os.urandom(size)
    began = time.perf_counter()
    for first in range(0, count, 1000):
        futures = [await js.publish_async(
            f"{stream.lower()}.member_timeline.click_recorded", body, headers={
                "Nats-Msg-Id": f"ingestion:{i}", "Convtrack-Application": "ingestion",
                "Convtrack-Position": str(i), "Convtrack-Topic": "convtrack:MemberTimeline.Click",
                "Convtrack-Originator-Id": str(uuid.uuid4()), "Convtrack-Originator-Version": "2"})
            for i in range(first, min(count, first + 1000))]
        await asyncio.wait(futures)
    published = count / (time.perf_counter() - began)
    subscription = await js.pull_subscribe(f"{stream.lower()}.>", durable="bench",
                                           stream=stream)
    began, got = time.perf_counter(), 0
    while got < count:
        for message in await subscription.fetch(1000, timeout=5):
            await message.ack()
            got += 1
    consumed = count / (time.perf_counter() - began)
    await js.delete_stream(stream)
    await connection.close()
    return published, consumed


def run_phases(args: argparse.Namespace) -> None:
    from adapters.bootstrap import build_container, build_read_models
    from adapters.settings import Settings

    db = os.environ.get("CONVTRACK_DATABASE_URL", DEFAULT_DB)
    url = os.environ.get("CONVTRACK_NATS_URL", DEFAULT_NATS)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    env = env_for(db, url, schema)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    container = build_container(Settings(database_url=db, nats_url=url, database_schema=schema,
                                         pool_size=4), ADMIN)
    models = build_read_models(container)  # tables exist before any process polls them
    state = container.state
    report: list[str] = []
    names = [p.name for p in models.projections]
    http = None
    read_side: list[subprocess.Popen[bytes]] = []
    try:
        if not args.skip_lag:
            port = 18000 + random.randint(0, 999)
            base = f"http://127.0.0.1:{port}"
            if args.layout == "serve":
                # Everything in one process, as `convtrack serve` runs it; its /metrics has the
                # read side's histograms too.
                http = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--port",
                                         str(port), "--data-dir", f"/tmp/{schema}"], env=env)
                METRICS_PORTS.append(port)
                RUNNING.append(http)
            else:
                http = subprocess.Popen([sys.executable, "-m", "uvicorn",
                                         "adapters.asgi:app", "--port", str(port),
                                         "--no-access-log", "--log-level", "warning"], env=env)
            wait_for(lambda: _up(base), "the API", 60)
            if args.layout != "serve":
                read_side = start_read_side(args.layout, env, names, relay=True, workers=True)
            auth, action, tag_id = set_up(base, args.members, run)
            observe = read_model_observer(db, schema, tag_id) if args.observe == "db" else None
            time_projections(container, models)  # the clicks are applied before the load
            print(f"lag: {args.rate}/s for {args.seconds:.0f} s in batches of {args.batch}",
                  flush=True)
            cpu_before, histograms = cpu_seconds(http, *read_side), scrape_histograms()
            lags, posts, missing = asyncio.run(measure_lag(
                base, auth, action, run, args.members, args.rate, args.seconds, args.batch,
                args.poll, observe))
            cpu = [after - before for after, before in zip(cpu_seconds(http, *read_side), cpu_before)]
            roles = ", ".join(f"{role_of(p)} {c:.1f}" for p, c in zip(read_side, cpu[1:-3])) \
                or "in the api process"
            cpu = [cpu[0], sum(cpu[1:-3]), *cpu[-3:]]
            stages = {"convtrack_transport_latency_seconds": "recorded->in JetStream",
                      "convtrack_projection_latency_seconds": "recorded->committed"}
            found = latency_quantiles(histograms, scrape_histograms())
            for (metric, name), (p50, p95, p99) in sorted(found.items()):
                report.append(f"{stages[metric] + ' ' + name:<35} p50 {p50:.0f} ms  "
                              f"p95 {p95:.0f} ms  p99 {p99:.0f} ms (read side's histograms)")
            ms = [x * 1000 for x in lags]
            report += [
                f"e2e lag ({'API' if args.observe == 'api' else 'read model'} polled every "
                f"{args.poll * 1000:.0f} ms)  "
                f"p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms  "
                f"p99 {percentile(ms, 99):.0f} ms  max {max(ms):.0f} ms  "
                f"({len(ms):,} seen, {missing} never seen; target p95 < 250 ms)",
                f"POST /v1/conversions       p50 {percentile(posts, 50) * 1000:.0f} ms  "
                f"p95 {percentile(posts, 95) * 1000:.0f} ms",
                f"cpu seconds during load    api {cpu[0]:.1f}, read side {cpu[1]:.1f} ({roles}), "
                f"bench client {cpu[2]:.1f}, postgres {cpu[3]:.1f}, nats {cpu[4]:.1f} "
                f"(of {2 * args.seconds:.0f} core-seconds)"]
            print("\n".join(report), flush=True)
            stop_all([http, *read_side])
            http = None
        if args.backlog <= 0:
            return
        print(f"catch-up: recording a backlog of {args.backlog:,} events", flush=True)
        backlog = record_backlog(container, args.backlog, run + "b")
        read_side = start_read_side(args.layout, env, names, relay=True, workers=False)
        relayed = relay_rate(container, state)
        report.append(f"relay publish rate         {relayed:,.0f} events/s")
        print(report[-1], flush=True)
        # Each projection alone, so its figure is its own (they share 2 cores when together).
        caught = time_each(container, models, env, names)
        for name, (events, seconds) in caught.items():
            report.append(f"catch-up {name:<17} {rate(events, seconds):,.0f} events/s "
                          f"({events:,} in {seconds:.1f} s, store path; target 20,000)")
            print(report[-1], flush=True)
        live = record_backlog(container, args.live, run + "l")
        relay_rate(container, state)
        through_nats = time_each(container, models, env, names, threshold=10**12)
        for name, (events, seconds) in through_nats.items():
            report.append(f"live path {name:<16} {rate(events, seconds):,.0f} events/s "
                          f"({events:,} in {seconds:.1f} s, one JetStream message per event)")
            print(report[-1], flush=True)
        stop_all(read_side)
        size = _average_state_size(db, schema)
        published, consumed = asyncio.run(jetstream_baseline(url, backlog, size))
        report.append(f"baseline nats-py           publish {published:,.0f} msgs/s, "
                      f"consume {consumed:,.0f} msgs/s ({backlog:,} msgs of {size} bytes)")
        best = max(rate(e, s) for e, s in caught.values())
        worst = min(rate(e, s) for e, s in caught.values())
        nats_path = max(rate(e, s) for e, s in through_nats.values())
        report += [
            f"ratios                     relay/publish {relayed / published:.2f}; catch-up/"
            f"consume {worst / consumed:.2f}-{best / consumed:.2f}; live path/consume "
            f"{nats_path / consumed:.2f}"]
        del live
    finally:
        stop(http)
        stop_all(read_side)
        models.close()
        container.close()
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        asyncio.run(_drop_stream(url, container.topology.stream))
        print("\n".join(["", "== bench/e2e_lag.py ==", *report]))


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _average_state_size(db: str, schema: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(f'SELECT avg(length(state))::int FROM "{schema}".ingestion_events'
                           ).fetchone()
    return int(row[0]) if row and row[0] else 300


async def _drop_stream(url: str, stream: str) -> None:
    connection = await nats.connect(url)
    try:
        await connection.jetstream().delete_stream(stream)
    except Exception:
        pass
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="conversions per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--batch", type=int, default=100,
                        help="conversions per POST (10 POSTs/s at the default rate)")
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--poll", type=float, default=0.02, help="visibility polling period")
    parser.add_argument("--observe", choices=["api", "db"], default="api",
                        help="poll GET /v1/conversions, or the read model's table directly")
    parser.add_argument("--backlog", type=int, default=1_000_000, help="events to catch up")
    parser.add_argument("--live", type=int, default=100_000, help="events through NATS only")
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--layout", choices=["serve", "one", "split"], default="split",
                        help="API and read side in one process (convtrack serve), the read "
                             "side in one process, or relay and each worker apart (lag "
                             "phase; catch-up runs `serve` as `one`)")
    parser.add_argument("--read-side", help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--projection", help=argparse.SUPPRESS)
    parser.add_argument("--metrics-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_side:
        run_read_side(args.read_side, args.threshold, args.projection, args.metrics_port)
        return
    run_phases(args)


if __name__ == "__main__":
    main()
