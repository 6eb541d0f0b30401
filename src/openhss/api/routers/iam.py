"""The slice of Huawei IAM that HSS clients use: tokens, and project discovery by name.

`POST /v3/auth/tokens` takes IAM's body (`auth.identity.methods` = `password` or `hw_ak_sk`, optional
`auth.scope.project.id|name`) and returns the token in `X-Subject-Token`, as IAM does. `GET /v3/projects`
is what the SDK calls to discover a project id from a region name when none is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from openhss.api.deps import AppContext, Ctx, CurrentPrincipal, forget_token
from openhss.db.engine import transaction
from openhss.db.models import AuthToken, Project, User
from openhss.domain.errors import InvalidRequest
from openhss.services import identity
from openhss.services.identity import Principal

router = APIRouter(prefix="/v3", tags=["iam"])


class _Named(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=128)


class _PasswordUser(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    domain: _Named | None = None


class _Password(BaseModel):
    user: _PasswordUser


class _Key(BaseModel):
    key: str = Field(min_length=1, max_length=256)


class _AkSk(BaseModel):
    access: _Key
    secret: _Key


class _Identity(BaseModel):
    methods: list[str] = Field(min_length=1)
    password: _Password | None = None
    hw_ak_sk: _AkSk | None = None


class _Scope(BaseModel):
    model_config = ConfigDict(extra="allow")
    project: _Named | None = None


class _Auth(BaseModel):
    identity: _Identity
    scope: _Scope | None = None


class TokenRequest(BaseModel):
    auth: _Auth


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def login_of(body: TokenRequest) -> identity.Login:
    """The IAM body as the identity service's login (its method with its credentials, its project)."""
    ident = body.auth.identity
    scope = body.auth.scope
    project = scope.project if scope is not None else None
    if project is not None and not project.id and not project.name:
        raise InvalidRequest("auth.scope.project needs id or name")
    pid, pname = (project.id, project.name) if project is not None else (None, None)
    if "password" in ident.methods and ident.password is not None:
        user = ident.password.user
        return identity.Login("password", user.name, user.password, pid, pname)
    if "hw_ak_sk" in ident.methods and ident.hw_ak_sk is not None:
        pair = ident.hw_ak_sk
        return identity.Login("hw_ak_sk", pair.access.key, pair.secret.key, pid, pname)
    raise InvalidRequest("auth.identity.methods must be password or hw_ak_sk with its credentials")


def _token_body(row: AuthToken, user: User, project: Project | None) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": [row.methods],
        "issued_at": _iso(row.issued_at),
        "expires_at": _iso(row.expires_at),
        "user": {"id": str(user.id), "name": user.name, "domain": {"id": "openhss", "name": "openhss"}},
        "roles": [{"id": user.role, "name": user.role}],
        "catalog": [],
    }
    if project is not None:
        token["project"] = {
            "id": project.id,
            "name": project.name,
            "domain": {"id": "openhss", "name": "openhss"},
        }
    return {"token": token}


@router.post("/auth/tokens", status_code=201)
async def create_token(body: TokenRequest, request: Request, response: Response, ctx: Ctx) -> dict[str, Any]:
    source = request.client.host if request.client else "unknown"
    login = login_of(body)
    issued = await run_in_threadpool(
        identity.log_in,
        ctx.sessions,
        ctx.box,
        ctx.throttle,
        source,
        login,
        ctx.settings.limits.token_ttl_seconds,
    )
    response.headers["X-Subject-Token"] = issued.token
    return _token_body(issued.row, issued.user, issued.project)


def _validate(ctx: AppContext, caller: Principal, token: str) -> dict[str, Any]:
    with transaction(ctx.sessions) as session:
        identity.require_token_owner(session, caller, token)
        row = session.get(AuthToken, identity.token_digest(token))
        principal = identity.resolve_token(session, token)
        user = session.get(User, principal.user_id)
        assert row is not None and user is not None
        return _token_body(row, user, session.get(Project, row.project_id) if row.project_id else None)


@router.get("/auth/tokens")
async def validate_token(
    caller: CurrentPrincipal, ctx: Ctx, subject: Annotated[str, Header(alias="X-Subject-Token")]
) -> dict[str, Any]:
    return await run_in_threadpool(_validate, ctx, caller, subject)


@router.delete("/auth/tokens", status_code=204)
async def delete_token(
    caller: CurrentPrincipal, ctx: Ctx, subject: Annotated[str, Header(alias="X-Subject-Token")]
) -> Response:
    def _revoke() -> None:
        with transaction(ctx.sessions) as session:
            identity.require_token_owner(session, caller, subject)
            identity.revoke_token(session, subject)

    await run_in_threadpool(_revoke)
    forget_token(subject)
    return Response(status_code=204)


def _projects(ctx: AppContext, principal: Principal, name: str | None) -> dict[str, Any]:
    with transaction(ctx.sessions) as session:
        rows = session.scalars(
            select(Project).where(Project.id.in_(list(principal.grants))).order_by(Project.id)
        )
        return {
            "projects": [
                {"id": p.id, "name": p.name, "description": p.description, "enabled": True}
                for p in rows
                if name is None or p.name == name
            ]
        }


@router.get("/projects")
async def list_projects(
    principal: CurrentPrincipal, ctx: Ctx, name: Annotated[str | None, Query(max_length=128)] = None
) -> dict[str, Any]:
    return await run_in_threadpool(_projects, ctx, principal, name)
