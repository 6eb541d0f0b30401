"""Export tasks: validated and persisted in state `running` by the API, written to a file by the worker.

`record_total_num` is counted with the same statement the export writer streams, so the number the API
promises is the number of rows the file holds (capped by export_size). The writer selects plain columns
(no ORM objects) through a server-side cursor (`yield_per`), and the file format writers consume the rows
one at a time: memory does not depend on the number of rows.

The task row is the source of truth. `run_export` only acts on a row still `running` and finishes it
with a conditional update, so a redelivered or duplicated message never produces two files or overwrites
a result; the loser deletes its own file. Files live under `<data_dir>/exports/<project_id>/`, named by
a random `file_id`; paths are built from the task row, never from request input.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased, sessionmaker

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import (
    ExportTask,
    Image,
    ImageApp,
    ImageFile,
    ImageFinding,
    ImageVulnerability,
    Project,
)
from openhss.db.tenancy import scoped
from openhss.domain.errors import HssError, InvalidRequest, NotFound
from openhss.exports.base import ReportLayout
from openhss.exports.registry import FILE_FORMATS, LAYOUTS, media_type_of
from openhss.services import dispatch
from openhss.services.identity import Scope
from openhss.services.images import IMAGE_TYPE_PARAM, ImageFilter, apply_filter, scoped_images
from openhss.services.results import UNFIXED, now_ms
from openhss.services.vulnerabilities import urgency

log = logging.getLogger(__name__)

#: A select of plain columns (the export statements differ per report type).
Rows = Select[*tuple[Any, ...]]

REPORT_PREFIX = "security-report-"
#: Report types whose rows are `image_findings` of the kind of the same name.
FINDING_REPORTS = frozenset({"malwares", "sensitive-info", "non-compliant-app", "build-command-risks"})
RUN_TASK = "openhss.run_export"
QUEUE = "exports"
_FETCH = 5000
#: A task still running after this long is sent to the workers again by the periodic cleanup.
RESEND_AFTER_MS = 10 * 60 * 1000


class ExportBusy(InvalidRequest):
    """HSS refuses a second export of a type while one is running; the spec names no code for it, so
    openhss uses its own in the HSS shape (400, like every other refused request)."""

    error_code = "HSS.1035"


# --- what to export ----------------------------------------------------------------------------------


#: The image types a vulnerability export covers (`Image.image_type`), each its own report type.
VUL_IMAGE_TYPES = ("local", "registry", "cicd")


@dataclass(frozen=True, slots=True)
class VulExport:
    """The vulnerabilities of local (the HSS export), registry or CI/CD images (openhss additions)."""

    image_filter: ImageFilter
    operate_all: bool
    image_id_list: tuple[str, ...] = ()
    vul_type: str | None = None
    handle_status: str | None = None
    vul_id_list: tuple[str, ...] = ()
    image_type: str = "local"

    @property
    def report_type(self) -> str:
        return f"{self.image_type}-vulnerability"


#: Vulnerability report type → the image type it covers.
VUL_REPORTS: dict[str, str] = {f"{t}-vulnerability": t for t in VUL_IMAGE_TYPES}


@dataclass(frozen=True, slots=True)
class ReportExport:
    security_report_type: str
    operate_all: bool
    image_filter: ImageFilter = field(default_factory=ImageFilter)
    image_type: str | None = None
    image_id_list: tuple[str, ...] = ()
    latest_version: bool | None = None
    instance_name: str | None = None
    cicd_name: str | None = None
    build_command_rule_id_list: tuple[str, ...] = ()
    build_command_risk_level: str | None = None
    build_command_risk_name: str | None = None

    @property
    def report_type(self) -> str:
        return self.security_report_type


ExportQuery = VulExport | ReportExport


def export_type_of(q: ExportQuery) -> str:
    """The task's `export_type`: what the per-type running limit and the latest-task query key on."""
    return kind_of(q).export_type


