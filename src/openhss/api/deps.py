"""Request-scoped dependencies: the service context, the authenticated caller and the project scope.

Authentication accepts the two HSS ways: an `X-Auth-Token` (from `POST /v3/auth/tokens`) or an AK/SK
`SDK-HMAC-SHA256` signature. When both are present the token decides: that is what the SDK sends when a
user sets `preset_headers={"X-Auth-Token": ...}` on a client built with placeholder AK/SK.

Replays. A signed state-changing request's signature is its idempotency key for the skew window: the
first arrival claims it (a committed row) and executes; `IdempotencyMiddleware` stores that execution's
response on the row; a later arrival of the same signed bytes while it runs, or before its signer has
claimed any other request, waits until the response is stored and receives it verbatim. A replayed
capture of the request just made therefore has no second effect and learns nothing the original
exchange did not already carry, and a legitimate client that sends the same request twice within the
SDK's one-second `X-Sdk-Date` resolution is never refused: both calls succeed with the one answer.
Identical bytes after a different request of the same signer (add, remove, add the same rule within
one second) are a new request and execute: the SDK has no nonce, so the order of the signer's requests
is what tells a repeat from a new request (`identity.claim_signature`). Refusing repeats with a 401,
as once done, turned ordinary concurrent traffic into spurious failures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from openhss.api.uploads import UploadBudget
from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.tenancy import bind_scope, pin_scope
from openhss.domain import signing
from openhss.domain.enums import Role
from openhss.domain.errors import Conflict, Forbidden, Unauthenticated
from openhss.services import identity
from openhss.services.crypto import SecretBox
from openhss.services.identity import Principal, Scope
from openhss.services.vulndb import MatcherCache

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: How long a verified token or access key is trusted without a database read. Widening changes (new
#: grants, new projects) are seen at once, because a cached principal that is refused a project is
#: re-read; narrowing ones (revocation, disabling) take effect within this window, in every worker.
AUTH_CACHE_SECONDS = 2.0
_AUTH_CACHE_MAX = 4096


class _AuthCache:
    """Per-process, time-bounded memo of verified credentials, so a read costs no auth round trip."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key: str) -> object | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, value: object) -> None:
        with self._lock:
            if len(self._entries) >= _AUTH_CACHE_MAX:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + AUTH_CACHE_SECONDS, value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


_auth_cache = _AuthCache()


def forget_token(token: str) -> None:
    """Drop a revoked token from this process's cache at once (other workers honour the window)."""
    _auth_cache.drop("token:" + identity.token_digest(token))


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    sessions: sessionmaker[Session]
    box: SecretBox
    throttle: identity.LoginThrottle
    uploads: UploadBudget
    #: The runtime's matcher cache: agent reports, CI/CD uploads and coverage pages match with it.
    matchers: MatcherCache


async def get_context(request: Request) -> AppContext:
    # async: FastAPI would run a plain function in a worker thread, one hop per request for nothing.
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def _verify_signature(
    ctx: AppContext,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    path_project: str | None,
    use_cache: bool = True,
) -> tuple[Principal, bool]:
    try:
        auth = signing.parse_authorization(headers.get("authorization", ""))
        sdk_date = signing.parse_sdk_date(headers.get("x-sdk-date", ""))
    except signing.SignatureError as exc:
        raise Unauthenticated(str(exc)) from exc
    skew = timedelta(seconds=ctx.settings.limits.signature_skew_seconds)
    now = datetime.now(UTC)
    if abs(now - sdk_date) > skew:
        raise Unauthenticated("the request has expired: X-Sdk-Date is outside the allowed window")
    header_project = headers.get("x-project-id")
    cache_key = f"ak:{auth.access_key}"
    cached = _auth_cache.get(cache_key) if use_cache and method in SAFE_METHODS else None
    if isinstance(cached, tuple):
        secret, principal = cached
        expected = _expected(secret, method, raw_path, raw_query, headers, auth.signed_headers, body)
        if signing.signature_matches(expected, auth.signature):
            if header_project and path_project and header_project != path_project:
                raise Forbidden("X-Project-Id does not match the project in the path")
            return principal, True
        # A mismatch may be a rotated secret: fall through to the database.
    with transaction(ctx.sessions) as session:
        found = identity.lookup_access_key(session, ctx.box, auth.access_key)
        if found is None:
            _auth_cache.drop(cache_key)
            raise Unauthenticated("the access key does not exist or is disabled")
        user, secret = found
        expected = _expected(secret, method, raw_path, raw_query, headers, auth.signed_headers, body)
        if not signing.signature_matches(expected, auth.signature):
            raise Unauthenticated("the request signature does not match")
        if header_project and path_project and header_project != path_project:
            raise Forbidden("X-Project-Id does not match the project in the path")
        principal = identity.principal_for(session, user)
        identity.touch_access_key(session, auth.access_key)
    _auth_cache.put(cache_key, (secret, principal))
    return principal, False


