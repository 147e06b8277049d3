"""Collection: `/collect` under load against a bare litestar baseline, then the fires consumer
working off a backlog (issue 10, point 9; ADR 0031-0033).

1. `/collect` load. Starts the API (uvicorn with the service's protocol, as bench/ingest.py and
   `convtrack serve` run it) on the configured PostgreSQL in a fresh schema and NATS, sets up an
   account, a tag on shop.example, an action on `/thanks` linking a campaign, and `--members`
   members with a signed `ct_mid` cookie each (`POST /v1/members/{id}/token`). Then a load
   generator (raw asyncio HTTP/1.1 over `--connections` keep-alive connections, in a process of
   its own at a lower CPU priority) sends a browser-like mix: 90 % page views that match no
   action, 10 % conversions of known members on /thanks, each a `sendBeacon` POST (80 %) or a
   pixel GET (20 %) with a fresh event id. The baseline, in the same run: a bare litestar app
   answering GET /collect with the same 43-byte GIF and POST /collect with 204, under the same
   uvicorn settings and the same load. The `--seconds` of each are run in `--rounds` rounds,
   alternating service and baseline, so that the machine's other load falls on both alike.
   Prints req/s, latency p50/p95/p99 (and of conversions alone: they wait for JetStream), server
   CPU per request, peak server RSS, and the fires by outcome from each worker's `/metrics`,
   checked against what the fires stream holds. A paced phase then offers both servers the same
   fixed rate (`--paced-fraction` of the service's saturated rate), open loop, and prints the
   latency there: at saturation a closed loop's latency is only its connections over its
   throughput (Little's law), whatever the server.
   The per-address rate limit (CONVTRACK_COLLECT_IP_RATE) is off: every connection comes from
   127.0.0.1 and would share one bucket. The per-member limit (10/s) stays on; with 10,000
   members none comes near it.
2. Fires backlog. Publishes `--fires` more accepted fires (of `--fire-members` members) into the
   deployment's fires stream through the collector's own publisher (FirePublisher), with no
   consumer running (the API under uvicorn runs none), then starts the fires consumer alone (a
   process running only it) and times it until the stream is empty: fires/s recorded into the
   store, CPU per fire, peak RSS, and the conversions the ledger then holds.

`--profile DIR` adds py-spy profiles (raw folded stacks): each service worker under one more
round of saturated load, and the fires consumer. Targets (issue 10): `/collect` at least 0.5
of the baseline's throughput with p99 under 20 ms; the fires consumer at least 10,000 fires/s.
Not a test: run it by hand. It deletes its schema and both of its streams (`CONVTRACK-<ID>`,
`CONVTRACK-<ID>-FIRES`) at the end.

    python bench/collect.py [--seconds 30] [--workers 2] [--connections 64] [--fires 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import nats
import psutil
import psycopg
from litestar import Litestar, Response, get, post
from nats.js.errors import NotFoundError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ingest import ADMIN, DEFAULT_DB, free_port, percentile, watch_memory  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_NATS = "nats://127.0.0.1:4222"
PY_SPY = os.path.join(os.path.dirname(sys.executable), "py-spy")  # in the venv
SECRET_KEY = "bench-collect-signing-key-0123456789abcdef"
DOMAIN = "shop.example"
ORIGIN = f"https://www.{DOMAIN}"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
PAGES = [f"{ORIGIN}/{path}" for path in (
    "", "products", "products/trail-runner-2?color=blue&size=42", "products/city-loafer",
    "category/shoes?page=2", "category/bags", "blog/how-to-choose-running-shoes",
    "search?q=waterproof+boots", "cart", "checkout/shipping", "account/orders",
    "about", "help/returns", "products/sport-sock-3-pack?utm_source=linkedin&utm_medium=cpc",
    "stores/paris", "gift-cards")]


def baseline_app() -> Litestar:
    """The baseline: a bare litestar app answering /collect as the service does, deciding
    nothing (uvicorn builds it in each worker: `collect:baseline_app`, factory=True)."""
    from adapters.http.member_routes import PIXEL

    @get("/collect")
    async def pixel() -> Response[bytes]:
        return Response(PIXEL, media_type="image/gif")

    @post("/collect", status_code=204)
    async def beacon() -> None:
        return None

    return Litestar([pixel, beacon])


def start_uvicorn(target: str, port: int, workers: int, env: dict[str, str],
                  factory: bool = False) -> subprocess.Popen[bytes]:
    """uvicorn as bench/ingest.py runs the service: its own protocol (read deadline, keep-alive
    timeout, ADR 0029), no access log, `workers` processes. The same for the baseline."""
    run = ("import uvicorn\n"
           "from adapters.runtime.http_server import KEEP_ALIVE_TIMEOUT, ReadDeadlineProtocol\n"
           f"uvicorn.run({target!r}, port={port}, workers={workers}, factory={factory}, "
           "http=ReadDeadlineProtocol, timeout_keep_alive=KEEP_ALIVE_TIMEOUT, "
           "access_log=False, log_level='warning')")
    return subprocess.Popen([sys.executable, "-c", run], env=os.environ | env, cwd=REPO)


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered at {url}")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


# --- the load generator ---------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """What one load generator process sends, and when."""

    port: int
    connections: int
    start_at: float  # wall clock (time.time()) when every process begins
    warmup: float  # seconds sent but not counted
    seconds: float  # counted
    rate: float  # requests a second offered by this process; 0: each connection as fast as answered
    tag: str
    cookies: tuple[str, ...]
    run: str  # makes event ids unique across runs and processes
    niceness: int = 10
    conversion_every: int = 10  # 1 request in this many is a conversion (0: none)


class _Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: the least client work that
    still reads every answer (status, headers, body by Content-Length)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.body = b""  # the last answer's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(head[at + 17:head.find(b"\r\n", at + 2) if
                              head.find(b"\r\n", at + 2) >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        self.body = bytes(self.buffer[end + 4:total])
        del self.buffer[:total]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    async def send(self, request: bytes) -> int:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def _common_headers(port: int, page: str, cookie: str | None) -> bytes:
    lines = [f"Host: 127.0.0.1:{port}", "Connection: keep-alive", f"User-Agent: {CHROME}",
             f"Origin: {ORIGIN}", f"Referer: {page}", "Sec-Fetch-Site: cross-site",
             "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9"]
    if cookie is not None:
        lines.append(f"Cookie: ct_mid={cookie}")
    return ("\r\n".join(lines) + "\r\n").encode()


def is_conversion(load: Load, n: int) -> bool:
    return load.conversion_every > 0 and n % load.conversion_every == 0


def make_request(load: Load, n: int, event_id: str) -> tuple[bytes, int]:
    """The n-th request: 1 in `load.conversion_every` a conversion (a known member on /thanks),
    the others page views matching nothing; 1 in 5 a pixel GET, the others beacons. Page views
    carry a member cookie 1 time in 3 (a visitor the ad platform synced)."""
    conversion = is_conversion(load, n)
    pixel = (n // 10 + n) % 5 == 0
    member = load.cookies[(n // 10) % len(load.cookies)]  # conversions go round the members
    cookie: str | None
    if conversion:
        page, cookie = f"{ORIGIN}/checkout/thanks?order={event_id}", member
    else:
        page, cookie = PAGES[n % len(PAGES)], member if n % 3 == 0 else None
    headers = _common_headers(load.port, page, cookie)
    if pixel:
        query = f"tid={load.tag}&url={quote(page, safe='')}&eid={event_id}"
        return (f"GET /collect?{query} HTTP/1.1\r\n".encode() + headers
                + b"Accept: image/avif,image/webp,image/apng,image/*,*/*;q=0.8\r\n"
                  b"Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\n\r\n", 200)
    body = (f'{{"tid":"{load.tag}","url":"{page}","eid":"{event_id}"}}').encode()
    return (b"POST /collect HTTP/1.1\r\n" + headers
            + f"Content-Length: {len(body)}\r\n".encode()
            + b"Content-Type: text/plain;charset=UTF-8\r\nAccept: */*\r\n"
              b"Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: empty\r\n\r\n" + body, 204)


async def _drive(load: Load, proc: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    conversions: list[float] = []
    page_views: list[float] = []
    counts = {"sent": 0, "all": 0, "unexpected": 0, "errors": 0, "reconnects": 0}
    offset = time.perf_counter() - time.time()
    begin = load.start_at + offset
    counted_from = begin + load.warmup
    end = counted_from + load.seconds
    slot = [0]

    async def connect() -> _Http:
        _, protocol = await loop.create_connection(_Http, "127.0.0.1", load.port)
        return protocol

    async def connection(k: int) -> None:
        http = await connect()
        await asyncio.sleep(max(0.0, begin - time.perf_counter()))
        n = k  # spread the mix across connections
        while True:
            if load.rate > 0:
                # Open loop: request i is due at begin + i/rate whatever came before, and its
                # latency counts from then (a late send is the server's delay, not hidden).
                due = begin + slot[0] / load.rate
                slot[0] += 1
                if due >= end:
                    return
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                started = due
            else:
                started = time.perf_counter()
                if started >= end:
                    return
            request, expected = make_request(load, n, f"{load.run}-{proc}-{k}-{n}")
            conversion = is_conversion(load, n)
            n += load.connections
            try:
                status = await http.send(request)
            except ConnectionError:
                counts["reconnects"] += 1
                http = await connect()
                continue
            done = time.perf_counter()
            counts["all"] += 1
            if started >= counted_from and done <= end:
                latencies.append(done - started)
                (conversions if conversion else page_views).append(done - started)
                counts["sent"] += 1
                if status != expected:
                    counts["unexpected"] += 1

    results = await asyncio.gather(*(connection(k) for k in range(load.connections)),
                                   return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    counts["errors"] = len(errors)
    return {"latencies": latencies, "conversions": conversions, "page_views": page_views,
            "errors_seen": [repr(e) for e in errors[:3]], **counts}


def _generator(load: Load, proc: int, results: multiprocessing.Queue[dict[str, Any]]) -> None:
    os.nice(load.niceness)
    results.put(asyncio.run(_drive(load, proc)))


def generate(load: Load, procs: int) -> dict[str, Any]:
    """Run the load from `procs` processes at `load.niceness`; merged results."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    share = replace(load, connections=max(1, load.connections // procs), rate=load.rate / procs)
    workers = [context.Process(target=_generator, args=(share, p, results))
               for p in range(procs)]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=load.warmup + load.seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    merged: dict[str, Any] = {"latencies": [], "conversions": [], "page_views": [],
                              "errors_seen": []}
    for one in found:
        for key, value in one.items():
            merged[key] = merged.get(key, 0 if not isinstance(value, list) else []) + value
    return merged


