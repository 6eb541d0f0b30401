"""`/v5/{project_id}/image/local-vulnerability/export` and `/image/security-report/export-tasks`: export
requests (the files are fetched through `routers/export.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openhss.api import schemas as s
from openhss.api.deps import OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.export import ExportFormat, vul_export_query
from openhss.api.routers.image_params import Region
from openhss.domain.errors import InvalidRequest
from openhss.services import exports, images

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


@router.post(
    "/local-vulnerability/export",
    response_model=s.BatchExportLocalVulTaskResponse,
    summary="BatchExportLocalVulTask",
)
def batch_export_local_vul_task(
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    export_size: Annotated[int, Query(ge=1, le=2_147_483_647)],
    body: s.BatchExportLocalVulInfoRequestInfo | None = None,
    region: Region = None,
    file_format: ExportFormat = "xlsx",
) -> s.BatchExportLocalVulTaskResponse:
    q_ = vul_export_query(body or s.BatchExportLocalVulInfoRequestInfo(), "local")

    task = exports.create_export(session, scope, export_size, q_, file_format)
    return s.BatchExportLocalVulTaskResponse(record_total_num=task.record_total_num, task_id=task.task_id)


@router.post(
    "/security-report/export-tasks",
    response_model=s.ExportImageSecurityReportTaskResponse,
    summary="ExportImageSecurityReportTask",
)
def export_image_security_report_task(
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    body: s.ExportImageSecurityReportTaskRequestInfo,
    file_format: ExportFormat = "xlsx",
) -> s.ExportImageSecurityReportTaskResponse:
    if not body.operate_all and not body.image_id_list:
        raise InvalidRequest("invalid parameter image_id_list: required when operate_all is false")
    q_ = exports.ReportExport(
        security_report_type=body.security_report_type,
        operate_all=body.operate_all,
        image_type=body.image_type,
        image_id_list=tuple(body.image_id_list or ()),
        latest_version=body.latest_version,
        instance_name=body.instance_name,
        cicd_name=body.cicd_name,
        build_command_rule_id_list=tuple(body.build_command_rule_id_list or ()),
        build_command_risk_level=body.build_command_risk_level,
        build_command_risk_name=body.build_command_risk_name,
        image_filter=images.ImageFilter.of(body),
    )

    task = exports.create_export(session, scope, body.export_size, q_, file_format)
    return s.ExportImageSecurityReportTaskResponse(task_id=task.task_id)
