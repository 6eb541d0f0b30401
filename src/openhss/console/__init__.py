"""The web console at `/console`: server-rendered pages for security engineers, same process, same
login and the same service functions (and permission checks) as the HSS API.

It is a sub-application so its errors render as pages (or a redirect to the login form) while the
API keeps answering HSS JSON error bodies; `create_app` mounts it with one line.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openhss.api.deps import AppContext
from openhss.console.render import page
from openhss.console.session import LoginRequired
from openhss.domain.errors import HssError

MOUNT = "/console"


class _NoSniff:
    """Every console response (pages, assets, redirects, errors) forbids MIME sniffing, so a response
    can only ever be used as the type it declares (the CSP on pages relies on that for scripts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, _send)


def create_console(ctx: AppContext) -> FastAPI:
    from openhss.console import webhooks
    from openhss.console.views import router

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.include_router(router)
    app.add_middleware(_NoSniff)
    app.include_router(webhooks.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        base = str(request.scope.get("root_path", "")).rstrip("/")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": f"{base}/login"})
        return RedirectResponse(
            f"{base}/login?next={quote(target, safe='/')}" if request.method == "GET" else f"{base}/login",
            303,
        )

    @app.exception_handler(HssError)
    async def _hss(request: Request, exc: HssError) -> Response:
        return page(
            request, "error.html", None, status_code=exc.status_code, code=exc.error_code, message=exc.message
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(
            ".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors()[:5]
        )
        return page(
            request,
            "error.html",
            None,
            status_code=400,
            code="HSS.0001",
            message=f"invalid parameter {fields}",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return page(
            request,
            "error.html",
            None,
            status_code=exc.status_code,
            code=f"HTTP {exc.status_code}",
            message=message,
        )

    return app
