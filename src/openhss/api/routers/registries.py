"""`/v5/{project_id}/image/registries...` (spec §4.7), image sync tasks and the CI/CD image list.

Registered before the image router, so the literal `/image/registries/images` and `/image/cicd/images`
win over `/image/{vul_id}/images` (spec Appendix B). No response model has a password field: the
registry password goes in, encrypted, and never comes back out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from openhss.api import schemas as s
from openhss.api.deps import Ctx, OperatorPrincipal, ProjectScope, UnitOfWork
from openhss.api.routers.agent import parse_upload
from openhss.api.rows import wire
from openhss.api.schemas import Limit, Offset, StrictBody
from openhss.db.engine import transaction
from openhss.db.models import Image, Registry
from openhss.domain.errors import InvalidRequest
from openhss.scan.refs import _HOST_RE
from openhss.services import cicd, registries, registry_images
from openhss.services.registries import RegistryFields

router = APIRouter(prefix="/v5/{project_id}/image", tags=["image registries"])
T = TypeVar("T")

RegistryType = Literal["Harbor", "Jfrog", "SwrPrivate", "SwrShared", "SwrEnterprise", "Other"]
ApiVersion = Literal["V1", "V2"]
Protocol = Literal["http", "https"]
ScanChannel = Literal["Swr", "Other"]
Region = Annotated[str | None, Header(max_length=64)]
Q128 = Annotated[str | None, Query(max_length=128)]
Q256 = Annotated[str | None, Query(max_length=256)]
BigQ = Annotated[int | None, Query(ge=0, le=9_223_372_036_854_775_807)]
RegistryIdPath = Annotated[str, Path(min_length=1, max_length=64)]
Name128 = Annotated[str, Field(min_length=1, max_length=128)]
Addr = Annotated[str, Field(min_length=1, max_length=256)]
Id64 = Annotated[str, Field(min_length=1, max_length=64)]
Pem = Annotated[str, Field(max_length=256 * 1024)]


def _check_addr(value: str | None) -> str | None:
    if value is not None and not _HOST_RE.match(value):
        raise ValueError("registry_addr must be host[:port] without scheme or path, e.g. myharbor.com")
    return value


def _check_pem(value: str | None) -> str | None:
    if value and "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("ca_cert must be a PEM certificate bundle")
    return value


class AddRegistryRequestBody(StrictBody):
    registry_name: Name128
    registry_type: RegistryType
    api_version: ApiVersion
    protocol: Protocol
    registry_addr: Addr
    registry_username: Name128
    registry_password: Name128 = Field(repr=False)
    namespace: Name128 | None = None
    connect_cluster_id: Id64
    get_scan_image_channel: ScanChannel
    #: Extensions (not in the HSS body): a CA bundle for the registry's TLS, and latest-tag-only sync.
    ca_cert: Pem | None = None
    latest_version_only: bool | None = None

    _addr = field_validator("registry_addr")(_check_addr)
    _pem = field_validator("ca_cert")(_check_pem)


class UpdateRegistryRequestBody(StrictBody):
    api_version: ApiVersion | None = None
    protocol: Protocol | None = None
    registry_addr: Addr | None = None
    registry_username: Name128 | None = None
    registry_password: Name128 | None = Field(default=None, repr=False)
    namespace: Name128 | None = None
    connect_cluster_id: Id64 | None = None
    get_scan_image_channel: ScanChannel | None = None
    ca_cert: Pem | None = None
    latest_version_only: bool | None = None

    _addr = field_validator("registry_addr")(_check_addr)
    _pem = field_validator("ca_cert")(_check_pem)


class BatchDeleteRegistryRequestBody(StrictBody):
    ids: Annotated[list[Id64], Field(min_length=1, max_length=100)]


class SyncRegistryInfo(StrictBody):
    registry_id: Id64 | None = None
    registry_type: RegistryType | None = None


class CreateImageSynchronizeTaskRequestInfo(StrictBody):
    sync_all_registries: bool
    registry_info: Annotated[list[SyncRegistryInfo], Field(max_length=100)] | None = None


class RegistryInfo(BaseModel):
    id: str
    registry_name: str
    registry_type: str
    api_version: str
    protocol: str
    registry_addr: str
    registry_username: str
    namespace: str
    connect_cluster_id: str
    get_scan_image_channel: str
    status: str
    fail_reason: str
    images_num: int
    latest_sync_time: int


class ListRegistryResponse(BaseModel):
    data_list: list[RegistryInfo]
    total_num: int


class ListRegistryStatisticsResponse(BaseModel):
    fail_num: int
    success_num: int


class AssociateImagesInfo(BaseModel):
    """One platform image of a multi-architecture registry image (SDK `AssociateImagesInfo`)."""

    id: int
    image_id: str
    image_name: str
    image_version: str
    image_type: str
    namespace: str
    image_digest: str
    scan_status: str
    vul_num: int
    unsafe_setting_num: int
    malicious_file_num: int


class RegistryImagesInfo(BaseModel):
    id: int
    namespace: str
    image_name: str
    image_id: str
    image_digest: str
    image_version: str
    image_type: str
    registry_id: str
    registry_name: str
    registry_type: str
    latest_version: bool
    scan_status: str
    scan_failed_desc: str
    scan_failed_code: str
    image_size: int
    latest_update_time: int
    latest_scan_time: int
    latest_sync_time: int
    vul_num: int
    unsafe_setting_num: int
    malicious_file_num: int
    domain_name: str = ""
    shared_status: str = ""
    scannable: bool
    is_multiple_arch: bool
    instance_name: str = ""
    instance_id: str = ""
    instance_url: str = ""
    severity_level: str
    association_images: list[AssociateImagesInfo] = []


class ListRegistryImagesResponse(BaseModel):
    total_num: int
    data_list: list[RegistryImagesInfo]


class CICDImageResponseInfo(BaseModel):
    image_id: str
    cicd_name: str
    namespace: str
    image_name: str
    image_digest: str
    image_version: str
    registry_name: str
    image_type: str
    registry_type: str
    latest_version: bool
    scan_status: str
    scan_failed_desc: str
    scan_failed_code: str
    image_size: int
    latest_update_time: int
    latest_scan_time: int
    vul_num: int
    unsafe_setting_num: int
    malicious_file_num: int
    severity_level: str
    pipeline_type: str = ""


class ListCicdImagesResponse(BaseModel):
    total_num: int
    data_list: list[CICDImageResponseInfo]


async def _run(ctx: Ctx, fn: Callable[[Session], T]) -> T:
    """A transaction of its own, for the two routes that cannot be one plain unit of work: the upload
    reads its body asynchronously, and an update must not hold a transaction over the connectivity
    check between reading the registry and writing it."""

    def work() -> T:
        with transaction(ctx.sessions) as session:
            return fn(session)

    return await run_in_threadpool(work)


def _info(r: Registry) -> RegistryInfo:
    return wire(RegistryInfo, r, id=r.registry_id)


def _associate(img: Image, arch: registry_images.ArchImageView) -> AssociateImagesInfo:
    """A platform image as HSS shows it: the parent's name, tag and registry, its own manifest digest
    (whose hex is its id, 64 characters as the SDK bounds it), and the parent's scan if it was scanned."""
    return AssociateImagesInfo(
        id=arch.id,
        image_id=arch.digest.partition(":")[2][:64] or arch.digest[:64],
        image_name=img.image_name,
        image_version=img.image_version,
        image_type=registries.IMAGE_TYPE_OF.get(img.registry_type, "other"),
        namespace=img.organization,
        image_digest=arch.digest,
        scan_status=img.scan_status if arch.scanned else "unscan",
        vul_num=img.vul_num if arch.scanned else 0,
        unsafe_setting_num=img.unsafe_setting_num if arch.scanned else 0,
        malicious_file_num=img.malicious_file_num if arch.scanned else 0,
    )


