"""The read-side processes of bench/e2e_lag.py: starting and stopping them, their latency
histograms, and the CPU each process and server used. Each process is `e2e_lag.py --read-side
ROLE`, run as `convtrack serve` or `convtrack worker --projection NAME` would run it."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

ADMIN = "admin_bench_token"
HERE = os.path.dirname(os.path.abspath(__file__))

def env_for(db: str, url: str, schema: str) -> dict[str, str]:
    return os.environ | {"CONVTRACK_DATABASE_URL": db, "CONVTRACK_NATS_URL": url,
                         "CONVTRACK_DATABASE_SCHEMA": schema, "CONVTRACK_ADMIN_TOKEN": ADMIN,
                         "CONVTRACK_LOG_LEVEL": "WARNING", "CONVTRACK_DB_POOL_SIZE": "8"}


METRICS_PORTS: list[int] = []  # of the read-side processes running now


def read_side_process(role: str, env: dict[str, str], threshold: int | None = None,
                      projection: str | None = None) -> subprocess.Popen[bytes]:
    port = 19000 + random.randint(0, 999)
    METRICS_PORTS.append(port)
    args = [sys.executable, os.path.join(HERE, "e2e_lag.py"), "--read-side", role,
            "--metrics-port", str(port)]
    if threshold is not None:
        args += ["--threshold", str(threshold)]
    if projection is not None:
        args += ["--projection", projection]
    return subprocess.Popen(args, env=env)


def start_read_side(layout: str, env: dict[str, str], names: list[str], *, relay: bool,
                    workers: bool, threshold: int | None = None) -> list[subprocess.Popen[bytes]]:
    """`one`: the relay and every worker in one process (as `convtrack serve` runs them);
    `split`: the relay, and each projection's worker, in a process of its own (as
    `convtrack worker --projection NAME` scales out)."""
    if layout in ("one", "serve"):
        role = "all" if relay and workers else ("relay" if relay else "workers")
        commands = [(role, None)]
    else:
        commands = ([("relay", None)] if relay else []) + \
            ([("workers", name) for name in names] if workers else [])
    processes = []
    for role, name in commands:
        processes.append(read_side_process(role, env, threshold, name))
        # One at a time: the event store's start-up DDL (CREATE OR REPLACE FUNCTION) fails
        # with "tuple concurrently updated" when processes start together.
        time.sleep(2.0)
        RUNNING.extend(processes[-1:])
        check_alive()
    return processes


RUNNING: list[subprocess.Popen[bytes]] = []


def check_alive() -> None:
    """Stop the bench if a read-side process died: its figures would be meaningless."""
    for process in RUNNING:
        if process.poll() is not None:
            raise SystemExit(f"a read-side process exited with {process.returncode}: "
                             f"{' '.join(map(str, process.args))}")


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process in RUNNING:
            RUNNING.remove(process)
        stop(process)
    processes.clear()
    METRICS_PORTS.clear()


Histograms = dict[tuple[str, str], dict[float, float]]


def scrape_histograms() -> Histograms:
    """The read-side processes' latency histograms, per (metric, projection), summed."""
    found: Histograms = {}
    for port in METRICS_PORTS:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if line.startswith("convtrack_") and "_latency_seconds_bucket{" in line:
                labels, value = line.rsplit(" ", 1)
                metric = labels.split("_bucket{")[0]
                name = labels.split('projection="')[1].split('"')[0]
                le = labels.split('le="')[1].split('"')[0]
                bound = float("inf") if le == "+Inf" else float(le)
                counts = found.setdefault((metric, name), {})
                counts[bound] = counts.get(bound, 0.0) + float(value)
    return found


def latency_quantiles(before: Histograms, after: Histograms
                      ) -> dict[tuple[str, str], tuple[float, float, float]]:
    """p50/p95/p99 in ms of what the histograms counted between the two scrapes
    (interpolated within buckets)."""
    result = {}
    for key, counts in after.items():
        earlier = before.get(key, {})
        cumulative = {b: c - earlier.get(b, 0.0) for b, c in counts.items()}
        bounds = sorted(cumulative)
        total = cumulative[bounds[-1]]
        if total <= 0:
            continue

        def quantile(q: float) -> float:
            rank, lower, below = q * total, 0.0, 0.0
            for bound in bounds:
                if cumulative[bound] >= rank:
                    if bound == float("inf"):
                        return lower * 1000
                    share = (rank - below) / max(cumulative[bound] - below, 1e-9)
                    return (lower + (bound - lower) * share) * 1000
                lower, below = bound, cumulative[bound]
            return lower * 1000

        result[key] = (quantile(0.5), quantile(0.95), quantile(0.99))
    return result


def run_read_side(role: str, threshold: int | None, projection: str | None,
                  metrics_port: int | None) -> None:
    """Child process: the relay and/or the workers, until terminated."""
    import logging

    from adapters.bootstrap import build_container, build_read_models
    from adapters.read_side.runtime import ReadSideOptions, run_worker
    from adapters.read_side.worker import WorkerOptions
    from adapters.runtime.supervisor import exit_on_termination_signals
    from adapters.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    exit_on_termination_signals()
    settings = Settings.from_env()
    container = build_container(settings, ADMIN)
    models = build_read_models(container)
    worker = WorkerOptions() if threshold is None else WorkerOptions(catch_up_threshold=threshold)
    options = ReadSideOptions(relay=role in ("all", "relay"), workers=role in ("all", "workers"),
                              worker=worker)
    assert settings.nats_url
    run_worker(container.read_side, models.projections, settings.nats_url,
               [projection] if projection else None, options=options, metrics_port=metrics_port)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(30)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 3600,
             interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        check_alive()
        time.sleep(interval)


def cpu_seconds(*processes: subprocess.Popen[bytes] | None) -> list[float]:
    """CPU seconds so far of the given processes, this one, PostgreSQL's and nats-server's."""
    import psutil

    def used(p: psutil.Process) -> float:
        try:
            return float(sum(p.cpu_times()[:2]))
        except psutil.Error:
            return 0.0

    found = [used(psutil.Process(p.pid)) if p is not None else 0.0 for p in processes]
    found.append(used(psutil.Process()))
    by_name = {"postgres": 0.0, "nats-server": 0.0}
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in by_name:
            by_name[p.info["name"]] += used(p)
    return [*found, by_name["postgres"], by_name["nats-server"]]


def role_of(process: subprocess.Popen[bytes]) -> str:
    """What a read-side process runs: relay, a projection's name, or all."""
    args = [str(a) for a in process.args]  # type: ignore[union-attr]
    if "--projection" in args:
        return args[args.index("--projection") + 1]
    return args[args.index("--read-side") + 1]
