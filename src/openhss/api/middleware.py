"""Pure ASGI middleware: request ids on every response, a hard cap on request body size, and the
store half of signed-request idempotency (see `api/deps.py`).

Written as raw ASGI rather than `BaseHTTPMiddleware` so the header is added even to responses produced
by exception handlers, and so oversized bodies are refused while streaming, before they are buffered.
"""

from __future__ import annotations

import json
import logging
import uuid

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openhss.api.deps import IDEMPOTENCY_STATE
from openhss.api.uploads import UploadBudget
from openhss.db.engine import transaction
from openhss.domain.errors import PayloadTooLarge
from openhss.services import identity

log = logging.getLogger("openhss.api")

#: Responses larger than this are not kept; a repeat of such a request gets a 409 instead of a copy.
MAX_STORED_RESPONSE_BYTES = 1024 * 1024
#: Headers of the first response that are not part of its meaning (a repeat gets fresh ones).
_VOLATILE_HEADERS = frozenset({"x-request-id", "content-length", "date", "server"})


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
    """Reads the whole body first, bounded, and decides what it may cost before the app parses it.

    Over `max_request_bytes` (declared or streamed) is a 413 before anything is buffered beyond the
    limit; a body holding more JSON values than `max_json_values` is a 413 before it is parsed; a body
    of at least `large_body_bytes` is handled under the process-wide gate of `UploadBudget`, taken only
    once the body has fully arrived so a slow sender cannot hold it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, budget: UploadBudget) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "HSS.0001", "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._reject(send, 413, "HSS.0413", self._too_large())
                    return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send, 413, "HSS.0413", self._too_large())
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        # Whatever the declared type: uploads are parsed as JSON by their routes whatever the client
        # says, and the count of a non-JSON body is far below the limit.
        try:
            self.budget.check_json(body)
        except PayloadTooLarge as exc:
            await self._reject(send, 413, exc.error_code, exc.message)
            return
        replayed = False

        async def _receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server would

        if len(body) >= self.budget.limits.large_body_bytes:
            async with self.budget.gate(scope.setdefault("state", {})):
                await self.app(scope, _receive, send)
        else:
            await self.app(scope, _receive, send)

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    @staticmethod
    async def _reject(send: Send, status: int, code: str, msg: str) -> None:
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


class IdempotencyMiddleware:
    """Keeps the response of a request whose signature `authenticate` claimed, before the client sees
    its end, so a repeat of the same signed request (waiting in `deps._claim_or_wait`) gets it too.

    An exception that escapes the app (a 500 rendered outside) is stored as that 500, so a repeat
    never waits on a response that will not come.
    """

    def __init__(self, app: ASGIApp, sessions: sessionmaker[Session]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        size = 0
        stored = False

        async def _store(body: bytes | None) -> None:
            nonlocal stored
            signature = state.get(IDEMPOTENCY_STATE)
            if stored or not isinstance(signature, str):
                return
            stored = True
            response = identity.StoredResponse(status, headers, body)
            await run_in_threadpool(self._save, signature, response)

        async def _send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    key = name.decode("latin-1").lower()
                    if key not in _VOLATILE_HEADERS:
                        headers.append((key, value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= MAX_STORED_RESPONSE_BYTES:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    await _store(b"".join(chunks) if size <= MAX_STORED_RESPONSE_BYTES else None)
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except BaseException:
            if not stored:
                status = 500
                headers[:] = [("content-type", "application/json")]
                await _store(
                    json.dumps({"error_code": "HSS.0500", "error_msg": "internal server error"}).encode()
                )
            raise

    def _save(self, signature: str, response: identity.StoredResponse) -> None:
        try:
            with transaction(self.sessions) as session:
                identity.store_response(session, signature, response)
        except Exception:  # the response itself must still reach its client
            log.exception("could not keep the response of a signed request")
