"""The console's webhooks page (`/console/webhooks`): list the project's subscriptions with delivery
counts, add one (a small form), send a test event, delete. Same service functions and checks as the
API (`services.events`); state changes need the operator role and the console's CSRF token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from openhss.api.deps import Ctx
from openhss.console.render import page
from openhss.console.session import User
from openhss.db.engine import transaction
from openhss.db.models import EventSubscription
from openhss.domain.errors import InvalidRequest
from openhss.services import events

router = APIRouter()
SubscriptionId = Annotated[str, Path(min_length=1, max_length=64)]


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/webhooks", response_class=HTMLResponse, name="webhooks")
async def webhooks_page(request: Request, ctx: Ctx, user: User, error: str = "") -> Response:
    def work() -> list[tuple[EventSubscription, dict[str, int]]]:
        with transaction(ctx.sessions) as session:
            subs = events.list_subscriptions(session, user.scope)
            return [(s, events.delivery_counts(session, s.id)) for s in subs]

    rows = await run_in_threadpool(work)
    return page(
        request,
        "webhooks.html",
        user,
        nav="webhooks",
        rows=rows,
        event_types=events.EVENT_TYPES,
        severities=events.SEVERITIES,
        error=error[:300],
    )


@router.post("/webhooks")
async def webhooks_create(
    request: Request,
    ctx: Ctx,
    user: User,
    url: Annotated[str, Form(min_length=1, max_length=2048)],
    secret: Annotated[str, Form(max_length=256)],
    name: Annotated[str, Form(max_length=128)] = "",
    event_type: Annotated[
        list[Literal["scan.finished", "image.newly_affected", "vulnerability.kev_added"]], Form()
    ]
    | None = None,
    min_severity: Annotated[Literal["", "Low", "Medium", "High", "Critical"], Form()] = "",
    kev_only: Annotated[bool, Form()] = False,
) -> Response:
    user.require_operator()
    spec = events.SubscriptionSpec(url, secret, name, tuple(event_type or ()), min_severity, kev_only)

    def work(session: Session) -> None:
        eps = user.scope.enterprise_project_ids
        ep = next(iter(eps)) if eps is not None and len(eps) == 1 else "0"
        events.subscribe(session, user.scope, ep, spec, ctx.box, ctx.settings.webhooks)

    try:
        await run_in_threadpool(lambda: _in_transaction(ctx, work))
    except InvalidRequest as exc:
        # Back to the page with the reason, rather than an error page.
        return RedirectResponse(f"{_base(request)}/webhooks?{urlencode({'error': exc.message})}", 303)
    return RedirectResponse(f"{_base(request)}/webhooks", 303)


def _in_transaction(ctx: Ctx, fn: Callable[[Session], object]) -> None:
    with transaction(ctx.sessions) as session:
        fn(session)


@router.post("/webhooks/{subscription_id}/test")
async def webhooks_test(request: Request, ctx: Ctx, user: User, subscription_id: SubscriptionId) -> Response:
    user.require_operator()
    await run_in_threadpool(
        lambda: _in_transaction(ctx, lambda s: events.send_test(s, user.scope, subscription_id))
    )
    return RedirectResponse(f"{_base(request)}/webhooks", 303)


@router.post("/webhooks/{subscription_id}/delete")
async def webhooks_delete(
    request: Request, ctx: Ctx, user: User, subscription_id: SubscriptionId
) -> Response:
    user.require_operator()
    await run_in_threadpool(
        lambda: _in_transaction(ctx, lambda s: events.unsubscribe(s, user.scope, subscription_id))
    )
    return RedirectResponse(f"{_base(request)}/webhooks", 303)
