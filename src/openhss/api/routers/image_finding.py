"""`/v5/{project_id}/image/{image_id}/apps|files|malwares|sensitive|non-compliant-app`, sensitive-info
verdicts and build-command risks: what a scan found in one image besides vulnerabilities.

Literal routes are declared before parametric ones (spec Appendix B)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from openhss.api import schemas as s
from openhss.api.deps import OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.image_params import Q256, ImageIdPath, Region, image_pk
from openhss.api.rows import wire
from openhss.api.schemas import Limit, Offset
from openhss.domain.enums import FindingKind
from openhss.services import findings

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])


@router.get(
    "/build-command-risks",
    response_model=s.ListImageBuildCommandRisksResponse,
    summary="ListImageBuildCommandRisks",
)
def list_image_build_command_risks(
    scope: ProjectScope,
    session: UnitOfWork,
    image_type: Annotated[Literal["cicd", "registry", "local"], Query()],
    region: Region = None,
    offset: Offset = 0,
    limit: Limit = 10,
    image_id: Q256 = None,
    risk_name: Q256 = None,
    risk_level: Annotated[Literal["critical", "high", "medium", "low"] | None, Query()] = None,
) -> s.ListImageBuildCommandRisksResponse:
    total, rules = findings.build_command_rules(
        session, scope, image_type, image_id, risk_name, risk_level, offset, limit
    )
    return s.ListImageBuildCommandRisksResponse(
        total_num=total,
        data_list=[
            wire(s.ImageBuildCommandRiskResponseInfo, r, risk_id=r.rule_id, image_type=image_type)
            for r in rules
        ],
    )


@router.post("/sensitive/operate", response_model=s.EmptyResponse, summary="ChangeSensitiveInfo")
def change_sensitive_info(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    image_type: Annotated[s.PerImageType, Query()],
    body: s.ChangeSensitiveInfoRequestInfo,
) -> s.EmptyResponse:
    findings.change_sensitive(session, scope, image_type, body.sensitive_info_id, body.operate_type)
    return s.EmptyResponse()


@router.get("/{image_id}/apps", response_model=s.ListImageAppsResponse, summary="ListImageApps")
def list_image_apps(
    scope: ProjectScope,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    offset: Offset = 0,
    limit: Limit = 10,
    namespace: Q256 = None,
    image_name: Q256 = None,
    tag_name: Q256 = None,
    app_name: Q256 = None,
) -> s.ListImageAppsResponse:
    pk = image_pk(session, scope, image_id, image_type, namespace, image_name, tag_name)
    total, rows = findings.apps(session, pk, app_name, offset, limit)
    return s.ListImageAppsResponse(
        total_num=total,
        data_list=[s.ImageAppsInfo.model_validate(a, from_attributes=True) for a in rows],
    )


@router.get("/{image_id}/files", response_model=s.ListImageFilesResponse, summary="ListImageFiles")
def list_image_files(
    scope: ProjectScope,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    offset: Offset = 0,
    limit: Limit = 10,
    namespace: Q256 = None,
    image_name: Q256 = None,
    tag_name: Q256 = None,
    file_name: Q256 = None,
) -> s.ListImageFilesResponse:
    pk = image_pk(session, scope, image_id, image_type, namespace, image_name, tag_name)
    total, rows = findings.files(session, pk, file_name, offset, limit)
    return s.ListImageFilesResponse(
        total_num=total,
        data_list=[s.ImageFileInfo.model_validate(r, from_attributes=True) for r in rows],
    )


@router.get("/{image_id}/malwares", response_model=s.ListImageMalwareResponse, summary="ListImageMalware")
def list_image_malware(
    scope: ProjectScope,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    region: Region = None,
    offset: Offset = 0,
    limit: Limit = 10,
    file_name: Q256 = None,
    namespace: Q256 = None,
    image_name: Q256 = None,
    tag_name: Q256 = None,
) -> s.ListImageMalwareResponse:
    pk = image_pk(session, scope, image_id, image_type, namespace, image_name, tag_name)
    total, rows = findings.findings(
        session, pk, FindingKind.MALWARE, findings.FindingFilter(file_name=file_name), offset, limit
    )
    return s.ListImageMalwareResponse(
        total_num=total,
        data_list=[
            s.ImageMalwareInfo(
                file_name=r.path.rsplit("/", 1)[-1], file_path=r.path, size=0, description=r.title
            )
            for r in rows
        ],
    )


@router.get(
    "/{image_id}/sensitive", response_model=s.ListImageSensitiveResponse, summary="ListImageSensitive"
)
def list_image_sensitive(
    scope: ProjectScope,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    region: Region = None,
    offset: Offset = 0,
    limit: Limit = 10,
    namespace: Q256 = None,
    image_name: Q256 = None,
    image_version: Q256 = None,
    file_path: Q256 = None,
    severity: Annotated[Literal["high", "medium", "low"] | None, Query()] = None,
    handle_status: Annotated[Literal["unhandled", "handled", "ignored"] | None, Query()] = None,
) -> s.ListImageSensitiveResponse:
    pk = image_pk(session, scope, image_id, image_type, namespace, image_name, image_version)
    f = findings.FindingFilter(file_path=file_path, severity=severity, handle_status=handle_status)
    total, rows = findings.findings(session, pk, FindingKind.SECRET, f, offset, limit)
    return s.ListImageSensitiveResponse(
        total_num=total,
        data_list=[
            s.ImageSensitiveInfo(
                sensitive_info_id=str(r.id),
                severity=r.severity.lower(),
                name=r.title,
                description=r.remediation,
                position=f"{r.path}:{r.line}" if r.line else r.path,
                file_path=r.path,
                content=r.evidence,
                latest_scan_time=r.found_time,
                handle_status=r.handle_status,
                operate_accept="",
            )
            for r in rows
        ],
    )


@router.get(
    "/{image_id}/non-compliant-app",
    response_model=s.ListImageNonCompliantAppResponse,
    summary="ListImageNonCompliantApp",
)
def list_image_non_compliant_app(
    scope: ProjectScope,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    region: Region = None,
    offset: Offset = 0,
    limit: Limit = 10,
    namespace: Q256 = None,
    image_name: Q256 = None,
    image_version: Q256 = None,
    app_name: Q256 = None,
) -> s.ListImageNonCompliantAppResponse:
    pk = image_pk(session, scope, image_id, image_type, namespace, image_name, image_version)
    f = findings.FindingFilter(app_name=app_name)
    total, rows = findings.findings(session, pk, FindingKind.NON_COMPLIANT_APP, f, offset, limit)
    return s.ListImageNonCompliantAppResponse(
        total_num=total,
        data_list=[
            s.ImageNonCompliantAppInfo(
                id=str(r.id),
                app_name=r.title,
                app_path=r.path,
                app_version=r.evidence,
                layer_digest=r.layer_digest,
            )
            for r in rows
        ],
    )
