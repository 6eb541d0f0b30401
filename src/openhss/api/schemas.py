"""Request/response models whose field names are exactly the HSS SDK's JSON keys (spec §3-4).

Shared query-parameter types live here too, so every list endpoint enforces the same documented
ranges (offset 0-2000000, limit 10-200) and answers 400 naming the field when they are violated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Offset = Annotated[int, Query(ge=0, le=2_000_000, description="Start position, 0-2000000.")]
Limit = Annotated[int, Query(ge=10, le=200, description="Page size, 10-200.")]
RepairNecessity = Literal["Low", "Medium", "High", "Critical"]
VulTypeParam = Literal["app_vul", "linux_vul"]
ImageTypeParam = Literal["local", "registry", "cicd", "cluster"]
VulImageStatus = Literal["vul_status_unfix", "vul_status_ignored"]


class VulAffectImagesResponseInfo(BaseModel):
    image_id: str
    image_name: str
    vul_id: str
    repair_necessity: str
    container_num: int
    image_digest: str
    image_version: str
    agent_id: str
    status: str
    first_scan_time: str
    latest_scan_time: str
    image_type: str
    image_size: str
    organization: str
    registry_type: str
    registry_name: str
    is_multi_arch: str
    cluster_id: str
    cluster_name: str


class ListVulAffectImagesResponse(BaseModel):
    total_num: int
    data_list: list[VulAffectImagesResponseInfo]


# --- request bodies and response models of the image API (names exactly as the SDK's JSON keys) ---------

ScanStatusParam = Literal[
    "unscan", "success", "scanning", "failed", "download_failed", "image_oversized", "waiting_for_scan"
]
ScanStatusAll = Literal[
    "unscan",
    "success",
    "scanning",
    "failed",
    "download_failed",
    "image_oversized",
    "waiting_for_scan",
    "image_scan_stop",
]
LocalImageType = Literal["other_image", "swr_image"]
HandleStatus = Literal["unhandled", "handled"]
RepairUrgency = Literal["immediate_repair", "delay_repair", "not_needed_repair"]
PerImageType = Literal[
    "private_image", "shared_image", "instance_image", "cicd", "harbor", "jfrog", "local_image", "local"
]
Str64 = Annotated[str, Field(max_length=64)]
Str128 = Annotated[str, Field(max_length=128)]
Str256 = Annotated[str, Field(max_length=256)]
Str512 = Annotated[str, Field(max_length=512)]
NonNegBig = Annotated[int, Field(ge=0, le=9_223_372_036_854_775_807)]
IdList = Annotated[list[Str512], Field(max_length=10_000)]


class StrictBody(BaseModel):
    """Unknown keys are accepted (the SDK may grow fields) but every known one is type- and range-checked.

    Strictly: a JSON body's `"yes"`/`1` is not a boolean and `"5"` is not a number (HSS.0001), since
    lax coercion once turned `"operate_all": "yes"` into a scan of every image.
    """

    model_config = ConfigDict(extra="ignore", strict=True)


def _query_bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


#: A boolean query parameter as HSS documents it: `true` or `false`, nothing else ("yes", "1", "on").
QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


class LocalImageListFilters(BaseModel):
    """ListImageLocal's filters as query parameters; the route hands it to `ImageFilter.of` as is."""

    image_name: Str256 | None = None
    image_version: Str128 | None = None
    scan_status: ScanStatusParam | None = None
    local_image_type: LocalImageType | None = None
    image_size: NonNegBig | None = None
    start_latest_update_time: NonNegBig | None = None
    end_latest_update_time: NonNegBig | None = None
    start_latest_scan_time: NonNegBig | None = None
    end_latest_scan_time: NonNegBig | None = None
    has_vul: QueryBool | None = None
    host_name: Str64 | None = None
    host_id: Str64 | None = None
    host_ip: Str64 | None = None
    container_id: Str64 | None = None
    container_name: Str64 | None = None
    pod_id: Str64 | None = None
    pod_name: Str64 | None = None
    app_name: Str64 | None = None
    has_container: QueryBool | None = None


