"""An ASGI entry point built from the environment, for multi-process servers.

`uvicorn adapters.asgi:app --workers 2` with CONVTRACK_DATABASE_URL set: each worker
process builds its own service on the same PostgreSQL (the applications are safe for several
writers: optimistic concurrency plus the fact-key index, ADR 0004).
"""

from __future__ import annotations

from adapters.bootstrap import build_app, build_container
from adapters.runtime.gc_tuning import tune_garbage_collector
from adapters.secret_keys import ensure_secret_keys
from adapters.settings import Settings, ensure_admin_token

_settings = Settings.from_env()
app = build_app(build_container(_settings, ensure_admin_token(_settings)[0],
                                ensure_secret_keys(_settings)))
tune_garbage_collector()  # each worker process, once built (ADR 0034)
