"""Request-scoped dependencies: the service context, the authenticated caller and the project scope.

Authentication accepts the two HSS ways: an `X-Auth-Token` (from `POST /v3/auth/tokens`) or an AK/SK
`SDK-HMAC-SHA256` signature. When both are present the token decides: that is what the SDK sends when a
user sets `preset_headers={"X-Auth-Token": ...}` on a client built with placeholder AK/SK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.domain import signing
from openhss.domain.enums import Role
from openhss.domain.errors import Forbidden, Unauthenticated
from openhss.services import identity
from openhss.services.crypto import SecretBox
from openhss.services.identity import Principal, Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    sessions: sessionmaker[Session]
    box: SecretBox
    throttle: identity.LoginThrottle


def get_context(request: Request) -> AppContext:
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
) -> Principal:
    try:
        auth = signing.parse_authorization(headers.get("authorization", ""))
        sdk_date = signing.parse_sdk_date(headers.get("x-sdk-date", ""))
    except signing.SignatureError as exc:
        raise Unauthenticated(str(exc)) from exc
    skew = timedelta(seconds=ctx.settings.limits.signature_skew_seconds)
    now = datetime.now(UTC)
    if abs(now - sdk_date) > skew:
        raise Unauthenticated("the request has expired: X-Sdk-Date is outside the allowed window")
    with transaction(ctx.sessions) as session:
        found = identity.lookup_access_key(session, ctx.box, auth.access_key)
        if found is None:
            raise Unauthenticated("the access key does not exist or is disabled")
        user, secret = found
        expected = signing.expected_signature(
            secret, method, raw_path, raw_query, headers, auth.signed_headers, body
        )
        if not signing.signature_matches(expected, auth.signature):
            raise Unauthenticated("the request signature does not match")
        header_project = headers.get("x-project-id")
        if header_project and path_project and header_project != path_project:
            raise Forbidden("X-Project-Id does not match the project in the path")
        principal = identity.principal_for(session, user)
        identity.touch_access_key(session, auth.access_key)
        if method not in SAFE_METHODS:
            identity.remember_signature(session, auth.signature, sdk_date + skew)
        return principal


def _resolve_token(ctx: AppContext, token: str) -> Principal:
    with transaction(ctx.sessions) as session:
        return identity.resolve_token(session, token)


async def authenticate(request: Request, ctx: Ctx) -> Principal:
    headers = {k.lower(): v for k, v in request.headers.items()}
    token = headers.get("x-auth-token")
    if token:
        return await run_in_threadpool(_resolve_token, ctx, token)
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
    )


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]

EnterpriseProjectQuery = Annotated[
    str | None,
    Query(
        max_length=256,
        description='Enterprise project ID; "0" is the default project, "all_granted_eps" means all granted.',
    ),
]


def project_scope(
    principal: CurrentPrincipal,
    project_id: Annotated[str, Path(min_length=1, max_length=64)],
    enterprise_project_id: EnterpriseProjectQuery = None,
) -> Scope:
    return identity.authorize(principal, project_id, enterprise_project_id)


ProjectScope = Annotated[Scope, Depends(project_scope)]


def operator(principal: CurrentPrincipal) -> Principal:
    identity.require_role(principal, Role.OPERATOR)
    return principal


def admin(principal: CurrentPrincipal) -> Principal:
    identity.require_role(principal, Role.ADMIN)
    return principal


OperatorPrincipal = Annotated[Principal, Depends(operator)]
AdminPrincipal = Annotated[Principal, Depends(admin)]
