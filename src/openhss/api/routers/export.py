"""`/v5/{project_id}/export-task/...`: the status of an export requested through the image API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.concurrency import run_in_threadpool

from openhss.api.deps import Ctx, ProjectScope
from openhss.api.schemas import ListQueryExportTaskResponse
from openhss.db.engine import transaction
from openhss.services import exports

router = APIRouter(prefix="/v5/{project_id}/export-task", tags=["export"])


@router.get("/{task_id}", response_model=ListQueryExportTaskResponse, summary="ListQueryExportTask")
async def list_query_export_task(
    scope: ProjectScope,
    ctx: Ctx,
    task_id: Annotated[str, Path(min_length=1, max_length=64)],
    region: Annotated[str | None, Header(max_length=64)] = None,
) -> ListQueryExportTaskResponse:
    def q() -> ListQueryExportTaskResponse:
        with transaction(ctx.sessions) as session:
            t = exports.get_task(session, scope, task_id)
            return ListQueryExportTaskResponse(
                task_id=t.task_id,
                task_name=t.task_name,
                task_status=t.task_status,
                file_id=t.file_id,
                file_name=t.file_name,
            )

    return await run_in_threadpool(q)