class LocalImageInfo(StrictBody):
    image_id: Str256 | None = None
    image_digest: Str256 | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None


class LocalImageBatchScanRequestBody(StrictBody):
    operate_all: bool | None = None
    image_info_list: Annotated[list[LocalImageInfo], Field(max_length=10_000)] | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None
    local_image_type: LocalImageType | None = None
    scan_status: ScanStatusParam | None = None
    image_size: NonNegBig | None = None
    start_latest_update_time: NonNegBig | None = None
    end_latest_update_time: NonNegBig | None = None
    start_latest_scan_time: NonNegBig | None = None
    end_latest_scan_time: NonNegBig | None = None


class ScanTaskQueryInfo(StrictBody):
    local_image_type: LocalImageType | None = None
    host_id: Str128 | None = None
    host_name: Str128 | None = None
    public_ip: Str128 | None = None
    private_ip: Str128 | None = None
    cluster_id: Str128 | None = None
    container_id: Str128 | None = None
    container_name: Str128 | None = None
    pod_id: Str64 | None = None
    pod_name: Str512 | None = None
    app_name: Str256 | None = None
    has_vul: bool | None = None
    namespace: Str256 | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None
    image_type: Literal["private_image", "shared_image", "instance_image", "harbor", "jfrog"] | None = None
    scan_status: ScanStatusParam | None = None
    image_size: NonNegBig | None = None
    start_latest_update_time: NonNegBig | None = None
    end_latest_update_time: NonNegBig | None = None
    start_latest_scan_time: NonNegBig | None = None
    end_latest_scan_time: NonNegBig | None = None


class ScanTaskImageInfo(StrictBody):
    id: Annotated[int, Field(ge=0, le=9_223_372_036_854_775_807)] | None = None
    image_id: Str256 | None = None
    image_digest: Str256 | None = None
    registry_id: Str256 | None = None
    registry_name: Str256 | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None
    namespace: Str256 | None = None
    instance_id: Str256 | None = None
    instance_url: Str512 | None = None
    registry_type: (
        Literal["SwrPrivate", "SwrShared", "SwrEnterprise", "Harbor", "Jfrog", "Other", "Local"] | None
    ) = None


class CreateManualImageScanTaskReqInfo(StrictBody):
    scan_scope: Annotated[int, Field(ge=0, le=0x7FFFFFFF)] | None = None
    rate_limit: Annotated[int, Field(ge=0, le=1000)] | None = None
    is_all: bool | None = None
    query_info: ScanTaskQueryInfo | None = None
    image_info: Annotated[list[ScanTaskImageInfo], Field(max_length=10_000)] | None = None


class BatchExportLocalVulInfoRequestInfo(StrictBody):
    image_id_list: IdList | None = None
    operate_all: bool | None = None
    vul_type: VulTypeParam | None = None
    handle_status: HandleStatus | None = None
    scan_status: ScanStatusAll | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None
    image_size: NonNegBig | None = None
    start_latest_update_time: NonNegBig | None = None
    end_latest_update_time: NonNegBig | None = None
    start_latest_scan_time: NonNegBig | None = None
    end_latest_scan_time: NonNegBig | None = None
    has_container: bool | None = None
    vul_id_list: IdList | None = None


class BatchExportLocalVulTaskResponse(BaseModel):
    record_total_num: int
    task_id: str