# --- servers under load ----------------------------------------------------------------------

@dataclass
class Sample:
    """One server under one round of load."""

    seconds: float
    latencies: list[float]
    conversions: list[float]
    page_views: list[float]
    sent: int  # counted requests
    answered: int  # every answered request, warm-up included (for CPU per request)
    unexpected: int
    errors: int
    cpu: float  # server CPU seconds over the round, warm-up included
    peak_rss: int


@dataclass
class Measured:
    label: str
    rate: float
    p50: float
    p95: float
    p99: float
    cpu_per_request: float  # server CPU seconds per answered request
    peak_rss: int
    sent: int
    unexpected: int
    errors: int
    conversion_p50: float
    conversion_p99: float
    page_view_p50: float
    page_view_p99: float
    rounds: list[float]  # req/s of each round


def cpu_seconds(pid: int) -> float:
    parent = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [parent, *parent.children(recursive=True)])


def server_pids(pid: int) -> list[int]:
    """The processes answering requests: uvicorn's workers, or the server itself with one."""
    children = psutil.Process(pid).children(recursive=True)
    return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())] or [pid]


def measure(server: subprocess.Popen[bytes], load: Load, procs: int,
            profile: str | None = None) -> Sample:
    """One round of `load` against `server`; with `profile`, py-spy samples each worker over
    the counted part into `<profile>-<pid>.txt` (raw, folded stacks)."""
    peak = [0]
    stop_watch = threading.Event()
    threading.Thread(target=watch_memory, args=(server.pid, peak, stop_watch),
                     daemon=True).start()
    spies: list[subprocess.Popen[bytes]] = []

    def spy() -> None:
        time.sleep(max(0.0, load.start_at + load.warmup - time.time()))
        for pid in server_pids(server.pid):
            spies.append(subprocess.Popen(
                [PY_SPY, "record", "-p", str(pid), "-f", "raw", "-r", "200", "--nonblocking",
                 "-d", str(int(load.seconds)), "-o", f"{profile}-{pid}.txt"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    spying = None
    if profile:
        spying = threading.Thread(target=spy, daemon=True)
        spying.start()
    cpu_before = cpu_seconds(server.pid)
    found = generate(load, procs)
    cpu = cpu_seconds(server.pid) - cpu_before
    stop_watch.set()
    if spying is not None:
        spying.join()
    for each in spies:
        each.wait(60)
    if found["errors_seen"]:
        print(f"  load generator errors: {found['errors_seen']}", flush=True)
    return Sample(load.seconds, found["latencies"], found["conversions"], found["page_views"],
                  int(found["sent"]),
                  int(found["all"]), int(found["unexpected"]),
                  int(found["errors"]) + int(found["reconnects"]), cpu, peak[0])


def combine(label: str, samples: list[Sample]) -> Measured:
    ms = [x * 1000 for s in samples for x in s.latencies] or [0.0]
    conversion_ms = [x * 1000 for s in samples for x in s.conversions] or [0.0]
    page_view_ms = [x * 1000 for s in samples for x in s.page_views] or [0.0]
    sent = sum(s.sent for s in samples)
    return Measured(label, sent / sum(s.seconds for s in samples), percentile(ms, 50),
                    percentile(ms, 95), percentile(ms, 99),
                    sum(s.cpu for s in samples) / max(1, sum(s.answered for s in samples)),
                    max(s.peak_rss for s in samples), sent,
                    sum(s.unexpected for s in samples), sum(s.errors for s in samples),
                    percentile(conversion_ms, 50), percentile(conversion_ms, 99),
                    percentile(page_view_ms, 50), percentile(page_view_ms, 99),
                    [s.sent / s.seconds for s in samples])


def show(m: Measured, note: str = "") -> None:
    print(f"{m.label:20} {m.rate:7,.0f} req/s  p50 {m.p50:6.1f} ms  p95 {m.p95:6.1f} ms  "
          f"p99 {m.p99:6.1f} ms  server cpu {m.cpu_per_request * 1e6:4.0f} us/req  "
          f"peak rss {m.peak_rss / 2**20:4.0f} MiB{note}", flush=True)
    print(f"{'':20} rounds {' '.join(f'{r:,.0f}' for r in m.rounds)} req/s; page views p50 "
          f"{m.page_view_p50:.1f} ms, p99 {m.page_view_p99:.1f} ms; conversions (answered "
          f"after JetStream's ack) p50 {m.conversion_p50:.1f} ms, p99 {m.conversion_p99:.1f} ms",
          flush=True)
    if m.unexpected or m.errors:
        print(f"{'':20} {m.unexpected} unexpected answers, {m.errors} connection errors",
              flush=True)


# --- the service's side ----------------------------------------------------------------------

def set_up(base: str, members: int) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        account = http.post("/v1/accounts", json={"name": "bench"}, headers=admin).json()
        auth = {"Authorization": f"Bearer {account['api_key']}"}
        tag = http.post("/v1/tags", json={"name": "shop"}, headers=auth).json()["tag_id"]
        response = http.post(f"/v1/tags/{tag}/domains", json={"domain": DOMAIN}, headers=auth)
        assert response.status_code == 201, response.text
        campaign = http.post("/v1/campaigns", json={"name": "c", "type": "text_ad"},
                             headers=auth).json()["campaign_id"]
        response = http.post("/v1/conversion-actions", headers=auth, json={
            "tag_id": tag, "name": "Buy", "category": "purchase", "campaign_ids": [campaign],
            "rules": [{"match": "contains", "url": "/thanks"}]})
        assert response.status_code == 201, response.text
        action = response.json()["action_id"]

    async def tokens() -> list[str]:
        # Over raw keep-alive connections: httpx would spend more CPU than the server.
        found: list[str] = [""] * members
        port = int(base.rsplit(":", 1)[1])
        loop = asyncio.get_running_loop()

        async def one(worker: int) -> None:
            _, http = await loop.create_connection(_Http, "127.0.0.1", port)
            for i in range(worker, members, 8):
                status = await http.send(
                    f"POST /v1/members/bench-m{i}/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {ADMIN}\r\nContent-Length: 0\r\n\r\n".encode())
                assert status == 201, http.body
                found[i] = json.loads(http.body)["token"]
            assert http.transport is not None
            http.transport.close()

        await asyncio.gather(*(one(w) for w in range(8)))
        return found

    return {"tag": tag, "action": action, "campaign": campaign, "cookies": asyncio.run(tokens())}


def scrape_outcomes(base: str, workers: int) -> tuple[dict[str, float], int]:
    """`convtrack_collect_fires_total` by outcome summed over the workers. Each worker has its
    own registry and /metrics reaches whichever accepts the connection, so it is read over many
    fresh connections, and the workers are told apart by what they counted (frozen once the
    load has stopped) and their start time. The line printed says how many were seen."""
    seen: dict[tuple[str, tuple[tuple[str, float], ...]], dict[str, float]] = {}

    def parse(text: str) -> None:
        started, outcomes = "", {}
        for line in text.splitlines():
            if line.startswith("process_start_time_seconds "):
                started = line.split()[1]
            elif line.startswith("convtrack_collect_fires_total{"):
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                outcomes[outcome] = float(line.rsplit(" ", 1)[1])
        seen[(started, tuple(sorted(outcomes.items())))] = outcomes

    async def scrape() -> None:
        async def one() -> None:
            async with httpx.AsyncClient(timeout=30) as http:
                parse((await http.get(f"{base}/metrics")).text)
        for attempt in range(40):
            await asyncio.gather(*(one() for _ in range(4 * workers)))
            if len(seen) >= workers:
                return
            await asyncio.sleep(0.01 * (attempt % 7))  # another moment, another acceptor

    asyncio.run(scrape())
    total: dict[str, float] = {}
    for outcomes in seen.values():
        for outcome, n in outcomes.items():
            total[outcome] = total.get(outcome, 0) + n
    return {k: v for k, v in total.items() if v}, len(seen)


async def _stream_messages(nats_url: str, stream: str) -> int:
    connection = await nats.connect(nats_url, connect_timeout=5)
    try:
        try:
            return int((await connection.jetstream().stream_info(stream)).state.messages)
        except NotFoundError:
            return 0
    finally:
        await connection.close()


def stream_messages(nats_url: str, stream: str) -> int:
    return asyncio.run(_stream_messages(nats_url, stream))


async def _delete_streams(nats_url: str, streams: list[str]) -> None:
    connection = await nats.connect(nats_url, connect_timeout=5)
    try:
        for stream in streams:
            with contextlib.suppress(Exception):
                await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()


def deployment_of(db: str, schema: str) -> str:
    with psycopg.connect(db) as conn:
        row = conn.execute(f'SELECT id FROM "{schema}".deployment').fetchone()
    assert row is not None
    return str(row[0])


async def _publish_backlog(nats_url: str, deployment: str, tag: str, action: str, fires: int,
                           members: int, run: str, in_flight: int) -> float:
    from adapters.nats.fire_publisher import FirePublisher
    from adapters.nats.subjects import Topology
    from application.fires import Fire
    from domain.values import Money

    publisher = FirePublisher(nats_url, Topology.for_deployment(deployment), timeout=30)
    await publisher.start()
    while not publisher.connected:
        await asyncio.sleep(0.05)
    now = datetime.now(UTC)
    lost = 0
    next_fire = [0]

    async def publishing() -> None:
        nonlocal lost
        while next_fire[0] < fires:
            i = next_fire[0]
            next_fire[0] += 1
            eid = f"{run}-bk{i}"
            fire = Fire(tag_id=tag, event_id=eid, url=f"{ORIGIN}/checkout/thanks?order={i}",
                        received_at=now, conversions=((action, eid),),
                        member_id=f"bench-bm{i % members}",
                        value=Money(1000 + i % 5000, "USD"))
            if not await publisher.publish(fire):
                lost += 1

    began = time.perf_counter()
    await asyncio.gather(*(publishing() for _ in range(in_flight)))
    elapsed = time.perf_counter() - began
    await publisher.stop()
    if lost:
        raise SystemExit(f"{lost} fires were not acknowledged by JetStream")
    return fires / elapsed


CONSUMER = """
from adapters.bootstrap import build_container
from adapters.logs import configure_logging
from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
from adapters.settings import Settings

settings = Settings.from_env()
configure_logging(settings.log_level, settings.log_format)
container = build_container(settings, settings.admin_token)
# The fires consumer alone: no relay, no projection workers (ADR 0032's defaults otherwise).
runtime = ReadSideRuntime(container.read_side, [], settings.nats_url, ReadSideOptions(
    relay=False, workers=True, fires=True, statistics_interval=None)).start()
runtime.join()
"""


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process on this machine so far (whoever they
    serve: other work on the same server counts too)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("postgres", "postmaster"):
            with contextlib.suppress(psutil.Error):
                total += sum(process.cpu_times()[:2])
    return total


def consume_backlog(env: dict[str, str], nats_url: str, stream: str, backlog: int,
                    consumers: int = 1, profile: str | None = None) -> dict[str, float]:
    """Run the fires consumer alone (in `consumers` processes sharing its durable consumer)
    until the stream is empty; its rate, CPU and peak RSS (with `profile`, py-spy samples the
    first process, every thread, into `<profile>.txt`)."""
    began = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-c", CONSUMER], env=os.environ | env,
                                  cwd=REPO) for _ in range(consumers)]
    spy = None
    if profile:
        spy = subprocess.Popen([PY_SPY, "record", "-p", str(processes[0].pid), "-f", "raw",
                                "-r", "100", "--threads", "--nonblocking", "-o",
                                f"{profile}.txt"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peaks = [[0] for _ in processes]
    stop_watch = threading.Event()
    for process, peak in zip(processes, peaks):
        threading.Thread(target=watch_memory, args=(process.pid, peak, stop_watch),
                         daemon=True).start()
    first = last_change = None
    left = backlog
    deadline = time.monotonic() + 600 + backlog / 500

    async def follow() -> None:
        nonlocal first, left, last_change
        connection = await nats.connect(nats_url, connect_timeout=5)
        try:
            js = connection.jetstream()
            while left > 0:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise SystemExit(f"the fires consumer stopped with {left:,} fires left")
                now_left = int((await js.stream_info(stream)).state.messages)
                now = time.perf_counter()
                if now_left < left:
                    first = first or now
                    last_change = now
                left = now_left
                await asyncio.sleep(0.05)
        finally:
            await connection.close()

    postgres_before = postgres_cpu()
    try:
        asyncio.run(follow())
        cpu = sum(cpu_seconds(p.pid) for p in processes)
        postgres = postgres_cpu() - postgres_before
    finally:
        stop_watch.set()
        for process in processes:
            stop(process)
        if spy is not None:
            spy.wait(60)
    assert first is not None and last_change is not None
    return {"total": backlog / (last_change - began), "working": backlog / (last_change - first),
            "startup": first - began, "seconds": last_change - began,
            "peak_rss": sum(peak[0] for peak in peaks),
            "cpu_per_fire": cpu / backlog, "postgres_per_fire": postgres / backlog}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="counted load, each server")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds alternating service and baseline (the machine's other "
                             "load drifts; alternating shares it between them)")
    parser.add_argument("--warmup", type=float, default=2,
                        help="seconds of load sent but not counted, each round")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--client-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--client-nice", type=int, default=10,
                        help="niceness of the load generators (clients run on other machines "
                             "in production; here they share the server's cores)")
    parser.add_argument("--paced-fraction", type=float, default=0.5,
                        help="the paced phase offers this fraction of the service's saturated "
                             "rate to both servers (0: no paced phase)")
    parser.add_argument("--paced-rate", type=float, default=0,
                        help="offer this many requests a second in the paced phase instead")
    parser.add_argument("--paced-seconds", type=float, default=15)
    parser.add_argument("--members", type=int, default=10_000, help="members with a cookie")
    parser.add_argument("--conversion-every", type=int, default=10,
                        help="1 request in this many is a conversion (0: page views only)")
    parser.add_argument("--fires", type=int, default=200_000, help="backlog for the consumer")
    parser.add_argument("--consumers", type=int, default=1,
                        help="fires consumer processes sharing the work (scale-out)")
    parser.add_argument("--fire-members", type=int, default=20_000,
                        help="distinct members of the backlog's fires")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-backlog", action="store_true")
    parser.add_argument("--profile", metavar="DIR",
                        help="then py-spy (raw) each service worker under one more round")
    args = parser.parse_args()
    db = os.environ.get("CONVTRACK_DATABASE_URL", DEFAULT_DB)
    nats_url = os.environ.get("CONVTRACK_NATS_URL", DEFAULT_NATS)
    schema = f"bench_col_{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    env = {"CONVTRACK_DATABASE_URL": db, "CONVTRACK_DATABASE_SCHEMA": schema,
           "CONVTRACK_NATS_URL": nats_url, "CONVTRACK_ADMIN_TOKEN": ADMIN,
           "CONVTRACK_SECRET_KEY": SECRET_KEY, "CONVTRACK_LOG_LEVEL": "WARNING",
           # Every connection comes from 127.0.0.1: one address bucket would drop nearly all.
           "CONVTRACK_COLLECT_IP_RATE": "0"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    streams: list[str] = []
    server = start_uvicorn("adapters.asgi:app", port, args.workers, env)
    accepted = 0.0
    try:
        wait_for(f"{base}/health")
        deployment = deployment_of(db, schema)
        topology_stream = f"CONVTRACK-{deployment.upper()}"
        fires_stream = f"{topology_stream}-FIRES"
        streams = [topology_stream, fires_stream]
        began = time.perf_counter()
        site = set_up(base, args.members)
        print(f"set-up: account, tag, domain, action, campaign, {args.members:,} member tokens "
              f"in {time.perf_counter() - began:.1f} s", flush=True)
        time.sleep(1.0)  # every worker's catalogue follows the log within milliseconds
        if not args.skip_load:
            accepted = load_phase(args, server, base, port, site, run, nats_url,
                                  fires_stream)
        stop(server)
        if not args.skip_backlog:
            backlog_phase(args, db, schema, nats_url, deployment, site, run, env,
                          fires_stream, accepted)
    finally:
        if server.poll() is None:
            stop(server)
        if streams:
            asyncio.run(_delete_streams(nats_url, streams))
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        print(f"cleaned up: schema {schema}, streams {', '.join(streams) or 'none'}", flush=True)


def load_phase(args: argparse.Namespace, server: subprocess.Popen[bytes], base: str, port: int,
               site: dict[str, Any], run: str, nats_url: str, fires_stream: str) -> float:
    def load(port_: int, rate: float, seconds: float, round_: int) -> Load:
        return Load(port=port_, connections=args.connections, start_at=time.time() + 1.5,
                    warmup=args.warmup, seconds=seconds, rate=rate, tag=site["tag"],
                    cookies=tuple(site["cookies"]), run=f"{run}p{port_}r{int(rate)}n{round_}",
                    niceness=args.client_nice, conversion_every=args.conversion_every)

    print(f"/collect load: {args.seconds:.0f} s counted per server in {args.rounds} rounds "
          f"alternating with the baseline's, each after {args.warmup:.0f} s of warm-up; "
          f"{args.connections} keep-alive connections from {args.client_procs} load generator "
          f"process(es) (raw asyncio HTTP/1.1) at nice {args.client_nice}, below the servers; "
          f"uvicorn x{args.workers} with ReadDeadlineProtocol, no access log, for both; "
          f"1 in {args.conversion_every} a conversion of one of {args.members:,} known members, "
          "the others page views matching nothing; "
          "80 % beacons, 20 % pixels; CONVTRACK_COLLECT_IP_RATE=0 (no per-address limit: "
          "every connection is from 127.0.0.1), the per-member limit (10/s) on", flush=True)
    baseline_port = free_port()
    baseline = start_uvicorn("collect:baseline_app", baseline_port, args.workers,
                             {"PYTHONPATH": BENCH_DIR}, factory=True)
    try:
        wait_for(f"http://127.0.0.1:{baseline_port}/collect")
        targets = [("service", server, port), ("baseline", baseline, baseline_port)]

        def alternate(rate_of: dict[str, float], seconds: float) -> dict[str, list[Sample]]:
            samples: dict[str, list[Sample]] = {"service": [], "baseline": []}
            for round_ in range(args.rounds):
                for label, process, port_ in (targets if round_ % 2 == 0 else targets[::-1]):
                    samples[label].append(measure(process, load(
                        port_, rate_of[label], seconds / args.rounds, round_), args.client_procs))
            return samples

        saturated = alternate({"service": 0, "baseline": 0}, args.seconds)
        service = combine("service, saturated", saturated["service"])
        bare = combine("baseline, saturated", saturated["baseline"])
        show(service)
        show(bare)
        paced_service = paced_bare = None
        paced_rate = args.paced_rate or args.paced_fraction * service.rate
        if paced_rate > 0:
            paced = alternate({"service": paced_rate, "baseline": paced_rate},
                              args.paced_seconds)
            paced_service = combine("service, paced", paced["service"])
            paced_bare = combine("baseline, paced", paced["baseline"])
            show(paced_service, f"  (offered {paced_rate:,.0f}/s)")
            show(paced_bare, f"  (offered {paced_rate:,.0f}/s)")
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
            measure(server, load(port, 0, args.seconds / args.rounds, 99), args.client_procs,
                    f"{args.profile}/service")
            print(f"{'':20} py-spy profiles of each service worker under saturated load (a "
                  f"round not counted above): {args.profile}/service-<pid>.txt", flush=True)
    finally:
        stop(baseline)
    outcomes, seen = scrape_outcomes(base, args.workers)
    accepted = outcomes.get("accepted", 0.0)
    in_stream = stream_messages(nats_url, fires_stream)
    print(f"{'':20} fires by outcome (every phase, warm-ups included) from {seen} of "
          f"{args.workers} workers' /metrics: "
          + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(outcomes.items()))
          + f"; the fires stream holds {in_stream:,}", flush=True)
    print(f"ratio                throughput {service.rate / bare.rate:.2f} of the baseline "
          f"(target >= 0.50); server cpu per request "
          f"{service.cpu_per_request / bare.cpu_per_request:.2f}x the baseline's; p99 "
          f"{service.p99:.1f} ms saturated"
          + (f", {paced_service.p99:.1f} ms paced (baseline {paced_bare.p99:.1f} ms)"
             if paced_service and paced_bare else "") + " (target < 20 ms)", flush=True)
    return accepted