def _expected(  # a client-supplied payload hash that is not the body's own is the caller's 401
    secret: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    try:
        return signing.expected_signature(secret, method, raw_path, raw_query, headers, signed_headers, body)
    except signing.SignatureError as exc:
        raise Unauthenticated(str(exc)) from exc


class Replayed(Exception):
    """Raised instead of executing a repeat: the handler answers with the first execution's response."""

    def __init__(self, response: identity.StoredResponse) -> None:
        super().__init__("replayed signed request")
        self.response = response


#: The request-state key under which `IdempotencyMiddleware` finds the signature whose response to keep.
IDEMPOTENCY_STATE = "idempotency_signature"
#: How long a repeat waits for the first execution to answer before giving up with a 409.
REPLAY_WAIT_SECONDS = 60.0
_REPLAY_POLL_SECONDS = 0.05


def _claim(ctx: AppContext, signature: str, expires_at: datetime, access_key: str) -> bool:
    with transaction(ctx.sessions) as session:
        return identity.claim_signature(session, signature, expires_at, access_key)


def _stored(ctx: AppContext, signature: str) -> identity.StoredResponse | None:
    with transaction(ctx.sessions) as session:
        return identity.stored_response(session, signature)


async def _claim_or_wait(
    ctx: AppContext, signature: str, expires_at: datetime, access_key: str
) -> identity.StoredResponse | None:
    """None: this request owns the signature and executes. Otherwise the first execution's response,
    waited for without holding a worker thread (a flood of repeats cannot starve the pool)."""
    if await run_in_threadpool(_claim, ctx, signature, expires_at, access_key):
        return None
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while True:
        stored = await run_in_threadpool(_stored, ctx, signature)
        if stored is not None:
            return stored
        if time.monotonic() >= deadline:
            raise Conflict("an identical signed request is still being executed; sign the request anew")
        await asyncio.sleep(_REPLAY_POLL_SECONDS)


def _resolve_token(ctx: AppContext, token: str) -> Principal:
    with transaction(ctx.sessions) as session:
        return identity.resolve_token(session, token)


async def _authenticate(request: Request, ctx: AppContext, use_cache: bool) -> tuple[Principal, bool]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    token = headers.get("x-auth-token")
    if token:
        key = "token:" + identity.token_digest(token)
        cached = _auth_cache.get(key) if use_cache else None
        if isinstance(cached, Principal):
            return cached, True
        principal = await run_in_threadpool(_resolve_token, ctx, token)
        _auth_cache.put(key, principal)
        return principal, False
    if not headers.get("authorization"):
        raise Unauthenticated("authentication required: sign the request with AK/SK or send X-Auth-Token")
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    raw_query = request.scope.get("query_string", b"")
    body = await request.body()
    return await run_in_threadpool(
        _verify_signature,
        ctx,
        request.method,
        raw_path.decode("latin-1"),
        raw_query.decode("latin-1"),
        headers,
        body,
        request.path_params.get("project_id"),
        use_cache,
    )


async def authenticate(request: Request, ctx: Ctx) -> Principal:
    principal, cached = await _authenticate(request, ctx, use_cache=True)
    request.state.principal_cached = cached
    if request.method not in SAFE_METHODS and not request.headers.get("x-auth-token"):
        # Verified above, so these parse; the claim comes after verification so that a forgery
        # cannot burn (or wait on) a legitimate request's signature.
        auth = signing.parse_authorization(request.headers.get("authorization", ""))
        sdk_date = signing.parse_sdk_date(request.headers.get("x-sdk-date", ""))
        expires = sdk_date + timedelta(seconds=ctx.settings.limits.signature_skew_seconds)
        stored = await _claim_or_wait(ctx, auth.signature, expires, auth.access_key)
        if stored is not None:
            raise Replayed(stored)
        setattr(request.state, IDEMPOTENCY_STATE, auth.signature)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

EnterpriseProjectQuery = Annotated[
    str | None,
    Query(
        max_length=256,
        description='Enterprise project ID; "0" is the default project, "all_granted_eps" means all granted.',
    ),
]


async def project_scope(
    request: Request,
    ctx: Ctx,
    principal: CurrentPrincipal,
    project_id: Annotated[str, Path(min_length=1, max_length=256)],  # seeds: 1-256 characters
    enterprise_project_id: EnterpriseProjectQuery = None,
) -> Scope:
    """The caller's scope, also bound to the request: every session of the request filters by it."""
    try:
        scope = identity.authorize(principal, project_id, enterprise_project_id)
    except Forbidden:
        if not getattr(request.state, "principal_cached", False):
            raise
        # The cached principal may predate a grant or a project: decide on a fresh one.
        fresh, _ = await _authenticate(request, ctx, use_cache=False)
        scope = identity.authorize(fresh, project_id, enterprise_project_id)
    bind_scope(scope)
    return scope


ProjectScope = Annotated[Scope, Depends(project_scope)]


def unit_of_work(ctx: Ctx, scope: ProjectScope) -> Iterator[Session]:
    """One session and one transaction for the request, bound to the caller's scope: committed when the
    route returns, rolled back when it raises.

    A plain generator, so FastAPI runs it in its threadpool like the plain `def` routes that use it;
    `scope="function"` (see `UnitOfWork`) ends it right after the route returns, before the response is
    sent, so a failed commit is the client's error response and never a success that was not kept. The
    session carries its scope itself (`pin_scope`): tenant isolation does not depend on the context
    variable reaching the worker thread.
    """
    with transaction(ctx.sessions) as session:
        yield pin_scope(session, scope)


UnitOfWork = Annotated[Session, Depends(unit_of_work, scope="function")]


def operator(principal: CurrentPrincipal) -> Principal:
    identity.require_role(principal, Role.OPERATOR)
    return principal


def admin(principal: CurrentPrincipal) -> Principal:
    identity.require_role(principal, Role.ADMIN)
    return principal


OperatorPrincipal = Annotated[Principal, Depends(operator)]
AdminPrincipal = Annotated[Principal, Depends(admin)]