class ExportImageSecurityReportTaskRequestInfo(StrictBody):
    export_size: Annotated[int, Field(ge=1, le=2_147_483_647)]
    security_report_type: Literal[
        "malwares", "apps", "files", "sensitive-info", "non-compliant-app", "build-command-risks"
    ]
    image_id_list: IdList | None = None
    operate_all: bool
    image_type: (
        Literal["private_image", "shared_image", "local_image", "instance_image", "harbor", "jfrog", "cicd"]
        | None
    ) = None
    scan_status: (
        Literal["unscan", "success", "scanning", "failed", "download_failed", "image_oversized"] | None
    ) = None
    namespace: Str256 | None = None
    image_name: Str256 | None = None
    image_version: Str256 | None = None
    image_id: Str256 | None = None
    latest_version: bool | None = None
    image_size: NonNegBig | None = None
    start_latest_update_time: NonNegBig | None = None
    end_latest_update_time: NonNegBig | None = None
    start_latest_scan_time: NonNegBig | None = None
    end_latest_scan_time: NonNegBig | None = None
    has_malicious_file: bool | None = None
    has_vul: bool | None = None
    has_unsafe_setting: bool | None = None
    risky: bool | None = None
    severity_level: Literal["Security", "Low", "Medium", "High"] | None = None
    instance_name: Str256 | None = None
    cicd_name: Str256 | None = None
    build_command_risk_level: Literal["critical", "high", "medium", "low"] | None = None
    build_command_risk_name: Str256 | None = None
    build_command_rule_id_list: IdList | None = None


class ExportImageSecurityReportTaskResponse(BaseModel):
    task_id: str


class ListQueryExportTaskResponse(BaseModel):
    task_id: str
    task_name: str
    task_status: str
    file_id: str
    file_name: str


class ImageLocalInfo(BaseModel):
    image_name: str
    image_id: str
    image_digest: str
    image_version: str
    local_image_type: str
    scan_status: str
    image_size: int
    latest_update_time: int
    latest_scan_time: int
    vul_num: int
    unsafe_setting_num: int
    malicious_file_num: int
    host_num: int
    container_num: int
    component_num: int
    scan_failed_desc: str
    severity_level: str
    host_name: str
    host_id: str
    agent_id: str
    non_scan_reason: str


class ListImageLocalResponse(BaseModel):
    total_num: int
    data_list: list[ImageLocalInfo]


class LocalImageHostInfo(BaseModel):
    agent_id: str
    agent_status: str
    host_name: str
    host_id: str
    version: str
    private_ip: str
    public_ip: str
    docker_name: str
    docker_type: str


class ListLocalImageHostsResponse(BaseModel):
    total_num: int
    data_list: list[LocalImageHostInfo]


class LocalImageContainerInfo(BaseModel):
    agent_id: str
    container_name: str
    container_id: str
    host_id: str
    host_name: str
    pod_id: str
    pod_name: str
    private_ip: str
    public_ip: str
    entry_point: str


class ListLocalImageContainersResponse(BaseModel):
    total_num: int
    data_list: list[LocalImageContainerInfo]


class ImageVulInfo(BaseModel):
    vul_id: str
    repair_necessity: str
    description: str
    position: str
    app_name: str
    app_path: str
    version: str
    solution: str
    url: str
    # Additive (not HSS): README "Severity" and "Prioritisation".
    severity_source: str = Field("", description="Who rated the severity; `none` when no source scores it")
    cvss_score: float | None = None
    epss: float | None = Field(None, description="EPSS probability of exploitation (0–1)")
    epss_percentile: float | None = None
    epss_date: str = ""
    kev: bool = Field(False, description="Listed in CISA's Known Exploited Vulnerabilities catalogue")
    kev_date_added: str = ""
    kev_due_date: str = ""


class AdvisoryFeedInfo(BaseModel):
    """openhss extension: one advisory feed behind a coverage entry."""

    name: str
    records: int
    age_seconds: int


class AdvisoryCoverageInfo(BaseModel):
    """openhss extension: whether the advisory DB covers one OS release / ecosystem of the image."""

    kind: Literal["os", "ecosystem", "unidentified"]
    ecosystem: str
    release: str
    packages: int
    covered: bool
    records: int
    feeds: list[AdvisoryFeedInfo]
    unchecked_count: int = Field(description="Packages of this entry never checked against advisories")
    unchecked: list[str] = Field(description="Up to 200 of them, as 'name version'")
    note: str