def _types(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    out = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in out if t not in registries.REGISTRY_TYPES]
    if bad:
        choices = ", ".join(registries.REGISTRY_TYPES)
        raise InvalidRequest(f"invalid parameter registry_type: {bad[0]!r} is not one of {choices}")
    return out


# --- literal routes first ----------------------------------------------------------------------------


@router.post("/registries", response_model=s.EmptyResponse, summary="AddRegistry")
def add_registry(
    scope: ProjectScope, ctx: Ctx, session: UnitOfWork, _op: OperatorPrincipal, body: AddRegistryRequestBody
) -> s.EmptyResponse:
    fields = RegistryFields(**body.model_dump())
    conn = registries.pending_connection(ctx.settings, ctx.box, fields)
    registries.check_connectivity(ctx.settings, conn)

    registries.add_registry(session, ctx.box, scope, fields)
    return s.EmptyResponse()


@router.get("/registries", response_model=ListRegistryResponse, summary="ListRegistry")
def list_registry(
    scope: ProjectScope,
    session: UnitOfWork,
    offset: Offset = 0,
    limit: Limit = 10,
    registry_name: Q128 = None,
    registry_id: Annotated[str | None, Query(max_length=64)] = None,
    registry_type: Q256 = None,
    registry_addr: Q256 = None,
    status: Annotated[Literal["success", "fail", "accessing"] | None, Query()] = None,
) -> ListRegistryResponse:
    query = registries.RegistryQuery(registry_name, registry_id, _types(registry_type), registry_addr, status)

    total, rows = registries.list_registries(session, scope, query, offset, limit)
    return ListRegistryResponse(total_num=total, data_list=[_info(r) for r in rows])


