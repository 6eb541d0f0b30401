"""Vulnerability queries answered from the inverted index (`vul_image_index`), never from a rescan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import Session

from openhss.db.models import Image, ImageVulnerability, ImageVulOperation, VulImageIndex
from openhss.services.identity import Scope
from openhss.services.results import FIXED, IGNORED, UNFIXED, now_ms, refresh_summary

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
    image_side = any((f.image_id, f.image_name, f.registry_name, f.registry_type, f.cluster_id))
    if image_side:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        rows = session.execute(stmt.order_by(VulImageIndex.image_pk).offset(offset).limit(limit)).all()
        return total, list(rows)
    # Only index columns filter: count and page on the covering index, join images for the page alone.
    keys = stmt.with_only_columns(VulImageIndex.id, VulImageIndex.image_pk)
    total = session.scalar(select(func.count()).select_from(keys.order_by(None).subquery())) or 0
    page = [
        r.id for r in session.execute(keys.order_by(VulImageIndex.image_pk).offset(offset).limit(limit)).all()
    ]
    if not page:
        return total, []
    rows = session.execute(
        select(VulImageIndex, Image)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(VulImageIndex.id.in_(page))
        .order_by(VulImageIndex.image_pk)
    ).all()
    return total, list(rows)


#: Per-image and global lists speak repair urgency, not severity names.
URGENCY = {"Critical": "immediate_repair", "High": "immediate_repair", "Medium": "delay_repair"}
URGENCY_SEVERITIES = {
    "immediate_repair": ("Critical", "High"),
    "delay_repair": ("Medium",),
    "not_needed_repair": ("Low", "Unknown"),
}


def urgency(repair_necessity: str) -> str:
    return URGENCY.get(repair_necessity, "not_needed_repair")


@dataclass(frozen=True, slots=True)
class ImageVulFilter:
    repair_necessity: str | None = None
    vul_id: str | None = None
    app_name: str | None = None
    vul_type: str | None = None
    handle_status: str | None = None


def list_image_vulnerabilities(
    session: Session, image_pk: int, f: ImageVulFilter, offset: int, limit: int
) -> tuple[int, list[ImageVulnerability]]:
    stmt = select(ImageVulnerability).where(ImageVulnerability.image_pk == image_pk)
    if f.repair_necessity:
        stmt = stmt.where(ImageVulnerability.repair_necessity.in_(URGENCY_SEVERITIES[f.repair_necessity]))
    if f.vul_id:
        stmt = stmt.where(ImageVulnerability.vul_id.contains(f.vul_id, autoescape=True))
    if f.app_name:
        stmt = stmt.where(ImageVulnerability.app_name.contains(f.app_name, autoescape=True))
    if f.vul_type:
        stmt = stmt.where(ImageVulnerability.vul_type == f.vul_type)
    if f.handle_status == "unhandled":
        stmt = stmt.where(ImageVulnerability.status == UNFIXED)
    elif f.handle_status == "handled":
        stmt = stmt.where(ImageVulnerability.status != UNFIXED)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ImageVulnerability.severity_rank.desc(), ImageVulnerability.id)
        .offset(offset)
        .limit(limit)
    )
    return total, list(rows)


@dataclass(frozen=True, slots=True)
class GlobalVul:
    vul_id: str
    repair_necessity: str
    description: str
    history_number: int
    undeal_number: int
    cvss_score: float | None


def _index_scoped(scope: Scope) -> Select[str]:
    stmt = select(VulImageIndex.vul_id).where(VulImageIndex.project_id == scope.project_id)
    if scope.enterprise_project_ids is not None:
        stmt = stmt.where(VulImageIndex.enterprise_project_id.in_(sorted(scope.enterprise_project_ids)))
    return stmt


def list_global_vulnerabilities(
    session: Session,
    scope: Scope,
    repair_necessity: str | None,
    vul_id: str | None,
    vul_type: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[GlobalVul]]:
    """One row per vul_id over the scope's images, from the index (counts are per image)."""
    stmt = _index_scoped(scope)
    if vul_id:
        stmt = stmt.where(VulImageIndex.vul_id.contains(vul_id, autoescape=True))
    if vul_type:
        stmt = stmt.where(VulImageIndex.vul_type == vul_type)
    if repair_necessity:
        stmt = stmt.where(VulImageIndex.repair_necessity.in_(URGENCY_SEVERITIES[repair_necessity]))
    grouped = stmt.add_columns(
        func.max(VulImageIndex.repair_necessity),
        func.count(),
        func.sum(case((VulImageIndex.handled.is_(False), 1), else_=0)),
    ).group_by(VulImageIndex.vul_id)
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    rows = list(session.execute(grouped.order_by(VulImageIndex.vul_id).offset(offset).limit(limit)).all())
    details: dict[str, tuple[str, float | None, str]] = {}
    if rows:
        for vid, desc, score, sev in session.execute(
            select(
                ImageVulnerability.vul_id,
                func.max(ImageVulnerability.description),
                func.max(ImageVulnerability.cvss_score),
                func.max(ImageVulnerability.severity_rank),
            )
            .where(
                ImageVulnerability.project_id == scope.project_id,
                ImageVulnerability.vul_id.in_([r[0] for r in rows]),
            )
            .group_by(ImageVulnerability.vul_id)
        ).all():
            details[vid] = (desc or "", score, str(sev))
    out = []
    for vid, _sev, n, undealt in rows:
        desc, score, rank = details.get(vid, ("", None, "0"))
        sev_name = {"4": "Critical", "3": "High", "2": "Medium"}.get(rank, "Low")
        out.append(GlobalVul(vid, urgency(sev_name), desc, int(n), int(undealt or 0), score))
    return total, out


