"""Export status and files: `/v5/{project_id}/export-task[/{task_id}]`, `/v5/{project_id}/download/{file_id}`.

A project sees only its own tasks and files: another project's ids are simply not found (404), and a
caller without a grant on the path's project is refused by `ProjectScope` (403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from openhss.api.deps import Ctx, ProjectScope
from openhss.api.schemas import ListQueryExportTaskResponse
from openhss.db.engine import transaction
from openhss.db.models import ExportTask
from openhss.services import exports

router = APIRouter(prefix="/v5/{project_id}", tags=["export"])


class ExportTaskStatus(ListQueryExportTaskResponse):
    """The SDK's fields plus `failed_reason`, so a failed export says why (the SDK ignores the extra key)."""

    failed_reason: str = ""


def _status(t: ExportTask) -> ExportTaskStatus:
    return ExportTaskStatus(
        task_id=t.task_id,
        task_name=t.task_name,
        task_status=t.task_status,
        file_id=t.file_id,
        file_name=t.file_name,
        failed_reason=t.failed_reason,
    )


@router.get("/export-task/{task_id}", response_model=ExportTaskStatus, summary="ListQueryExportTask")
async def list_query_export_task(
    scope: ProjectScope,
    ctx: Ctx,
    task_id: Annotated[str, Path(min_length=1, max_length=64)],
    region: Annotated[str | None, Header(max_length=64)] = None,
) -> ExportTaskStatus:
    def q() -> ExportTaskStatus:
        with transaction(ctx.sessions) as session:
            return _status(exports.get_task(session, scope, task_id))

    return await run_in_threadpool(q)


@router.get("/export-task", response_model=ExportTaskStatus, summary="ShowLatestExportTaskByType")
async def show_latest_export_task_by_type(
    scope: ProjectScope,
    ctx: Ctx,
    task_id: Annotated[str | None, Query(max_length=64)] = None,
    export_task_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> ExportTaskStatus:
    def q() -> ExportTaskStatus:
        with transaction(ctx.sessions) as session:
            return _status(exports.latest_task(session, scope, task_id, export_task_type))

    return await run_in_threadpool(q)


@router.get(
    "/download/{file_id}",
    response_class=FileResponse,
    summary="ListDownloadExportedFile",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the exported file"}},
)
async def list_download_exported_file(
    scope: ProjectScope,
    ctx: Ctx,
    file_id: Annotated[str, Path(min_length=1, max_length=64)],
    region: Annotated[str | None, Header(max_length=64)] = None,
) -> FileResponse:
    def q() -> exports.ExportFile:
        with transaction(ctx.sessions) as session:
            return exports.open_file(session, ctx.settings, scope, file_id)

    found = await run_in_threadpool(q)
    return FileResponse(found.path, media_type=found.media_type, filename=found.file_name)
