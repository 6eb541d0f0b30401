"""Vulnerability queries answered from the inverted index (`vul_image_index`), never from a rescan."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, case, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute, Session

from openhss.db.models import Image, ImageVulnerability, ImageVulOperation, VulImageIndex, VulIndexCount
from openhss.db.tenancy import scoped
from openhss.domain.enums import Severity
from openhss.domain.risk import SEVERITY_WEIGHT
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


#: The columns one VulAffectImagesResponseInfo row needs, read as plain rows (no ORM objects).
AFFECT_COLUMNS = (
    Image.image_id,
    Image.image_name,
    VulImageIndex.vul_id,
    VulImageIndex.repair_necessity,
    Image.container_num,
    Image.image_digest,
    Image.image_version,
    Image.agent_id,
    VulImageIndex.status,
    Image.first_scan_time,
    Image.latest_scan_time,
    Image.image_type,
    Image.image_size,
    Image.organization,
    Image.registry_type,
    Image.registry_name,
    Image.is_multi_arch,
    Image.cluster_id,
    Image.cluster_name,
)
#: A key with more appended count rows than this is folded into one row by the reader that sees it.
COMPACT_COUNT_ROWS = 32


def indexed_count(
    session: Session, scope: Scope, vul_id: str, vul_type: str, image_type: str, handled: bool
) -> int:
    """Exact number of index rows for one key, from the trigger-maintained `vul_index_counts`."""
    key = [
        VulIndexCount.vul_id == vul_id,
        VulIndexCount.vul_type == vul_type,
        VulIndexCount.image_type == image_type,
        VulIndexCount.handled.is_(handled),
    ]
    total, parts = session.execute(
        scoped(select(func.coalesce(func.sum(VulIndexCount.n), 0), func.count()).where(*key), scope)
    ).one()
    if parts > COMPACT_COUNT_ROWS:
        _compact(session, scope, key)
    return int(total)


def _compact(session: Session, scope: Scope, key: list[ColumnElement[bool]]) -> None:
    """Fold a key's rows into one per enterprise project. Safe under concurrency: each folder sums only
    the rows its own DELETE removed (row locks make those sets disjoint), so totals never change; a
    folder that loses a lock race (deadlock, busy SQLite) just leaves the rows for the next reader."""
    try:
        with session.begin_nested():
            folded: dict[tuple[str, str, str, str, str, bool], int] = {}
            for row in session.execute(
                scoped(delete(VulIndexCount).where(*key), scope).returning(
                    VulIndexCount.project_id,
                    VulIndexCount.enterprise_project_id,
                    VulIndexCount.vul_id,
                    VulIndexCount.vul_type,
                    VulIndexCount.image_type,
                    VulIndexCount.handled,
                    VulIndexCount.n,
                )
            ):
                k = (row[0], row[1], row[2], row[3], row[4], bool(row[5]))
                folded[k] = folded.get(k, 0) + int(row[6])
            values = [
                {
                    "project_id": k[0],
                    "enterprise_project_id": k[1],
                    "vul_id": k[2],
                    "vul_type": k[3],
                    "image_type": k[4],
                    "handled": k[5],
                    "n": n,
                }
                for k, n in folded.items()
                if n
            ]
            if values:
                session.execute(insert(VulIndexCount), values)
    except DBAPIError:
        return


#: Deep pages start from a remembered image at every ANCHOR_STEP-th position instead of walking the
#: index from the start (an index-only walk costs per entry skipped).
ANCHOR_STEP = 1000
_ANCHORS_KEPT = 256


@dataclass(frozen=True, slots=True)
class _Anchors:
    """image_pk at positions 0, ANCHOR_STEP, 2*ANCHOR_STEP, ... of one key's list, valid for `marker`.

    The marker is (number of count rows, highest count-row id) of the key in `vul_index_counts`: every
    committed change of the key's membership appends a row (or a fold replaces rows with a new, higher
    id), so an unchanged marker read in the same statement as a page proves the positions still hold.
    """

    marker: tuple[int, int]
    pks: tuple[int, ...]


_anchors: OrderedDict[tuple[object, ...], _Anchors] = OrderedDict()
_anchors_lock = threading.Lock()


def _remember(key: tuple[object, ...], anchors: _Anchors | None) -> None:
    with _anchors_lock:
        if anchors is None:
            _anchors.pop(key, None)
            return
        _anchors[key] = anchors
        _anchors.move_to_end(key)
        while len(_anchors) > _ANCHORS_KEPT:
            _anchors.popitem(last=False)


@dataclass(frozen=True, slots=True)
class AffectPage:
    total: int
    rows: list[Row[*tuple[Any, ...]]]
    #: How many count rows the key has; the caller folds them (`fold_counts`) when there are many.
    count_rows: int = 0


def list_vul_affect_images(
    session: Session, scope: Scope, f: VulAffectImagesFilter, offset: int, limit: int
) -> AffectPage:
    """Images hit by one vulnerability, in image order, as rows of `AFFECT_COLUMNS`.

    With only the key filters (the common case) one statement returns the total (from the trigger-kept
    `vul_index_counts`), the key's change marker and the page: an index-only walk of
    `ix_vul_image_page` from the nearest remembered anchor, joined to images for the page rows alone.
    """
    filters = affect_filters(f, scope)
    if filters:
        keys = scoped(
            select(VulImageIndex.image_pk).where(
                VulImageIndex.vul_id == f.vul_id,
                VulImageIndex.vul_type == f.vul_type,
                VulImageIndex.image_type == f.image_type,
                VulImageIndex.handled.is_(f.is_handled),
                *filters,
            ),
            scope,
        )
        # Exact, and from the same index as the page: on PostgreSQL both are index-only walks of the
        # key's range of `ix_vul_image_page`, whose INCLUDE columns answer every filter.
        total = session.scalar(select(func.count()).select_from(keys.subquery())) or 0
        if offset >= total:
            return AffectPage(total, [])
        return AffectPage(total, _page_rows(session, scope.project_id, f, keys, offset, limit, ()))

    eps = None if scope.enterprise_project_ids is None else tuple(sorted(scope.enterprise_project_ids))
    params: dict[str, Any] = {
        "p": scope.project_id,
        "v": f.vul_id,
        "t": f.vul_type,
        "it": f.image_type,
        "h": f.is_handled,
        "off": offset,
        "lim": limit,
    }
    if eps is not None:
        params["eps"] = list(eps)
    cache_key = (scope.project_id, eps, f.vul_id, f.vul_type, f.image_type, f.is_handled)
    # The one tenant read outside `db.tenancy.scoped`: prebuilt statements walk `ix_vul_image_page`
    # with the scope as its leading key (:p, :eps), on the Core connection for speed. The scope is
    # bound here from `scope` and nowhere else; `tests/security/test_isolation.py` attacks the route.
    conn = session.connection()
    anchors = _anchors.get(cache_key) if offset >= ANCHOR_STEP else None
    if offset >= ANCHOR_STEP and anchors is None:
        anchors = _build_anchors(session, eps is not None, params)
        _remember(cache_key, anchors)
    anchored = anchors is not None and bool(anchors.pks)
    if anchors is not None and anchors.pks:
        i = min(offset // ANCHOR_STEP, len(anchors.pks) - 1)
        params["start"] = anchors.pks[i]
        params["off"] = offset - i * ANCHOR_STEP
    page_stmt, marks_stmt = _fast_statements(eps is not None, anchored)
    rows = list(conn.execute(page_stmt, params).all())
    if rows:
        total, parts, top = rows[0][:3]
    else:
        total, parts, top = conn.execute(marks_stmt, params).one()
    if anchors is not None and anchors.marker != (int(parts), int(top)):
        _remember(cache_key, None)  # the list changed since the anchors were taken: walk afresh
        return list_vul_affect_images(session, scope, f, offset, limit)
    return AffectPage(int(total), rows, int(parts))


def affect_filters(f: VulAffectImagesFilter, scope: Scope) -> list[ColumnElement[bool]]:
    """The optional filters of ListVulAffectImages, all on `vul_image_index` columns (the image's
    attributes are trigger-kept copies there, migration 0019): membership never needs `images`.

    `image_id` names one image (a few across registries): its rows are found from the image's primary
    key through `uq_vul_image` instead of walking the key's whole range (`ix_images_project_image_id`)."""
    conds: list[ColumnElement[bool]] = []
    if f.image_id:
        conds.append(
            VulImageIndex.image_pk.in_(scoped(select(Image.id).where(Image.image_id == f.image_id), scope))
        )
    for column, value in (
        (VulImageIndex.repair_necessity, f.repair_necessity),
        (VulImageIndex.status, f.status),
        (VulImageIndex.image_id, f.image_id),
        (VulImageIndex.registry_name, f.registry_name),
        (VulImageIndex.registry_type, f.registry_type),
        (VulImageIndex.cluster_id, f.cluster_id),
    ):
        if value:
            conds.append(column == value)
    if f.image_name:
        conds.append(VulImageIndex.image_name.contains(f.image_name, autoescape=True))
    return conds


