"""`/v5/{project_id}/image/image-scan/tasks` and `/image/tasks`: creating, stopping and listing image scan
tasks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from openhss.api import schemas as s
from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.image_params import Region
from openhss.api.rows import wire
from openhss.api.schemas import Limit, Offset
from openhss.domain.enums import ScanScope
from openhss.services import images, scan_tasks

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


@router.post("/image-scan/tasks", response_model=s.EmptyResponse, summary="CreateManualImageScanTask")
def create_manual_image_scan_task(
    ctx: Ctx,
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    body: s.CreateManualImageScanTaskReqInfo,
    region: Region = None,
    global_image_type: Annotated[Literal["local", "registry"], Query()] = "registry",
) -> s.EmptyResponse:
    qi = body.query_info or s.ScanTaskQueryInfo()
    flavour = scan_tasks.REGISTRY_FLAVOUR.get(qi.image_type) if qi.image_type else None
    f = images.ImageFilter.of(qi, registry_type=flavour)
    refs = [
        scan_tasks.ImageRefIn(
            id=i.id if global_image_type == "registry" else None,
            image_id=i.image_id,
            image_digest=i.image_digest,
            image_name=i.image_name,
            image_version=i.image_version,
            namespace=i.namespace,
            registry_name=i.registry_name,
        )
        for i in body.image_info or []
    ]
    scan_scope = ScanScope.ALL.value if body.scan_scope is None else body.scan_scope

    scan_tasks.create_task(
        session,
        scope,
        image_type=global_image_type,
        scan_scope=scan_scope,
        rate_limit=body.rate_limit or 0,
        is_all=bool(body.is_all),
        image_filter=f,
        refs=refs,
        settings=ctx.settings.scans,
    )
    return s.EmptyResponse()


@router.put("/image-scan/tasks/{task_id}/stop", response_model=s.EmptyResponse, summary="StopImageScanTask")
def stop_image_scan_task(
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    task_id: Annotated[str, Path(min_length=1, max_length=256)],
    region: Region = None,
) -> s.EmptyResponse:
    scan_tasks.stop_task(session, scope, task_id)
    return s.EmptyResponse()


@router.get("/tasks", response_model=s.ListImageScanTaskResponse, summary="ListImageScanTask")
def list_image_scan_task(
    scope: ProjectScope,
    session: UnitOfWork,
    type: Annotated[Literal["image_sync", "image_scan"], Query()],
    global_image_type: Annotated[Literal["local", "registry"] | None, Query()] = None,
    offset: Offset = 0,
    limit: Limit = 10,
    task_type: Annotated[Literal["cycle", "manual", "autoSync", "manualSync"] | None, Query()] = None,
    task_name: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    task_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    create_time: Annotated[int | None, Query(ge=0, le=4_070_880_000_000)] = None,
    end_time: Annotated[int | None, Query(ge=0, le=4_070_880_000_000)] = None,
    task_status: Annotated[Literal["scanning", "finished"] | None, Query()] = None,
    scan_scope: Annotated[int | None, Query(ge=0, le=0x7FFFFFFF)] = None,
) -> s.ListImageScanTaskResponse:
    f = scan_tasks.TaskFilter(
        type=type,
        global_image_type=global_image_type,
        task_type=task_type,
        task_name=task_name,
        task_id=task_id,
        create_time=create_time,
        end_time=end_time,
        task_status=task_status,
        scan_scope=scan_scope,
    )

    total, rows = scan_tasks.list_tasks(session, scope, f, offset, limit)
    out = []
    for task, failed in rows:
        counted = scan_tasks.task_progress(session, task)
        out.append(
            wire(
                s.ImageScanTaskInfo,
                task,
                policy_id="",
                begin_time=task.create_time,
                remain_min=0,
                task_status=counted.task_status,
                failed_num=counted.failed_num,
                success_num=counted.success_num,
                risky_num=counted.risky_num,
                sync_task_type="",
                failed_reason="",
                failed_images=[
                    wire(
                        s.ImageScanTaskInfoFailedImages,
                        img,
                        registry_id="",
                        namespace=img.organization,
                        failed_reason=row.failed_reason or row.status,
                    )
                    for row, img in failed
                ],
            )
        )
    return s.ListImageScanTaskResponse(data_list=out, total_num=total)
