"""The one error mapping: every failure leaves as `{"error_code": "HSS.xxxx", "error_msg": "..."}`.

The SDK reads `error_code`/`error_msg` from the body and `request_id` only from the `X-Request-Id`
header, so the request-id middleware adds that header to error responses too. Internal errors never
carry a stack trace or exception text to the caller; they are logged with the request id instead.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openhss.api.deps import Replayed
from openhss.domain.errors import HssError

log = logging.getLogger("openhss.api")


def error_response(status: int, code: str, message: str, request: Request | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error_code": code, "error_msg": message}
    rid = getattr(request.state, "request_id", None) if request is not None else None
    if rid:
        body["request_id"] = rid
    return JSONResponse(status_code=status, content=body)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        if err.get("type") == "missing":
            parts.append(f"{field}: required parameter is missing")
        else:
            parts.append(f"{field}: {err.get('msg', 'invalid value')}")
    return "invalid parameter " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(HssError)
    async def _hss(request: Request, exc: HssError) -> JSONResponse:
        return error_response(exc.status_code, exc.error_code, exc.message, request)

    @app.exception_handler(Replayed)
    async def _replayed(request: Request, exc: Replayed) -> Response:
        stored = exc.response
        if stored.body is None:
            return error_response(
                409, "HSS.0409", "this signed request was already executed; sign the request anew", request
            )
        return Response(stored.body, status_code=stored.status_code, headers=dict(stored.headers))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "HSS.0001", _describe_validation(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "HSS.0404", 405: "HSS.0405", 401: "HSS.0401", 403: "HSS.0403", 413: "HSS.0413"}
        message = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such API: {request.method} {request.url.path}"
        return error_response(
            exc.status_code, codes.get(exc.status_code, f"HSS.0{exc.status_code}"), message, request
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold or compare (NUL in PostgreSQL text, an integer beyond
        # bigint): bad input, not a server fault. The driver's message (SQL text) stays in the log.
        log.warning(
            "unrepresentable parameter on %s %s (request %s): %s",
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
            exc.orig,
        )
        return error_response(
            400, "HSS.0001", "invalid parameter: a value cannot be stored or compared", request
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception(
            "internal error on %s %s (request %s)",
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
        )
        return error_response(500, "HSS.0500", "internal server error", request)
