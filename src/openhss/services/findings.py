"""Per-image result lists (apps, files, malwares, sensitive info, non-compliant apps) and the global
build-command-risk rules list, read from the tables `record_scan` fills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from openhss.db.models import Image, ImageApp, ImageFile, ImageFinding
from openhss.db.tenancy import scoped
from openhss.domain.enums import FindingKind, Severity
from openhss.domain.errors import NotFound
from openhss.services.identity import Scope
from openhss.services.images import IMAGE_TYPE_PARAM, scoped_images

T = TypeVar("T")


def _page(session: Session, stmt: Select[T], offset: int, limit: int) -> tuple[int, list[T]]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return total, list(session.scalars(stmt.offset(offset).limit(limit)))


def apps(
    session: Session, image_pk: int, app_name: str | None, offset: int, limit: int
) -> tuple[int, list[ImageApp]]:
    stmt = select(ImageApp).where(ImageApp.image_pk == image_pk)
    if app_name:
        stmt = stmt.where(ImageApp.app_name.contains(app_name, autoescape=True))
    return _page(session, stmt.order_by(ImageApp.app_name, ImageApp.id), offset, limit)


def files(
    session: Session, image_pk: int, file_name: str | None, offset: int, limit: int
) -> tuple[int, list[ImageFile]]:
    stmt = select(ImageFile).where(ImageFile.image_pk == image_pk)
    if file_name:
        stmt = stmt.where(ImageFile.file_name.contains(file_name, autoescape=True))
    return _page(session, stmt.order_by(ImageFile.id), offset, limit)


@dataclass(frozen=True, slots=True)
class FindingFilter:
    file_name: str | None = None
    file_path: str | None = None
    severity: str | None = None
    handle_status: str | None = None
    app_name: str | None = None


#: Stored severity words → rank (`Severity.rank`), for ordering in SQL.
SEVERITY_ORDER = case(
    {s.value: s.rank for s in Severity}, value=ImageFinding.severity, else_=Severity.UNKNOWN.rank
)


def findings(
    session: Session,
    image_pk: int,
    kind: FindingKind,
    f: FindingFilter,
    offset: int,
    limit: int,
    by_severity: bool = False,
) -> tuple[int, list[ImageFinding]]:
    """The HSS lists keep their stored order; `by_severity` (the console) lists the worst first, so a
    Critical finding never sits behind a page of Low ones."""
    stmt = select(ImageFinding).where(ImageFinding.image_pk == image_pk, ImageFinding.kind == kind.value)
    if f.file_name:
        stmt = stmt.where(ImageFinding.path.contains(f.file_name, autoescape=True))
    if f.file_path:
        stmt = stmt.where(ImageFinding.path.contains(f.file_path, autoescape=True))
    if f.severity:
        stmt = stmt.where(func.lower(ImageFinding.severity) == f.severity.lower())
    if f.handle_status:
        stmt = stmt.where(ImageFinding.handle_status == f.handle_status)
    if f.app_name:
        stmt = stmt.where(ImageFinding.title.contains(f.app_name, autoescape=True))
    if by_severity:
        stmt = stmt.order_by(SEVERITY_ORDER.desc(), ImageFinding.rule_id, ImageFinding.path, ImageFinding.id)
        return _page(session, stmt, offset, limit)
    return _page(session, stmt.order_by(ImageFinding.id), offset, limit)


@dataclass(frozen=True, slots=True)
class RiskRule:
    rule_id: str
    risk_name: str
    risk_level: str
    description: str
    image_num: int
    latest_scan_time: int


def build_command_rules(
    session: Session,
    scope: Scope,
    image_type: str,
    image_id: str | None,
    risk_name: str | None,
    risk_level: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[RiskRule]]:
    """One row per rule seen in the scope's images, with how many images it hits."""
    row_type, registry_type = IMAGE_TYPE_PARAM[image_type]
    images = scoped_images(scope).where(Image.image_type == row_type)
    if registry_type:
        images = images.where(Image.registry_type == registry_type)
    if image_id:
        images = images.where(Image.image_id == image_id)
    stmt = scoped(
        select(
            ImageFinding.rule_id,
            func.max(ImageFinding.title),
            func.max(ImageFinding.severity),
            func.max(ImageFinding.remediation),
            func.count(func.distinct(ImageFinding.image_pk)),
            func.max(ImageFinding.found_time),
        )
        .where(
            ImageFinding.kind == FindingKind.BUILD_COMMAND_RISK.value,
            ImageFinding.image_pk.in_(images.with_only_columns(Image.id)),
        )
        .group_by(ImageFinding.rule_id),
        scope,
    )
    if risk_name:
        stmt = stmt.where(ImageFinding.title.contains(risk_name, autoescape=True))
    if risk_level:
        stmt = stmt.where(func.lower(ImageFinding.severity) == risk_level.lower())
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(ImageFinding.rule_id).offset(offset).limit(limit)).all()
    return total, [
        RiskRule(r, n or "", (lvl or "").lower(), d or "", c, t or 0) for r, n, lvl, d, c, t in rows
    ]


#: change_sensitive_info operate_type → the finding's stored handle_status.
SENSITIVE_STATUS = {"ignore": "ignored", "do_not_ignore": "unhandled"}


def change_sensitive(
    session: Session, scope: Scope, image_type: str, sensitive_info_id: str, operate_type: str
) -> None:
    """Ignore or un-ignore one sensitive-info finding of an image visible in the caller's scope.

    The verdict lives in `handle_status`; `record_scan` carries it to the same finding (rule, path,
    line, evidence) in the next scan, so it survives rescans although the row id changes.
    """
    if not sensitive_info_id.isdigit():
        raise NotFound(f"sensitive information {sensitive_info_id} does not exist")
    row_type, registry_type = IMAGE_TYPE_PARAM[image_type]
    images = scoped_images(scope).where(Image.image_type == row_type)
    if registry_type:
        images = images.where(Image.registry_type == registry_type)
    finding = session.scalar(
        scoped(
            select(ImageFinding).where(
                ImageFinding.id == int(sensitive_info_id),
                ImageFinding.kind == FindingKind.SECRET.value,
                ImageFinding.image_pk.in_(images.with_only_columns(Image.id)),
            ),
            scope,
        ).with_for_update()
    )
    if finding is None:
        raise NotFound(f"sensitive information {sensitive_info_id} does not exist")
    finding.handle_status = SENSITIVE_STATUS[operate_type]
