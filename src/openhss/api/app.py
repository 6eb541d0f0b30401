"""Application factory. One app for the embedded and distributed shapes; only `Settings` differ."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from openhss import __version__
from openhss.api import docs_ui, errors
from openhss.api.deps import AppContext
from openhss.api.middleware import BodyLimitMiddleware, IdempotencyMiddleware, RequestIdMiddleware
from openhss.api.openapi_docs import apply_descriptions
from openhss.api.routers import health, iam
from openhss.api.routers.registry import V5_ROUTERS
from openhss.api.uploads import UploadBudget
from openhss.config import Settings
from openhss.console import MOUNT, create_console
from openhss.db.engine import make_session_factory
from openhss.db.tenancy import guard_tenants
from openhss.services import identity
from openhss.services.runtime import Runtime, open_runtime


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    app = FastAPI(
        title="openhss",
        version=__version__,
        description="Container-image security with a Huawei Cloud HSS v5 compatible API.",
        docs_url=None,  # docs_ui serves /docs and /redoc from local assets
        redoc_url=None,
    )
    rt = runtime or open_runtime(settings, migrate_schema=False)
    # Requests serve callers: their sessions refuse tenant queries not built by `db.tenancy.scoped`.
    # The runtime's own factory stays a system factory for the embedded worker and the sweepers.
    sessions = guard_tenants(make_session_factory(rt.engine))
    app.state.ctx = AppContext(
        settings,
        sessions,
        rt.box,
        identity.LoginThrottle(settings.limits.auth_attempts_per_minute),
        UploadBudget(settings.limits),
        rt.matchers,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(iam.router)
    for router in V5_ROUTERS:
        app.include_router(router)
    errors.document(app)
    app.mount(MOUNT, create_console(app.state.ctx))
    docs_ui.install(app, MOUNT)
    _describe_operations(app)
    app.add_middleware(IdempotencyMiddleware, sessions=rt.sessions)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.limits.max_request_bytes, budget=app.state.ctx.uploads
    )
    app.add_middleware(RequestIdMiddleware)
    return app


def _describe_operations(app: FastAPI) -> None:
    """Wrap `app.openapi` so the cached document carries the English operation descriptions; other
    OpenAPI additions wrap it the same way, each in a function of its own."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return apply_descriptions(generate())

    app.openapi = openapi  # type: ignore[method-assign]
