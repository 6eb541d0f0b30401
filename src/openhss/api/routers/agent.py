"""`/v5/{project_id}/agent/...`: what `openhss agent` calls (not an HSS API; additive).

Agents authenticate like any SDK caller (AK/SK signature or token) and need the operator role, since
they write the host's inventory. Every body is bounded: a host reports at most 20 000 images and
50 000 containers per snapshot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope
from openhss.api.schemas import StrictBody
from openhss.db.engine import transaction
from openhss.services import agents

router = APIRouter(prefix="/v5/{project_id}/agent", tags=["agent"])

Id128 = Annotated[str, Field(min_length=1, max_length=128)]
Str64 = Annotated[str, Field(max_length=64)]
Str128 = Annotated[str, Field(max_length=128)]
Str256 = Annotated[str, Field(max_length=256)]
Ref = Annotated[str, Field(max_length=512)]
ImageId = Annotated[str, Field(min_length=1, max_length=256)]
NonNeg = Annotated[int, Field(ge=0, le=9_223_372_036_854_775_807)]


class AgentRegisterBody(StrictBody):
    agent_id: Id128
    host_id: Str128 = ""
    host_name: Str256 = ""
    private_ip: Str64 = ""
    public_ip: Str64 = ""
    os_type: Annotated[str, Field(max_length=32)] = "Linux"
    version: Str64 = ""
    docker_type: Annotated[str, Field(max_length=32)] = ""
    docker_name: Str128 = ""
    cluster_id: Str128 = ""
    cluster_name: Str256 = ""


class AgentRegisterResponse(BaseModel):
    agent_id: str
    heartbeat_interval: int
    offline_after: int


class AgentHeartbeatBody(StrictBody):
    agent_id: Id128


class AgentHeartbeatResponse(BaseModel):
    agent_status: str
    hosts_marked_offline: int


class AgentImage(StrictBody):
    image_id: ImageId
    repo_tags: Annotated[list[Ref], Field(max_length=256)] = Field(default_factory=list)
    repo_digests: Annotated[list[Ref], Field(max_length=256)] = Field(default_factory=list)
    size: NonNeg = 0
    created_ms: NonNeg = 0


class AgentContainer(StrictBody):
    container_id: Id128
    image_id: Annotated[str, Field(max_length=256)] = ""
    container_name: Str256 = ""
    pod_id: Str128 = ""
    pod_name: Str256 = ""
    namespace: Str256 = ""
    entry_point: Annotated[str, Field(max_length=4096)] = ""
    status: Annotated[str, Field(max_length=32)] = "running"


class AgentInventoryBody(StrictBody):
    agent_id: Id128
    images: Annotated[list[AgentImage], Field(max_length=20_000)] = Field(default_factory=list)
    containers: Annotated[list[AgentContainer], Field(max_length=50_000)] = Field(default_factory=list)


class AgentInventoryResponse(BaseModel):
    new_images: list[str]
    removed_images: list[str]
    retagged_images: list[str]
    started_containers: list[str]
    stopped_containers: list[str]


@router.post("/register", response_model=AgentRegisterResponse, summary="RegisterAgent")
async def register_agent(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: AgentRegisterBody
) -> AgentRegisterResponse:
    info = agents.HostInfo(**body.model_dump())

    def work() -> AgentRegisterResponse:
        with transaction(ctx.sessions) as session:
            agents.register(session, scope, info)
        return AgentRegisterResponse(
            agent_id=info.agent_id,
            heartbeat_interval=ctx.settings.agent_heartbeat_seconds,
            offline_after=ctx.settings.agent_offline_seconds,
        )

    return await run_in_threadpool(work)


@router.post("/heartbeat", response_model=AgentHeartbeatResponse, summary="AgentHeartbeat")
async def agent_heartbeat(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: AgentHeartbeatBody
) -> AgentHeartbeatResponse:
    def work() -> AgentHeartbeatResponse:
        with transaction(ctx.sessions) as session:
            host = agents.heartbeat(session, scope, body.agent_id)
            # Any heartbeat also sweeps hosts that went silent, so offline shows without a beat worker.
            swept = agents.mark_offline(session, ctx.settings.agent_offline_seconds)
            return AgentHeartbeatResponse(agent_status=host.agent_status, hosts_marked_offline=swept)

    return await run_in_threadpool(work)


@router.put("/inventory", response_model=AgentInventoryResponse, summary="ReportAgentInventory")
async def report_inventory(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: AgentInventoryBody
) -> AgentInventoryResponse:
    inv = agents.Inventory(
        images=[
            agents.LocalImage(i.image_id, tuple(i.repo_tags), tuple(i.repo_digests), i.size, i.created_ms)
            for i in body.images
        ],
        containers=[agents.LocalContainer(**c.model_dump()) for c in body.containers],
    )

    def work() -> AgentInventoryResponse:
        changes = agents.report(ctx.sessions, scope, body.agent_id, inv)
        return AgentInventoryResponse(
            new_images=changes.new_images,
            removed_images=changes.removed_images,
            retagged_images=changes.retagged_images,
            started_containers=changes.started_containers,
            stopped_containers=changes.stopped_containers,
        )

    return await run_in_threadpool(work)
