"""Listing registry images (with their registry and sync state) and CI/CD images."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from openhss.db.models import Image, Registry, RegistryImage, RegistryImageArch
from openhss.db.tenancy import scoped
from openhss.scan.image import Platform
from openhss.services.identity import Scope


@dataclass(frozen=True, slots=True)
class RegistryImageQuery:
    namespace: str | None = None
    image_name: str | None = None
    image_version: str | None = None
    registry_name: str | None = None
    registry_type: str | None = None
    image_id: str | None = None
    latest_version: bool | None = None
    image_size: int | None = None
    scan_status: str | None = None
    start_latest_update_time: int | None = None
    end_latest_update_time: int | None = None
    start_latest_scan_time: int | None = None
    end_latest_scan_time: int | None = None
    start_latest_sync_time: int | None = None
    end_latest_sync_time: int | None = None
    has_malicious_file: bool | None = None
    has_unsafe_setting: bool | None = None
    has_vul: bool | None = None
    risky: bool | None = None
    is_multi_arch: bool | None = None
    severity_level: str | None = None
    #: None = by id; True/False = by latest_scan_time descending/ascending.
    sort_desc: bool | None = None


def _image_conds(q: RegistryImageQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if q.namespace:
        conds.append(Image.organization == q.namespace)
    if q.image_name:
        conds.append(Image.image_name.contains(q.image_name, autoescape=True))
    if q.image_version:
        conds.append(Image.image_version == q.image_version)
    if q.registry_name:
        conds.append(Image.registry_name == q.registry_name)
    if q.registry_type:
        conds.append(Image.registry_type == q.registry_type)
    if q.image_id:
        conds.append(Image.image_id == q.image_id)
    if q.image_size is not None:
        conds.append(Image.image_size == q.image_size)
    if q.scan_status:
        conds.append(Image.scan_status == q.scan_status)
    if q.start_latest_update_time is not None:
        conds.append(Image.latest_update_time >= q.start_latest_update_time)
    if q.end_latest_update_time is not None:
        conds.append(Image.latest_update_time <= q.end_latest_update_time)
    if q.start_latest_scan_time is not None:
        conds.append(Image.latest_scan_time >= q.start_latest_scan_time)
    if q.end_latest_scan_time is not None:
        conds.append(Image.latest_scan_time <= q.end_latest_scan_time)
    if q.has_malicious_file is not None:
        conds.append(Image.malicious_file_num > 0 if q.has_malicious_file else Image.malicious_file_num == 0)
    if q.has_unsafe_setting is not None:
        conds.append(Image.unsafe_setting_num > 0 if q.has_unsafe_setting else Image.unsafe_setting_num == 0)
    if q.has_vul is not None:
        conds.append(Image.vul_num > 0 if q.has_vul else Image.vul_num == 0)
    if q.risky is not None:
        risky = or_(Image.vul_num > 0, Image.malicious_file_num > 0, Image.unsafe_setting_num > 0)
        conds.append(risky if q.risky else ~risky)
    if q.is_multi_arch is not None:
        conds.append(Image.is_multi_arch == q.is_multi_arch)
    if q.severity_level:
        conds.append(Image.severity_level == q.severity_level)
    return conds


def list_registry_images(
    session: Session, scope: Scope, q: RegistryImageQuery, offset: int, limit: int
) -> tuple[int, list[tuple[Image, RegistryImage, Registry]]]:
    stmt = scoped(
        select(Image, RegistryImage, Registry)
        .join(RegistryImage, RegistryImage.image_pk == Image.id)
        .join(Registry, Registry.id == RegistryImage.registry_pk)
        .where(Image.image_type == "registry", *_image_conds(q)),
        scope,
    )
    if q.latest_version is not None:
        stmt = stmt.where(RegistryImage.latest_version == q.latest_version)
    if q.start_latest_sync_time is not None:
        stmt = stmt.where(RegistryImage.latest_sync_time >= q.start_latest_sync_time)
    if q.end_latest_sync_time is not None:
        stmt = stmt.where(RegistryImage.latest_sync_time <= q.end_latest_sync_time)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ordered = stmt.order_by(Image.id)
    if q.sort_desc is not None:
        key = Image.latest_scan_time.desc() if q.sort_desc else Image.latest_scan_time.asc()
        ordered = stmt.order_by(key, Image.id)
    rows = session.execute(ordered.offset(offset).limit(limit)).all()
    return total, [(img, ri, reg) for img, ri, reg in rows]


def list_cicd_images(
    session: Session, scope: Scope, q: RegistryImageQuery, offset: int, limit: int
) -> tuple[int, list[Image]]:
    stmt = scoped(select(Image).where(Image.image_type == "cicd", *_image_conds(q)), scope)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ordered = stmt.order_by(Image.id)
    if q.sort_desc is not None:
        key = Image.latest_scan_time.desc() if q.sort_desc else Image.latest_scan_time.asc()
        ordered = stmt.order_by(key, Image.id)
    return total, list(session.scalars(ordered.offset(offset).limit(limit)))


@dataclass(frozen=True, slots=True)
class ArchImageView:
    """One platform image of a listed multi-arch image, with the scan state it has.

    A registry image is scanned for one platform, the one the scanner picks from the index (the
    default `Platform()`, linux/amd64): that platform image carries the row's scan status and counts,
    the others are `unscan` with no counts, which is what they are.
    """

    id: int
    digest: str
    platform: str
    scanned: bool


def association_images(session: Session, image_pks: list[int]) -> dict[int, list[ArchImageView]]:
    """The platform images of each multi-arch image in `image_pks` (one query for a page)."""
    out: dict[int, list[ArchImageView]] = {}
    if not image_pks:
        return out
    scanned_platform = Platform()
    rows = session.scalars(
        select(RegistryImageArch)
        .where(RegistryImageArch.image_pk.in_(image_pks))
        .order_by(RegistryImageArch.image_pk, RegistryImageArch.id)
    )
    for row in rows:
        views = out.setdefault(row.image_pk, [])
        platform = Platform(row.os, row.architecture, row.variant)
        # The scanner takes the first manifest matching its platform, so only that one was scanned.
        first_match = not any(v.scanned for v in views) and scanned_platform.matches(platform)
        views.append(ArchImageView(row.id, row.digest, str(platform), first_match))
    return out