@router.post("/registries/batch-delete", response_model=s.EmptyResponse, summary="BatchDeleteRegistry")
def batch_delete_registry(
    scope: ProjectScope, session: UnitOfWork, _op: OperatorPrincipal, body: BatchDeleteRegistryRequestBody
) -> s.EmptyResponse:
    registries.delete_registries(session, scope, body.ids)
    return s.EmptyResponse()


@router.get(
    "/registries/statistics", response_model=ListRegistryStatisticsResponse, summary="ListRegistryStatistics"
)
def list_registry_statistics(
    scope: ProjectScope, session: UnitOfWork, registry_type: Q256 = None
) -> ListRegistryStatisticsResponse:
    types = _types(registry_type)

    ok, failed = registries.statistics(session, scope, types)
    return ListRegistryStatisticsResponse(fail_num=failed, success_num=ok)


@router.get("/registries/images", response_model=ListRegistryImagesResponse, summary="ListRegistryImages")
def list_registry_images(
    scope: ProjectScope,
    session: UnitOfWork,
    namespace: Q128 = None,
    image_name: Q128 = None,
    image_version: Annotated[str | None, Query(max_length=64)] = None,
    registry_name: Q128 = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    image_type: Annotated[
        Literal["private_image", "shared_image", "instance_image", "harbor", "jfrog", "other"] | None, Query()
    ] = None,
    sort_key: Annotated[Literal["latest_scan_time"] | None, Query()] = None,
    sort_dir: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    latest_version: s.QueryBool | None = None,
    image_size: Annotated[int | None, Query(ge=0, le=2_147_483_547)] = None,
    scan_status: Annotated[s.ScanStatusParam | None, Query()] = None,
    start_latest_update_time: BigQ = None,
    end_latest_update_time: BigQ = None,
    start_latest_scan_time: BigQ = None,
    end_latest_scan_time: BigQ = None,
    start_latest_sync_time: BigQ = None,
    end_latest_sync_time: BigQ = None,
    has_malicious_file: s.QueryBool | None = None,
    has_unsafe_setting: s.QueryBool | None = None,
    has_vul: s.QueryBool | None = None,
    risky: s.QueryBool | None = None,
    instance_id: Q128 = None,
    instance_name: Q128 = None,
    is_multarch: s.QueryBool | None = None,
    severity_level: Annotated[Literal["Security", "Low", "Medium", "High"] | None, Query()] = None,
) -> ListRegistryImagesResponse:
    query = registry_images.RegistryImageQuery(
        namespace=namespace,
        image_name=image_name,
        image_version=image_version,
        registry_name=registry_name,
        registry_type=registries.REGISTRY_TYPE_OF.get(image_type) if image_type else None,
        latest_version=latest_version,
        image_size=image_size,
        scan_status=scan_status,
        start_latest_update_time=start_latest_update_time,
        end_latest_update_time=end_latest_update_time,
        start_latest_scan_time=start_latest_scan_time,
        end_latest_scan_time=end_latest_scan_time,
        start_latest_sync_time=start_latest_sync_time,
        end_latest_sync_time=end_latest_sync_time,
        has_malicious_file=has_malicious_file,
        has_unsafe_setting=has_unsafe_setting,
        has_vul=has_vul,
        risky=risky,
        is_multi_arch=is_multarch,
        severity_level=severity_level,
        sort_desc=sort_dir == "desc" if sort_key else None,
    )

    total, rows = registry_images.list_registry_images(session, scope, query, offset, limit)
    archs = registry_images.association_images(session, [img.id for img, _ri, _reg in rows])
    return ListRegistryImagesResponse(
        total_num=total,
        data_list=[
            RegistryImagesInfo(
                id=img.id,
                namespace=img.organization,
                image_name=img.image_name,
                image_id=img.image_id,
                image_digest=img.image_digest,
                image_version=img.image_version,
                image_type=registries.IMAGE_TYPE_OF.get(img.registry_type, "other"),
                registry_id=reg.registry_id,
                registry_name=reg.registry_name,
                registry_type=reg.registry_type,
                latest_version=ri.latest_version,
                scan_status=img.scan_status,
                scan_failed_desc=img.scan_failed_desc,
                scan_failed_code=img.scan_failed_desc,
                image_size=img.image_size,
                latest_update_time=img.latest_update_time,
                latest_scan_time=img.latest_scan_time,
                latest_sync_time=ri.latest_sync_time,
                vul_num=img.vul_num,
                unsafe_setting_num=img.unsafe_setting_num,
                malicious_file_num=img.malicious_file_num,
                scannable=True,
                is_multiple_arch=img.is_multi_arch,
                severity_level=img.severity_level,
                association_images=[_associate(img, a) for a in archs.get(img.id, [])],
            )
            for img, ri, reg in rows
        ],
    )


