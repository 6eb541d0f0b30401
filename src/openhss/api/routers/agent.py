"""`/v5/{project_id}/agent/...`: what `openhss agent` calls (not an HSS API; additive).

Agents authenticate like any SDK caller (AK/SK signature or token) and need the operator role, since
they write the host's inventory. Every body is bounded: a host reports at most 20 000 images and
50 000 containers per snapshot (the bounds of `domain/inventory.py`, which both ends share).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope
from openhss.api.schemas import StrictBody
from openhss.db.engine import transaction
from openhss.domain import upload as upload_json
from openhss.domain.errors import InvalidRequest, NotFound
from openhss.domain.inventory import HostInfo, Id128, InventoryReport
from openhss.domain.upload import ScanUpload
from openhss.services import agents

router = APIRouter(prefix="/v5/{project_id}/agent", tags=["agent"])


class AgentRegisterResponse(BaseModel):
    agent_id: str
    heartbeat_interval: int
    offline_after: int


class AgentHeartbeatBody(StrictBody):
    agent_id: Id128


class AgentHeartbeatResponse(BaseModel):
    agent_status: str
    hosts_marked_offline: int


class AgentInventoryResponse(BaseModel):
    new_images: list[str]
    removed_images: list[str]
    retagged_images: list[str]
    started_containers: list[str]
    stopped_containers: list[str]


@router.post("/register", response_model=AgentRegisterResponse, summary="RegisterAgent")
async def register_agent(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, info: Annotated[HostInfo, Body()]
) -> AgentRegisterResponse:
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
            status = agents.heartbeat(session, scope, body.agent_id).agent_status
        # Any heartbeat also sweeps hosts that went silent (offline shows even without a periodic
        # worker); in its own transaction, so it never holds this host's lock while waiting on others.
        with transaction(ctx.sessions) as session:
            swept = agents.mark_offline(session, ctx.settings.agent_offline_seconds)
        return AgentHeartbeatResponse(agent_status=status, hosts_marked_offline=swept)

    return await run_in_threadpool(work)


@router.put("/inventory", response_model=AgentInventoryResponse, summary="ReportAgentInventory")
async def report_inventory(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: Annotated[InventoryReport, Body()]
) -> AgentInventoryResponse:
    inv = body.inventory()

    def work() -> AgentInventoryResponse:
        changes = agents.report(ctx.sessions, ctx.settings, scope, body.agent_id, inv)
        return AgentInventoryResponse(
            new_images=changes.new_images,
            removed_images=changes.removed_images,
            retagged_images=changes.retagged_images,
            started_containers=changes.started_containers,
            stopped_containers=changes.stopped_containers,
        )

    return await run_in_threadpool(work)


# --- scans the agent runs ------------------------------------------------------------------------------


class AgentClaimBody(StrictBody):
    agent_id: Id128
    limit: Annotated[int, Field(ge=1, le=20)] = 1


class AgentJobInfo(BaseModel):
    job_id: int
    task_id: str
    image_id: str
    image_name: str
    image_version: str
    scan_scope: int
    lease_expires: int


class AgentClaimResponse(BaseModel):
    jobs: list[AgentJobInfo]


class AgentJobBody(StrictBody):
    agent_id: Id128


class AgentJobFailure(StrictBody):
    agent_id: Id128
    status: Literal["failed", "download_failed", "image_oversized", "image_scan_stop"]
    reason: Annotated[str, Field(max_length=4096)] = ""


class AgentJobResponse(BaseModel):
    accepted: bool


JobId = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]
AgentIdQuery = Annotated[str, Query(min_length=1, max_length=128)]


@router.post("/jobs/claim", response_model=AgentClaimResponse, summary="ClaimAgentScanJobs")
async def claim_jobs(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, body: AgentClaimBody
) -> AgentClaimResponse:
    def work() -> AgentClaimResponse:
        with transaction(ctx.sessions) as session:
            jobs = agents.claim_jobs(session, ctx.settings, scope, body.agent_id, body.limit)
            return AgentClaimResponse(
                jobs=[
                    AgentJobInfo(
                        job_id=j.job_pk,
                        task_id=j.task_id,
                        image_id=j.image_id,
                        image_name=j.image_name,
                        image_version=j.image_version,
                        scan_scope=j.scan_scope,
                        lease_expires=j.lease_expires,
                    )
                    for j in jobs
                ]
            )

    return await run_in_threadpool(work)


@router.post("/jobs/{job_id}/heartbeat", response_model=AgentJobResponse, summary="RenewAgentScanJob")
async def renew_job(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, job_id: JobId, body: AgentJobBody
) -> AgentJobResponse:
    def work() -> AgentJobResponse:
        with transaction(ctx.sessions) as session:
            return AgentJobResponse(
                accepted=agents.renew_job(session, ctx.settings, scope, body.agent_id, job_id)
            )

    return await run_in_threadpool(work)


@router.post("/jobs/{job_id}/result", response_model=AgentJobResponse, summary="UploadAgentScanResult")
async def upload_result(
    scope: ProjectScope,
    ctx: Ctx,
    _op: OperatorPrincipal,
    job_id: JobId,
    agent_id: AgentIdQuery,
    request: Request,
) -> AgentJobResponse:
    """The body is a `ScanUpload` (inventory and findings, no layers); the server matches it."""
    upload = parse_upload(await request.body())

    def work() -> AgentJobResponse:
        with transaction(ctx.sessions) as session:
            ok = agents.complete_job(session, scope, agent_id, job_id, upload, ctx.matchers)
            return AgentJobResponse(accepted=ok)

    return await run_in_threadpool(work)


@router.post("/jobs/{job_id}/failure", response_model=AgentJobResponse, summary="ReportAgentScanFailure")
async def report_failure(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, job_id: JobId, body: AgentJobFailure
) -> AgentJobResponse:
    def work() -> AgentJobResponse:
        with transaction(ctx.sessions) as session:
            ok = agents.fail_job(session, scope, body.agent_id, job_id, body.status, body.reason)
            return AgentJobResponse(accepted=ok)

    return await run_in_threadpool(work)


def parse_upload(data: bytes) -> ScanUpload:
    try:
        return upload_json.from_json(data)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(x) for x in errors[0]["loc"]) if errors else "body"
        msg = errors[0]["msg"] if errors else "invalid value"
        raise InvalidRequest(f"invalid scan upload at {where or 'body'}: {msg}") from None


CacheKey = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.get("/layer-cache/{key}", summary="GetLayerAnalysis", response_class=Response)
async def get_layer(scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, key: CacheKey) -> Response:
    def work() -> bytes | None:
        with transaction(ctx.sessions) as session:
            return agents.get_layer(session, scope, key)

    blob = await run_in_threadpool(work)
    if blob is None:
        raise NotFound("no analysis of this layer yet")
    return Response(content=blob, media_type="application/octet-stream")


@router.put("/layer-cache/{key}", response_model=AgentJobResponse, summary="PutLayerAnalysis")
async def put_layer(
    scope: ProjectScope, ctx: Ctx, _op: OperatorPrincipal, key: CacheKey, request: Request
) -> AgentJobResponse:
    blob = await request.body()

    def work() -> AgentJobResponse:
        ctx.uploads.zstd_bounded(blob)  # before anything inflates it
        with transaction(ctx.sessions) as session:
            return AgentJobResponse(accepted=agents.put_layer(session, scope, key, blob))

    async with ctx.uploads.gate(request.scope.setdefault("state", {})):  # small on the wire, yet it inflates
        return await run_in_threadpool(work)
