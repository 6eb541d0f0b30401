"""Vulnerability queries answered from the inverted index (`vul_image_index`), never from a rescan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openhss.db.models import Image, VulImageIndex
from openhss.services.identity import Scope

#: The list filter says `local`, but each row reports `local_image` (spec §3.0 notes).
ROW_IMAGE_TYPE = {"local": "local_image", "registry": "registry", "cicd": "cicd", "cluster": "cluster"}


@dataclass(frozen=True, slots=True)
class VulAffectImagesFilter:
    vul_id: str
    vul_type: str
    image_type: str
    is_handled: bool
    repair_necessity: str | None = None
    image_id: str | None = None
    image_name: str | None = None
    registry_name: str | None = None
    registry_type: str | None = None
    status: str | None = None
    cluster_id: str | None = None


def _scoped(stmt: Select[VulImageIndex, Image], scope: Scope) -> Select[VulImageIndex, Image]:
    stmt = stmt.where(VulImageIndex.project_id == scope.project_id)
    if scope.enterprise_project_ids is not None:
        stmt = stmt.where(VulImageIndex.enterprise_project_id.in_(sorted(scope.enterprise_project_ids)))
    return stmt


def list_vul_affect_images(
    session: Session, scope: Scope, f: VulAffectImagesFilter, offset: int, limit: int
) -> tuple[int, list[tuple[VulImageIndex, Image]]]:
    stmt = _scoped(select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk), scope).where(
        VulImageIndex.vul_id == f.vul_id,
        VulImageIndex.vul_type == f.vul_type,
        VulImageIndex.image_type == f.image_type,
        VulImageIndex.handled.is_(f.is_handled),
    )
    if f.repair_necessity:
        stmt = stmt.where(VulImageIndex.repair_necessity == f.repair_necessity)
    if f.status:
        stmt = stmt.where(VulImageIndex.status == f.status)
    if f.image_id:
        stmt = stmt.where(Image.image_id == f.image_id)
    if f.image_name:
        stmt = stmt.where(Image.image_name.contains(f.image_name, autoescape=True))
    if f.registry_name:
        stmt = stmt.where(Image.registry_name == f.registry_name)
    if f.registry_type:
        stmt = stmt.where(Image.registry_type == f.registry_type)
    if f.cluster_id:
        stmt = stmt.where(Image.cluster_id == f.cluster_id)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(stmt.order_by(VulImageIndex.image_pk).offset(offset).limit(limit)).all()
    return total, list(rows)
