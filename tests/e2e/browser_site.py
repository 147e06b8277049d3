"""What the browser tests need around Chromium: a certificate for the test host names, convtrack
running for real (`convtrack serve` over HTTPS in a subprocess), and an advertiser's site.

Every host name resolves to 127.0.0.1 inside Chromium only (`--host-resolver-rules`); the test's
own HTTP client talks to convtrack at https://127.0.0.1:<port>, which the certificate also names.
- `collector.test`: convtrack (`CONVTRACK_PUBLIC_URL`), the third party on advertisers' pages;
- `shop.test`: the advertiser's site, a registered domain of its tag;
- `other.test`: the same pages and snippet on a host the tag does not list;
- `www.collector.test`: the ad platform's own pages (as www.linkedin.com is to its pixel's
  host), where the sync pixel sits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from psycopg import sql

from adapters.nats.subjects import Topology
from tests.conftest import delete_streams, deployment_in

COLLECTOR = "collector.test"
SHOP = "shop.test"
OTHER = "other.test"
PLATFORM = "www.collector.test"  # the ad platform's own site, same site as the collector
HOSTS = (COLLECTOR, SHOP, OTHER, PLATFORM)
ADMIN_TOKEN = "admin_" + "browser-e2e-" * 3


# --- certificate ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Certificate:
    """A test CA, a server certificate it signed for every test host name (and 127.0.0.1), and
    the server key's SPKI hash (Chromium's `--ignore-certificate-errors-spki-list`)."""

    ca: Path
    cert: Path
    key: Path
    spki_sha256: str

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def make_certificate(directory: Path, hosts: tuple[str, ...] = HOSTS) -> Certificate:
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "convtrack browser tests CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Certificate(ca=directory / "ca.pem", cert=directory / "cert.pem",
                        key=directory / "key.pem", spki_sha256="")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # The chain: the server's certificate, then its issuer.
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                           + ca.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return Certificate(paths.ca, paths.cert, paths.key,
                       base64.b64encode(hashlib.sha256(spki).digest()).decode())


def chromium_args(certificate: Certificate, *extra: str) -> list[str]:
    rules = ", ".join(f"MAP {host} 127.0.0.1" for host in HOSTS)
    return ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            f"--host-resolver-rules={rules}", "--ignore-certificate-errors",
            # Makes the test certificate count as valid, not merely clicked through, so the
            # pages are secure contexts exactly as they are in production.
            f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}", *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- convtrack --------------------------------------------------------------------------------

@dataclass
class Convtrack:
    """`convtrack serve` in a subprocess over HTTPS, on a schema and data folder of its own."""

    database_url: str
    nats_url: str
    certificate: Certificate
    data_dir: Path
    port: int = field(default_factory=free_port)
    schema: str = field(default_factory=lambda: f"t_{uuid.uuid4().hex[:12]}")
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client | None = None

    @property
    def public_url(self) -> str:
        return f"https://{COLLECTOR}:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "convtrack.log"

    def start(self) -> Convtrack:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVTRACK_")}
        env |= {
            "CONVTRACK_DATABASE_URL": self.database_url,
            "CONVTRACK_DATABASE_SCHEMA": self.schema,
            "CONVTRACK_NATS_URL": self.nats_url,
            "CONVTRACK_DATA_DIR": str(self.data_dir),
            "CONVTRACK_HOST": "127.0.0.1",
            "CONVTRACK_PORT": str(self.port),
            "CONVTRACK_PUBLIC_URL": self.public_url,
            "CONVTRACK_ADMIN_TOKEN": ADMIN_TOKEN,
            "CONVTRACK_TLS_CERT": str(self.certificate.cert),
            "CONVTRACK_TLS_KEY": str(self.certificate.key),
            "CONVTRACK_DB_POOL_SIZE": "3",
            "CONVTRACK_LOG_FORMAT": "text",
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:  # a file, not a pipe nobody reads: it cannot fill up
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from adapters.cli import main; raise SystemExit(main())",
                 "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(base_url=f"https://127.0.0.1:{self.port}", timeout=10,
                                 verify=self.certificate.client_context())
        self._wait_healthy(90)
        return self

    def _wait_healthy(self, seconds: float) -> None:
        assert self.process is not None and self.http is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"convtrack serve exited {self.process.returncode}:\n"
                                     + self.log.read_text(errors="replace")[-4000:])
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("convtrack serve did not answer /health over HTTPS:\n"
                             + self.log.read_text(errors="replace")[-4000:])

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
        if deployment is not None:
            in_a_thread(lambda: delete_streams(self.nats_url, Topology.for_deployment(deployment)))

    # The API, as the ad platform (admin token) or an advertiser (account key) calls it.

    def call(self, method: str, path: str, key: str = ADMIN_TOKEN, expect: int = 200,
             **kwargs: Any) -> Any:
        assert self.http is not None
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {key}"},
                                     **kwargs)
        assert response.status_code == expect, (method, path, response.status_code,
                                                 response.text)
        content_type = response.headers.get("content-type", "")
        return response.json() if content_type.startswith("application/json") else response.text

    def collect_metrics(self) -> dict[str, float]:
        """Every `convtrack_collect_fires_total{outcome}` and `_clicks_followed_total` sample."""
        assert self.http is not None
        samples = {}
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith(("convtrack_collect_", "convtrack_clicks_followed_total")):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def settled(self) -> bool:
        """Nothing in flight: every fire recorded, every event relayed and projected."""
        status = self.call("GET", "/v1/projections")
        relayed = all(s["lag"] == 0 for s in (status.get("relay") or {}).values())
        return relayed and all(p["lag"] == 0 for p in status["projections"]) \
            and self.fires_waiting() == 0

    def fires_waiting(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            deployment = deployment_in(connection, self.schema)
        if deployment is None:
            return 0
        stream = Topology.for_deployment(deployment).fires_stream

        async def size() -> int:
            import nats
            from nats.js.errors import NotFoundError

            connection = await nats.connect(self.nats_url)
            try:
                return int((await connection.jetstream().stream_info(stream)).state.messages)
            except NotFoundError:
                return 0
            finally:
                await connection.close()
        return int(in_a_thread(size))


def in_a_thread(coroutine: Callable[[], Any]) -> Any:
    """Run a coroutine to completion on a thread of its own: Playwright's sync API keeps an
    event loop running on the test's thread, where asyncio.run is refused."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coroutine()))
        except BaseException as error:  # re-raised on the caller's thread
            errors.append(error)
    thread = threading.Thread(target=run, name="asyncio-call")
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    assert result, "the coroutine did not finish within 30 s"
    return result[0]


