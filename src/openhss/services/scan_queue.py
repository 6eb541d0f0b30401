"""The scan queue: the state machine of one scan job (`scan_task_images` row) and every transition
that moves it, shared by Celery workers (embedded and distributed, `services.scan_executor`) and by agents
(`services.agent_jobs`).

State machine (HSS statuses): `waiting_for_scan` → `scanning` → `success` | `failed` |
`download_failed` | `image_oversized` | `image_scan_stop`. Every transition is a conditional UPDATE
(`… WHERE status = …`), so the database decides races between workers, never a broker:

- **Queue** (`queue_jobs`, `queue_task_jobs`): mark jobs dispatched and send one message each, once the
  caller's transaction commits, on the task's lane (`lane_for`: `manual` for a few explicit images,
  `bulk` for is_all or many).
- **Start** (`start_job`): `waiting_for_scan` → `scanning` with a lease (`lease_owner`,
  `lease_expires`). A job whose lease expired (its worker was SIGKILLed) can be started again; a
  duplicate delivery of a live or finished job changes nothing. Starting also takes a token from the
  task's rate bucket (`scan_tasks.rate_next_at`, capacity one: `rate_limit` starts per hour, evenly
  spaced, so no hour window ever holds more), respects the per-project concurrency cap, counted
  from `scanning` rows under a lock on the project row, and the fair share across projects. A job that
  may not start yet is `Deferred` with a countdown; its runner re-sends it (no sleeping worker, no busy
  loop).
- **Finish** (`finish_job`): in one transaction with the state change, `record_scan` (results,
  index, summaries), the compact matchable inventory (`rematch.store_inventory`), the image's scan
  status/times and the task's counters; the task ends when its last job does. Only the lease owner can
  finish, so exactly one result set is written per job.
- **Sweep** (`sweep`): periodic and at worker start. Resets expired leases and re-sends waiting jobs
  whose message may have been lost (sent longer than `resend_after_seconds` ago).

The scan settings (lease, caps, lanes) are passed by the caller, from its `Runtime`; the sender
(`services.dispatch.set_sender`) is installed by `openhss serve`, `openhss worker` and the tests;
services never import Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from openhss.config import ScanSettings
from openhss.db.models import Image, Project, ScanTask, ScanTaskImage, VulImageIndex
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, ScanScope, ScanStatus
from openhss.domain.models import Finding
from openhss.domain.report import ImageReport
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.services import dispatch, events, image_tags, results, vex, whitelists
from openhss.services.rematch import store_inventory
from openhss.services.results import now_ms

log = logging.getLogger(__name__)

SCAN_TASK = "openhss.scan_job"
SWEEP_TASK = "openhss.sweep"
#: Logical queue names; the sender prefixes them with `Settings.queue_prefix`.
LANES = {"manual": "scan.manual", "bulk": "scan.bulk"}
#: Deferred jobs are re-sent at most this far ahead (a long broker ETA is redelivered by Redis).
MAX_COUNTDOWN = 600.0
CAP_RETRY_SECONDS = 5.0

Clock = Callable[[], int]


def lane_for(is_all: bool, images: int, settings: ScanSettings) -> str:
    return "bulk" if is_all or images > settings.manual_lane_max_images else "manual"


def rowcount(result: object) -> int:
    """Rows a conditional UPDATE changed: 1 means this caller won the transition."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


# --- queueing ----------------------------------------------------------------------------------------


def queue_jobs(session: Session, job_pks: Sequence[int], lane: str, *, now: int | None = None) -> None:
    """Mark jobs dispatched and send their messages once the caller's transaction commits."""
    at = now if now is not None else now_ms()
    for i in range(0, len(job_pks), 1000):
        session.execute(
            update(ScanTaskImage).where(ScanTaskImage.id.in_(job_pks[i : i + 1000])).values(dispatched_at=at)
        )
    queue = LANES.get(lane, LANES["bulk"])
    for pk in job_pks:
        dispatch.after_commit(session, SCAN_TASK, (pk,), queue=queue)


def queue_task_jobs(session: Session, task: ScanTask) -> None:
    pks = list(
        session.scalars(
            select(ScanTaskImage.id)
            .where(ScanTaskImage.task_pk == task.id, ScanTaskImage.status == ScanStatus.WAITING.value)
            .order_by(ScanTaskImage.id)
        )
    )
    queue_jobs(session, pks, task.lane)