class ExplainRecordInfo(BaseModel):
    """openhss extension: one advisory record and how the installed version compares with it."""

    advisory_id: str
    feed: str
    key: str = Field(description="ecosystem[:release]/name the record was looked up under")
    status: str
    ranges: str
    compared: str
    affected: bool
    fixed_version: str
    reason: str


class ExplainPackageInfo(BaseModel):
    name: str
    version: str
    ecosystem: str
    type: str
    purl: str
    owner: str = Field(description="OS package that installed it (`deb:NAME`), empty when none")


class ExplainInfo(BaseModel):
    """openhss extension: file → package (and owner) → advisory records and feeds → comparison → verdict."""

    vul_id: str
    file: str
    layer_digest: str
    package: ExplainPackageInfo
    route: str
    records: list[ExplainRecordInfo]
    ignored_records: list[ExplainRecordInfo] = Field(
        description="Upstream records not applied because the OS package manager owns the package"
    )
    verdict: Literal["affected", "fixed", "backported", "not-affected", "unchecked", "whitelisted"]
    detail: str


class ExplainHandlingInfo(BaseModel):
    status: str
    operate_type: str
    whitelist_id: str


class ExplainImageVulnerabilityResponse(BaseModel):
    """openhss extension: why a vulnerability is (or is not) reported for an image."""

    vul_id: str
    handling: ExplainHandlingInfo | None
    total_num: int
    data_list: list[ExplainInfo]


class ListImageVulnerabilitiesResponse(BaseModel):
    total_num: int
    data_list: list[ImageVulInfo]
    #: openhss extension (additive): advisory coverage of the image's latest scan, computed against the
    #: advisory DB as it is now. An empty data_list means "clean" only where every entry is covered.
    coverage: list[AdvisoryCoverageInfo] | None = Field(
        default=None,
        description="openhss extension: per OS release / ecosystem of the image, whether the advisory "
        "database covers it and which packages were therefore not checked (absent: never scanned)",
    )
    unchecked_num: int | None = Field(
        default=None, description="openhss extension: packages of the image no loaded advisory feed covers"
    )


class CveInfo(BaseModel):
    cve_id: str
    cvss_score: float
    publish_time: int
    description: str


class GlobalVulInfo(BaseModel):
    vul_name: str
    vul_id: str
    repair_necessity: str
    decription: str
    description: str
    solution: str
    url: str
    history_number: int
    undeal_number: int
    data_list: list[CveInfo]


class ListGlobalVulnerabilitiesResponse(BaseModel):
    total_num: int
    data_list: list[GlobalVulInfo]


class VulRepoImagesTagInfo(BaseModel):
    tag_id: str
    tag_name: str
    size: int
    app_name: str


class VulRepoImageInfo(BaseModel):
    namespace: str
    image_id: str
    image_name: str
    app_name: str
    version: str
    tag_count: int
    image_type: str
    data_list: list[VulRepoImagesTagInfo]


class ListVulRepoImageResponse(BaseModel):
    total_num: int
    data_list: list[VulRepoImageInfo]


class ImageAppsInfo(BaseModel):
    app_name: str
    app_type: str
    app_version: str
    vul_num: int


class ListImageAppsResponse(BaseModel):
    total_num: int
    data_list: list[ImageAppsInfo]


class ImageFileInfo(BaseModel):
    file_name: str
    file_path: str
    size: int


class ListImageFilesResponse(BaseModel):
    total_num: int
    data_list: list[ImageFileInfo]


class ImageMalwareInfo(BaseModel):
    file_name: str
    file_path: str
    size: int
    description: str


class ListImageMalwareResponse(BaseModel):
    total_num: int
    data_list: list[ImageMalwareInfo]


