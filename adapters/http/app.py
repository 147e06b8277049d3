"""The litestar application: routes, dependencies, the error map, OpenAPI."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from adapters.bootstrap import Container
from adapters.http.action_routes import ActionRoutes
from adapters.http.auth import provide_caller, provide_container
from adapters.http.errors import EXCEPTION_HANDLERS
from adapters.http.management_routes import AccountRoutes, CampaignRoutes, TagRoutes
from adapters.http.nul_guard import reject_nul_bytes
from adapters.http.openapi_errors import document_error_responses
from adapters.http.ops_routes import OPS_ROUTES, http_metrics_middleware
from adapters.http.read_routes import FactAndConversionRoutes, ReadRoutes, provide_read_models
from adapters.http.schemas import Health
from adapters.read_side import ReadModels, build_read_models


@get("/health", sync_to_thread=True, tags=["operations"], summary="Liveness and store check")
def health(container: Container) -> Health:
    position = container.ingestion.recorder.max_notification_id() or 0
    return Health(status="ok", checks={"event_store": "ok", "ingestion_position": position})


def create_app(container: Container, read_models: ReadModels | None = None) -> Litestar:
    """The HTTP app over a built container (and read models, built here when not given)."""
    owned = read_models is None
    models = read_models if read_models is not None else build_read_models(container)
    openapi = OpenAPIConfig(
        title="convtrack", version="1.0.0",
        description="Conversion tracking and ad attribution. Contract: shared/API.md.",
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer",
                                     description="An account API key or the admin token")}),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
    )
    app = Litestar(
        route_handlers=[health, AccountRoutes, TagRoutes, CampaignRoutes, ActionRoutes,
                        FactAndConversionRoutes, ReadRoutes, *OPS_ROUTES],
        middleware=[reject_nul_bytes, http_metrics_middleware()],
        dependencies={
            "container": Provide(provide_container, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=True),
            "read_models": Provide(provide_read_models, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi,
        state=State({"container": container, "read_models": models}),
        on_shutdown=[models.close] if owned else [],
        debug=False,
        logging_config=None,  # adapters/logs.py configures logging once for the process
    )
    # API.md's error body for every status an operation can answer (litestar documents only
    # its own 400 shape); built once here, so the document is also checked at startup.
    document_error_responses(app.openapi_schema)
    return app
