"""Pure ASGI middleware: request ids on every response, and a hard cap on request body size.

Written as raw ASGI rather than `BaseHTTPMiddleware` so the header is added even to responses produced
by exception handlers, and so oversized bodies are refused while streaming, before they are buffered.
"""

from __future__ import annotations

import json
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, _send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(scope, send, 400, "HSS.0001", "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._reject(scope, send, 413, "HSS.0413", self._too_large())
                    return
        seen = 0

        async def _receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException, not PayloadTooLarge: FastAPI's body parser turns any other
                    # exception into "400 error parsing the body", and a streamed (chunked) body
                    # over the limit must be a 413 like a declared one.
                    raise HTTPException(status_code=413, detail=self._too_large())
            return message

        await self.app(scope, _receive, send)

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    @staticmethod
    async def _reject(scope: Scope, send: Send, status: int, code: str, msg: str) -> None:
        body = json.dumps({"error_code": code, "error_msg": msg}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