def wait_for(predicate: Callable[[], Any], seconds: float, what: str,
             interval: float = 0.1) -> Any:
    """Poll until the predicate answers something truthy (returned), or fail naming it."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(interval)


# --- the advertiser's site --------------------------------------------------------------------

@dataclass
class Site:
    """Pages on shop.test / other.test (each with the tag's snippet), and platform.test's."""

    certificate: Certificate
    snippet: str = ""
    signup_action: str = ""
    port: int = 0
    server: ThreadingHTTPServer | None = None
    served: list[str] = field(default_factory=list)

    def url(self, host: str, path: str) -> str:
        return f"https://{host}:{self.port}{path}"

    def page(self, host: str, target: str) -> tuple[int, str]:
        """The status and HTML of `target` (path and query) on `host`."""
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        shown = escape(f"https://{host}:{self.port}{target}")  # in screenshots
        head = '<meta charset="utf-8"><link rel="icon" href="data:,">'  # no favicon request
        if host == PLATFORM:
            # The ad platform's page, with the sync pixel of the member who is logged in there.
            sync = query.get("sync", [""])[0]
            if not sync.startswith("https://"):
                return 404, "no sync URL"
            return 200, (f"<!doctype html><html><head>{head}<title>Ad platform</title></head>"
                         f"<body><h1>Your feed</h1><p><small>{shown}</small></p>"
                         f'<img id="sync" alt="" width="1" height="1" src="{sync}">'
                         "</body></html>")
        if host not in (SHOP, OTHER):
            return 404, "unknown host"
        consent = banner = ""
        if path.startswith("/no-consent/"):
            # What a consent banner does when the visitor refuses: set before the snippet.
            consent = "<script>window.convtrackConsent = false;</script>\n"
            banner = "<p><mark>Cookies and measurement refused</mark></p>"
            path = path.removeprefix("/no-consent")
        body = {
            "/landing": "<h1>Spring sale</h1><p>Landing page of the campaign.</p>",
            "/thank-you": "<h1>Thank you for your order!</h1><p>Order 1042 is confirmed.</p>",
            "/signup": ("<h1>Newsletter</h1><button id=\"signup\" onclick=\"convtrack('track', "
                        f"{{action_id: '{self.signup_action}', value: {{amount_minor: 1500, "
                        "currency: 'EUR'}});this.textContent='Subscribed'\">Subscribe"
                        "</button>"),
        }.get(path)
        if body is None:
            return 404, "not found"
        return 200, (f"<!doctype html><html><head>{head}<title>{host}{path}</title>\n{consent}"
                     f"{self.snippet}</head><body>{banner}{body}<p><small>{shown}</small></p>"
                     "</body></html>")

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                host = (self.headers.get("Host") or "").rpartition(":")[0]
                site.served.append(f"{host}{self.path}")
                status, html = site.page(host, self.path)
                body = html.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def setup(self) -> None:
                super().setup()
                # The handshake in the request's own thread: a connection Chromium opens
                # ahead and leaves idle must not hold up the accepting thread.
                self.request.do_handshake()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = self.certificate.server_context()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                connection, address = self.socket.accept()
                connection.settimeout(10)
                return context.wrap_socket(connection, server_side=True,
                                           do_handshake_on_connect=False), address

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a browser dropping a connection it opened ahead is no error here

        server = Server(("127.0.0.1", 0), Handler)
        self.server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="advertiser-site",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
