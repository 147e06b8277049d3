"""The `convtrack` command: serve, worker, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from adapters.preflight import StartupError, check_database, check_nats, check_tls
from adapters.runtime.data_dir_lock import DataDirInUse, DataDirLock
from adapters.settings import Settings, ensure_admin_token

log = logging.getLogger("convtrack.cli")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="convtrack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"convtrack {package_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback when the service cannot start")
    # Accepted after the command too; SUPPRESS keeps the subparser from resetting the flag.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback when the service cannot start")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API, the relay and the workers",
                                parents=[debug])
    serve.add_argument("--host", help="bind address (CONVTRACK_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CONVTRACK_PORT, default 8000)")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo data set first (once per data folder)")
    serve.add_argument("--data-dir", help="data folder (CONVTRACK_DATA_DIR, default .convtrack)")
    serve.add_argument("--no-workers", action="store_true",
                       help="run the relay but no projection workers (they run elsewhere)")
    worker = commands.add_parser("worker", help="run projection workers only (scale-out)",
                                 parents=[debug])
    worker.add_argument("--projection", action="append",
                        help="projection name; repeat for several (default: all)")
    worker.add_argument("--relay", action="store_true",
                        help="also run the relay (when no `serve` process does)")
    worker.add_argument("--fires", action="store_true",
                        help="also run the fires consumer beside named projections (it runs "
                             "by default when no --projection is given)")
    worker.add_argument("--metrics-port", type=int,
                        help="serve Prometheus metrics on this port (workers have no HTTP API)")
    args = parser.parse_args(argv)

    from adapters.logs import configure_logging
    from adapters.runtime.supervisor import exit_on_termination_signals

    settings = Settings.from_env()
    settings = replace(
        settings,
        host=getattr(args, "host", None) or settings.host,
        port=getattr(args, "port", None) or settings.port,
        data_dir=Path(getattr(args, "data_dir", None) or settings.data_dir),
    )
    configure_logging(settings.log_level, settings.log_format)
    exit_on_termination_signals()  # SIGTERM → SystemExit, so every child is stopped below
    try:
        if args.command == "serve":
            return serve_command(settings, demo=args.demo, workers=not args.no_workers)
        return worker_command(settings, args.projection, relay=args.relay,
                              metrics_port=args.metrics_port,
                              fires=args.fires or not args.projection)
    except KeyboardInterrupt:
        return 130
    except (StartupError, DataDirInUse) as refused:
        if args.debug:
            raise
        # One paragraph an operator can act on; --debug shows where it came from.
        print(f"convtrack {args.command}: cannot start: {refused}", file=sys.stderr)
        return 2


def package_version() -> str:
    """The installed package's version (pyproject.toml), or "unknown" outside an install."""
    try:
        return version("convtrack")
    except PackageNotFoundError:
        return "unknown"


def check_configured_servers(settings: Settings) -> None:
    """Reach the configured PostgreSQL and NATS once, or raise StartupError (preflight.py)."""
    if settings.database_url:
        check_database(settings.database_url)
    if settings.nats_url:
        check_nats(settings.nats_url)


@contextmanager
def servers(settings: Settings) -> Iterator[Settings]:
    """The configured PostgreSQL and NATS, or embedded ones started under the data folder."""
    with ExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not settings.database_url:
            from adapters.runtime.embedded_postgres import EmbeddedPostgres

            postgres = stack.enter_context(EmbeddedPostgres(settings.data_dir))
            settings = replace(settings, database_url=postgres.url)
            log.info("embedded postgresql started", extra={"data_dir": str(settings.data_dir)})
        if not settings.nats_url:
            from adapters.runtime.embedded_nats import EmbeddedNats

            nats = stack.enter_context(EmbeddedNats(settings.data_dir))
            settings = replace(settings, nats_url=nats.url)
            log.info("embedded nats-server started", extra={"url": nats.url})
        yield settings


