"""The one error mapping: every failure leaves as `{"error_code": "HSS.xxxx", "error_msg": "..."}`.

The SDK reads `error_code`/`error_msg` from the body and `request_id` only from the `X-Request-Id`
header, so the request-id middleware adds that header to error responses too. Internal errors never
carry a stack trace or exception text to the caller; they are logged with the request id instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from openhss.api import deps
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
        response = error_response(
            exc.status_code, codes.get(exc.status_code, f"HSS.0{exc.status_code}"), message, request
        )
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:  # `Allow` must list every method of the path (RFC 9110)
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

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


def _allowed_methods(request: Request) -> list[str]:
    """Starlette names only the first route that matched the path; a path can have several."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if context.path_format and context.methods:
            regex, _, _ = compile_path(context.path_format)
            if regex.match(request.url.path):
                methods |= set(context.methods)
    return sorted(methods)


# --- the error responses in /openapi.json ------------------------------------------------------------

ERROR_SCHEMA = "HssError"
_DESCRIPTIONS = {
    400: "Invalid parameter or body (`HSS.0001`), or a refused request such as a busy export (`HSS.1035`)",
    401: "Unsigned, badly signed or expired request, unknown access key or token (`HSS.0401`)",
    403: "Project, enterprise project or role not granted to the caller (`HSS.0403`)",
    404: "Unknown id or API (`HSS.0404`)",
    409: "Conflicts with existing state, or an identical signed request is still executing (`HSS.0409`)",
    413: "Request body (or its decompressed content) over the limit (`HSS.0413`)",
    429: "Too many failed logins from this address in a minute (`HSS.0429`)",
    500: "Internal error; details are in the server log under the request id (`HSS.0500`)",
    503: "A required component (database, advisory database) is unavailable (`HSS.0503`)",
}
#: Every operation: parameter validation, routing by id, the body cap and the two server-side failures.
_ALWAYS = (400, 404, 413, 500, 503)
#: What an operation can answer because of one of its dependencies.
_BY_DEPENDENCY: dict[Callable[..., Any], tuple[int, ...]] = {
    deps.authenticate: (401, 403),
    deps.project_scope: (401, 403),
}
#: The one operation whose failures come from its body rather than a dependency: the login.
_BY_OPERATION = {("POST", "/v3/auth/tokens"): (401, 403, 429)}
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


def error_statuses(path: str, method: str, dependant: Dependant) -> set[int]:
    """The error statuses one operation can really answer, derived from how it is built."""
    codes = set(_ALWAYS) | set(_BY_OPERATION.get((method, path), ()))
    calls = set(_dependencies(dependant))
    for call in calls:
        codes |= set(_BY_DEPENDENCY.get(call, ()))
    if deps.authenticate in calls and method not in _SAFE:
        codes.add(409)  # a signed repeat whose first execution has not answered in time
    return codes


def _dependants(app: FastAPI) -> dict[tuple[str, str], Dependant]:
    found: dict[tuple[str, str], Dependant] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path_format:
            for method in context.methods or ():
                found[(context.path_format, method)] = context.dependant
    return found


def document(app: FastAPI) -> None:
    """Add the HSS error responses to every operation of `/openapi.json`, in this one place.

    FastAPI documents only the success response and a 422 that this service never sends (validation
    errors are HSS 400s), so clients and schema-driven testers would treat every real error as
    undocumented. The statuses per operation come from its dependencies (authenticated operations can
    answer 401/403, ...), so a new route is documented correctly without touching this code.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components[ERROR_SCHEMA] = {
            "title": ERROR_SCHEMA,
            "type": "object",
            "required": ["error_code", "error_msg"],
            "properties": {
                "error_code": {"type": "string", "description": "HSS error code, e.g. HSS.0001"},
                "error_msg": {"type": "string", "description": "What was wrong, naming the field"},
                "request_id": {"type": "string", "description": "Also in the X-Request-Id header"},
            },
        }
        ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
        dependants = _dependants(app)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                dependant = dependants.get((path, method.upper()))
                if dependant is None:
                    continue
                for code in sorted(error_statuses(path, method.upper(), dependant)):
                    responses.setdefault(
                        str(code),
                        {
                            "description": _DESCRIPTIONS[code],
                            "content": {"application/json": {"schema": ref}},
                        },
                    )
        if not any(
            "HTTPValidationError" in str(op)
            for ops in schema.get("paths", {}).values()
            for op in ops.values()
        ):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