def _key(model: type[VulImageIndex] | type[VulIndexCount], with_eps: bool) -> list[ColumnElement[bool]]:
    conds = [
        model.project_id == bindparam("p"),
        model.vul_id == bindparam("v"),
        model.vul_type == bindparam("t"),
        model.image_type == bindparam("it"),
        model.handled == bindparam("h"),
    ]
    if with_eps:
        conds.append(model.enterprise_project_id.in_(bindparam("eps", expanding=True)))
    return conds


def _marks(with_eps: bool) -> tuple[Any, ...]:
    """Total, number of count rows and highest count-row id of the key (see `_Anchors`)."""
    counted = _key(VulIndexCount, with_eps)
    return (
        select(func.coalesce(func.sum(VulIndexCount.n), 0)).where(*counted).scalar_subquery().label("_total"),
        select(func.count()).select_from(VulIndexCount).where(*counted).scalar_subquery().label("_parts"),
        select(func.coalesce(func.max(VulIndexCount.id), 0)).where(*counted).scalar_subquery().label("_top"),
    )


@functools.cache
def _fast_statements(with_eps: bool, anchored: bool) -> tuple[Select[Any], Select[Any]]:
    """Built once: the page statement (marks + page rows) and the marks alone, all values bound."""
    marks = _marks(with_eps)
    keys = select(VulImageIndex.image_pk).where(*_key(VulImageIndex, with_eps))
    if anchored:
        keys = keys.where(VulImageIndex.image_pk >= bindparam("start"))
    page = keys.order_by(VulImageIndex.image_pk).offset(bindparam("off")).limit(bindparam("lim")).subquery()
    stmt = (
        select(*marks, *AFFECT_COLUMNS)
        .select_from(page)
        # (project, vul, type, image) is unique: exactly the index row the key walk found.
        .join(VulImageIndex, VulImageIndex.image_pk == page.c.image_pk)
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.project_id == bindparam("p"),
            VulImageIndex.vul_id == bindparam("v"),
            VulImageIndex.vul_type == bindparam("t"),
        )
        .order_by(VulImageIndex.image_pk)
    )
    return stmt, select(*marks)