class ImageSensitiveInfo(BaseModel):
    sensitive_info_id: str
    severity: str
    name: str
    description: str
    position: str
    file_path: str
    content: str
    latest_scan_time: int
    handle_status: str
    operate_accept: str


class ListImageSensitiveResponse(BaseModel):
    total_num: int
    data_list: list[ImageSensitiveInfo]


class ImageNonCompliantAppInfo(BaseModel):
    id: str
    app_name: str
    app_path: str
    app_version: str
    layer_digest: str


class ListImageNonCompliantAppResponse(BaseModel):
    total_num: int
    data_list: list[ImageNonCompliantAppInfo]


class ImageBuildCommandRiskResponseInfo(BaseModel):
    latest_scan_time: int
    image_num: int
    risk_id: str
    rule_id: str
    risk_name: str
    risk_level: str
    description: str
    image_type: str


class ListImageBuildCommandRisksResponse(BaseModel):
    total_num: int
    data_list: list[ImageBuildCommandRiskResponseInfo]


class ImageScanTaskInfoFailedImages(BaseModel):
    id: int
    registry_id: str
    registry_name: str
    image_name: str
    image_version: str
    namespace: str
    registry_type: str
    failed_reason: str


class ImageScanTaskInfo(BaseModel):
    task_id: str
    policy_id: str
    task_name: str
    begin_time: int
    end_time: int
    remain_min: int
    task_type: str
    image_type: str
    task_status: int
    scan_scope: int
    rate_limit: int
    is_all: bool
    failed_num: int
    success_num: int
    total_num: int
    risky_num: int
    sync_task_type: str
    failed_reason: str
    failed_images: list[ImageScanTaskInfoFailedImages]


class ListImageScanTaskResponse(BaseModel):
    data_list: list[ImageScanTaskInfo]
    total_num: int


class HandleVulDataList(StrictBody):
    vul_id: Str128 | None = None
    image_id_list: IdList | None = None


class HandleImageDataList(StrictBody):
    image_id: Str512 | None = None
    vul_id_list: IdList | None = None


class HandleImageVulnerabilityRequestBody(StrictBody):
    image_type: Literal["local", "registry", "cicd"]
    type: VulTypeParam
    operate_type: Literal["ignore", "not_ignore", "manual_repair", "add_to_whitelist"]
    handle_status: HandleStatus | None = None
    select_type: Literal[
        "all_vul", "specific_image_all_vul", "specific_vul_all_image", "vul_view", "image_view"
    ]
    image_id_list: IdList | None = None
    vul_id_list: IdList | None = None
    vul_data_list: Annotated[list[HandleVulDataList], Field(max_length=10_000)] | None = None
    image_data_list: Annotated[list[HandleImageDataList], Field(max_length=10_000)] | None = None
    remark: Str512 | None = None
    # Additive (openhss): the VEX statement this verdict records.
    justification: (
        Annotated[str, Field(max_length=64, description="OpenVEX/CycloneDX justification.")] | None
    ) = None
    expires_at: (
        Annotated[int, Field(ge=1, le=32_503_680_000_000, description="Epoch ms the verdict lapses.")] | None
    ) = None


class EmptyResponse(BaseModel):
    pass


# --- image vulnerability whitelist (spec §4.6) ------------------------------------------------------------

GlobalImageType = Literal["local", "registry"]
WhitelistType = Literal["vulnerability"]
WhitelistRuleType = Literal["all_images", "specific_image_types", "specific_images"]
RegistryFlavour = Literal["private_image", "shared_image", "instance_image", "harbor", "jfrog"]


class AddImageWhiteListsRequestBodyQueryInfo(StrictBody):
    #: Several registry flavours are sent comma-separated (HSS returns them the same way).
    image_type: Annotated[str, Field(max_length=256, pattern=r"^[a-z_]+(,[a-z_]+)*$")] | None = None


