"""`/v5/{project_id}/image/local-repositories` and `/image/local/...`: the images agents report on hosts,
their hosts and containers, and scanning them on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openhss.api import schemas as s
from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.image_params import Q128, Q256, Region
from openhss.api.rows import wire
from openhss.api.schemas import Limit, Offset
from openhss.services import images, scan_tasks

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


@router.get("/local-repositories", response_model=s.ListImageLocalResponse, summary="ListImageLocal")
def list_image_local(
    scope: ProjectScope,
    session: UnitOfWork,
    filters: Annotated[s.LocalImageListFilters, Query()],
    offset: Offset = 0,
    limit: Limit = 10,
) -> s.ListImageLocalResponse:
    f = images.ImageFilter.of(filters)

    total, rows = images.list_local(session, scope, f, offset, limit)
    return s.ListImageLocalResponse(
        total_num=total,
        data_list=[
            wire(
                s.ImageLocalInfo,
                i,
                host_name=h.host_name if h else "",
                host_id=h.host_id if h else "",
                agent_id=h.agent_id if h else i.agent_id,
                non_scan_reason="",
            )
            for i, h in rows
        ],
    )


@router.get("/local/hosts", response_model=s.ListLocalImageHostsResponse, summary="ListLocalImageHosts")
def list_local_image_hosts(
    scope: ProjectScope,
    session: UnitOfWork,
    region: Region = None,
    image_digest: Q256 = None,
    image_name: Q256 = None,
    image_version: Q256 = None,
    host_name: Q256 = None,
    agent_id: Q128 = None,
    offset: Offset = 0,
    limit: Limit = 10,
) -> s.ListLocalImageHostsResponse:
    pks = images.local_images_by_ref(session, scope, image_digest, image_name, image_version)
    total, hosts = images.list_image_hosts(session, scope, pks, host_name, agent_id, offset, limit)
    return s.ListLocalImageHostsResponse(
        total_num=total,
        data_list=[s.LocalImageHostInfo.model_validate(h, from_attributes=True) for h in hosts],
    )


@router.get(
    "/local/containers", response_model=s.ListLocalImageContainersResponse, summary="ListLocalImageContainers"
)
def list_local_image_containers(
    scope: ProjectScope,
    session: UnitOfWork,
    region: Region = None,
    image_digest: Q256 = None,
    image_name: Q256 = None,
    image_version: Q256 = None,
    container_id: Q128 = None,
    agent_id: Q128 = None,
    offset: Offset = 0,
    limit: Limit = 10,
) -> s.ListLocalImageContainersResponse:
    pks = images.local_images_by_ref(session, scope, image_digest, image_name, image_version)
    total, rows = images.list_image_containers(session, scope, pks, container_id, agent_id, offset, limit)
    return s.ListLocalImageContainersResponse(
        total_num=total,
        data_list=[
            wire(
                s.LocalImageContainerInfo,
                c,
                agent_id=h.agent_id,
                host_id=h.host_id,
                host_name=h.host_name,
                private_ip=h.private_ip,
                public_ip=h.public_ip,
            )
            for c, h in rows
        ],
    )


@router.post("/local/batch-scan", response_model=s.EmptyResponse, summary="BatchScanLocalImage")
def batch_scan_local_image(
    ctx: Ctx,
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    body: s.LocalImageBatchScanRequestBody,
    region: Region = None,
) -> s.EmptyResponse:
    f = images.ImageFilter.of(body)
    refs = [
        scan_tasks.ImageRefIn(
            image_id=i.image_id,
            image_digest=i.image_digest,
            image_name=i.image_name,
            image_version=i.image_version,
        )
        for i in body.image_info_list or []
    ]

    scan_tasks.create_task(
        session,
        scope,
        image_type="local",
        is_all=bool(body.operate_all),
        image_filter=f,
        refs=refs,
        settings=ctx.settings.scans,
    )
    return s.EmptyResponse()
