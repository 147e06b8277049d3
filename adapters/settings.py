"""Settings, all from `CONVTRACK_*` environment variables (README lists them)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told; CLI flags override the environment."""

    database_url: str | None = None
    nats_url: str | None = None
    data_dir: Path = Path(".convtrack")
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    database_schema: str = "public"
    log_level: str = "INFO"
    log_format: str = "json"
    pool_size: int = 5
    db_timeout: int = 3  # seconds a request waits for a database connection before a 503
    # Write batches in flight per process; one more answers 503 at once (ADR 0029: one per
    # process keeps /health fast on a busy machine at no cost in throughput).
    max_write_batches: int = 1
    request_read_timeout: float = 10.0  # seconds for a request to arrive in full (ADR 0029)
    api_rate: float = 0.0  # requests a second per credential (429 beyond); 0: no limit
    dead_letter_days: int = 30  # dead letters older than this are deleted (ADR 0028)
    # Signing keys of member and click tokens (ADR 0030), checked by adapters/secret_keys.py.
    secret_key: str | None = field(default=None, repr=False)
    secret_keys_old: str | None = field(default=None, repr=False)  # comma-separated
    # Collection (ADR 0032, 0033): fires a second per client address (0: no limit), reverse
    # proxies to trust for X-Forwarded-For (0: none), and how long a fire waits for JetStream.
    collect_ip_rate: float = 50.0
    collect_proxy_hops: int = 0
    collect_publish_timeout: float = 1.0
    # HTTPS in the process itself (PEM files; unset: plain HTTP, TLS ended in front of it).
    tls_cert: str | None = None
    tls_key: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read `CONVTRACK_*` variables; unset ones keep their defaults."""
        env = dict(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(f"CONVTRACK_{name}")
            return value if value else None

        return cls(
            database_url=get("DATABASE_URL"),
            nats_url=get("NATS_URL"),
            data_dir=Path(get("DATA_DIR") or ".convtrack"),
            admin_token=get("ADMIN_TOKEN"),
            host=get("HOST") or "127.0.0.1",
            port=int(get("PORT") or 8000),
            public_url=get("PUBLIC_URL"),
            database_schema=get("DATABASE_SCHEMA") or "public",
            log_level=get("LOG_LEVEL") or "INFO",
            log_format=get("LOG_FORMAT") or "json",
            pool_size=int(get("DB_POOL_SIZE") or 5),
            db_timeout=int(get("DB_TIMEOUT") or 3),
            max_write_batches=int(get("MAX_WRITE_BATCHES") or 1),
            request_read_timeout=float(get("REQUEST_READ_TIMEOUT") or 10),
            api_rate=float(get("API_RATE") or 0),
            dead_letter_days=int(get("DEAD_LETTER_DAYS") or 30),
            secret_key=get("SECRET_KEY"),
            secret_keys_old=get("SECRET_KEYS_OLD"),
            collect_ip_rate=float(get("COLLECT_IP_RATE") or 50),
            collect_proxy_hops=int(get("COLLECT_PROXY_HOPS") or 0),
            collect_publish_timeout=float(get("COLLECT_PUBLISH_TIMEOUT") or 1),
            tls_cert=get("TLS_CERT"),
            tls_key=get("TLS_KEY"),
        )

    @property
    def base_url(self) -> str:
        """Where browsers reach the service (the tag snippet points here)."""
        scheme = "https" if self.tls_cert else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")


def ensure_admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token: configured, or generated once and kept in the data folder.

    Returns the token and whether it was generated now (so the CLI prints it once).
    """
    if settings.admin_token:
        return settings.admin_token, False
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip(), False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = "admin_" + secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token, True