@router.get("/cicd/images", response_model=ListCicdImagesResponse, summary="ListCicdImages")
def list_cicd_images(
    scope: ProjectScope,
    session: UnitOfWork,
    namespace: Q128 = None,
    image_name: Q128 = None,
    image_version: Annotated[str | None, Query(max_length=64)] = None,
    sort_key: Annotated[Literal["latest_scan_time"] | None, Query()] = None,
    sort_dir: Annotated[Literal["asc", "desc"] | None, Query()] = None,
    limit: Limit = 10,
    offset: Offset = 0,
    image_id: Q128 = None,
    cicd_name: Q128 = None,
    latest_version: s.QueryBool | None = None,
    image_size: Annotated[int | None, Query(ge=0, le=2_147_483_547)] = None,
    scan_status: Annotated[s.ScanStatusParam | None, Query()] = None,
    start_latest_update_time: BigQ = None,
    end_latest_update_time: BigQ = None,
    start_latest_scan_time: BigQ = None,
    end_latest_scan_time: BigQ = None,
    has_malicious_file: s.QueryBool | None = None,
    has_unsafe_setting: s.QueryBool | None = None,
    has_vul: s.QueryBool | None = None,
    severity_level: Annotated[Literal["Security", "Low", "Medium", "High"] | None, Query()] = None,
    risky: s.QueryBool | None = None,
    pipeline_type: Annotated[str | None, Query(max_length=32)] = None,
) -> ListCicdImagesResponse:
    query = registry_images.RegistryImageQuery(
        namespace=namespace,
        image_name=image_name,
        image_version=image_version,
        registry_name=cicd_name,
        image_id=image_id,
        image_size=image_size,
        scan_status=scan_status,
        start_latest_update_time=start_latest_update_time,
        end_latest_update_time=end_latest_update_time,
        start_latest_scan_time=start_latest_scan_time,
        end_latest_scan_time=end_latest_scan_time,
        has_malicious_file=has_malicious_file,
        has_unsafe_setting=has_unsafe_setting,
        has_vul=has_vul,
        risky=risky,
        severity_level=severity_level,
        sort_desc=sort_dir == "desc" if sort_key else None,
    )

    total, rows = registry_images.list_cicd_images(session, scope, query, offset, limit)
    return ListCicdImagesResponse(
        total_num=total,
        data_list=[
            CICDImageResponseInfo(
                image_id=img.image_id,
                cicd_name=img.registry_name,
                namespace=img.organization,
                image_name=img.image_name,
                image_digest=img.image_digest,
                image_version=img.image_version,
                registry_name=img.registry_name,
                image_type="cicd",
                registry_type=img.registry_type,
                latest_version=True,
                scan_status=img.scan_status,
                scan_failed_desc=img.scan_failed_desc,
                scan_failed_code=img.scan_failed_desc,
                image_size=img.image_size,
                latest_update_time=img.latest_update_time,
                latest_scan_time=img.latest_scan_time,
                vul_num=img.vul_num,
                unsafe_setting_num=img.unsafe_setting_num,
                malicious_file_num=img.malicious_file_num,
                severity_level=img.severity_level,
            )
            for img in rows
        ],
    )


