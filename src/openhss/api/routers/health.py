"""Liveness and readiness: answers without auth so load balancers and `make run` users can probe it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text

from openhss import __version__
from openhss.api.deps import AppContext, Ctx
from openhss.domain.errors import ServiceUnavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str


def _db_ok(ctx: AppContext) -> str:
    with ctx.sessions() as session:
        session.execute(text("SELECT 1"))
    return ctx.sessions.kw["bind"].dialect.name  # type: ignore[no-any-return]


@router.get("/health", response_model=Health)
async def health(ctx: Ctx) -> Health:
    try:
        dialect = await run_in_threadpool(_db_ok, ctx)
    except Exception as exc:
        raise ServiceUnavailable(f"database unavailable: {type(exc).__name__}") from exc
    return Health(status="ok", version=__version__, database=dialect)
