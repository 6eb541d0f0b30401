"""Export status and files: `/v5/{project_id}/export-task[/{task_id}]`, `/v5/{project_id}/download/{file_id}`.

A project sees only its own tasks and files: another project's ids are simply not found (404), and a
caller without a grant on the path's project is refused by `ProjectScope` (403).

Also openhss's additions to the HSS exports, one route per registered vulnerability report other than
the local one (`POST /v5/{project_id}/image/registry-vulnerability/export`, `…/cicd-vulnerability/…`):
the same request and response as `BatchExportLocalVulTask`, for registry and CI/CD images.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from openhss.api import schemas as s
from openhss.api.deps import Ctx, CurrentPrincipal, OperatorPrincipal, ProjectScope
from openhss.api.schemas import ListQueryExportTaskResponse
from openhss.db.engine import transaction
from openhss.db.models import ExportTask
from openhss.domain.errors import InvalidRequest
from openhss.exports.registry import FILE_FORMATS
from openhss.services import exports, identity, images
from openhss.services.identity import Scope

router = APIRouter(prefix="/v5/{project_id}", tags=["export"])


async def granted_scope(
    _checked: ProjectScope,
    principal: CurrentPrincipal,
    project_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> Scope:
    """Reading an export task or file: every enterprise project the caller is granted, whatever
    `enterprise_project_id` the poll sends. A task id is a handle its creator holds, so a task created
    with `all_granted_eps` is found when polled without it (it was a 404); a task whose rows span
    enterprise projects the caller is not granted stays invisible. The request's own
    `enterprise_project_id` is still checked (`ProjectScope`: 403 where it is not granted)."""
    return identity.authorize(principal, project_id, identity.ALL_GRANTED_EPS)


ReadScope = Annotated[Scope, Depends(granted_scope)]

#: Not an HSS parameter (HSS files are XLSX): `?file_format=csv` asks openhss for another registered format.
ExportFormat = Annotated[
    str,
    Query(
        description=f"openhss extension: {' | '.join(FILE_FORMATS)} (default xlsx)",
        pattern=f"^({'|'.join(FILE_FORMATS)})$",
        json_schema_extra={"enum": list(FILE_FORMATS)},
    ),
]


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
    scope: ReadScope,
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
    scope: ReadScope,
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
    scope: ReadScope,
    ctx: Ctx,
    file_id: Annotated[str, Path(min_length=1, max_length=64)],
    region: Annotated[str | None, Header(max_length=64)] = None,
) -> FileResponse:
    def q() -> exports.ExportFile:
        with transaction(ctx.sessions) as session:
            return exports.open_file(session, ctx.settings, scope, file_id)

    found = await run_in_threadpool(q)
    return FileResponse(found.path, media_type=found.media_type, filename=found.file_name)


def vul_export_query(b: s.BatchExportLocalVulInfoRequestInfo, image_type: str) -> exports.VulExport:
    """The body of `BatchExportLocalVulTask` as the export query of one image type."""
    if not b.operate_all and not b.image_id_list:
        raise InvalidRequest("invalid parameter image_id_list: required when operate_all is false")
    return exports.VulExport(
        image_type=image_type,
        image_filter=images.ImageFilter.of(b),
        operate_all=bool(b.operate_all),
        image_id_list=tuple(b.image_id_list or ()),
        vul_type=b.vul_type,
        handle_status=b.handle_status,
        vul_id_list=tuple(b.vul_id_list or ()),
    )


def _vul_export_route(
    image_type: str,
) -> Callable[..., Awaitable[s.BatchExportLocalVulTaskResponse]]:
    async def export_vulnerabilities(
        scope: ProjectScope,
        ctx: Ctx,
        _op: OperatorPrincipal,
        export_size: Annotated[int, Query(ge=1, le=2_147_483_647)],
        body: s.BatchExportLocalVulInfoRequestInfo | None = None,
        file_format: ExportFormat = "xlsx",
    ) -> s.BatchExportLocalVulTaskResponse:
        query = vul_export_query(body or s.BatchExportLocalVulInfoRequestInfo(), image_type)

        def q() -> s.BatchExportLocalVulTaskResponse:
            with transaction(ctx.sessions) as session:
                task = exports.create_export(session, scope, export_size, query, file_format)
                return s.BatchExportLocalVulTaskResponse(
                    record_total_num=task.record_total_num, task_id=task.task_id
                )

        return await run_in_threadpool(q)

    return export_vulnerabilities


for _report, _image_type in exports.VUL_REPORTS.items():
    if _image_type == "local":
        continue  # the HSS route, BatchExportLocalVulTask, in routers/image_export.py
    router.add_api_route(
        f"/image/{_report}/export",
        _vul_export_route(_image_type),
        methods=["POST"],
        response_model=s.BatchExportLocalVulTaskResponse,
        summary=f"BatchExport{_image_type.capitalize()}VulTask (openhss)",
        description=(
            f"openhss extension: `BatchExportLocalVulTask` for {_image_type} images. `image_id_list` takes "
            "the id the image list returns. The task is polled and downloaded like every export."
        ),
    )