class UploadCicdImageResponse(BaseModel):
    id: int
    image_id: str
    scan_status: str
    vul_num: int
    severity_level: str


@router.post("/cicd/images", response_model=UploadCicdImageResponse, summary="UploadCicdImageScan")
async def upload_cicd_image(
    scope: ProjectScope,
    ctx: Ctx,
    _op: OperatorPrincipal,
    request: Request,
    cicd_name: Annotated[str, Query(min_length=1, max_length=128)],
    image_name: Annotated[str, Query(min_length=1, max_length=128)],
    image_version: Annotated[str, Query(max_length=64)] = "",
    namespace: Annotated[str, Query(max_length=64)] = "",
) -> UploadCicdImageResponse:
    """Not an HSS API (additive): `openhss scan --upload` posts a `ScanUpload` here; the server matches."""
    upload = parse_upload(await request.body())

    def q(session: Session) -> UploadCicdImageResponse:
        img = cicd.record_upload(
            session, ctx.matchers, scope, cicd_name, image_name, image_version, namespace, upload
        )
        return UploadCicdImageResponse(
            id=img.id,
            image_id=img.image_id,
            scan_status=img.scan_status,
            vul_num=img.vul_num,
            severity_level=img.severity_level,
        )

    return await _run(ctx, q)


@router.post("/image-sync/tasks", response_model=s.EmptyResponse, summary="CreateImageSynchronizeTask")
def create_image_synchronize_task(
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    body: CreateImageSynchronizeTaskRequestInfo,
    region: Region = None,
) -> s.EmptyResponse:
    if not body.sync_all_registries and not body.registry_info:
        raise InvalidRequest("registry_info is required when sync_all_registries is false")
    ids = None
    if not body.sync_all_registries:
        ids = [r.registry_id for r in body.registry_info or [] if r.registry_id]
        if not ids:
            raise InvalidRequest("registry_info must name registries by registry_id")

    registries.queue_syncs(session, scope, ids)
    return s.EmptyResponse()


# --- parametric routes -------------------------------------------------------------------------------


@router.put("/registries/{id}", response_model=s.EmptyResponse, summary="UpdateRegistry")
async def update_registry(
    scope: ProjectScope,
    ctx: Ctx,
    _op: OperatorPrincipal,
    id: RegistryIdPath,
    body: UpdateRegistryRequestBody,
) -> s.EmptyResponse:
    fields = RegistryFields(**body.model_dump())

    def current(session: Session) -> registries.Connection:
        reg = registries.get_registry(session, scope, id)
        return registries.pending_connection(ctx.settings, ctx.box, fields, reg)

    conn = await _run(ctx, current)
    await run_in_threadpool(registries.check_connectivity, ctx.settings, conn)

    def q(session: Session) -> s.EmptyResponse:
        reg = registries.get_registry(session, scope, id)
        registries.update_registry(session, ctx.box, reg, fields)
        return s.EmptyResponse()

    return await _run(ctx, q)


@router.delete("/registries/{id}", response_model=s.EmptyResponse, summary="DeleteRegistry")
def delete_registry(
    scope: ProjectScope,
    session: UnitOfWork,
    _op: OperatorPrincipal,
    id: RegistryIdPath,
) -> s.EmptyResponse:
    registries.delete_registries(session, scope, [id])
    return s.EmptyResponse()
