"""`convtrack serve` on a fresh machine: embedded servers, demo data, a clean stop (issue 2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(base: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "convtrack serve exited early"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("convtrack serve did not answer /health")


def started_by(pid: int, data_dir: Path) -> list[psutil.Process]:
    """Its children, and the PostgreSQL processes of its data folder (pg_ctl daemonises them)."""
    found = {p.pid: p for p in psutil.Process(pid).children(recursive=True)}
    for process in psutil.process_iter(["cmdline"]):
        if str(data_dir) in " ".join(process.info["cmdline"] or []):
            found[process.pid] = process
    return [p for p in found.values() if p.pid != pid]


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    running = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_its_own_servers_loads_the_demo_and_stops_every_child(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    # No CONVTRACK_DATABASE_URL / NATS_URL: the fresh-machine path, whatever CI has running.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVTRACK_")}
    port = free_port()
    env |= {"CONVTRACK_DATA_DIR": str(tmp_path / "data"), "CONVTRACK_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    children: list[psutil.Process] = []
    process = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import main; raise SystemExit(main())",
         "serve", "--demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_health(base, process, seconds=120)
        children = started_by(process.pid, tmp_path / "data")
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "postgres" in names and "nats-server" in names
        demo = json.loads((tmp_path / "data" / "demo.json").read_text())
        key = {"Authorization": f"Bearer {demo['api_key']}"}
        assert len(httpx.get(f"{base}/v1/campaigns", headers=key).json()["items"]) == 4
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/v1/projections", headers=key).json()
            if all(p["lag"] == 0 for p in status["projections"]):
                break
            time.sleep(0.5)
        report = httpx.get(f"{base}/v1/reports/conversions?group_by=campaign",
                           headers=key).json()
        assert sum(row["conversions"] for row in report["rows"]) > 0
        assert (tmp_path / "data" / "admin_token").exists()

        process.send_signal(stop_signal)
        # 128 + signal number is the conventional exit status after SIGINT or SIGTERM.
        assert process.wait(timeout=60) in (0, 128 + stop_signal, -stop_signal)
        deadline = time.monotonic() + 15
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive(children) == []
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in alive(children):  # a failed assertion must not leave servers behind
            child.kill()