def serve_command(settings: Settings, *, demo: bool, workers: bool = True) -> int:
    """Run everything in one process until SIGINT/SIGTERM."""
    # The lock first: a second process on this folder leaves before it touches anything.
    with DataDirLock(settings.data_dir):
        check_tls(settings.tls_cert, settings.tls_key)
        check_configured_servers(settings)
        return _serve(settings, demo=demo, workers=workers)


def _serve(settings: Settings, *, demo: bool, workers: bool) -> int:
    from adapters.bootstrap import build_app, build_container, build_read_models
    from adapters.read_side.runtime import ReadSideOptions, ReadSideRuntime
    from adapters.runtime.gc_tuning import tune_garbage_collector
    from adapters.runtime.http_server import serve_http
    from adapters.secret_keys import ensure_secret_keys

    token, generated = ensure_admin_token(settings)
    keys = ensure_secret_keys(settings)  # kept in the data folder: cookies outlive a restart
    with servers(settings) as settings, ExitStack() as stack:
        assert settings.nats_url is not None
        container = build_container(settings, token, keys)
        stack.callback(container.close)
        read_models = build_read_models(container)
        stack.callback(read_models.close)
        if generated:
            print(f"admin token (kept in {settings.data_dir / 'admin_token'}): {token}",
                  file=sys.stderr)
        # The relay and workers start first, so the demo's events flow to the read side
        # while they are loaded (the progress bar shows the write side).
        runtime = ReadSideRuntime(container.read_side, read_models.projections,
                                  settings.nats_url, ReadSideOptions(workers=workers)).start()
        stack.callback(runtime.stop)
        if demo:
            print_demo(settings, load_demo_once(settings, container))
        tune_garbage_collector()  # start-up is done (ADR 0034)
        # Idle and half-sent connections are closed: a client that opens many and sends
        # nothing, or trickles, does not hold the server's slots (ADR 0029).
        serve_http(build_app(container, read_models, runtime.nats_status), host=settings.host,
                   port=settings.port, read_timeout=settings.request_read_timeout,
                   tls_cert=settings.tls_cert, tls_key=settings.tls_key)
    return 0


def worker_command(
    settings: Settings, names: list[str] | None, *, relay: bool = False,
    metrics_port: int | None = None, fires: bool = True,
) -> int:
    """Run projection workers against configured servers (no HTTP)."""
    from adapters.bootstrap import build_container, build_read_models
    from adapters.read_side.runtime import run_worker
    from adapters.runtime.gc_tuning import tune_garbage_collector

    if not settings.database_url or not settings.nats_url:
        print("convtrack worker needs CONVTRACK_DATABASE_URL and CONVTRACK_NATS_URL: workers "
              "on other hosts share the service's PostgreSQL and NATS", file=sys.stderr)
        return 2
    check_configured_servers(settings)
    token, _ = ensure_admin_token(settings)
    container = build_container(settings, token)
    read_models = build_read_models(container)
    tune_garbage_collector()  # start-up is done (ADR 0034)
    try:
        run_worker(container.read_side, read_models.projections, settings.nats_url, names,
                   relay=relay, metrics_port=metrics_port, fires=fires)
    except ValueError as unknown:
        print(str(unknown), file=sys.stderr)
        return 2
    finally:
        read_models.close()
        container.close()
    return 0


def load_demo_once(settings: Settings, container: object) -> dict[str, object]:
    """Load the demo data unless this data folder already has it."""
    from adapters.bootstrap import Container
    from adapters.demo import load_demo

    assert isinstance(container, Container)
    marker = settings.data_dir / "demo.json"
    if marker.exists():
        info: dict[str, object] = json.loads(marker.read_text())
        return info
    loaded = load_demo(container.management, container.ingestion).as_dict()
    marker.write_text(json.dumps(loaded, indent=2))
    marker.chmod(0o600)
    return loaded


def print_demo(settings: Settings, info: dict[str, object]) -> None:
    """Tell the newcomer where to look."""
    print(f"\ndemo loaded: {info['touches']} touches, {info['conversions']} conversions\n"
          f"  API key of the demo account: {info['api_key']}\n"
          f"  try: curl -s -H 'Authorization: Bearer {info['api_key']}' "
          f"{settings.base_url}/v1/tags\n", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
