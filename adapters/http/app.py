"""The litestar application: routes, their dependencies, the error map, OpenAPI.

Handlers receive narrow dependencies by name (`management`, `ingestion`, `reads`,
`read_side_status`, `caller`, `public_url`), never the whole service; the composition root
(adapters/bootstrap.py) builds the `HttpServices` they come from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Response, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from adapters.http.account_routes import AccountRoutes
from adapters.http.action_routes import ActionRoutes
from adapters.http.admission import AdmissionLimits, admission_control
from adapters.http.auth import Authenticator
from adapters.http.choices_routes import CHOICES_ROUTES
from adapters.http.collect_routes import COLLECT_ROUTES, CollectGate, serve_collect_directly
from adapters.http.conversion_routes import ConversionRoutes
from adapters.http.dead_letter_routes import DeadLetterRoutes
from adapters.http.errors import UNAVAILABLE, exception_handlers
from adapters.http.health_cache import CachedHealth, HealthProbe
from adapters.http.fact_routes import FactRoutes
from adapters.http.management_routes import CampaignRoutes, TagRoutes
from adapters.http.member_routes import MEMBER_ROUTES
from adapters.http.nul_guard import reject_nul_bytes
from adapters.http.openapi_errors import document_error_responses
from adapters.http.ops_routes import OPS_ROUTES, RouteMetrics, http_metrics_middleware
from adapters.http.read_routes import ReadRoutes
from adapters.http.schemas import Health
from adapters.http.tag_script_routes import TAG_SCRIPT_ROUTES
from adapters.http.ui_routes import UI_ROUTES, openapi_viewer
from adapters.read_side.status import StatusSource
from application.clicks import ClickLinks, ClickTokens
from application.collector import Collector
from application.ingestion import IngestionApp
from application.management import ManagementApp
from application.member_tokens import MemberTokens
from application.read_service import ReadService

# Every dependency's state by name ("ok", or "unreachable: why") and any figures beside them;
# bounded in time by whoever builds it (adapters/bootstrap.py).
HEALTH_DEPENDENCIES = ("event_store", "nats")


@dataclass(frozen=True)
class HttpServices:
    """Everything the routes use, each handed to the handlers that name it."""

    admin_token: str
    public_url: str  # where browsers reach the service: the tag snippet points there
    management: ManagementApp
    ingestion: IngestionApp
    reads: ReadService
    read_side_status: StatusSource
    health: HealthProbe
    on_shutdown: Sequence[Callable[[], Any]] = field(default=())
    on_startup: Sequence[Callable[[], Any]] = field(default=())
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    # The drivers' exceptions that mean "unreachable, retry later" (answered 503).
    unavailable_errors: tuple[type[Exception], ...] = ()
    # Sign `ct_mid` cookies and click URLs (ADR 0030); the root passes both over its keys.
    member_tokens: MemberTokens = field(default_factory=MemberTokens.with_random_key)
    click_tokens: ClickTokens = field(default_factory=ClickTokens.with_random_key)
    # The collector of `/collect` and the tag debugger (ADR 0031); without one, no `/collect`.
    collector: Collector | None = None
    collect_gate: CollectGate | None = None


@get("/health", tags=["operations"], summary="Liveness and dependency check",
     responses={503: ResponseSpec(Health, description="A dependency is unreachable")})
async def health(health_probe: HealthProbe) -> Response[Health]:
    """200 when every dependency answers; 503 naming the ones that do not."""
    # From memory, renewed in the background on its own connection: it never queues behind
    # the write path, nor pays for a connection per call (adapters/http/health_cache.py).
    checks = await health_probe()
    ok = all(checks[name] == "ok" for name in HEALTH_DEPENDENCIES if name in checks)
    return Response(Health(status="ok" if ok else "unavailable", checks=checks),
                    status_code=200 if ok else 503)


def _value(value: Any) -> Provide:
    """A dependency that is always the same object."""
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def create_app(services: HttpServices) -> Litestar:
    """The HTTP app over the services the composition root built."""
    openapi = OpenAPIConfig(
        title="convtrack", version="1.0.0",
        description="Conversion tracking and ad attribution. Contract: docs/api.md.",
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer",
                                     description="An account API key or the admin token")}),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
        render_plugins=[openapi_viewer()],  # served from the package, offline (ADR 0036)
    )
    cached_health = CachedHealth(services.health)
    authenticate = Authenticator(services.admin_token, services.management)
    app = Litestar(
        route_handlers=[health, AccountRoutes, TagRoutes, CampaignRoutes, ActionRoutes,
                        FactRoutes, DeadLetterRoutes, ConversionRoutes, ReadRoutes,
                        *OPS_ROUTES, *MEMBER_ROUTES, *TAG_SCRIPT_ROUTES, *CHOICES_ROUTES,
                        *UI_ROUTES,
                        *(COLLECT_ROUTES if services.collect_gate is not None else [])],
        # Admission first: overload is refused before any other work (ADR 0026).
        middleware=[admission_control(services.admission), reject_nul_bytes,
                    http_metrics_middleware()],
        dependencies={
            "caller": Provide(authenticate, sync_to_thread=True),
            "management": _value(services.management),
            "ingestion": _value(services.ingestion),
            "reads": _value(services.reads),
            "read_side_status": _value(services.read_side_status),
            "health_probe": _value(cached_health),
            "public_url": _value(services.public_url),
            "member_tokens": _value(services.member_tokens),
            "collector": _value(services.collector),
            "collect_gate": _value(services.collect_gate),
            "clicks": _value(ClickLinks(
                services.management, services.ingestion, services.click_tokens,
                UNAVAILABLE + tuple(services.unavailable_errors))),
        },
        exception_handlers=exception_handlers(  # type: ignore[arg-type]
            services.unavailable_errors),
        openapi_config=openapi,
        on_startup=[cached_health.start, *services.on_startup],
        on_shutdown=[cached_health.stop, *services.on_shutdown],
        debug=False,
        logging_config=None,  # adapters/logs.py configures logging once for the process
    )
    # The error body of docs/api.md for every status an operation can answer (litestar
    # documents only its own 400 shape); built once here, so the document is also checked at
    # startup.
    document_error_responses(app.openapi_schema)
    if services.collect_gate is not None:
        # The hot path, ahead of routing (adapters/http/collect_routes.py): the app stays the
        # litestar app (lifespan, test client), its handler for everything else unchanged.
        app.asgi_handler = serve_collect_directly(app.asgi_handler, services.collect_gate,
                                                  RouteMetrics("/collect"))
    return app
