"""Webhook subscriptions (additive; HSS has no event API): `/v5/{project_id}/events/subscriptions`.

Create (operator), list (with delivery counts; the secret is never returned), delete, and send a test
event. Targets follow the webhook target policy (`services.events.check_target`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope
from openhss.api.schemas import StrictBody
from openhss.db.engine import transaction
from openhss.services import events

router = APIRouter(prefix="/v5/{project_id}/events", tags=["events"])
EventType = Literal["scan.finished", "image.newly_affected", "vulnerability.kev_added"]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=64)]


class CreateSubscriptionBody(StrictBody):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    secret: Annotated[str, Field(min_length=16, max_length=256, description="HMAC-SHA256 signing secret.")]
    name: Annotated[str, Field(max_length=128)] = ""
    enterprise_project_id: Annotated[str, Field(max_length=64)] = "0"
    event_types: Annotated[list[EventType], Field(default_factory=list, max_length=3)]
    min_severity: Literal["", "Low", "Medium", "High", "Critical"] = ""
    kev_only: bool = False
    enabled: bool = True


class SubscriptionInfo(BaseModel):
    subscription_id: str
    name: str
    url: str
    enterprise_project_id: str
    event_types: list[str]
    min_severity: str
    kev_only: bool
    enabled: bool
    created_at: int
    delivered_num: int
    pending_num: int
    failed_num: int


class ListSubscriptionsResponse(BaseModel):
    total_num: int
    data_list: list[SubscriptionInfo]


class CreateSubscriptionResponse(BaseModel):
    subscription_id: str


class TestEventResponse(BaseModel):
    event_id: str


@router.post("/subscriptions", response_model=CreateSubscriptionResponse, summary="CreateEventSubscription")
async def create_event_subscription(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: CreateSubscriptionBody
) -> CreateSubscriptionResponse:
    spec = events.SubscriptionSpec(
        body.url,
        body.secret,
        body.name,
        tuple(body.event_types),
        body.min_severity,
        body.kev_only,
        body.enabled,
    )

    def work() -> CreateSubscriptionResponse:
        with transaction(ctx.sessions) as session:
            sub = events.subscribe(
                session, scope, body.enterprise_project_id, spec, ctx.box, ctx.settings.webhooks
            )
            return CreateSubscriptionResponse(subscription_id=sub.subscription_id)

    return await run_in_threadpool(work)


@router.get("/subscriptions", response_model=ListSubscriptionsResponse, summary="ListEventSubscriptions")
async def list_event_subscriptions(scope: ProjectScope, ctx: Ctx) -> ListSubscriptionsResponse:
    def work() -> ListSubscriptionsResponse:
        with transaction(ctx.sessions) as session:
            out = []
            for sub in events.list_subscriptions(session, scope):
                counts = events.delivery_counts(session, sub.id)
                out.append(
                    SubscriptionInfo(
                        subscription_id=sub.subscription_id,
                        name=sub.name,
                        url=sub.url,
                        enterprise_project_id=sub.enterprise_project_id,
                        event_types=[t for t in sub.event_types.split(",") if t],
                        min_severity=sub.min_severity,
                        kev_only=sub.kev_only,
                        enabled=sub.enabled,
                        created_at=sub.created_at,
                        delivered_num=counts.get(events.DELIVERED, 0),
                        pending_num=counts.get(events.PENDING, 0),
                        failed_num=counts.get(events.FAILED, 0),
                    )
                )
        return ListSubscriptionsResponse(total_num=len(out), data_list=out)

    return await run_in_threadpool(work)


@router.delete("/subscriptions/{subscription_id}", summary="DeleteEventSubscription")
async def delete_event_subscription(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, subscription_id: SubscriptionId
) -> dict[str, str]:
    def work() -> dict[str, str]:
        with transaction(ctx.sessions) as session:
            events.unsubscribe(session, scope, subscription_id)
        return {}

    return await run_in_threadpool(work)


@router.post(
    "/subscriptions/{subscription_id}/test", response_model=TestEventResponse, summary="TestEventSubscription"
)
async def test_event_subscription(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, subscription_id: SubscriptionId
) -> TestEventResponse:
    """Queue a `webhook.test` event; the deliverer sends it like any other (see the counts)."""

    def work() -> TestEventResponse:
        with transaction(ctx.sessions) as session:
            return TestEventResponse(event_id=events.send_test(session, scope, subscription_id))

    return await run_in_threadpool(work)