def list_vul_images(
    session: Session,
    scope: Scope,
    vul_id: str,
    namespace: str | None,
    image_name: str | None,
    image_id: str | None,
    app_name: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[Image, list[ImageVulnerability]]]]:
    """Images hit by `vul_id` (all image types), through the index, with the affected apps of each."""
    stmt = _scoped(select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk), scope).where(
        VulImageIndex.vul_id == vul_id
    )
    if namespace:
        stmt = stmt.where(Image.organization == namespace)
    if image_name:
        stmt = stmt.where(Image.image_name.contains(image_name, autoescape=True))
    if image_id:
        stmt = stmt.where(Image.image_id == image_id)
    if app_name:
        stmt = stmt.where(
            select(ImageVulnerability.id)
            .where(
                ImageVulnerability.image_pk == VulImageIndex.image_pk,
                ImageVulnerability.vul_id == vul_id,
                ImageVulnerability.app_name.contains(app_name, autoescape=True),
            )
            .exists()
        )
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    images = [
        img
        for _idx, img in session.execute(stmt.order_by(VulImageIndex.image_pk).offset(offset).limit(limit))
    ]
    hits: dict[int, list[ImageVulnerability]] = {}
    if images:
        for v in session.scalars(
            select(ImageVulnerability).where(
                ImageVulnerability.image_pk.in_([i.id for i in images]), ImageVulnerability.vul_id == vul_id
            )
        ):
            hits.setdefault(v.image_pk, []).append(v)
    return total, [(img, hits.get(img.id, [])) for img in images]


@dataclass(frozen=True, slots=True)
class HandleRequest:
    image_type: str
    vul_type: str
    operate_type: str
    select_type: str
    handle_status: str | None = None
    image_id_list: tuple[str, ...] = ()
    vul_id_list: tuple[str, ...] = ()
    vul_data: tuple[tuple[str, tuple[str, ...]], ...] = ()
    image_data: tuple[tuple[str, tuple[str, ...]], ...] = ()
    remark: str = ""


NEW_STATUS = {
    "ignore": IGNORED,
    "not_ignore": UNFIXED,
    "manual_repair": FIXED,
    "add_to_whitelist": IGNORED,
}


def handle(session: Session, scope: Scope, req: HandleRequest, user_name: str) -> int:
    """Apply a verdict to (image, vul) pairs, record it in the history and refresh image summaries.

    Returns how many (image, vul) pairs changed. `not_ignore` only reopens ignored pairs; the other
    operations act on the pairs currently in the `handle_status` the caller names (default unhandled).
    """
    stmt = _scoped(select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk), scope).where(
        VulImageIndex.vul_type == req.vul_type, VulImageIndex.image_type == req.image_type
    )
    if req.operate_type == "not_ignore":
        stmt = stmt.where(VulImageIndex.status == IGNORED)
    elif req.handle_status == "handled":
        stmt = stmt.where(VulImageIndex.handled.is_(True))
    else:
        stmt = stmt.where(VulImageIndex.handled.is_(False))
    pairs: set[tuple[str, str]] | None = None
    if req.select_type == "specific_image_all_vul":
        stmt = stmt.where(Image.image_id.in_(req.image_id_list))
    elif req.select_type == "specific_vul_all_image":
        stmt = stmt.where(VulImageIndex.vul_id.in_(req.vul_id_list))
    elif req.select_type == "vul_view":
        pairs = {(img, vid) for vid, imgs in req.vul_data for img in imgs}
        stmt = stmt.where(VulImageIndex.vul_id.in_({v for _i, v in pairs}))
    elif req.select_type == "image_view":
        pairs = {(img, vid) for img, vids in req.image_data for vid in vids}
        stmt = stmt.where(Image.image_id.in_({i for i, _v in pairs}))
    status = NEW_STATUS[req.operate_type]
    at = now_ms()
    touched: dict[int, Image] = {}
    changed = 0
    for idx, img in session.execute(stmt.with_for_update(of=VulImageIndex)).all():
        if pairs is not None and (img.image_id, idx.vul_id) not in pairs:
            continue
        idx.status = status
        idx.handled = status != UNFIXED
        touched[img.id] = img
        changed += 1
        session.add(
            ImageVulOperation(
                project_id=img.project_id,
                enterprise_project_id=img.enterprise_project_id,
                operate_type=req.operate_type,
                vul_id=idx.vul_id,
                vul_type=idx.vul_type,
                image_pk=img.id,
                image_id=img.image_id,
                user_name=user_name,
                remark=req.remark,
                operate_time=at,
            )
        )
        session.execute(
            update(ImageVulnerability)
            .where(ImageVulnerability.image_pk == img.id, ImageVulnerability.vul_id == idx.vul_id)
            .values(status=status)
        )
    session.flush()
    for img in touched.values():
        refresh_summary(session, img)
    return changed