def _build_anchors(session: Session, with_eps: bool, params: dict[str, Any]) -> _Anchors | None:
    ranked = select(
        VulImageIndex.image_pk, func.row_number().over(order_by=VulImageIndex.image_pk).label("rn")
    ).where(*_key(VulImageIndex, with_eps))
    sub = ranked.subquery()
    stmt = select(sub.c.image_pk, *_marks(with_eps)).where((sub.c.rn - 1) % ANCHOR_STEP == 0)
    found = session.connection().execute(stmt.order_by(sub.c.image_pk), params).all()
    if not found:
        return None
    return _Anchors((int(found[0][2]), int(found[0][3])), tuple(int(r[0]) for r in found))


def _page_rows(
    session: Session,
    project_id: str,
    f: VulAffectImagesFilter,
    keys: Select[*tuple[Any, ...]],
    offset: int,
    limit: int,
    extra: tuple[Any, ...],
) -> list[Row[*tuple[Any, ...]]]:
    """The page's image keys (an index-only walk), then the index and image rows of those keys only."""
    page = keys.order_by(VulImageIndex.image_pk).offset(offset).limit(limit).subquery()
    return list(
        session.execute(
            select(*extra, *AFFECT_COLUMNS)
            .select_from(page)
            # (project, vul, type, image) is unique: exactly the index row the key walk found.
            .join(VulImageIndex, VulImageIndex.image_pk == page.c.image_pk)
            .join(Image, Image.id == VulImageIndex.image_pk)
            .where(
                VulImageIndex.project_id == project_id,
                VulImageIndex.vul_id == f.vul_id,
                VulImageIndex.vul_type == f.vul_type,
            )
            .order_by(VulImageIndex.image_pk)
        ).all()
    )


def fold_counts(
    session: Session, scope: Scope, vul_id: str, vul_type: str, image_type: str, handled: bool
) -> None:
    """Fold one key's appended count rows (called by the API after a read reported many)."""
    key = [
        VulIndexCount.vul_id == vul_id,
        VulIndexCount.vul_type == vul_type,
        VulIndexCount.image_type == image_type,
        VulIndexCount.handled.is_(handled),
    ]
    _compact(session, scope, key)


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
    #: Additive (not HSS): only CISA KEV entries; only EPSS ≥ this; severity source (`none`: unrated,
    #: `nvd`, `cve5`, `alias`, `advisory`: the part before the first `:` of `severity_source`).
    kev: bool | None = None
    min_epss: float | None = None
    severity_source: str | None = None


