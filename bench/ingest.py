"""Ingestion throughput through the HTTP API, against a PostgreSQL COPY baseline (issue 2).

Starts the API with uvicorn in a subprocess on the configured PostgreSQL (a fresh schema),
creates an advertiser, then sends N touches and N conversions in batches of 500 from several
concurrent clients. Prints facts/s, per-batch latency p50/p95/p99, peak server memory, and the
rate of a plain psycopg COPY of equivalent rows into the same database, measured in the same
run, with the ratio. Not a test: run it by hand.

    python bench/ingest.py --facts 50000 --workers 2 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psutil
import psycopg

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN = "admin_bench_token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, schema: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    # The write path itself is measured here, not shedding: no bound unless the caller sets one
    # (bench/admission.py does).
    env = {"CONVTRACK_MAX_WRITE_BATCHES": "0"} | os.environ | {
        "CONVTRACK_DATABASE_URL": db, "CONVTRACK_DATABASE_SCHEMA": schema,
        "CONVTRACK_ADMIN_TOKEN": ADMIN, "CONVTRACK_LOG_LEVEL": "WARNING"}
    # uvicorn with the service's own protocol (read deadline, keep-alive timeout: ADR 0029),
    # in `workers` processes each built by adapters/asgi.py.
    run = ("import uvicorn\n"
           "from adapters.runtime.http_server import KEEP_ALIVE_TIMEOUT, ReadDeadlineProtocol\n"
           f"uvicorn.run('adapters.asgi:app', port={port}, workers={workers}, "
           "http=ReadDeadlineProtocol, timeout_keep_alive=KEEP_ALIVE_TIMEOUT, "
           "access_log=False, log_level='warning')")
    return subprocess.Popen([sys.executable, "-c", run], env=env)


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def set_up(base: str) -> tuple[dict[str, str], str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    key = httpx.post(f"{base}/v1/accounts", json={"name": "bench"}, headers=admin).json()
    auth = {"Authorization": f"Bearer {key['api_key']}"}
    tag = httpx.post(f"{base}/v1/tags", json={"name": "bench"}, headers=auth).json()
    campaign = httpx.post(f"{base}/v1/campaigns", json={"name": "c", "type": "text_ad"},
                          headers=auth).json()
    action = httpx.post(f"{base}/v1/conversion-actions", headers=auth, json={
        "tag_id": tag["tag_id"], "name": "buy", "category": "purchase",
        "campaign_ids": [campaign["campaign_id"]]}).json()
    return auth, campaign["campaign_id"], action["action_id"]


def make_batches(n: int, members: int, campaign_id: str, action_id: str, run: str,
                 batch: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    now = datetime.now(UTC)
    touches = [{"event_id": f"{run}-t{i}", "member_id": f"{run}-m{i % members}",
                "kind": "click" if i % 5 == 0 else "impression", "campaign_id": campaign_id,
                "occurred_at": (now - timedelta(hours=2, seconds=i % 3600)).isoformat()}
               for i in range(n)]
    conversions = [{"event_id": f"{run}-c{i}", "action_id": action_id,
                    "member_id": f"{run}-m{i % members}",
                    "occurred_at": (now - timedelta(minutes=30)).isoformat(),
                    "value": {"amount_minor": 1000 + i % 5000, "currency": "USD"}}
                   for i in range(n)]
    return ([{"touches": touches[i:i + batch]} for i in range(0, n, batch)],
            [{"conversions": conversions[i:i + batch]} for i in range(0, n, batch)])


async def send_all(base: str, path: str, bodies: list[dict[str, object]],
                   headers: dict[str, str], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                results = response.json()["results"]
                bad = [r for r in results if r["status"] != "accepted"]
                if response.status_code != 200 or bad:
                    raise SystemExit(f"unexpected answer: {response.status_code} {bad[:2]}")

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def copy_baseline(db: str, schema: str, rows: int) -> float:
    """Rows/s of a psycopg COPY of touch-like rows: the floor cost of storing a fact."""
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


def watch_memory(pid: int, peak: list[int], stop: threading.Event) -> None:
    parent = psutil.Process(pid)
    while not stop.is_set():
        try:
            procs = [parent, *parent.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        stop.wait(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server and its worker processes so far."""
    parent = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [parent, *parent.children(recursive=True)])


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facts", type=int, default=50_000, help="touches, and as many conversions")
    parser.add_argument("--members", type=int, default=0, help="distinct members (default facts/4)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--database-url", default=os.environ.get("CONVTRACK_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(args.database_url, schema, port, args.workers)
    peak = [0]
    stop = threading.Event()
    try:
        wait_until_up(base)
        threading.Thread(target=watch_memory, args=(server.pid, peak, stop), daemon=True).start()
        auth, campaign_id, action_id = set_up(base)
        members = args.members or max(args.facts // 4, 1)
        touches, conversions = make_batches(args.facts, members, campaign_id, action_id,
                                            uuid.uuid4().hex[:6], args.batch)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        started = time.perf_counter()
        latencies = asyncio.run(send_all(base, "/v1/touches", touches, admin, args.concurrency))
        latencies += asyncio.run(send_all(base, "/v1/conversions", conversions, auth,
                                          args.concurrency))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid)
        client_cpu = sum(psutil.Process().cpu_times()[:2])
    finally:
        stop.set()
        server.terminate()
        server.wait(30)
    rate = 2 * args.facts / elapsed
    baseline = copy_baseline(args.database_url, schema, 2 * args.facts)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    ms = [x * 1000 for x in latencies]
    print(f"facts sent           {2 * args.facts:,} ({args.facts:,} touches + {args.facts:,} "
          f"conversions, {members:,} members, batches of {args.batch})")
    print(f"server               uvicorn x{args.workers}, {args.concurrency} concurrent clients")
    print(f"throughput           {rate:,.0f} facts/s in {elapsed:.1f} s")
    print(f"batch latency        p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms"
          f"  p99 {percentile(ms, 99):.0f} ms")
    print(f"cpu per fact         server {server_cpu / (2 * args.facts) * 1e6:.0f} us, "
          f"bench client {client_cpu / (2 * args.facts) * 1e6:.0f} us (2 cores shared)")
    print(f"peak server memory   {peak[0] / 2**20:,.0f} MiB (all worker processes)")
    print(f"baseline COPY        {baseline:,.0f} rows/s")
    print(f"ratio                {rate / baseline:.3f} of COPY")


if __name__ == "__main__":
    main()