def backlog_phase(args: argparse.Namespace, db: str, schema: str, nats_url: str,
                  deployment: str, site: dict[str, Any], run: str, env: dict[str, str],
                  fires_stream: str, accepted: float) -> None:
    rate = asyncio.run(_publish_backlog(nats_url, deployment, site["tag"], site["action"],
                                        args.fires, args.fire_members, run, in_flight=256))
    backlog = stream_messages(nats_url, fires_stream)
    print(f"fires backlog: {args.fires:,} fires of {args.fire_members:,} members published "
          f"through FirePublisher at {rate:,.0f}/s (256 in flight, one connection); the "
          f"stream holds {backlog:,} (with the load's accepted fires)", flush=True)
    profile = None
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        profile = f"{args.profile}/fires-consumer"
    found = consume_backlog(env, nats_url, fires_stream, backlog, args.consumers, profile)
    with psycopg.connect(db) as conn:
        keys = conn.execute(f'SELECT count(*) FROM "{schema}".fact_keys WHERE scope = %s',
                            (f"conversion:{site['tag']}",)).fetchone()
        dead = conn.execute(f'SELECT count(*) FROM "{schema}".dead_letters').fetchone()
    label = f"fires consumer x{args.consumers}"
    print(f"{label:20} {found['working']:7,.0f} fires/s recording ({found['total']:,.0f}/s "
          f"counting its {found['startup']:.1f} s start-up), {backlog:,} fires in "
          f"{found['seconds']:.1f} s, cpu {found['cpu_per_fire'] * 1e6:.0f} us/fire in the "
          f"consumer process(es) and {found['postgres_per_fire'] * 1e6:.0f} in PostgreSQL's "
          "(all its processes, whatever else they served meanwhile), peak rss "
          f"{found['peak_rss'] / 2**20:.0f} MiB (target >= 10,000/s)", flush=True)
    print(f"{'':20} the ledger holds {keys[0] if keys else 0:,} conversions of the tag, "
          f"{dead[0] if dead else 0:,} dead letters"
          + (f"; py-spy profile of the consumer: {profile}.txt" if profile else ""), flush=True)


if __name__ == "__main__":
    main()