def _query_json(q: ExportQuery) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(q):
        value = getattr(q, f.name)
        if isinstance(value, ImageFilter):
            value = value.as_json()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _query_from_json(export_type: str, data: Mapping[str, Any]) -> ExportQuery:
    if export_type not in EXPORT_KINDS:
        raise InvalidRequest(f"unknown export type {export_type!r}")
    cls = EXPORT_KINDS[export_type].query_type
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "image_filter":
            value = ImageFilter(**value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


# --- the statements ------------------------------------------------------------------------------------

_IMAGE_COLS = (Image.image_name, Image.image_version, Image.image_id)


@functools.lru_cache(maxsize=4096)
def _ms(value: int | None) -> str:
    """Epoch ms as the UTC time text the files show; cached: rows of one scan share their times."""
    if not value:
        return ""
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _restrict_ids(images: Rows, ids: Sequence[str]) -> Rows:
    # Local/CICD images are named by image_id, registry images by the id the image list returns (pk).
    numeric = [int(i) for i in ids if i.isdigit()]
    return images.where(or_(Image.image_id.in_(list(ids)), Image.id.in_(numeric)))


#: Columns of the image a registry / CI/CD vulnerability row names besides name, version and id.
_VUL_IMAGE_EXTRA: dict[str, tuple[tuple[str, Any], ...]] = {
    "local": (),
    "registry": (("registry_name", Image.registry_name), ("namespace", Image.organization)),
    "cicd": (("cicd_name", Image.registry_name),),
}


def vul_rows(scope: Scope, q: VulExport) -> Rows:
    if q.image_type not in VUL_IMAGE_TYPES:
        raise InvalidRequest(f"invalid parameter image_type: {q.image_type}")
    images = apply_filter(scoped_images(scope).where(Image.image_type == q.image_type), q.image_filter)
    if not q.operate_all:
        if q.image_type == "local":
            images = images.where(Image.image_id.in_(q.image_id_list))
        else:
            images = _restrict_ids(images, q.image_id_list)
    v = ImageVulnerability
    stmt = select(
        *_IMAGE_COLS,
        v.vul_id,
        v.vul_type,
        v.repair_necessity,
        v.cvss_score,
        v.app_name,
        v.app_version,
        v.fixed_version,
        v.app_path,
        v.layer_digest,
        v.status,
        v.description,
        v.first_found_time,
        *(column for _, column in _VUL_IMAGE_EXTRA[q.image_type]),
    ).join(Image, Image.id == v.image_pk)
    stmt = stmt.where(v.image_pk.in_(images.with_only_columns(Image.id)))
    if q.vul_type:
        stmt = stmt.where(v.vul_type == q.vul_type)
    if q.handle_status == "unhandled":
        stmt = stmt.where(v.status == UNFIXED)
    elif q.handle_status == "handled":
        stmt = stmt.where(v.status != UNFIXED)
    if q.vul_id_list:
        stmt = stmt.where(v.vul_id.in_(q.vul_id_list))
    return stmt.order_by(v.image_pk, v.id)


def _vul_values(image_type: str) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A `vul_rows` row as the layout's values, in column order: the database tuple's fields placed
    around the four derived ones (urgency, solution, handling status, time text). One tuple per row and
    nothing else; the file writers take it as is (`iter_values`)."""
    if _VUL_IMAGE_EXTRA[image_type]:

        def with_extra(r: Sequence[Any]) -> Sequence[Any]:
            sev, app, fixed, status = r[5], r[7], r[9], r[12]
            return (
                r[0], r[1], r[2], *r[15:], r[3], r[4], sev, urgency(sev), r[6], app, r[8], fixed,
                f"upgrade {app} to {fixed}" if fixed else "", r[10], r[11], status,
                "unhandled" if status == UNFIXED else "handled", r[13], _ms(r[14]),
            )  # fmt: skip

        return with_extra

    def plain(r: Sequence[Any]) -> Sequence[Any]:
        sev, app, fixed, status = r[5], r[7], r[9], r[12]
        return (
            r[0], r[1], r[2], r[3], r[4], sev, urgency(sev), r[6], app, r[8], fixed,
            f"upgrade {app} to {fixed}" if fixed else "", r[10], r[11], status,
            "unhandled" if status == UNFIXED else "handled", r[13], _ms(r[14]),
        )  # fmt: skip

    return plain


def _keyed(
    layout: ReportLayout, values: Callable[[Sequence[Any]], Sequence[Any]]
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    keys = layout.keys

    def build(r: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(keys, values(r), strict=True))

    return build


def _ordered(
    layout: ReportLayout, row: Callable[[Sequence[Any]], dict[str, Any]]
) -> Callable[[Sequence[Any]], Sequence[Any]]:
    keys = layout.keys

    def build(r: Sequence[Any]) -> Sequence[Any]:
        d = row(r)
        return [d.get(k) for k in keys]

    return build


def _report_images(scope: Scope, q: ReportExport) -> Rows:
    # No image_type means "other registry images" (the doc's default).
    row_type, registry_type = IMAGE_TYPE_PARAM[q.image_type or "registry"]
    images = apply_filter(scoped_images(scope).where(Image.image_type == row_type), q.image_filter)
    if registry_type:
        images = images.where(Image.registry_type == registry_type)
    if q.instance_name:
        images = images.where(Image.registry_type == "SwrEnterprise", Image.registry_name == q.instance_name)
    if q.cicd_name:
        images = images.where(Image.registry_name == q.cicd_name)
    if q.latest_version:
        newer = aliased(Image)
        images = images.where(
            ~exists(
                select(newer.id).where(
                    newer.project_id == Image.project_id,
                    newer.image_type == Image.image_type,
                    newer.registry_name == Image.registry_name,
                    newer.organization == Image.organization,
                    newer.image_name == Image.image_name,
                    or_(
                        newer.latest_update_time > Image.latest_update_time,
                        and_(newer.latest_update_time == Image.latest_update_time, newer.id > Image.id),
                    ),
                )
            )
        )
    if not q.operate_all:
        images = _restrict_ids(images, q.image_id_list)
    return images.with_only_columns(Image.id)


def _finding_stmt(q: ReportExport, image_pks: Rows) -> Rows:
    f = ImageFinding
    stmt = (
        select(
            *_IMAGE_COLS,
            f.rule_id,
            f.severity,
            f.title,
            f.path,
            f.layer_digest,
            f.line,
            f.evidence,
            f.remediation,
            f.handle_status,
            f.found_time,
        )
        .join(Image, Image.id == f.image_pk)
        .where(f.image_pk.in_(image_pks), f.kind == q.security_report_type)
    )
    if q.security_report_type == "build-command-risks":
        if q.build_command_rule_id_list:
            stmt = stmt.where(f.rule_id.in_(q.build_command_rule_id_list))
        if q.build_command_risk_level:
            stmt = stmt.where(func.lower(f.severity) == q.build_command_risk_level.lower())
        if q.build_command_risk_name:
            stmt = stmt.where(f.title.contains(q.build_command_risk_name, autoescape=True))
    return stmt.order_by(f.image_pk, f.id)


def _finding_row(report_type: str) -> Callable[[Sequence[Any]], dict[str, Any]]:
    def build(r: Sequence[Any]) -> dict[str, Any]:
        name, version, image_id, rule, severity, title, path, layer, line, evidence, remediation = r[:11]
        handled, found = r[11], r[12]
        row: dict[str, Any] = {"image_name": name, "image_version": version, "image_id": image_id}
        row["rule_id"] = rule
        row["layer_digest"] = layer
        level = (severity or "").lower()
        if report_type == "malwares":
            row |= {
                "description": title,
                "severity": level,
                "file_name": path.rsplit("/", 1)[-1],
                "file_path": path,
                "found_time": _ms(found),
            }
        elif report_type == "sensitive-info":
            row |= {
                "name": title,
                "severity": level,
                "file_path": path,
                "position": f"{path}:{line}" if line else path,
                "content": evidence,
                "description": remediation,
                "handle_status": handled,
                "latest_scan_time": _ms(found),
            }
        elif report_type == "non-compliant-app":
            row |= {
                "app_name": title,
                "app_version": evidence,
                "severity": level,
                "reason": remediation,
                "app_path": path,
            }
        else:  # build-command-risks
            row |= {
                "risk_name": title,
                "risk_level": level,
                "command": evidence,
                "step": line or None,
                "description": remediation,
            }
        return row

    return build


def _apps_rows(scope: Scope, q: ReportExport) -> Rows:
    a = ImageApp
    return (
        select(*_IMAGE_COLS, a.app_name, a.app_version, a.app_type, a.vul_num, a.licenses, a.app_path)
        .add_columns(a.layer_digest)
        .join(Image, Image.id == a.image_pk)
        .where(a.image_pk.in_(_report_images(scope, q)))
        .order_by(a.image_pk, a.id)
    )


def _files_rows(scope: Scope, q: ReportExport) -> Rows:
    fl = ImageFile
    return (
        select(*_IMAGE_COLS, fl.file_name, fl.file_path, fl.file_type, fl.size, fl.mode, fl.sha256)
        .add_columns(fl.layer_digest)
        .join(Image, Image.id == fl.image_pk)
        .where(fl.image_pk.in_(_report_images(scope, q)))
        .order_by(fl.image_pk, fl.id)
    )


def _finding_rows(scope: Scope, q: ReportExport) -> Rows:
    return _finding_stmt(q, _report_images(scope, q))


def _plain_row(report_type: str) -> Callable[[Sequence[Any]], dict[str, Any]]:
    keys = LAYOUTS[report_type].keys

    def build(r: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(keys, r, strict=True))
        if "mode" in row:
            row["mode"] = f"{int(row['mode']):04o}"
        return row

    return build


# --- the registry: one line per report type -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportKind:
    """A report type's database half (its file half is the `ReportLayout`): which query it takes,
    the statement selecting its rows in file order, and how a row of that statement becomes the
    layout's keys. `export_type` is what the task row stores (HSS security reports keep a prefix)."""

    export_type: str
    layout: ReportLayout
    query_type: type[VulExport] | type[ReportExport]
    statement: Callable[[Scope, Any], Rows]
    #: A statement row as the layout's keyed fields (API/CLI consumers) ...
    row: Callable[[Sequence[Any]], dict[str, Any]]
    #: ... and as values in the layout's column order (what the file writers stream).
    values: Callable[[Sequence[Any]], Sequence[Any]]


def _vul_kind(image_type: str) -> ExportKind:
    layout = LAYOUTS[f"{image_type}-vulnerability"]
    values = _vul_values(image_type)
    return ExportKind(layout.name, layout, VulExport, vul_rows, _keyed(layout, values), values)


def _report_kind(name: str, statement: Callable[[Scope, ReportExport], Rows]) -> ExportKind:
    row = _finding_row(name) if name in FINDING_REPORTS else _plain_row(name)
    layout = LAYOUTS[name]
    return ExportKind(REPORT_PREFIX + name, layout, ReportExport, statement, row, _ordered(layout, row))


EXPORT_KINDS: dict[str, ExportKind] = {
    kind.export_type: kind
    for kind in (
        _vul_kind("local"),
        _vul_kind("registry"),
        _vul_kind("cicd"),
        _report_kind("malwares", _finding_rows),
        _report_kind("apps", _apps_rows),
        _report_kind("files", _files_rows),
        _report_kind("sensitive-info", _finding_rows),
        _report_kind("non-compliant-app", _finding_rows),
        _report_kind("build-command-risks", _finding_rows),
    )
}
#: The HSS `security_report_type`s, in registry order.
SECURITY_REPORT_TYPES = tuple(
    k.layout.name for k in EXPORT_KINDS.values() if k.export_type.startswith(REPORT_PREFIX)
)
#: Every report type by name (the `openhss export` commands, the console's choices).
EXPORT_KINDS_BY_NAME: dict[str, ExportKind] = {k.layout.name: k for k in EXPORT_KINDS.values()}
REPORT_TYPES = tuple(EXPORT_KINDS_BY_NAME)


def kind_of(q: ExportQuery) -> ExportKind:
    name = q.report_type if isinstance(q, VulExport) else REPORT_PREFIX + q.security_report_type
    kind = EXPORT_KINDS.get(name)
    if kind is None:
        raise InvalidRequest(f"invalid parameter: no export of type {q.report_type}")
    return kind


def _check_format(fmt: str, q: ExportQuery) -> None:
    if fmt not in FILE_FORMATS:
        raise InvalidRequest(f"invalid export format {fmt!r}: expected one of {', '.join(FILE_FORMATS)}")
    report = kind_of(q).layout.name
    if not FILE_FORMATS[fmt].supports(report):
        raise InvalidRequest(f"invalid export format {fmt!r}: it cannot write the {report} report")


def iter_rows(session: Session, scope: Scope, q: ExportQuery, size: int) -> Iterator[dict[str, Any]]:
    """The export's rows in file order, keyed by the layout's column keys."""
    build = kind_of(q).row
    for rows in _partitions(session, scope, q, size):
        for row in rows:
            yield build(row)


def iter_values(session: Session, scope: Scope, q: ExportQuery, size: int) -> Iterator[Sequence[Any]]:
    """The export's rows in file order as value sequences in the layout's column order: the bulk path,
    one tuple built per row from the database tuple (no mapping, no ORM object)."""
    build = kind_of(q).values
    for rows in _partitions(session, scope, q, size):
        yield from map(build, rows)


def _partitions(session: Session, scope: Scope, q: ExportQuery, size: int) -> Iterator[Sequence[Any]]:
    """The statement's plain tuples, `_FETCH` at a time (a server-side cursor on PostgreSQL)."""
    stmt = kind_of(q).statement(scope, q)
    # Core execution on the session's connection: plain column rows need none of the ORM's loading.
    result = session.connection().execute(stmt.limit(size).execution_options(yield_per=_FETCH))
    yield from result.partitions()


def count_rows(session: Session, scope: Scope, q: ExportQuery, cap: int) -> int:
    stmt = kind_of(q).statement(scope, q)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return min(total, cap)


def write_export(
    sessions: sessionmaker[Session], scope: Scope, q: ExportQuery, size: int, fmt: str, path: Path
) -> int:
    """Stream the export into `path` (written as `<path>.part`, renamed when complete); returns rows.

    Shared by the worker and the `openhss export` command, so both produce the same file.
    """
    _check_format(fmt, q)
    file_format = FILE_FORMATS[fmt]
    layout = kind_of(q).layout
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with sessions() as session:
            if file_format.write_values is not None:
                written = file_format.write_values(part, layout, iter_values(session, scope, q, size))
            else:
                written = file_format.write(part, layout, iter_rows(session, scope, q, size))
            session.rollback()
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return written


# --- creating tasks ----------------------------------------------------------------------------------


def _ep_json(scope: Scope) -> str:
    eps: Sequence[str] | None = None
    if scope.enterprise_project_ids is not None:
        eps = sorted(scope.enterprise_project_ids)
    return json.dumps(eps)


def _scope_of(task: ExportTask) -> Scope:
    eps = json.loads(task.enterprise_project_ids or "null")
    return Scope(task.project_id, frozenset(eps) if eps is not None else None)


def create_export(
    session: Session,
    scope: Scope,
    export_size: int,
    q: ExportQuery,
    fmt: str = "xlsx",
    *,
    enqueue: bool = True,
) -> ExportTask:
    """Persist a `running` task and (after commit) queue `openhss.run_export` for it.

    One running export per project and type: the project row is locked (PostgreSQL) so two concurrent
    requests cannot both pass the check.
    """
    _check_format(fmt, q)
    export_type = export_type_of(q)
    session.execute(select(Project.id).where(Project.id == scope.project_id).with_for_update())
    running = session.scalars(
        select(ExportTask).where(
            ExportTask.project_id == scope.project_id,
            ExportTask.export_type == export_type,
            ExportTask.task_status == "running",
        )
    ).first()
    if running is not None and _runner_died(running, now_ms()):
        _fail_orphan(running)  # the slot does not outlive its owner
    elif running is not None:
        raise ExportBusy(
            f"an export of type {export_type} is already running (task {running.task_id}); "
            "retry when it has finished"
        )
    total = count_rows(session, scope, q, export_size)
    at = now_ms()
    task = ExportTask(
        task_id=uuid.uuid4().hex,
        project_id=scope.project_id,
        enterprise_project_ids=_ep_json(scope),
        task_name=f"export_{export_type}_{at}",
        export_type=export_type,
        export_size=export_size,
        filters=json.dumps({**_query_json(q), "format": fmt}, sort_keys=True),
        task_status="running",
        record_total_num=total,
        create_time=at,
    )
    session.add(task)
    session.flush()
    if enqueue:
        dispatch.after_commit(session, RUN_TASK, (task.id,), queue=QUEUE)
    return task


# --- running tasks -------------------------------------------------------------------------------------


def export_dir(settings: Settings, project_id: str) -> Path:
    return settings.data_dir.resolve() / "exports" / project_id


def file_path(settings: Settings, task: ExportTask) -> Path:
    ext = task.file_name.rsplit(".", 1)[-1] if "." in task.file_name else "xlsx"
    return export_dir(settings, task.project_id) / f"{task.file_id}.{ext}"


def _finish(sessions: sessionmaker[Session], export_pk: int, **values: object) -> bool:
    with transaction(sessions) as session:
        result = session.execute(
            update(ExportTask)
            .where(ExportTask.id == export_pk, ExportTask.task_status == "running")
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _reason(exc: Exception) -> str:
    """What the caller is told; server paths and internals stay in the worker log."""
    if isinstance(exc, HssError):
        return exc.message[:2000]
    if isinstance(exc, OSError):
        return f"could not write the export file: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, SQLAlchemyError):
        return f"the database query failed ({type(exc).__name__}); see the worker log"
    return f"the export failed ({type(exc).__name__}); see the worker log"


def run_export(sessions: sessionmaker[Session], settings: Settings, export_pk: int) -> str:
    """Write the file of one `running` task and record the outcome; returns the task's final status.

    Safe to run twice: a task that is no longer running is left alone, a task whose lease another
    live runner holds is left to it, and of two runs only the first to finish records its file.
    """
    owner = _new_owner()
    lease_ms = settings.scans.lease_seconds * 1000
    with transaction(sessions) as session:
        task = session.get(ExportTask, export_pk)
        if task is None:
            log.warning("export task %s does not exist; nothing to do", export_pk)
            return "missing"
        if task.task_status != "running":
            return task.task_status
        if not _claim(session, export_pk, owner, lease_ms):
            return "running"  # another runner holds a live lease
        scope = _scope_of(task)
        export_type, size, create_time = task.export_type, task.export_size, task.create_time
        stored = json.loads(task.filters or "{}")
    fmt = str(stored.get("format", "xlsx"))
    file_id = uuid.uuid4().hex
    heartbeat = _LeaseHeartbeat(sessions, export_pk, owner, lease_ms)
    try:
        q = _query_from_json(export_type, stored)
        ext = FILE_FORMATS[fmt].extension if fmt in FILE_FORMATS else fmt
        directory = export_dir(settings, scope.project_id)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / f"{file_id}.{ext}"
        written = write_export(sessions, scope, q, size, fmt, path)
    except Exception as exc:  # the task must say why it failed, whatever failed
        log.exception("export task %s failed", export_pk)
        reason = _reason(exc)
        _finish(sessions, export_pk, task_status="failure", failed_reason=reason)
        return "failure"
    finally:
        heartbeat.stop()
    stamp = datetime.fromtimestamp(create_time / 1000, UTC).strftime("%Y%m%d%H%M%S")
    name = f"{q.report_type}_{stamp}.{ext}"
    if not _finish(
        sessions, export_pk, task_status="success", file_id=file_id, file_name=name, record_total_num=written
    ):
        path.unlink(missing_ok=True)  # another delivery finished first (or the task was expired)
        with transaction(sessions) as session:
            done = session.get(ExportTask, export_pk)
            return done.task_status if done is not None else "missing"
    return "success"


# --- leases: a task's runner, and recovery when it dies -------------------------------------------------

_HOST = socket.gethostname()
ORPHANED = "the worker running this export stopped before it finished; request the export again"


def _new_owner() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str) -> bool | None:
    """Whether the owning process still runs: known only for owners on this host (None elsewhere)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runner_died(task: ExportTask, now: int) -> bool:
    """A started task whose runner is gone: its lease expired, or its process on this host is dead."""
    if not task.lease_owner:
        return False  # not started yet: its message is queued (the sweep re-sends a lost one)
    return task.lease_expires < now or _owner_alive(task.lease_owner) is False


def _fail_orphan(task: ExportTask) -> None:
    log.warning("export task %s: its runner %s died; failing it", task.task_id, task.lease_owner)
    task.task_status = "failure"
    task.failed_reason = ORPHANED
    task.lease_owner, task.lease_expires = "", 0


def _claim(session: Session, export_pk: int, owner: str, lease_ms: int) -> bool:
    at = now_ms()
    result = session.execute(
        update(ExportTask)
        .where(
            ExportTask.id == export_pk,
            ExportTask.task_status == "running",
            or_(ExportTask.lease_owner == "", ExportTask.lease_expires < at),
        )
        .values(lease_owner=owner, lease_expires=at + lease_ms)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class _LeaseHeartbeat:
    """Renews the lease every third of it while the file is written, so only a dead runner loses it."""

    def __init__(self, sessions: sessionmaker[Session], export_pk: int, owner: str, lease_ms: int) -> None:
        self.sessions, self.export_pk, self.owner, self.lease_ms = sessions, export_pk, owner, lease_ms
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"export-lease-{export_pk}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._done.wait(max(0.5, self.lease_ms / 3000)):
            try:
                with transaction(self.sessions) as session:
                    session.execute(
                        update(ExportTask)
                        .where(ExportTask.id == self.export_pk, ExportTask.lease_owner == self.owner)
                        .values(lease_expires=now_ms() + self.lease_ms)
                    )
            except SQLAlchemyError:
                log.warning("export %s: could not renew its lease", self.export_pk)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def sweep_exports(sessions: sessionmaker[Session], settings: Settings, now: int | None = None) -> int:
    """Every sweep interval (and at worker start): fail running tasks whose runner died, re-send those
    never started for a sweep interval (a message lost in a crash). Returns how many it failed.

    So after a crash, a task ends (`failure`, saying so) within one sweep interval of its lease running
    out, at once when its dead runner was on this host, and never blocks its export type longer.
    """
    at = now if now is not None else now_ms()
    interval_ms = int(settings.scans.sweep_interval_seconds * 1000)
    with transaction(sessions) as session:
        running = session.scalars(select(ExportTask).where(ExportTask.task_status == "running")).all()
        failed = 0
        resend = []
        for task in running:
            if _runner_died(task, at):
                _fail_orphan(task)
                failed += 1
            elif not task.lease_owner and task.create_time < at - interval_ms:
                resend.append(task.id)
    for pk in resend:
        dispatch.send_now(dispatch.Message(RUN_TASK, (pk,), QUEUE))
    return failed


# --- reading tasks and files ---------------------------------------------------------------------------


def _visible(task: ExportTask, scope: Scope) -> bool:
    if scope.enterprise_project_ids is None:
        return True
    eps = json.loads(task.enterprise_project_ids or "null")
    return eps is not None and set(eps) <= scope.enterprise_project_ids


def get_task(session: Session, scope: Scope, task_id: str) -> ExportTask:
    task = session.scalars(scoped(select(ExportTask).where(ExportTask.task_id == task_id), scope)).first()
    if task is None or not _visible(task, scope):
        raise NotFound(f"export task {task_id} does not exist")
    return task


def _type_filter(export_task_type: str) -> ColumnElement[bool]:
    names = {export_task_type}
    if export_task_type in SECURITY_REPORT_TYPES:
        names.add(REPORT_PREFIX + export_task_type)
    return ExportTask.export_type.in_(sorted(names))


def latest_task(
    session: Session, scope: Scope, task_id: str | None, export_task_type: str | None
) -> ExportTask:
    """`ShowLatestExportTaskByType`: the named task (of that type, when one is given), or else the
    newest task of the type visible to the caller."""
    if task_id:
        task = get_task(session, scope, task_id)
        if export_task_type and not session.scalar(
            select(func.count()).where(ExportTask.id == task.id, _type_filter(export_task_type))
        ):
            raise NotFound(f"export task {task_id} is not of type {export_task_type}")
        return task
    if not export_task_type:
        raise InvalidRequest("invalid parameter: task_id or export_task_type is required")
    stmt = scoped(select(ExportTask).where(_type_filter(export_task_type)), scope).order_by(
        ExportTask.create_time.desc(), ExportTask.id.desc()
    )
    for task in session.scalars(stmt.limit(50)):
        if _visible(task, scope):
            return task
    raise NotFound(f"no export task of type {export_task_type}")


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: Path
    file_name: str
    media_type: str


def open_file(session: Session, settings: Settings, scope: Scope, file_id: str) -> ExportFile:
    task = None
    if file_id:
        task = session.scalars(
            scoped(
                select(ExportTask).where(ExportTask.file_id == file_id, ExportTask.task_status == "success"),
                scope,
            )
        ).first()
    if task is None or not _visible(task, scope):
        raise NotFound(f"file {file_id} does not exist or has expired")
    path = file_path(settings, task)
    if not path.is_file():
        raise NotFound(f"file {file_id} does not exist or has expired")
    ext = path.suffix.lstrip(".")
    return ExportFile(path, task.file_name, media_type_of(ext))


# --- retention -----------------------------------------------------------------------------------------


def cleanup_exports(sessions: sessionmaker[Session], settings: Settings, now: int | None = None) -> int:
    """Delete files past the retention and mark their tasks; fail tasks running past the timeout and
    send the others that have been running for over `RESEND_AFTER_MS` again.

    Returns the number of tasks changed. Leftover `.part` files and files no task points to (a crash
    between writing and recording) are removed once they are older than the retention too.
    """
    at = now if now is not None else now_ms()
    retention_ms = settings.export_retention_hours * 3600 * 1000
    timeout_ms = settings.export_timeout_minutes * 60 * 1000
    changed = 0
    with transaction(sessions) as session:
        expired = session.scalars(
            select(ExportTask).where(
                ExportTask.task_status == "success", ExportTask.create_time < at - retention_ms
            )
        ).all()
        for task in expired:
            file_path(settings, task).unlink(missing_ok=True)
            task.task_status = "failure"
            task.failed_reason = f"the file expired after {settings.export_retention_hours} h and was deleted"
            task.file_id = ""
            changed += 1
        stuck = session.scalars(
            select(ExportTask).where(
                ExportTask.task_status == "running", ExportTask.create_time < at - timeout_ms
            )
        ).all()
        for task in stuck:
            task.task_status = "failure"
            task.failed_reason = f"the export did not finish within {settings.export_timeout_minutes} min"
            changed += 1
        waiting = session.scalars(
            select(ExportTask.id).where(
                ExportTask.task_status == "running", ExportTask.create_time < at - RESEND_AFTER_MS
            )
        ).all()
        live = set(
            session.scalars(
                select(ExportTask.file_id).where(
                    ExportTask.task_status == "success", ExportTask.file_id != ""
                )
            )
        )
    # The sweeper: a message lost between commit and send (or never sent, with no sender installed)
    # is sent again; a task that is in fact still running is protected by run_export's final update.
    for pk in waiting:
        dispatch.send_now(dispatch.Message(RUN_TASK, (pk,), QUEUE))
    root = settings.data_dir.resolve() / "exports"
    if root.is_dir():
        cutoff = at / 1000 - retention_ms / 1000
        for project_dir in root.iterdir():
            if not project_dir.is_dir():
                continue
            for entry in project_dir.iterdir():
                stem = entry.name.split(".", 1)[0]
                if entry.is_file() and stem not in live and entry.stat().st_mtime < cutoff:
                    entry.unlink(missing_ok=True)
    return changed