def risk_order() -> tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]:
    """`domain.risk.risk_key` as SQL ORDER BY terms (KEV, EPSS × impact, severity, fixability, impact,
    then id, package and version), so a paged list agrees with the CLI and exports on what comes first."""
    v = ImageVulnerability
    weight = case(
        {s.rank: w for s, w in SEVERITY_WEIGHT.items()},
        value=v.severity_rank,
        else_=SEVERITY_WEIGHT[Severity.UNKNOWN],
    )
    impact = case((func.coalesce(v.cvss_score, 0) > 0, v.cvss_score), else_=weight)
    return (
        case((v.kev_date_added != "", 0), else_=1),
        (func.coalesce(v.epss, 0.0) * impact).desc(),
        v.severity_rank.desc(),
        case((v.fixed_version != "", 0), else_=1),
        impact.desc(),
        v.vul_id,
        v.app_name,
        v.app_version,
        v.id,
    )


def list_image_vulnerabilities(
    session: Session, image_pk: int, f: ImageVulFilter, offset: int, limit: int, by_risk: bool = False
) -> tuple[int, list[ImageVulnerability]]:
    """`by_risk` (the console) lists in the documented risk order; the HSS list keeps severity order."""
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
    if f.kev is not None:
        stmt = stmt.where(
            (ImageVulnerability.kev_date_added != "") if f.kev else (ImageVulnerability.kev_date_added == "")
        )
    if f.min_epss is not None:
        stmt = stmt.where(ImageVulnerability.epss >= f.min_epss)
    if f.severity_source:
        src = f.severity_source
        stmt = stmt.where(
            (ImageVulnerability.severity_source == src)
            | ImageVulnerability.severity_source.startswith(src + ":", autoescape=True)
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = risk_order() if by_risk else (ImageVulnerability.severity_rank.desc(), ImageVulnerability.id)
    rows = session.scalars(stmt.order_by(*order).offset(offset).limit(limit))
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
    return scoped(select(VulImageIndex.vul_id), scope)


def list_global_vulnerabilities(
    session: Session,
    scope: Scope,
    repair_necessity: str | None,
    vul_id: str | None,
    vul_type: str | None,
    offset: int,
    limit: int,
    by_severity: bool = False,
) -> tuple[int, list[GlobalVul]]:
    """One row per vul_id over the scope's images, from the index (counts are per image); `by_severity`
    (the console) lists the worst first, then the most images still open."""
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
    order: tuple[Any, ...] = (VulImageIndex.vul_id,)
    if by_severity:
        # The worst stored rating of the vulnerability (what the row's badge shows), then its score.
        of_vul = (
            ImageVulnerability.project_id == scope.project_id,
            ImageVulnerability.vul_id == VulImageIndex.vul_id,
        )
        worst_rank = select(func.max(ImageVulnerability.severity_rank)).where(*of_vul).scalar_subquery()
        best_score = select(func.max(ImageVulnerability.cvss_score)).where(*of_vul).scalar_subquery()
        open_count = func.sum(case((VulImageIndex.handled.is_(False), 1), else_=0))
        order = (
            worst_rank.desc(),
            func.coalesce(best_score, 0).desc(),
            open_count.desc(),
            VulImageIndex.vul_id,
        )
    rows = list(session.execute(grouped.order_by(*order).offset(offset).limit(limit)).all())
    details: dict[str, tuple[str, float | None, str]] = {}
    if rows:
        for vid, desc, score, sev in session.execute(
            scoped(
                select(
                    ImageVulnerability.vul_id,
                    func.max(ImageVulnerability.description),
                    func.max(ImageVulnerability.cvss_score),
                    func.max(ImageVulnerability.severity_rank),
                )
                .where(ImageVulnerability.vul_id.in_([r[0] for r in rows]))
                .group_by(ImageVulnerability.vul_id),
                scope,
            )
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
    stmt = scoped(select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk), scope).where(
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


def select_pairs(session: Session, scope: Scope, req: HandleRequest) -> list[tuple[VulImageIndex, Image]]:
    """The (image, vul) pairs a handle request names, locked. `not_ignore` only reopens ignored pairs;
    the other operations act on the pairs in the `handle_status` the caller names (default unhandled).
    `services.vex.handle` applies the verdict and records it as a VEX statement."""
    stmt = scoped(select(VulImageIndex, Image).join(Image, Image.id == VulImageIndex.image_pk), scope).where(
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
    return [
        (idx, img)
        for idx, img in session.execute(stmt.with_for_update(of=VulImageIndex)).all()
        if pairs is None or (img.image_id, idx.vul_id) in pairs
    ]


def apply_verdict(
    session: Session,
    rows: Sequence[tuple[VulImageIndex, Image]],
    operate_type: str,
    status: str,
    user_name: str,
    remark: str,
    whitelist_id: str = "",
) -> int:
    """Set the verdict on (image, vul) pairs, write one history entry each, refresh image summaries.

    The history copies the image and the first affected app, so it still reads right after the image
    is rescanned or deleted. Returns how many pairs were changed.
    """
    if not rows:
        return 0
    at = now_ms()
    apps: dict[tuple[int, str], tuple[str, str, str]] = {}
    for image_pks, vul_ids in _batches(rows):
        for pk, vid, name, version, path in session.execute(
            select(
                ImageVulnerability.image_pk,
                ImageVulnerability.vul_id,
                ImageVulnerability.app_name,
                ImageVulnerability.app_version,
                ImageVulnerability.app_path,
            )
            .where(ImageVulnerability.image_pk.in_(image_pks), ImageVulnerability.vul_id.in_(vul_ids))
            .order_by(ImageVulnerability.id)
        ):
            apps.setdefault((pk, vid), (name, version, path))
    touched: dict[int, Image] = {}
    for idx, img in rows:
        idx.status = status
        idx.handled = status != UNFIXED
        touched[img.id] = img
        app_name, app_version, app_path = apps.get((img.id, idx.vul_id), ("", "", ""))
        session.add(
            ImageVulOperation(
                project_id=img.project_id,
                enterprise_project_id=img.enterprise_project_id,
                operate_type=operate_type,
                vul_id=idx.vul_id,
                vul_type=idx.vul_type,
                image_pk=img.id,
                image_id=img.image_id,
                user_name=user_name[:64],
                remark=remark[:512],
                operate_time=at,
                image_type=img.image_type,
                image_name=img.image_name,
                image_version=img.image_version,
                image_digest=img.image_digest,
                agent_id=img.agent_id,
                app_name=app_name,
                app_version=app_version,
                app_path=app_path,
                status=status,
                whitelist_id=whitelist_id,
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
    return len(rows)


def _batches(
    rows: Sequence[tuple[VulImageIndex, Image]], size: int = 500
) -> Iterator[tuple[list[int], list[str]]]:
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        yield sorted({img.id for _idx, img in chunk}), sorted({idx.vul_id for idx, _img in chunk})


@dataclass(frozen=True, slots=True)
class OperationFilter:
    vul_id: str
    image_type: str
    image_id: str | None = None
    image_name: str | None = None
    status: str | None = None
    user_name: str | None = None
    handle_type: str | None = None
    app_name: str | None = None
    app_version: str | None = None
    remark: str | None = None


def list_operations(
    session: Session, scope: Scope, f: OperationFilter, offset: int, limit: int
) -> tuple[int, list[ImageVulOperation]]:
    """The handling history of one vulnerability, newest first (HSS list_general_image_vul_operations)."""
    stmt = scoped(
        select(ImageVulOperation).where(
            ImageVulOperation.vul_id == f.vul_id, ImageVulOperation.image_type == f.image_type
        ),
        scope,
    )
    if f.image_id:
        stmt = stmt.where(ImageVulOperation.image_id == f.image_id)
    if f.status:
        stmt = stmt.where(ImageVulOperation.status == f.status)
    if f.handle_type:
        stmt = stmt.where(ImageVulOperation.operate_type == f.handle_type)
    for column, value in (
        (ImageVulOperation.image_name, f.image_name),
        (ImageVulOperation.user_name, f.user_name),
        (ImageVulOperation.app_name, f.app_name),
        (ImageVulOperation.app_version, f.app_version),
        (ImageVulOperation.remark, f.remark),
    ):
        if value:
            stmt = stmt.where(column.contains(value, autoescape=True))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ImageVulOperation.operate_time.desc(), ImageVulOperation.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return total, list(rows)


@dataclass(frozen=True, slots=True)
class GeneralVulFilter:
    vul_type: str
    handled: bool
    image_type: str
    severity_level: str | None = None
    vul_id: str | None = None
    vul_name: str | None = None
    cve_id: str | None = None
    label_list: tuple[str, ...] = ()
    status: str | None = None
    cluster_id: str | None = None


@dataclass(frozen=True, slots=True)
class GeneralVul:
    vul_id: str
    severity_level: str
    image_num: int
    cluster_num: int
    max_cvss_score: float
    scan_time: int
    description: str
    solution_detail: str


_RANK = case(
    (VulImageIndex.repair_necessity == "Critical", 4),
    (VulImageIndex.repair_necessity == "High", 3),
    (VulImageIndex.repair_necessity == "Medium", 2),
    (VulImageIndex.repair_necessity == "Low", 1),
    else_=0,
)
_RANK_NAME = {4: "Critical", 3: "High", 2: "Medium", 1: "Low", 0: "Low"}


def list_general_image_vuls(
    session: Session, scope: Scope, f: GeneralVulFilter, offset: int, limit: int
) -> tuple[int, list[GeneralVul]]:
    """One row per vulnerability over the scope's images of one type, from the index.

    Vulnerabilities carry no labels here (HSS labels come from its own intelligence feed), so a
    `label_list` filter matches nothing rather than being silently ignored.
    """
    if f.label_list:
        return 0, []
    stmt = scoped(
        select(VulImageIndex.vul_id).where(
            VulImageIndex.vul_type == f.vul_type,
            VulImageIndex.image_type == f.image_type,
            VulImageIndex.handled.is_(f.handled),
        ),
        scope,
    )
    if f.severity_level:
        stmt = stmt.where(VulImageIndex.repair_necessity == f.severity_level)
    if f.status:
        stmt = stmt.where(VulImageIndex.status == f.status)
    if f.vul_id:
        stmt = stmt.where(VulImageIndex.vul_id == f.vul_id)
    for needle in (f.vul_name, f.cve_id):
        if needle:
            stmt = stmt.where(VulImageIndex.vul_id.contains(needle, autoescape=True))
    if f.cluster_id:
        stmt = stmt.where(
            VulImageIndex.image_pk.in_(select(Image.id).where(Image.cluster_id == f.cluster_id))
        )
    grouped = stmt.add_columns(
        func.max(_RANK).label("rank"), func.count(func.distinct(VulImageIndex.image_pk))
    ).group_by(VulImageIndex.vul_id)
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    page = session.execute(
        grouped.order_by(func.max(_RANK).desc(), VulImageIndex.vul_id).offset(offset).limit(limit)
    ).all()
    if not page:
        return total, []
    vul_ids = [r[0] for r in page]
    image_pks = stmt.with_only_columns(VulImageIndex.image_pk).where(VulImageIndex.vul_id.in_(vul_ids))
    details: dict[str, tuple[float, str, str]] = {}
    for vid, score, desc, fixed in session.execute(
        select(
            ImageVulnerability.vul_id,
            func.max(ImageVulnerability.cvss_score),
            func.max(ImageVulnerability.description),
            func.max(ImageVulnerability.fixed_version),
        )
        .where(ImageVulnerability.image_pk.in_(image_pks), ImageVulnerability.vul_id.in_(vul_ids))
        .group_by(ImageVulnerability.vul_id)
    ):
        details[vid] = (float(score or 0.0), desc or "", fixed or "")
    clusters: dict[str, tuple[int, int]] = {}
    for vid, n_clusters, scanned in session.execute(
        select(
            VulImageIndex.vul_id,
            func.count(func.distinct(func.nullif(Image.cluster_id, ""))),
            func.max(Image.latest_scan_time),
        )
        .join(Image, Image.id == VulImageIndex.image_pk)
        .where(
            VulImageIndex.id.in_(stmt.with_only_columns(VulImageIndex.id)), VulImageIndex.vul_id.in_(vul_ids)
        )
        .group_by(VulImageIndex.vul_id)
    ):
        clusters[vid] = (int(n_clusters or 0), int(scanned or 0))
    out = []
    for vid, rank, n in page:
        score, desc, fixed = details.get(vid, (0.0, "", ""))
        n_clusters, scanned = clusters.get(vid, (0, 0))
        out.append(
            GeneralVul(
                vul_id=vid,
                severity_level=_RANK_NAME[int(rank or 0)],
                image_num=int(n),
                cluster_num=n_clusters,
                max_cvss_score=score,
                scan_time=scanned,
                description=desc,
                solution_detail=f"upgrade to {fixed} or later" if fixed else "",
            )
        )
    return total, out