class AddImageWhiteListsRequestBodyImageInfo(StrictBody):
    id: Annotated[int, Field(ge=1, le=9_223_372_036_854_775_807)] | None = None
    #: HSS documents 64 characters (a bare hex id); ours carry the "sha256:" prefix, as the lists show.
    image_id: Str256 | None = None
    image_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    image_type: (
        Literal["local_image", "private_image", "shared_image", "instance_image", "harbor", "jfrog"] | None
    ) = None


class AddImageWhiteListsRequestBody(StrictBody):
    vul_type: VulTypeParam | None = None
    vul_ids: Annotated[list[Str256], Field(max_length=1000)] | None = None
    rule_type: WhitelistRuleType
    query_info: AddImageWhiteListsRequestBodyQueryInfo | None = None
    image_info: Annotated[list[AddImageWhiteListsRequestBodyImageInfo], Field(max_length=1000)] | None = None
    description: Annotated[str, Field(max_length=1024)] | None = None


class ChangeImageWhiteListRequestBody(StrictBody):
    rule_type: WhitelistRuleType | None = None
    query_info: AddImageWhiteListsRequestBodyQueryInfo | None = None
    image_info: Annotated[list[AddImageWhiteListsRequestBodyImageInfo], Field(max_length=1000)] | None = None
    description: Annotated[str, Field(max_length=1024)] | None = None


class DeleteImageWhiteListsRequestBody(StrictBody):
    ids: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=1000)] | None
    ) = None


class ImageWhiteListDetailResponseInfoCves(BaseModel):
    cve_id: str
    cvss: float


class ImageWhiteListDetailResponseInfoQueryInfo(BaseModel):
    image_type: str


class ImageWhiteListDetailResponseInfoImageInfo(BaseModel):
    id: int | None = None
    image_id: str | None = None
    image_name: str | None = None


class ImageWhiteListDetailResponseInfo(BaseModel):
    id: str
    vul_id: str
    vul_name: str
    vul_type: str
    cves: list[ImageWhiteListDetailResponseInfoCves]
    rule_type: str
    query_info: ImageWhiteListDetailResponseInfoQueryInfo
    image_info: list[ImageWhiteListDetailResponseInfoImageInfo]
    description: str


class ListImageWhiteListsResponse(BaseModel):
    total_num: int
    data_list: list[ImageWhiteListDetailResponseInfo]


class ShowImageWhiteListDetailResponse(ImageWhiteListDetailResponseInfo):
    pass


# --- sensitive information, handle history, the global image vulnerability list --------------------------


class ChangeSensitiveInfoRequestInfo(StrictBody):
    sensitive_info_id: Annotated[str, Field(max_length=128)]
    operate_type: Literal["ignore", "do_not_ignore"] = "do_not_ignore"


class GeneralImageVulOperationsResponseInfo(BaseModel):
    image_id: str
    image_name: str
    user_name: str
    handle_time: int
    handle_type: str
    status: str
    app_name: str
    app_version: str
    app_path: str
    remark: str
    image_digest: str
    image_version: str
    agent_id: str


class ListGeneralImageVulOperationsResponse(BaseModel):
    total_num: int
    data_list: list[GeneralImageVulOperationsResponseInfo]


class GeneralImageVulsResponseInfoCveList(BaseModel):
    cve_id: str
    cvss: float


class GeneralImageVulsResponseInfo(BaseModel):
    vul_name: str
    vul_id: str
    type: str
    image_type: str
    label_list: list[str]
    severity_level: str
    image_num: int
    cve_list: list[GeneralImageVulsResponseInfoCveList]
    max_cvss_score: float
    scan_time: int
    description: str
    url: str
    solution_detail: str
    cluster_num: int


class ListGeneralImageVulsResponse(BaseModel):
    total_num: int
    data_list: list[GeneralImageVulsResponseInfo]
