"""Scan tasks as the API sees them: create (rows in `waiting_for_scan`), list, stop.

Creating a task queues one `openhss.scan_job` message per image once the request commits
(`services.scan_queue.queue_jobs`, in the task's lane: `manual` for a few explicit images, `bulk` for
is_all/operate_all or many); the executor (`services/scan_executor.py`) or an agent
(`services/agent_jobs.py`) runs them. An image already waiting or
scanning in another task is not queued twice. Stopping marks waiting images `image_scan_stop` at once
and asks running ones to stop at their next layer boundary; the task ends when its last job does.

Automatic scans are scan tasks too: `on_new_image` queues a scan of a newly discovered image (agent
report, registry sync) when `scans.scan_on_new_image` is on; `schedule_rescans` does the periodic
rescans.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from openhss.config import ScanSettings, Settings
from openhss.db.models import Image, ScanTask, ScanTaskImage
from openhss.db.tenancy import scoped
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, FAILED_SCAN_STATUSES, ScanScope, ScanStatus
from openhss.domain.errors import InvalidRequest, NotFound
from openhss.domain.scope import DEFAULT_EP
from openhss.services import image_tags
from openhss.services.identity import Scope
from openhss.services.images import ImageFilter, apply_filter, scoped_images
from openhss.services.results import now_ms
from openhss.services.scan_queue import lane_for, queue_task_jobs

RESCAN_TASK = "openhss.scheduled_rescan"
#: `query_info.image_type` (registry flavours) → the row's registry_type.
REGISTRY_FLAVOUR = {
    "private_image": "SwrPrivate",
    "shared_image": "SwrShared",
    "instance_image": "SwrEnterprise",
    "harbor": "Harbor",
    "jfrog": "Jfrog",
}


@dataclass(frozen=True, slots=True)
class ImageRefIn:
    """One entry of `image_info` / `image_info_list`: whatever identifies the image."""

    id: int | None = None
    image_id: str | None = None
    image_digest: str | None = None
    image_name: str | None = None
    image_version: str | None = None
    namespace: str | None = None
    registry_name: str | None = None


def _resolve(session: Session, scope: Scope, image_type: str, refs: Sequence[ImageRefIn]) -> list[int]:
    base = scoped_images(scope).where(Image.image_type == image_type)
    found: list[int] = []
    for ref in refs:
        stmt = base
        if ref.id is not None:
            stmt = stmt.where(Image.id == ref.id)
        elif ref.image_id:
            stmt = stmt.where(Image.image_id == ref.image_id)
        elif ref.image_digest:
            stmt = stmt.where(Image.image_digest == ref.image_digest)
        elif ref.image_name:
            stmt = stmt.where(Image.image_name == ref.image_name)
            if ref.image_version:
                stmt = stmt.where(Image.image_version == ref.image_version)
        else:
            raise InvalidRequest("invalid parameter image_info: each image needs image_id, id or image_name")
        if ref.namespace:
            stmt = stmt.where(Image.organization == ref.namespace)
        if ref.registry_name:
            stmt = stmt.where(Image.registry_name == ref.registry_name)
        found.extend(session.scalars(stmt.with_only_columns(Image.id).limit(1000)))
    return sorted(set(found))


def create_task(
    session: Session,
    scope: Scope,
    *,
    image_type: str,
    scan_scope: int = ScanScope.ALL.value,
    rate_limit: int = 0,
    is_all: bool,
    image_filter: ImageFilter | None = None,
    refs: Sequence[ImageRefIn] = (),
    task_type: str = "manual",
    settings: ScanSettings,
) -> ScanTask:
    """Queue a task; 404 when explicit images are given and none of them is visible to the caller.

    `settings` (the deployment's scan settings) decide the task's lane. A task belongs to the enterprise
    project of its images, so exactly the users who see the images see the task. Under
    `all_granted_eps` the images may span several EPs: one task per EP is queued (the HSS create
    responses carry no task id) and the first is returned. A task that matched no image (it finishes at
    once, holding nothing) is filed under an EP its maker is granted: the
    scope's first, or "0" for a caller granted every EP.
    """
    if is_all:
        stmt = apply_filter(
            scoped_images(scope).where(Image.image_type == image_type), image_filter or ImageFilter()
        )
        image_pks = list(session.scalars(stmt.with_only_columns(Image.id).order_by(Image.id)))
    else:
        if not refs:
            raise InvalidRequest("invalid parameter image_info: required when is_all/operate_all is false")
        image_pks = _resolve(session, scope, image_type, refs)
        if not image_pks:
            raise NotFound("none of the given images exists")
    by_ep: dict[str, list[int]] = {}
    for i in range(0, len(image_pks), 1000):
        chunk = image_pks[i : i + 1000]
        for pk, ep in session.execute(
            scoped(select(Image.id, Image.enterprise_project_id).where(Image.id.in_(chunk)), scope)
        ):
            by_ep.setdefault(ep, []).append(pk)
    if not by_ep:
        eps = scope.enterprise_project_ids
        by_ep = {DEFAULT_EP if eps is None else sorted(eps)[0]: []}
    tasks = [
        _queue(
            session,
            scope.project_id,
            ep,
            image_type,
            sorted(pks),
            task_type=task_type,
            scan_scope=scan_scope,
            rate_limit=rate_limit,
            is_all=is_all,
            filters=(image_filter or ImageFilter()).as_json(),
            settings=settings,
        )
        for ep, pks in sorted(by_ep.items())
    ]
    return tasks[0]


def queue_images(
    session: Session,
    project_id: str,
    enterprise_project_id: str,
    image_type: str,
    image_pks: Sequence[int],
    *,
    task_type: str = "cycle",
    scan_scope: int = ScanScope.ALL.value,
    settings: ScanSettings,
) -> ScanTask | None:
    """A system-made task (scheduled rescan, scan of a new image); None when every image is busy."""
    task = _queue(
        session,
        project_id,
        enterprise_project_id,
        image_type,
        image_pks,
        task_type=task_type,
        scan_scope=scan_scope,
        rate_limit=0,
        is_all=False,
        filters={},
        settings=settings,
    )
    return task if task.total_num else None


def _queue(
    session: Session,
    project_id: str,
    ep: str,
    image_type: str,
    image_pks: Sequence[int],
    *,
    task_type: str,
    scan_scope: int,
    rate_limit: int,
    is_all: bool,
    filters: dict[str, object],
    settings: ScanSettings,
) -> ScanTask:
    busy: set[int] = set()
    for i in range(0, len(image_pks), 1000):
        busy.update(
            session.scalars(
                select(ScanTaskImage.image_pk).where(
                    ScanTaskImage.image_pk.in_(image_pks[i : i + 1000]),
                    ScanTaskImage.status.in_(ACTIVE_SCAN_STATUSES),
                )
            )
        )
    wanted = [pk for pk in image_pks if pk not in busy]
    # Tag rows of one local image are scanned once: the first takes the job, its siblings its results.
    shared = image_tags.covered(session, wanted)
    queue = [pk for pk in wanted if pk not in shared]
    at = now_ms()
    task = ScanTask(
        task_id=uuid.uuid4().hex,
        project_id=project_id,
        enterprise_project_id=ep,
        task_name=f"{task_type}_scan_{at}",
        task_type=task_type,
        image_type=image_type,
        scan_scope=scan_scope,
        rate_limit=rate_limit,
        is_all=is_all,
        filters=json.dumps(filters, sort_keys=True),
        task_status="scanning" if queue else "finished",
        total_num=len(queue),
        create_time=at,
        end_time=0 if queue else at,
        lane=lane_for(is_all, len(queue), settings),
        rate_next_at=0,
    )
    session.add(task)
    session.flush()
    # Rows left to a sibling's job wait too: that job's outcome is theirs (image_tags.share_scan).
    for i in range(0, len(wanted), 1000):
        session.execute(
            update(Image)
            .where(Image.id.in_(wanted[i : i + 1000]))
            .values(scan_status=ScanStatus.WAITING.value, scan_failed_desc="")
        )
    if queue:
        session.execute(
            insert(ScanTaskImage),
            [{"task_pk": task.id, "image_pk": pk, "status": ScanStatus.WAITING.value} for pk in queue],
        )
        queue_task_jobs(session, task)
    return task


@dataclass(frozen=True, slots=True)
class TaskFilter:
    type: str
    global_image_type: str | None = None
    task_type: str | None = None
    task_name: str | None = None
    task_id: str | None = None
    create_time: int | None = None
    end_time: int | None = None
    task_status: str | None = None
    scan_scope: int | None = None


def list_tasks(
    session: Session, scope: Scope, f: TaskFilter, offset: int, limit: int
) -> tuple[int, list[tuple[ScanTask, list[tuple[ScanTaskImage, Image]]]]]:
    if f.type != "image_scan":
        return 0, []  # image_sync tasks belong to registry synchronisation, not implemented here
    stmt = scoped(select(ScanTask), scope)
    if f.global_image_type:
        stmt = stmt.where(ScanTask.image_type == f.global_image_type)
    if f.task_type:
        stmt = stmt.where(ScanTask.task_type == f.task_type)
    if f.task_name:
        stmt = stmt.where(ScanTask.task_name.contains(f.task_name, autoescape=True))
    if f.task_id:
        stmt = stmt.where(ScanTask.task_id == f.task_id)
    if f.create_time is not None:
        stmt = stmt.where(ScanTask.create_time >= f.create_time)
    if f.end_time is not None:
        stmt = stmt.where(or_(ScanTask.end_time == 0, ScanTask.end_time <= f.end_time))
    if f.task_status:
        stmt = stmt.where(ScanTask.task_status == f.task_status)
    if f.scan_scope is not None:
        stmt = stmt.where(ScanTask.scan_scope == f.scan_scope)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    tasks = list(
        session.scalars(
            stmt.order_by(ScanTask.create_time.desc(), ScanTask.id.desc()).offset(offset).limit(limit)
        )
    )
    out = []
    for task in tasks:
        failed = session.execute(
            select(ScanTaskImage, Image)
            .join(Image, Image.id == ScanTaskImage.image_pk)
            .where(
                ScanTaskImage.task_pk == task.id,
                ScanTaskImage.status.not_in(
                    (*ACTIVE_SCAN_STATUSES, ScanStatus.SUCCESS.value, ScanStatus.STOPPED.value)
                ),
            )
            .order_by(ScanTaskImage.id)
            .limit(100)
        ).all()
        out.append((task, [(row, img) for row, img in failed]))
    return total, out


#: Image levels that count an image as risky (HSS `risky_num`); `Security` means nothing was found.
RISKY_LEVELS = ("High", "Medium", "Low")


@dataclass(frozen=True, slots=True)
class TaskProgress:
    task_status: int  # HSS: 0-100 progress, 100 done, -1 stopped
    success_num: int
    failed_num: int
    #: Images this task scanned that carry risk (image level other than Security).
    risky_num: int = 0


def task_progress(session: Session, task: ScanTask) -> TaskProgress:
    """`task_status` and the counters from one read of the task's job rows, so they always agree.

    Reading the counters from the task row and the progress from the job rows in two statements let a
    job finishing in between show `task_status` 100 with 3 of 4 images counted."""
    counts = dict(
        session.execute(
            select(ScanTaskImage.status, func.count())
            .where(ScanTaskImage.task_pk == task.id)
            .group_by(ScanTaskImage.status)
        ).all()
    )
    success = counts.get(ScanStatus.SUCCESS.value, 0)
    failed = sum(counts.get(s, 0) for s in FAILED_SCAN_STATUSES)
    total = sum(counts.values())
    active = sum(counts.get(s, 0) for s in ACTIVE_SCAN_STATUSES)
    if counts.get(ScanStatus.STOPPED.value) and not active:
        status = -1
    elif total == 0:
        status = 100
    else:
        status = int((total - active) * 100 / total)
    risky = 0
    if success:
        risky = (
            session.scalar(
                select(func.count())
                .select_from(ScanTaskImage)
                .join(Image, Image.id == ScanTaskImage.image_pk)
                .where(
                    ScanTaskImage.task_pk == task.id,
                    ScanTaskImage.status == ScanStatus.SUCCESS.value,
                    Image.severity_level.in_(RISKY_LEVELS),
                )
            )
            or 0
        )
    return TaskProgress(status, success, failed, risky)


def progress(session: Session, task: ScanTask) -> int:
    """HSS `task_status` integer: 0-100 progress, 100 done, -1 stopped."""
    return task_progress(session, task).task_status


def stop_task(session: Session, scope: Scope, task_id: str) -> None:
    """Waiting images become `image_scan_stop`; running ones are asked to stop at a layer boundary."""
    stmt = scoped(select(ScanTask).where(ScanTask.task_id == task_id), scope)
    task = session.scalars(stmt.with_for_update()).first()
    if task is None:
        raise NotFound(f"scan task {task_id} does not exist")
    waiting = list(
        session.scalars(
            select(ScanTaskImage.image_pk).where(
                ScanTaskImage.task_pk == task.id, ScanTaskImage.status == ScanStatus.WAITING.value
            )
        )
    )
    session.execute(
        update(ScanTaskImage)
        .where(ScanTaskImage.task_pk == task.id, ScanTaskImage.status == ScanStatus.WAITING.value)
        .values(status=ScanStatus.STOPPED.value, failed_reason="stopped by user")
    )
    for i in range(0, len(waiting), 1000):
        session.execute(
            update(Image)
            .where(Image.id.in_(waiting[i : i + 1000]), Image.scan_status == ScanStatus.WAITING.value)
            .values(scan_status=ScanStatus.STOPPED.value)
        )
    session.execute(
        update(ScanTaskImage)
        .where(ScanTaskImage.task_pk == task.id, ScanTaskImage.status == ScanStatus.SCANNING.value)
        .values(stop_requested=True)
    )
    running = session.scalar(
        select(func.count())
        .select_from(ScanTaskImage)
        .where(ScanTaskImage.task_pk == task.id, ScanTaskImage.status == ScanStatus.SCANNING.value)
    )
    if not running:
        task.task_status = "finished"
        task.end_time = task.end_time or now_ms()


# --- automatic scans ---------------------------------------------------------------------------------


def on_new_image(session: Session, image_pk: int, settings: Settings) -> ScanTask | None:
    """An agent reported a new local image, or a registry sync found one: queue a scan of it when
    `scans.scan_on_new_image` is on."""
    cfg = settings.scans
    if not cfg.scan_on_new_image:
        return None

    image = session.get(Image, image_pk)
    if image is None:
        return None
    return queue_images(
        session,
        image.project_id,
        image.enterprise_project_id,
        image.image_type,
        [image_pk],
        task_type="cycle",
        settings=cfg,
    )


def schedule_rescans(session: Session, settings: Settings, *, now: int | None = None) -> int:
    """Queue a `cycle` task per project and image type for images not scanned for the interval."""
    cfg = settings.scans
    if cfg.rescan_interval_hours <= 0:
        return 0

    at = now if now is not None else now_ms()
    due_before = at - int(cfg.rescan_interval_hours * 3_600_000)
    groups: dict[tuple[str, str, str], list[int]] = {}
    rows = session.execute(
        select(Image.id, Image.project_id, Image.enterprise_project_id, Image.image_type).where(
            Image.latest_scan_time > 0,
            Image.latest_scan_time < due_before,
            Image.scan_status.not_in(ACTIVE_SCAN_STATUSES),
        )
    ).all()
    for pk, project, ep, itype in rows:
        groups.setdefault((project, ep, itype), []).append(pk)
    queued = 0
    for (project, ep, itype), pks in groups.items():
        task = queue_images(session, project, ep, itype, pks, task_type="cycle", settings=cfg)
        queued += task.total_num if task is not None else 0
    return queued
