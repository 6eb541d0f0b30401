"""`/v5/{project_id}/image/...`: local images, scans, scan tasks, per-image results, vulnerability handling
and export requests.

Literal routes are declared before parametric ones (spec Appendix B): `/image/local/apps`-style paths
would otherwise be captured by `/image/{image_id}/apps`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from sqlalchemy.orm import Session

from openhss.api import schemas as s
from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.export import ExportFormat, vul_export_query
from openhss.api.schemas import Limit, Offset
from openhss.db.models import ImageWhitelist
from openhss.domain.coverage import CoverageEntry
from openhss.domain.enums import FindingKind, ScanScope
from openhss.domain.errors import InvalidRequest
from openhss.services import coverage, exports, findings, images, scan_tasks, vex, vulnerabilities, whitelists
from openhss.services.identity import Scope

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image"])

Region = Annotated[str | None, Header(max_length=64, description="Region ID, e.g. cn-north-4.")]
Q256 = Annotated[str | None, Query(max_length=256)]
Q128 = Annotated[str | None, Query(max_length=128)]
Q64 = Annotated[str | None, Query(max_length=64)]
BigQ = Annotated[int | None, Query(ge=0, le=9_223_372_036_854_775_807)]
ImageIdPath = Annotated[str, Path(min_length=1, max_length=512)]


# --- local images ------------------------------------------------------------------------------------


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
            s.ImageLocalInfo(
                image_name=i.image_name,
                image_id=i.image_id,
                image_digest=i.image_digest,
                image_version=i.image_version,
                local_image_type=i.local_image_type,
                scan_status=i.scan_status,
                image_size=i.image_size,
                latest_update_time=i.latest_update_time,
                latest_scan_time=i.latest_scan_time,
                vul_num=i.vul_num,
                unsafe_setting_num=i.unsafe_setting_num,
                malicious_file_num=i.malicious_file_num,
                host_num=i.host_num,
                container_num=i.container_num,
                component_num=i.component_num,
                scan_failed_desc=i.scan_failed_desc,
                severity_level=i.severity_level,
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
        data_list=[
            s.LocalImageHostInfo(
                agent_id=h.agent_id,
                agent_status=h.agent_status,
                host_name=h.host_name,
                host_id=h.host_id,
                version=h.version,
                private_ip=h.private_ip,
                public_ip=h.public_ip,
                docker_name=h.docker_name,
                docker_type=h.docker_type,
            )
            for h in hosts
        ],
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
            s.LocalImageContainerInfo(
                agent_id=h.agent_id,
                container_name=c.container_name,
                container_id=c.container_id,
                host_id=h.host_id,
                host_name=h.host_name,
                pod_id=c.pod_id,
                pod_name=c.pod_name,
                private_ip=h.private_ip,
                public_ip=h.public_ip,
                entry_point=c.entry_point,
            )
            for c, h in rows
        ],
    )


@router.post("/local/batch-scan", response_model=s.EmptyResponse, summary="BatchScanLocalImage")
def batch_scan_local_image(
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
        session, scope, image_type="local", is_all=bool(body.operate_all), image_filter=f, refs=refs
    )
    return s.EmptyResponse()


# --- scan tasks ----------------------------------------------------------------------------------------


@router.post("/image-scan/tasks", response_model=s.EmptyResponse, summary="CreateManualImageScanTask")
def create_manual_image_scan_task(
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
            s.ImageScanTaskInfo(
                task_id=task.task_id,
                policy_id="",
                task_name=task.task_name,
                begin_time=task.create_time,
                end_time=task.end_time,
                remain_min=0,
                task_type=task.task_type,
                image_type=task.image_type,
                task_status=counted.task_status,
                scan_scope=task.scan_scope,
                rate_limit=task.rate_limit,
                is_all=task.is_all,
                failed_num=counted.failed_num,
                success_num=counted.success_num,
                total_num=task.total_num,
                risky_num=counted.risky_num,
                sync_task_type="",
                failed_reason="",
                failed_images=[
                    s.ImageScanTaskInfoFailedImages(
                        id=img.id,
                        registry_id="",
                        registry_name=img.registry_name,
                        image_name=img.image_name,
                        image_version=img.image_version,
                        namespace=img.organization,
                        registry_type=img.registry_type,
                        failed_reason=row.failed_reason or row.status,
                    )
                    for row, img in failed
                ],
            )
        )
    return s.ListImageScanTaskResponse(data_list=out, total_num=total)


# --- exports -------------------------------------------------------------------------------------------


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


# --- vulnerabilities -----------------------------------------------------------------------------------


@router.get(
    "/vulnerabilities",
    response_model=s.ListGlobalVulnerabilitiesResponse,
    summary="ListGlobalVulnerabilities",
)
def list_global_vulnerabilities(
    scope: ProjectScope,
    session: UnitOfWork,
    offset: Offset,
    limit: Limit,
    region: Region = None,
    repair_necessity: Annotated[s.RepairUrgency | None, Query()] = None,
    vul_id: Annotated[str | None, Query(max_length=65535)] = None,
    type: Annotated[s.VulTypeParam | None, Query()] = None,
) -> s.ListGlobalVulnerabilitiesResponse:
    total, rows = vulnerabilities.list_global_vulnerabilities(
        session, scope, repair_necessity, vul_id, type, offset, limit
    )
    return s.ListGlobalVulnerabilitiesResponse(
        total_num=total,
        data_list=[
            s.GlobalVulInfo(
                vul_name=v.vul_id,
                vul_id=v.vul_id,
                repair_necessity=v.repair_necessity,
                decription=v.description,
                description=v.description,
                solution="",
                url="",
                history_number=v.history_number,
                undeal_number=v.undeal_number,
                data_list=(
                    [
                        s.CveInfo(
                            cve_id=v.vul_id,
                            cvss_score=v.cvss_score or 0.0,
                            publish_time=0,
                            description="",
                        )
                    ]
                    if v.vul_id.startswith("CVE-")
                    else []
                ),
            )
            for v in rows
        ],
    )


@router.post("/vulnerability/handle", response_model=s.EmptyResponse, summary="HandleImageVulnerability")
def handle_image_vulnerability(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    body: s.HandleImageVulnerabilityRequestBody,
) -> s.EmptyResponse:
    needs = {
        "specific_image_all_vul": body.image_id_list,
        "specific_vul_all_image": body.vul_id_list,
        "vul_view": body.vul_data_list,
        "image_view": body.image_data_list,
    }
    if body.select_type in needs and not needs[body.select_type]:
        raise InvalidRequest(f"invalid parameter select_type: {body.select_type} needs its id list")
    req = vulnerabilities.HandleRequest(
        image_type=body.image_type,
        vul_type=body.type,
        operate_type=body.operate_type,
        select_type=body.select_type,
        handle_status=body.handle_status,
        image_id_list=tuple(body.image_id_list or ()),
        vul_id_list=tuple(body.vul_id_list or ()),
        vul_data=tuple((d.vul_id or "", tuple(d.image_id_list or ())) for d in body.vul_data_list or []),
        image_data=tuple((d.image_id or "", tuple(d.vul_id_list or ())) for d in body.image_data_list or []),
        remark=body.remark or "",
    )

    extra = vex.HandleExtra(body.justification or "", body.expires_at or 0)

    vex.handle(session, scope, req, op.name, extra)
    return s.EmptyResponse()


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
            s.ImageBuildCommandRiskResponseInfo(
                latest_scan_time=r.latest_scan_time,
                image_num=r.image_num,
                risk_id=r.rule_id,
                rule_id=r.rule_id,
                risk_name=r.risk_name,
                risk_level=r.risk_level,
                description=r.description,
                image_type=image_type,
            )
            for r in rules
        ],
    )


# --- vulnerability handle history, sensitive-info verdicts, the vulnerability whitelist ---------------------


@router.get(
    "/vulnerability/handle-history",
    response_model=s.ListGeneralImageVulOperationsResponse,
    summary="ListGeneralImageVulOperations",
)
def list_general_image_vul_operations(
    scope: ProjectScope,
    session: UnitOfWork,
    vul_id: Annotated[str, Query(min_length=1, max_length=256)],
    image_type: Annotated[s.GlobalImageType, Query()],
    offset: Offset = 0,
    limit: Limit = 10,
    image_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    image_name: Q256 = None,
    status: Annotated[s.VulImageStatus | None, Query()] = None,
    user_name: Q256 = None,
    handle_type: Annotated[Literal["ignore", "not_ignore", "add_to_whitelist"] | None, Query()] = None,
    app_name: Q256 = None,
    app_version: Q256 = None,
    remark: Q256 = None,
) -> s.ListGeneralImageVulOperationsResponse:
    f = vulnerabilities.OperationFilter(
        vul_id,
        image_type,
        image_id,
        image_name,
        status,
        user_name,
        handle_type,
        app_name,
        app_version,
        remark,
    )

    total, rows = vulnerabilities.list_operations(session, scope, f, offset, limit)
    return s.ListGeneralImageVulOperationsResponse(
        total_num=total,
        data_list=[
            s.GeneralImageVulOperationsResponseInfo(
                image_id=o.image_id,
                image_name=o.image_name,
                user_name=o.user_name,
                handle_time=o.operate_time,
                handle_type=o.operate_type,
                status=o.status,
                app_name=o.app_name,
                app_version=o.app_version,
                app_path=o.app_path,
                remark=o.remark,
                image_digest=o.image_digest,
                image_version=o.image_version,
                agent_id=o.agent_id,
            )
            for o in rows
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


WhitelistType = Annotated[s.WhitelistType, Query()]
GlobalImageType = Annotated[s.GlobalImageType, Query()]
WhitelistIdPath = Annotated[str, Path(min_length=1, max_length=64)]


def _rule(
    rule_type: str,
    query_info: s.AddImageWhiteListsRequestBodyQueryInfo | None,
    image_info: list[s.AddImageWhiteListsRequestBodyImageInfo] | None,
    description: str | None,
) -> whitelists.Rule:
    flavours = tuple(t for t in ((query_info.image_type if query_info else None) or "").split(",") if t)
    unknown = [
        t for t in flavours if t not in ("private_image", "shared_image", "instance_image", "harbor", "jfrog")
    ]
    if unknown:
        raise InvalidRequest(f"invalid parameter query_info.image_type: unknown image type {unknown[0]}")
    return whitelists.Rule(
        rule_type=rule_type,
        image_types=flavours,
        images=tuple(
            whitelists.WhitelistImage(i.id, i.image_id, i.image_name, i.image_type) for i in image_info or []
        ),
        description=description or "",
    )


def _whitelist_info(
    session: Session, wl: ImageWhitelist, offset: int = 0, limit: int = 200
) -> s.ImageWhiteListDetailResponseInfo:
    rule = whitelists.rule_of(wl)
    return s.ImageWhiteListDetailResponseInfo(
        id=wl.whitelist_id,
        vul_id=wl.vul_id,
        vul_name=wl.vul_name,
        vul_type=wl.vul_type,
        cves=[
            s.ImageWhiteListDetailResponseInfoCves(cve_id=c, cvss=v) for c, v in whitelists.cves(session, wl)
        ],
        rule_type=wl.rule_type,
        query_info=s.ImageWhiteListDetailResponseInfoQueryInfo(image_type=wl.image_types),
        image_info=[
            s.ImageWhiteListDetailResponseInfoImageInfo(id=i.id, image_id=i.image_id, image_name=i.image_name)
            for i in rule.images[offset : offset + limit]
        ],
        description=wl.description,
    )


@router.post("/whitelists", response_model=s.EmptyResponse, summary="AddImageWhiteLists")
def add_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.AddImageWhiteListsRequestBody,
) -> s.EmptyResponse:
    if body.vul_type is None:
        raise InvalidRequest("invalid parameter vul_type: required for a vulnerability whitelist")
    vul_type = body.vul_type
    rule = _rule(body.rule_type, body.query_info, body.image_info, body.description)

    whitelists.add(session, scope, global_image_type, vul_type, body.vul_ids or [], rule, op.name)
    return s.EmptyResponse()


@router.get("/whitelists", response_model=s.ListImageWhiteListsResponse, summary="ListImageWhiteLists")
def list_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    offset: Offset = 0,
    limit: Limit = 10,
    vul_name: Q256 = None,
    vul_type: Annotated[s.VulTypeParam | None, Query()] = None,
) -> s.ListImageWhiteListsResponse:
    total, rows = whitelists.list_rules(session, scope, global_image_type, vul_name, vul_type, offset, limit)
    # The list leaves image_info empty; only the detail read returns it (spec §4.6).
    return s.ListImageWhiteListsResponse(
        total_num=total, data_list=[_whitelist_info(session, wl, limit=0) for wl in rows]
    )


@router.delete("/whitelists", response_model=s.EmptyResponse, summary="DeleteImageWhiteLists")
def delete_image_white_lists(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.DeleteImageWhiteListsRequestBody,
) -> s.EmptyResponse:
    whitelists.delete(session, scope, global_image_type, body.ids or [], op.name)
    return s.EmptyResponse()


@router.get(
    "/whitelists/{id}", response_model=s.ShowImageWhiteListDetailResponse, summary="ShowImageWhiteListDetail"
)
def show_image_white_list_detail(
    scope: ProjectScope,
    session: UnitOfWork,
    id: WhitelistIdPath,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    offset: Offset = 0,
    limit: Limit = 10,
) -> s.ShowImageWhiteListDetailResponse:
    wl = whitelists.get(session, scope, global_image_type, id)
    return s.ShowImageWhiteListDetailResponse(**_whitelist_info(session, wl, offset, limit).model_dump())


@router.put("/whitelists/{id}", response_model=s.EmptyResponse, summary="ChangeImageWhiteList")
def change_image_white_list(
    scope: ProjectScope,
    session: UnitOfWork,
    op: OperatorPrincipal,
    id: WhitelistIdPath,
    global_image_type: GlobalImageType,
    type: WhitelistType,
    body: s.ChangeImageWhiteListRequestBody,
) -> s.EmptyResponse:
    wl = whitelists.get(session, scope, global_image_type, id)
    current = whitelists.rule_of(wl)
    fields = body.model_fields_set
    rule = whitelists.Rule(
        rule_type=body.rule_type or current.rule_type,
        image_types=(
            _rule("", body.query_info, None, None).image_types
            if "query_info" in fields
            else current.image_types
        ),
        images=_rule("", None, body.image_info, None).images if "image_info" in fields else current.images,
        description=body.description if body.description is not None else current.description,
    )
    whitelists.change(session, scope, global_image_type, id, rule, op.name)
    return s.EmptyResponse()


# --- parametric: per image / per vulnerability -----------------------------------------------------------


@router.get(
    "/{image_id}/vulnerabilities",
    response_model=s.ListImageVulnerabilitiesResponse,
    summary="ListImageVulnerabilities",
)
def list_image_vulnerabilities(
    scope: ProjectScope,
    ctx: Ctx,
    session: UnitOfWork,
    image_id: ImageIdPath,
    image_type: Annotated[s.PerImageType, Query()],
    namespace: Annotated[str, Query(max_length=64)],
    image_name: Annotated[str, Query(max_length=128)],
    tag_name: Annotated[str, Query(max_length=64)],
    offset: Offset = 0,
    limit: Limit = 10,
    instance_id: Q128 = None,
    repair_necessity: Annotated[s.RepairUrgency | None, Query()] = None,
    vul_id: Q128 = None,
    app_name: Q64 = None,
    type: Annotated[s.VulTypeParam | None, Query()] = None,
    handle_status: Annotated[s.HandleStatus | None, Query()] = None,
    kev: Annotated[
        bool | None, Query(description="Additive: only (true) or no (false) CISA KEV entries")
    ] = None,
    min_epss: Annotated[
        float | None, Query(ge=0.0, le=1.0, description="Additive: only findings with EPSS ≥ this")
    ] = None,
    severity_source: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[a-z0-9]+$",
            description="Additive: who rated the severity (`none` lists unrated findings; `nvd`, `cve5`,"
            " `alias`, `advisory`)",
        ),
    ] = None,
) -> s.ListImageVulnerabilitiesResponse:
    f = vulnerabilities.ImageVulFilter(
        repair_necessity, vul_id, app_name, type, handle_status, kev, min_epss, severity_source
    )

    img = images.find_image(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=tag_name,
    )
    total, rows = vulnerabilities.list_image_vulnerabilities(session, img.id, f, offset, limit)
    entries = coverage.image_coverage(session, img.id, coverage.advisory_table(ctx.settings))
    return s.ListImageVulnerabilitiesResponse(
        coverage=None if entries is None else [_coverage_info(e) for e in entries],
        unchecked_num=None if entries is None else sum(e.unchecked_count for e in entries),
        total_num=total,
        data_list=[
            s.ImageVulInfo(
                vul_id=v.vul_id,
                repair_necessity=vulnerabilities.urgency(v.repair_necessity),
                description=v.description,
                position=v.layer_digest,
                app_name=v.app_name,
                app_path=v.app_path,
                version=v.app_version,
                solution=f"upgrade {v.app_name} to {v.fixed_version}" if v.fixed_version else "",
                url="",
                severity_source=v.severity_source,
                cvss_score=v.cvss_score,
                epss=v.epss,
                epss_percentile=v.epss_percentile,
                epss_date=v.epss_date,
                kev=bool(v.kev_date_added),
                kev_date_added=v.kev_date_added,
                kev_due_date=v.kev_due_date,
            )
            for v in rows
        ],
    )


@router.get(
    "/{image_id}/vulnerabilities/{vul_id}/explain",
    response_model=s.ExplainImageVulnerabilityResponse,
    summary="ExplainImageVulnerability (openhss extension)",
    description="The chain behind one vulnerability verdict on an image, computed from its latest "
    "scan's inventory and the current advisory database: file, package and owner, advisory records "
    "and feeds, version comparison, verdict, and the user's handling (ignored, whitelisted).",
)
def explain_image_vulnerability(
    scope: ProjectScope,
    ctx: Ctx,
    session: UnitOfWork,
    image_id: ImageIdPath,
    vul_id: Annotated[str, Path(min_length=1, max_length=256)],
    image_type: Annotated[s.PerImageType, Query()],
    namespace: Q256 = None,
    image_name: Q256 = None,
    tag_name: Q256 = None,
) -> s.ExplainImageVulnerabilityResponse:
    img = images.find_image(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=tag_name,
    )
    found = coverage.explain_image(session, img.id, vul_id, ctx.settings)
    chain, handling = found if found is not None else ([], None)
    return s.ExplainImageVulnerabilityResponse(
        vul_id=vul_id,
        handling=None
        if handling is None
        else s.ExplainHandlingInfo(
            status=handling.status, operate_type=handling.operate_type, whitelist_id=handling.whitelist_id
        ),
        total_num=len(chain),
        data_list=[s.ExplainInfo.model_validate(e.as_dict()) for e in chain],
    )


def _coverage_info(e: CoverageEntry) -> s.AdvisoryCoverageInfo:
    return s.AdvisoryCoverageInfo(
        kind=e.kind,
        ecosystem=e.ecosystem,
        release=e.release,
        packages=e.packages,
        covered=e.covered,
        records=e.records,
        feeds=[
            s.AdvisoryFeedInfo(name=f.name, records=f.records, age_seconds=round(f.age_seconds))
            for f in e.feeds
        ],
        unchecked_count=e.unchecked_count,
        unchecked=list(e.unchecked),
        note=e.note,
    )


@router.get("/{vul_id}/images", response_model=s.ListVulRepoImageResponse, summary="ListVulRepoImage")
def list_vul_repo_image(
    scope: ProjectScope,
    session: UnitOfWork,
    vul_id: Annotated[str, Path(min_length=1, max_length=65535)],
    region: Region = None,
    limit: Limit = 10,
    offset: Offset = 0,
    namespace: Q256 = None,
    image_name: Q256 = None,
    image_id: Q256 = None,
    app_name: Q256 = None,
) -> s.ListVulRepoImageResponse:
    total, rows = vulnerabilities.list_vul_images(
        session, scope, vul_id, namespace, image_name, image_id, app_name, offset, limit
    )
    return s.ListVulRepoImageResponse(
        total_num=total,
        data_list=[
            s.VulRepoImageInfo(
                namespace=img.organization,
                image_id=img.image_id,
                image_name=img.image_name,
                app_name=hits[0].app_name if hits else "",
                version=hits[0].app_version if hits else "",
                tag_count=1,
                image_type=vulnerabilities.ROW_IMAGE_TYPE.get(img.image_type, img.image_type),
                data_list=[
                    s.VulRepoImagesTagInfo(
                        tag_id=str(img.id),
                        tag_name=img.image_version,
                        size=img.image_size,
                        app_name=h.app_name,
                    )
                    for h in hits
                ],
            )
            for img, hits in rows
        ],
    )


def _image_for(session: Session, scope: Scope, image_id: str, image_type: str, **ref: str | None) -> int:
    return images.find_image(session, scope, image_id, image_type, **ref).id


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
    pk = _image_for(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=tag_name,
    )
    total, rows = findings.apps(session, pk, app_name, offset, limit)
    return s.ListImageAppsResponse(
        total_num=total,
        data_list=[
            s.ImageAppsInfo(
                app_name=a.app_name, app_type=a.app_type, app_version=a.app_version, vul_num=a.vul_num
            )
            for a in rows
        ],
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
    pk = _image_for(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=tag_name,
    )
    total, rows = findings.files(session, pk, file_name, offset, limit)
    return s.ListImageFilesResponse(
        total_num=total,
        data_list=[s.ImageFileInfo(file_name=r.file_name, file_path=r.file_path, size=r.size) for r in rows],
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
    pk = _image_for(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=tag_name,
    )
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
    pk = _image_for(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=image_version,
    )
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
    pk = _image_for(
        session,
        scope,
        image_id,
        image_type,
        namespace=namespace,
        image_name=image_name,
        image_version=image_version,
    )
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
