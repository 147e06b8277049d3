"""What the web UI's browser tests run against: `convtrack serve` for real, in a subprocess on a
schema, data folder and JetStream streams of its own, and the checks every page must pass.

The server is the whole product (HTTP app, relay, projection workers), so a fact sent through
the API reaches the reports the page reads exactly as in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import ConsoleMessage, Page, expect
from psycopg import sql

from adapters.nats.subjects import Topology
from tests.conftest import delete_streams, deployment_in
from tests.e2e.browser_site import free_port, in_a_thread, wait_for

ADMIN_TOKEN = "admin_" + "ui-e2e-" * 4
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_AXE = Axe()


@dataclass
class UiServer:
    """`convtrack serve` over plain HTTP on 127.0.0.1 (a secure context for the browser)."""

    database_url: str
    nats_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    schema: str = field(default_factory=lambda: f"t_{uuid.uuid4().hex[:12]}")
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "convtrack.log"

    def start(self) -> UiServer:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVTRACK_")}
        env |= {"CONVTRACK_DATABASE_URL": self.database_url,
                "CONVTRACK_DATABASE_SCHEMA": self.schema, "CONVTRACK_NATS_URL": self.nats_url,
                "CONVTRACK_DATA_DIR": str(self.data_dir), "CONVTRACK_HOST": "127.0.0.1",
                "CONVTRACK_PORT": str(self.port), "CONVTRACK_ADMIN_TOKEN": ADMIN_TOKEN,
                "CONVTRACK_DB_POOL_SIZE": "3", "CONVTRACK_LOG_FORMAT": "text"}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:  # a file nobody has to drain
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from adapters.cli import main; raise SystemExit(main())",
                 "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=self.url, timeout=10)
        wait_for(self._healthy, 90, "convtrack serve to answer /health", interval=0.2)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None and self.http is not None
        if self.process.poll() is not None:
            raise AssertionError(f"convtrack serve exited {self.process.returncode}:\n"
                                 + self.log.read_text(errors="replace")[-4000:])
        with contextlib.suppress(httpx.HTTPError):
            return self.http.get("/health", timeout=1).status_code == 200
        return False

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            deployment = deployment_in(connection, self.schema)
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.schema)))
        if deployment is not None:  # streams reserve storage on the shared NATS (conftest)
            in_a_thread(lambda: delete_streams(self.nats_url, Topology.for_deployment(deployment)))

    def call(self, method: str, path: str, key: str = ADMIN_TOKEN, expect: int = 200,
             **kwargs: Any) -> Any:
        """The API as the ad platform (admin token) or an advertiser (its key) calls it."""
        assert self.http is not None
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {key}"},
                                     **kwargs)
        assert response.status_code == expect, (method, path, response.status_code,
                                                 response.text)
        return response.json()

    def new_account(self, name: str) -> str:
        """A fresh advertiser account; its API key."""
        return str(self.call("POST", "/v1/accounts", json={"name": name}, expect=201)["api_key"])

    def wait_for_read_side(self, key: str) -> None:
        """Until every projection has applied every recorded event (docs/api.md)."""
        wait_for(lambda: all(p["lag"] == 0 for p in
                             self.call("GET", "/v1/projections", key)["projections"]),
                 30, "the read side to catch up")


class ConsoleErrors:
    """Every console error and uncaught exception of a page, with the page it happened on."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"{page.url}: {error}"))
        self.page = page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"{self.page.url}: {message.text}")

    def take(self) -> list[str]:
        found, self.seen = self.seen, []
        return found


def serious_violations(page: Page) -> list[str]:
    """axe-core's critical and serious accessibility violations on the page as it stands."""
    results = _AXE.run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + json.dumps([n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"] if v["impact"] in ("critical", "serious")]


def visit(page: Page, path: str) -> None:
    """Open a view of the UI afresh and wait for it to settle. A hash change alone is a
    same-document navigation, which load states do not wait for: the page is reloaded."""
    page.goto(f"/#{path}")
    page.reload()
    settle(page)


def settle(page: Page) -> None:
    """Until the page's loads have finished: no loading indicator and no busy button left."""
    page.wait_for_load_state("networkidle")
    # A locator, not wait_for_function: the page's CSP forbids the eval that one would use.
    expect(page.locator(".loading, [aria-busy=true]")).to_have_count(0, timeout=15000)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def overflows_sideways(page: Page) -> bool:
    """Whether the page is wider than the window (tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


def rfc3339(moment: datetime) -> str:
    """A UTC time as the API takes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def nav(page: Page, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
