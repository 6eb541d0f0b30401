"""Export tasks: validated and persisted here in state `running`; the export worker writes the file.

`record_total_num` is computed with `local_vul_rows` / `report_rows`, the same statements the export
writer runs, so the number the API promises is the number of rows the file holds (capped by export_size).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openhss.db.models import ExportTask, Image, ImageApp, ImageFile, ImageFinding, ImageVulnerability
from openhss.domain.errors import NotFound
from openhss.services.identity import Scope
from openhss.services.images import IMAGE_TYPE_PARAM, ImageFilter, apply_filter, scoped_images
from openhss.services.results import UNFIXED, now_ms

LOCAL_VUL_EXPORT = "local-vulnerability"
REPORT_KIND = {
    "malwares": "malwares",
    "sensitive-info": "sensitive-info",
    "non-compliant-app": "non-compliant-app",
    "build-command-risks": "build-command-risks",
}


@dataclass(frozen=True, slots=True)
class LocalVulExport:
    image_filter: ImageFilter
    operate_all: bool
    image_id_list: tuple[str, ...] = ()
    vul_type: str | None = None
    handle_status: str | None = None
    vul_id_list: tuple[str, ...] = ()


def local_vul_rows(scope: Scope, q: LocalVulExport) -> Select[ImageVulnerability, Image]:
    images = apply_filter(scoped_images(scope).where(Image.image_type == "local"), q.image_filter)
    if not q.operate_all:
        images = images.where(Image.image_id.in_(q.image_id_list))
    stmt = select(ImageVulnerability, Image).join(Image, Image.id == ImageVulnerability.image_pk)
    stmt = stmt.where(ImageVulnerability.image_pk.in_(images.with_only_columns(Image.id)))
    if q.vul_type:
        stmt = stmt.where(ImageVulnerability.vul_type == q.vul_type)
    if q.handle_status == "unhandled":
        stmt = stmt.where(ImageVulnerability.status == UNFIXED)
    elif q.handle_status == "handled":
        stmt = stmt.where(ImageVulnerability.status != UNFIXED)
    if q.vul_id_list:
        stmt = stmt.where(ImageVulnerability.vul_id.in_(q.vul_id_list))
    return stmt.order_by(ImageVulnerability.image_pk, ImageVulnerability.id)


@dataclass(frozen=True, slots=True)
class ReportExport:
    security_report_type: str
    operate_all: bool
    image_filter: ImageFilter
    image_type: str | None = None
    image_id_list: tuple[str, ...] = ()
    latest_version: bool | None = None
    build_command_rule_id_list: tuple[str, ...] = ()
    build_command_risk_level: str | None = None
    build_command_risk_name: str | None = None


def report_rows(scope: Scope, q: ReportExport) -> Select[object, Image]:
    # No image_type means "other registry images" (the doc's default).
    row_type, registry_type = IMAGE_TYPE_PARAM[q.image_type or "registry"]
    images = apply_filter(scoped_images(scope).where(Image.image_type == row_type), q.image_filter)
    if registry_type:
        images = images.where(Image.registry_type == registry_type)
    if not q.operate_all:
        ids = list(q.image_id_list)
        numeric = [int(i) for i in ids if i.isdigit()]
        images = images.where(Image.image_id.in_(ids) | Image.id.in_(numeric))
    image_pks = images.with_only_columns(Image.id)
    model: type[ImageApp] | type[ImageFile] | type[ImageFinding]
    if q.security_report_type == "apps":
        model = ImageApp
    elif q.security_report_type == "files":
        model = ImageFile
    else:
        model = ImageFinding
    stmt = select(model, Image).join(Image, Image.id == model.image_pk).where(model.image_pk.in_(image_pks))
    if model is ImageFinding:
        stmt = stmt.where(ImageFinding.kind == REPORT_KIND[q.security_report_type])
        if q.build_command_rule_id_list:
            stmt = stmt.where(ImageFinding.rule_id.in_(q.build_command_rule_id_list))
        if q.build_command_risk_level:
            stmt = stmt.where(func.lower(ImageFinding.severity) == q.build_command_risk_level)
        if q.build_command_risk_name:
            stmt = stmt.where(ImageFinding.title.contains(q.build_command_risk_name, autoescape=True))
    return stmt.order_by(model.image_pk, model.id)


def _count(session: Session, stmt: Select[object, Image], cap: int) -> int:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return min(total, cap)


def _ep_json(scope: Scope) -> str:
    eps: Sequence[str] | None = None
    if scope.enterprise_project_ids is not None:
        eps = sorted(scope.enterprise_project_ids)
    return json.dumps(eps)


def _create(
    session: Session, scope: Scope, export_type: str, size: int, filters: dict[str, object], total: int
) -> ExportTask:
    at = now_ms()
    task = ExportTask(
        task_id=uuid.uuid4().hex,
        project_id=scope.project_id,
        enterprise_project_ids=_ep_json(scope),
        task_name=f"export_{export_type}_{at}",
        export_type=export_type,
        export_size=size,
        filters=json.dumps(filters, sort_keys=True),
        task_status="running",
        record_total_num=total,
        create_time=at,
    )
    session.add(task)
    session.flush()
    return task


def create_local_vul_export(
    session: Session, scope: Scope, export_size: int, q: LocalVulExport
) -> ExportTask:
    total = _count(session, local_vul_rows(scope, q), export_size)
    filters: dict[str, object] = {
        "image_filter": q.image_filter.as_json(),
        "operate_all": q.operate_all,
        "image_id_list": list(q.image_id_list),
        "vul_type": q.vul_type,
        "handle_status": q.handle_status,
        "vul_id_list": list(q.vul_id_list),
    }
    return _create(session, scope, LOCAL_VUL_EXPORT, export_size, filters, total)


def create_report_export(session: Session, scope: Scope, export_size: int, q: ReportExport) -> ExportTask:
    total = _count(session, report_rows(scope, q), export_size)
    filters: dict[str, object] = {
        "security_report_type": q.security_report_type,
        "operate_all": q.operate_all,
        "image_type": q.image_type,
        "image_filter": q.image_filter.as_json(),
        "image_id_list": list(q.image_id_list),
        "latest_version": q.latest_version,
        "build_command_rule_id_list": list(q.build_command_rule_id_list),
        "build_command_risk_level": q.build_command_risk_level,
        "build_command_risk_name": q.build_command_risk_name,
    }
    return _create(session, scope, f"security-report-{q.security_report_type}", export_size, filters, total)


def get_task(session: Session, scope: Scope, task_id: str) -> ExportTask:
    task = session.scalars(
        select(ExportTask).where(ExportTask.project_id == scope.project_id, ExportTask.task_id == task_id)
    ).first()
    if task is None:
        raise NotFound(f"export task {task_id} does not exist")
    if scope.enterprise_project_ids is not None:
        eps = json.loads(task.enterprise_project_ids or "null")
        if eps is None or not set(eps) <= scope.enterprise_project_ids:
            raise NotFound(f"export task {task_id} does not exist")
    return task