# --- start -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    job_pk: int
    task_pk: int
    image_pk: int
    scan_scope: int
    owner: str
    lease_expires: int


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not now: send the job again in `countdown` seconds."""

    countdown: float
    reason: str


def startable(now: int, owner: str = "") -> object:
    """Jobs a worker (or `owner`, resuming its own) may take: waiting, or running on an expired lease."""
    return or_(
        ScanTaskImage.status == ScanStatus.WAITING.value,
        and_(
            ScanTaskImage.status == ScanStatus.SCANNING.value,
            or_(ScanTaskImage.lease_expires < now, ScanTaskImage.lease_owner == owner),
        ),
    )


def start_job(
    session: Session,
    job_pk: int,
    owner: str,
    *,
    now: int | None = None,
    settings: ScanSettings,
    fair: bool = True,
) -> Started | Deferred | None:
    """Take the job (None: it is not startable — running elsewhere, finished or gone).

    `fair`: apply the fair share across projects (workers share one pool; an agent scans only its own
    host's images, so its claims do not).

    Writes nothing unless it returns `Started`: a refused token or cap is compensated before returning,
    so several jobs can be started in one transaction (the agent's claim)."""
    cfg = settings
    at = now if now is not None else now_ms()
    row = session.execute(
        select(
            ScanTaskImage.task_pk,
            ScanTaskImage.image_pk,
            ScanTask.rate_limit,
            ScanTask.project_id,
            ScanTask.scan_scope,
        )
        .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
        .where(ScanTaskImage.id == job_pk, startable(at, owner))  # type: ignore[arg-type]
    ).one_or_none()
    if row is None:
        return None
    task_pk, image_pk, rate_limit, project_id, scope = row
    interval = 0
    previous_next = 0
    if rate_limit > 0:
        interval = max(1, 3_600_000 // rate_limit)
        previous_next = session.scalar(select(ScanTask.rate_next_at).where(ScanTask.id == task_pk)) or 0
        got = session.execute(
            update(ScanTask)
            .where(ScanTask.id == task_pk, ScanTask.rate_next_at <= at)
            .values(rate_next_at=at + interval)
        )
        if rowcount(got) != 1:
            nxt = session.scalar(select(ScanTask.rate_next_at).where(ScanTask.id == task_pk)) or at
            return Deferred(min(MAX_COUNTDOWN, max(0.05, (nxt - at) / 1000)), "rate limit")
    lease_ms = cfg.lease_seconds * 1000
    claimed = session.execute(
        update(ScanTaskImage)
        .where(ScanTaskImage.id == job_pk, startable(at, owner))  # type: ignore[arg-type]
        .values(
            status=ScanStatus.SCANNING.value,
            lease_owner=owner,
            lease_expires=at + lease_ms,
            attempts=ScanTaskImage.attempts + 1,
            first_scan_time=case(
                (ScanTaskImage.first_scan_time == 0, at), else_=ScanTaskImage.first_scan_time
            ),
            latest_scan_time=at,
        )
    )

    def refund() -> None:
        if interval:
            session.execute(
                update(ScanTask)
                .where(ScanTask.id == task_pk, ScanTask.rate_next_at == at + interval)
                .values(rate_next_at=previous_next)
            )

    if rowcount(claimed) != 1:
        refund()
        return None
    if cfg.project_concurrency > 0:
        # The project row serialises concurrent starters on PostgreSQL (SQLite serialises all writers).
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
        running = session.scalar(
            select(func.count())
            .select_from(ScanTaskImage)
            .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
            .where(ScanTask.project_id == project_id, ScanTaskImage.status == ScanStatus.SCANNING.value)
        )
        if (running or 0) > cfg.project_concurrency:
            _unclaim(session, job_pk, owner)
            refund()
            return Deferred(CAP_RETRY_SECONDS, "project concurrency cap")
    if fair and cfg.fair_share and _yields_to_another_project(session, project_id):
        _unclaim(session, job_pk, owner)
        refund()
        return Deferred(CAP_RETRY_SECONDS, "fair share across projects")
    session.execute(update(Image).where(Image.id == image_pk).values(scan_status=ScanStatus.SCANNING.value))
    return Started(job_pk, task_pk, image_pk, int(scope), owner, at + lease_ms)


def _running_by_project(session: Session, projects: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(ScanTask.project_id, func.count())
        .select_from(ScanTaskImage)
        .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
        .where(ScanTask.project_id.in_(projects), ScanTaskImage.status == ScanStatus.SCANNING.value)
        .group_by(ScanTask.project_id)
    ).all()
    return {str(p): int(n) for p, n in rows}


def _yields_to_another_project(session: Session, project_id: str) -> bool:
    """Fair share when claiming work: a project that already runs a scan gives this start up while
    another project, running fewer, has a job waiting that a worker could start.

    Work conserving (a lone project uses every worker) and cheap (only checked once the project runs
    something). Without it the queue is first-come: one tenant's backlog of slow (hostile) images
    kept another tenant's scan `waiting_for_scan` for minutes. Jobs left for agents do not count:
    no worker can start them.
    """
    mine = _running_by_project(session, [project_id]).get(project_id, 0)
    if mine <= 1:  # this job is the project's only running scan
        return False
    others = list(
        session.scalars(
            select(ScanTask.project_id)
            .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
            .join(Image, Image.id == ScanTaskImage.image_pk)
            .where(
                ScanTask.project_id != project_id,
                ScanTaskImage.status == ScanStatus.WAITING.value,
                or_(Image.source_ref != "", Image.image_type == "registry"),
            )
            .distinct()
            .limit(64)
        )
    )
    if not others:
        return False
    running = _running_by_project(session, others)
    return any(running.get(p, 0) < mine - 1 for p in others)


def _unclaim(session: Session, job_pk: int, owner: str) -> None:
    session.execute(
        update(ScanTaskImage)
        .where(ScanTaskImage.id == job_pk, ScanTaskImage.lease_owner == owner)
        .values(
            status=ScanStatus.WAITING.value,
            lease_owner="",
            lease_expires=0,
            attempts=ScanTaskImage.attempts - 1,
        )
    )


# --- finish ------------------------------------------------------------------------------------------


def _close_task_if_done(session: Session, task_pk: int, at: int) -> None:
    active = session.scalar(
        select(func.count())
        .select_from(ScanTaskImage)
        .where(ScanTaskImage.task_pk == task_pk, ScanTaskImage.status.in_(ACTIVE_SCAN_STATUSES))
    )
    if not active:
        session.execute(
            update(ScanTask)
            .where(ScanTask.id == task_pk, ScanTask.task_status != "finished")
            .values(task_status="finished", end_time=at)
        )


def finish_job(
    session: Session,
    job_pk: int,
    owner: str,
    status: ScanStatus,
    reason: str = "",
    *,
    inventory: Inventory | None = None,
    vulnerabilities: Sequence[VulnerabilityFinding] = (),
    findings: Sequence[Finding] = (),
    now: int | None = None,
    fingerprint: str = "",
    unchanged_results: bool = False,
) -> bool:
    """End a running job owned by `owner`; False (nothing written) when it is no longer the owner's.

    `unchanged_results`: a successful rescan whose stored results already answer it (`services.unchanged`):
    only the scan time and status are recorded, no result row is deleted or inserted."""
    at = now if now is not None else now_ms()
    task_pk = session.scalar(select(ScanTaskImage.task_pk).where(ScanTaskImage.id == job_pk))
    if task_pk is None:
        return False
    # Task row first: the same lock order as stop_task (task → jobs → images), and it makes the
    # "last job closes the task" check see concurrent finishers.
    session.execute(select(ScanTask.id).where(ScanTask.id == task_pk).with_for_update())
    done = session.execute(
        update(ScanTaskImage)
        .where(
            ScanTaskImage.id == job_pk,
            ScanTaskImage.status == ScanStatus.SCANNING.value,
            ScanTaskImage.lease_owner == owner,
        )
        .values(
            status=status.value,
            lease_owner="",
            lease_expires=0,
            failed_reason=reason[:4000],
            latest_scan_time=at,
            stop_requested=False,
        )
    )
    if rowcount(done) != 1:
        return False
    image_pk = session.scalar(select(ScanTaskImage.image_pk).where(ScanTaskImage.id == job_pk))
    assert image_pk is not None
    if status is ScanStatus.SUCCESS and unchanged_results:
        session.execute(
            update(Image)
            .where(Image.id == image_pk)
            .values(scan_status=status.value, scan_failed_desc="", latest_scan_time=at)
        )
        # As after a full scan, rules and statements apply to the (kept) findings; they write only what
        # they change, which is nothing unless a rule or statement is new and was not yet applied.
        whitelists.apply_to_image(session, image_pk)
        vex.apply_to_image(session, image_pk)
        counter = {"success_num": ScanTask.success_num + 1}
        events.scan_finished(session, session.get_one(Image, image_pk), status.value)
    elif status is ScanStatus.SUCCESS:
        inv = inventory or Inventory()
        # Only the families the task's scan_scope ran replace stored results (a malware-only scan
        # keeps the image's vulnerabilities).
        scope = ScanScope(int(session.scalar(select(ScanTask.scan_scope).where(ScanTask.id == task_pk)) or 0))
        before = set(session.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == image_pk)))
        results.record_scan(session, image_pk, inv, vulnerabilities, findings, scanned_at=at, scope=scope)
        whitelists.apply_to_image(session, image_pk)  # rules made before this scan cover its findings
        vex.apply_to_image(session, image_pk)  # and so do imported VEX statements
        store_inventory(session, image_pk, inv, at, fingerprint)
        counter = {"success_num": ScanTask.success_num + 1}
        scanned = session.get_one(Image, image_pk)
        events.newly_affected(session, scanned, {v.vul_id for v in vulnerabilities} - before, "scan")
        events.scan_finished(session, scanned, status.value)
    else:
        image = session.get(Image, image_pk, with_for_update=True)
        if image is not None:
            image.scan_status = status.value
            image.scan_failed_desc = reason[:4000]
            if not image.first_scan_time:
                image.first_scan_time = at
            image.latest_scan_time = at
            events.scan_finished(session, image, status.value, reason[:1000])
        counter = {} if status is ScanStatus.STOPPED else {"failed_num": ScanTask.failed_num + 1}
    # The image's other tags hold the same bytes: they get this scan's outcome, not a scan of their own.
    image_tags.share_scan(session, image_pk)
    if counter:
        session.execute(update(ScanTask).where(ScanTask.id == task_pk).values(**counter))
    _close_task_if_done(session, task_pk, at)
    return True


def inventory_of(report: ImageReport) -> Inventory:
    """The stored part of a report: analyzer and check findings are both in `report.findings`."""
    return Inventory(
        os=report.os,
        packages=list(report.packages),
        files=list(report.files),
        findings=list(report.findings),
        skipped=list(report.skipped),
        warnings=list(report.warnings),
    )


def resend(job_pk: int, lane: str, countdown: float | None = None) -> bool:
    return dispatch.send_now(
        dispatch.Message(SCAN_TASK, (job_pk,), queue=LANES.get(lane, LANES["bulk"]), countdown=countdown)
    )


# --- sweeper -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepReport:
    expired: int
    resent: int


def sweep(
    session: Session, settings: ScanSettings, *, now: int | None = None, limit: int = 1000
) -> SweepReport:
    """Reset expired leases and re-send long-silent waiting jobs (their messages go at commit)."""
    cfg = settings
    at = now if now is not None else now_ms()
    expired = list(
        session.scalars(
            select(ScanTaskImage.image_pk).where(
                ScanTaskImage.status == ScanStatus.SCANNING.value, ScanTaskImage.lease_expires < at
            )
        )
    )
    if expired:
        session.execute(
            update(ScanTaskImage)
            .where(ScanTaskImage.status == ScanStatus.SCANNING.value, ScanTaskImage.lease_expires < at)
            .values(status=ScanStatus.WAITING.value, lease_owner="", lease_expires=0, dispatched_at=0)
        )
        session.execute(
            update(Image)
            .where(Image.id.in_(expired), Image.scan_status == ScanStatus.SCANNING.value)
            .values(scan_status=ScanStatus.WAITING.value)
        )
    rows = session.execute(
        select(ScanTaskImage.id, ScanTask.lane)
        .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
        .where(
            ScanTaskImage.status == ScanStatus.WAITING.value,
            ScanTaskImage.dispatched_at < at - cfg.resend_after_seconds * 1000,
        )
        .order_by(ScanTaskImage.id)
        .limit(limit)
    ).all()
    by_lane: dict[str, list[int]] = {}
    for pk, lane in rows:
        by_lane.setdefault(lane, []).append(pk)
    for lane, pks in by_lane.items():
        queue_jobs(session, pks, lane, now=at)
    return SweepReport(len(expired), len(rows))
