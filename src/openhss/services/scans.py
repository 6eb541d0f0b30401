"""The scan executor: the state machine of one scan job (`scan_task_images` row) and everything that
moves it, shared by Celery workers (embedded and distributed) and by agents.

State machine (HSS statuses): `waiting_for_scan` → `scanning` → `success` | `failed` |
`download_failed` | `image_oversized` | `image_scan_stop`. Every transition is a conditional UPDATE
(`… WHERE status = …`), so the database decides races between workers, never a broker:

- **Start** (`start_job`): `waiting_for_scan` → `scanning` with a lease (`lease_owner`,
  `lease_expires`). A job whose lease expired (its worker was SIGKILLed) can be started again; a
  duplicate delivery of a live or finished job changes nothing. Starting also takes a token from the
  task's rate bucket (`scan_tasks.rate_next_at`, capacity one: `rate_limit` starts per hour, evenly
  spaced, so no hour window ever holds more) and respects the per-project concurrency cap, counted
  from `scanning` rows under a lock on the project row. A job that may not start yet is `Deferred`
  with a countdown; its runner re-sends it (no sleeping worker, no busy loop).
- **Run** (`run_job`): resolve where the image is (`image_sources.resolve`; jobs of agent-only images
  are left for `claim_jobs_for_host`), scan with `build_pipeline` (scope from the task's `scan_scope`,
  the shared `DbLayerCache`), renew the lease from a heartbeat thread, and stop at a layer boundary
  when the user stopped the task or the lease was lost.
- **Finish** (`finish_job`): in one transaction with the state change, `record_scan` (results,
  index, summaries), the compact matchable inventory (`image_inventories`, for re-matching), the
  image's scan status/times and the task's counters; the task ends when its last job does. Only the
  lease owner can finish, so exactly one result set is written per job.
- **Sweep** (`sweep`): periodic and at worker start. Resets expired leases and re-sends waiting jobs
  whose message may have been lost (sent longer than `resend_after_seconds` ago).

Agent-side execution (the agent API builds on these): `claim_jobs_for_host(session, host_pk, limit)`,
`heartbeat_job`, `complete_job(session, job_pk, report)` (server-side vulnerability matching with the
advisory DB, then the same `finish_job`), `fail_job(session, job_pk, status, reason)`.

`on_new_image(session, image_pk)` queues a scan of a newly discovered image when the setting
`scans.scan_on_new_image` is on; `schedule_rescans` does the periodic rescans.

Re-match (`rematch`, the `openhss.rematch` task; `queue_rematch` records a run and queues it): after
`db update`/`db import`, matches again only the packages the changed advisory keys touch, in the stored
inventories that hold them (found by PostgreSQL's GIN index over their key lines), without reading any
layer, and rewrites only those packages' rows, then the index and summaries, per batch of images;
images that gained vulnerabilities are recorded in `rematch_hits` (listed by `newly_affected`).

Process configuration (`configure(settings)`) and the sender (`services.dispatch.set_sender`) are
installed by `openhss serve`, `openhss worker` and the tests; services never import Celery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import zstandard
from sqlalchemy import Text, and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import ScanSettings, Settings, load_settings
from openhss.db.engine import transaction
from openhss.db.models import (
    EventSubscription,
    Image,
    ImageHost,
    ImageWhitelist,
    Project,
    ScanTask,
    ScanTaskImage,
    VexStatement,
    VulImageIndex,
)
from openhss.db.scheduling import INVENTORY_KEY_LINES, ImageInventory, RematchHit, RematchRun
from openhss.db.tenancy import scoped
from openhss.domain.enums import ScanScope, ScanStatus
from openhss.domain.models import Finding
from openhss.domain.report import ImageReport
from openhss.domain.scope import Scope
from openhss.domain.vulnerability import VulnerabilityFinding
from openhss.scan.applier import Inventory
from openhss.scan.cache import INVENTORY_CODEC, decode_inventory, encode_inventory
from openhss.scan.errors import ScanError
from openhss.scan.layers import Limits
from openhss.scan.matcher import VulnerabilityMatcher, needs_rematch
from openhss.scan.matcher.registry import MATCHERS
from openhss.services import dispatch, events, image_sources, image_tags, results, vex, whitelists
from openhss.services.layer_cache import DbLayerCache
from openhss.services.results import now_ms
from openhss.services.scanning import NoAdvisoryDatabase, build_pipeline, scan_image
from openhss.services.vulndb import VulnDbError, VulnDbService

log = logging.getLogger(__name__)

SCAN_TASK = "openhss.scan_job"
SWEEP_TASK = "openhss.sweep"
REMATCH_TASK = "openhss.rematch"
RESCAN_TASK = "openhss.scheduled_rescan"
#: Logical queue names; the sender prefixes them with `Settings.queue_prefix`.
LANES = {"manual": "scan.manual", "bulk": "scan.bulk"}
AGENT_OWNER = "agent:"
ACTIVE = (ScanStatus.WAITING.value, ScanStatus.SCANNING.value)
#: Deferred jobs are re-sent at most this far ahead (a long broker ETA is redelivered by Redis).
MAX_COUNTDOWN = 600.0
CAP_RETRY_SECONDS = 5.0

Clock = Callable[[], int]

_CONFIG: list[Settings] = []


def configure(settings: Settings) -> None:
    """Install this process's settings (lanes, leases, caps) for services called without them."""
    _CONFIG[:] = [settings]


def current_settings() -> Settings:
    if not _CONFIG:
        _CONFIG.append(load_settings())
    return _CONFIG[0]


def scan_settings() -> ScanSettings:
    return current_settings().scans


def lane_for(is_all: bool, images: int) -> str:
    return "bulk" if is_all or images > scan_settings().manual_lane_max_images else "manual"


def new_owner(delivery: str = "") -> str:
    """A lease owner for one delivery of one job: host, process and the message id (random if none).

    A retried task keeps its message id, so after a database outage it resumes its own job instead of
    waiting for the lease to expire."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{delivery or uuid.uuid4().hex}"[:160]


def _rowcount(result: object) -> int:
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


def _startable(now: int, owner: str = "") -> object:
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
    settings: ScanSettings | None = None,
    fair: bool = True,
) -> Started | Deferred | None:
    """Take the job (None: it is not startable — running elsewhere, finished or gone).

    `fair`: apply the fair share across projects (workers share one pool; an agent scans only its own
    host's images, so its claims do not).

    Writes nothing unless it returns `Started`: a refused token or cap is compensated before returning,
    so several jobs can be started in one transaction (the agent's claim)."""
    cfg = settings or scan_settings()
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
        .where(ScanTaskImage.id == job_pk, _startable(at, owner))  # type: ignore[arg-type]
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
        if _rowcount(got) != 1:
            nxt = session.scalar(select(ScanTask.rate_next_at).where(ScanTask.id == task_pk)) or at
            return Deferred(min(MAX_COUNTDOWN, max(0.05, (nxt - at) / 1000)), "rate limit")
    lease_ms = cfg.lease_seconds * 1000
    claimed = session.execute(
        update(ScanTaskImage)
        .where(ScanTaskImage.id == job_pk, _startable(at, owner))  # type: ignore[arg-type]
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

    if _rowcount(claimed) != 1:
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


def rematch_keys(inventory: Inventory) -> set[tuple[str, str]]:
    """The (ecosystem, name) advisory keys an inventory's packages are looked up under."""
    out: set[tuple[str, str]] = set()
    for pkg in inventory.packages:
        matcher = next((m for m in MATCHERS if m.handles(pkg)), None)
        if matcher is not None:
            out.update((k.ecosystem.value, k.name) for k in matcher.keys(pkg, inventory.os))
    return out


def store_inventory(session: Session, image_pk: int, inventory: Inventory, at: int) -> None:
    """Keep the matchable inventory and its advisory key lines: all a re-match reads of an image
    (every image kind that records results must store it, or that kind is never re-matched)."""
    blob = encode_inventory(inventory.os, inventory.packages)
    keys = "\n".join(sorted(f"{e}\t{n}" for e, n in rematch_keys(inventory)))
    session.execute(delete(ImageInventory).where(ImageInventory.image_pk == image_pk))
    session.execute(
        insert(ImageInventory).values(
            image_pk=image_pk, codec=INVENTORY_CODEC, blob=blob, keys=keys, updated_at=at
        )
    )


def _close_task_if_done(session: Session, task_pk: int, at: int) -> None:
    active = session.scalar(
        select(func.count())
        .select_from(ScanTaskImage)
        .where(ScanTaskImage.task_pk == task_pk, ScanTaskImage.status.in_(ACTIVE))
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
) -> bool:
    """End a running job owned by `owner`; False (nothing written) when it is no longer the owner's."""
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
    if _rowcount(done) != 1:
        return False
    image_pk = session.scalar(select(ScanTaskImage.image_pk).where(ScanTaskImage.id == job_pk))
    assert image_pk is not None
    if status is ScanStatus.SUCCESS:
        inv = inventory or Inventory()
        # Only the families the task's scan_scope ran replace stored results (a malware-only scan
        # keeps the image's vulnerabilities).
        scope = ScanScope(int(session.scalar(select(ScanTask.scan_scope).where(ScanTask.id == task_pk)) or 0))
        before = set(session.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == image_pk)))
        results.record_scan(session, image_pk, inv, vulnerabilities, findings, scanned_at=at, scope=scope)
        whitelists.apply_to_image(session, image_pk)  # rules made before this scan cover its findings
        vex.apply_to_image(session, image_pk)  # and so do imported VEX statements
        store_inventory(session, image_pk, inv, at)
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


# --- running a job in a worker -----------------------------------------------------------------------


class Lease:
    """Keeps a running job's lease alive and answers "should this scan stop?" at layer boundaries."""

    def __init__(
        self, sessions: sessionmaker[Session], job_pk: int, owner: str, lease_ms: int, clock: Clock
    ) -> None:
        self.sessions, self.job_pk, self.owner, self.lease_ms, self.clock = (
            sessions,
            job_pk,
            owner,
            lease_ms,
            clock,
        )
        self.lost = False
        self.stop_requested = False
        self._done = threading.Event()
        self._checked = 0.0
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_pk}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def _beat(self) -> None:
        while not self._done.wait(max(0.5, self.lease_ms / 3000)):
            try:
                self.renew()
            except DBAPIError:
                log.warning("job %s: could not renew its lease (database unavailable)", self.job_pk)

    def renew(self) -> None:
        with transaction(self.sessions) as session:
            got = session.execute(
                update(ScanTaskImage)
                .where(
                    ScanTaskImage.id == self.job_pk,
                    ScanTaskImage.lease_owner == self.owner,
                    ScanTaskImage.status == ScanStatus.SCANNING.value,
                )
                .values(lease_expires=self.clock() + self.lease_ms)
            )
            if _rowcount(got) != 1:
                self.lost = True

    def should_stop(self) -> bool:
        if self.lost or self.stop_requested:
            return True
        if time.monotonic() - self._checked < 1.0:
            return False
        self._checked = time.monotonic()
        try:
            with transaction(self.sessions) as session:
                row = session.execute(
                    select(ScanTaskImage.stop_requested, ScanTaskImage.lease_owner).where(
                        ScanTaskImage.id == self.job_pk
                    )
                ).one_or_none()
        except DBAPIError:
            return False
        if row is None or row.lease_owner != self.owner:
            self.lost = True
        elif row.stop_requested:
            self.stop_requested = True
        return self.lost or self.stop_requested


_MATCHERS: dict[tuple[str, int, int], VulnerabilityMatcher] = {}
_MATCHER_LOCK = threading.Lock()


def cached_matcher(settings: Settings) -> VulnerabilityMatcher:
    """One matcher per advisory-store file version in this process (the store is swapped by rename)."""
    service = VulnDbService.from_settings(settings)
    path = service.store.path
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NoAdvisoryDatabase(
            f"no advisory database at {path}; run `openhss db update` (or `openhss db import PATH`)"
        ) from None
    key = (str(path), st.st_ino, st.st_mtime_ns)
    with _MATCHER_LOCK:
        m = _MATCHERS.get(key)
        if m is None:
            try:
                m = service.matcher()
            except VulnDbError as exc:
                raise NoAdvisoryDatabase(str(exc)) from None
            _MATCHERS.clear()
            _MATCHERS[key] = m
        return m


def scan_limits(settings: Settings) -> Limits:
    return Limits(
        max_image_bytes=settings.limits.max_image_bytes, max_members=settings.limits.max_layer_members
    )


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a worker did with one message: `status` is final, or None (skipped / delegated / deferred)."""

    status: ScanStatus | None = None
    reason: str = ""
    deferred: Deferred | None = None
    lane: str = "manual"


def _classify(exc: BaseException) -> tuple[ScanStatus, str]:
    if isinstance(exc, ScanError):
        return exc.status, exc.reason
    if isinstance(exc, NoAdvisoryDatabase):
        return ScanStatus.FAILED, str(exc)
    if isinstance(exc, OSError):
        return ScanStatus.DOWNLOAD_FAILED, f"{type(exc).__name__}: {exc}"
    return ScanStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"


def run_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_pk: int,
    *,
    owner: str | None = None,
    clock: Clock = now_ms,
) -> JobOutcome:
    """Run one job to its end if it is startable. Database errors propagate (the task retries)."""
    me = owner or new_owner()
    cfg = settings.scans
    with transaction(sessions) as session:
        job = session.get(ScanTaskImage, job_pk)
        if job is None or job.status not in ACTIVE:
            return JobOutcome()
        lane = session.scalar(select(ScanTask.lane).where(ScanTask.id == job.task_pk)) or "manual"
        image = session.get(Image, job.image_pk)
        if image is None:
            return JobOutcome()
        source: image_sources.ResolvedSource | image_sources.Delegated | ScanError
        try:
            source = image_sources.resolve(session, settings, image)
        except ScanError as exc:
            source = exc
        if isinstance(source, image_sources.Delegated):
            job.dispatched_at = clock()
            return JobOutcome(reason="delegated to agent", lane=lane)
    with transaction(sessions) as session:
        started = start_job(session, job_pk, me, now=clock(), settings=cfg)
    if started is None:
        return JobOutcome(lane=lane)
    if isinstance(started, Deferred):
        with transaction(sessions) as session:
            session.execute(
                update(ScanTaskImage).where(ScanTaskImage.id == job_pk).values(dispatched_at=clock())
            )
        return JobOutcome(deferred=started, lane=lane)
    report: ImageReport | None = None
    if isinstance(source, ScanError):
        status, reason = source.status, source.reason
    else:
        with Lease(sessions, job_pk, me, cfg.lease_seconds * 1000, clock) as lease:
            try:
                scope = ScanScope(started.scan_scope)
                options = build_pipeline(
                    scope & ~ScanScope.VULNERABILITY,
                    cache=DbLayerCache(sessions) if cfg.layer_cache else None,
                    settings=settings,
                )
                if scope & ScanScope.VULNERABILITY:
                    options.matcher = cached_matcher(settings)
                options.limits = scan_limits(settings)
                options.should_stop = lease.should_stop
                options.max_seconds = float(cfg.max_scan_seconds)
                report = scan_image(source.ref, source.options, options)
                status, reason = ScanStatus.SUCCESS, ""
            except DBAPIError:
                raise
            except Exception as exc:
                status, reason = _classify(exc)
                log.info("job %s ended %s: %s", job_pk, status.value, reason)
    with transaction(sessions) as session:
        ok = finish_job(
            session,
            job_pk,
            me,
            status,
            reason,
            inventory=_inventory(report) if report is not None else None,
            vulnerabilities=report.vulnerabilities if report is not None else (),
            now=clock(),
        )
    if not ok:
        log.warning("job %s: lease lost before it finished; another run owns it", job_pk)
        return JobOutcome(lane=lane)
    return JobOutcome(status, reason, lane=lane)


def _inventory(report: ImageReport) -> Inventory:
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


def sweep(session: Session, *, now: int | None = None, limit: int = 1000) -> SweepReport:
    """Reset expired leases and re-send long-silent waiting jobs (their messages go at commit)."""
    cfg = scan_settings()
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


# --- agents ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentJob:
    """A job handed to an agent: scan `image_id` (`image_name:image_version`) with `scan_scope`."""

    job_pk: int
    task_id: str
    image_pk: int
    image_id: str
    image_name: str
    image_version: str
    scan_scope: int
    lease_expires: int


def agent_owner(host_pk: int) -> str:
    return f"{AGENT_OWNER}{host_pk}"


def claim_jobs_for_host(
    session: Session, host_pk: int, limit: int, *, now: int | None = None
) -> list[AgentJob]:
    """Start up to `limit` jobs of local images only this host's agent can read (no `source_ref`)."""
    at = now if now is not None else now_ms()
    candidates = session.execute(
        select(
            ScanTaskImage.id,
            Image.id,
            Image.image_id,
            Image.image_name,
            Image.image_version,
            ScanTask.task_id,
        )
        .join(Image, Image.id == ScanTaskImage.image_pk)
        .join(ImageHost, ImageHost.image_pk == Image.id)
        .join(ScanTask, ScanTask.id == ScanTaskImage.task_pk)
        .where(
            ImageHost.host_pk == host_pk,
            Image.source_ref == "",
            Image.image_type == "local",
            _startable(at),  # type: ignore[arg-type]
        )
        .order_by(ScanTaskImage.id)
        .limit(max(0, limit) * 2)
    ).all()
    out: list[AgentJob] = []
    for job_pk, image_pk, image_id, name, version, task_id in candidates:
        if len(out) >= limit:
            break
        started = start_job(session, job_pk, agent_owner(host_pk), now=at, fair=False)
        if isinstance(started, Started):
            out.append(
                AgentJob(
                    job_pk,
                    task_id,
                    image_pk,
                    image_id,
                    name,
                    version,
                    started.scan_scope,
                    started.lease_expires,
                )
            )
    return out


def _owner_of(session: Session, job_pk: int) -> str:
    return session.scalar(select(ScanTaskImage.lease_owner).where(ScanTaskImage.id == job_pk)) or ""


def heartbeat_job(session: Session, job_pk: int, owner: str, *, now: int | None = None) -> bool:
    """Renew an agent's lease; False when the job is no longer its (stopped, expired and re-taken)."""
    at = now if now is not None else now_ms()
    got = session.execute(
        update(ScanTaskImage)
        .where(
            ScanTaskImage.id == job_pk,
            ScanTaskImage.lease_owner == owner,
            ScanTaskImage.status == ScanStatus.SCANNING.value,
            ScanTaskImage.stop_requested.is_(False),
        )
        .values(lease_expires=at + scan_settings().lease_seconds * 1000)
    )
    return _rowcount(got) == 1


def complete_job(
    session: Session,
    job_pk: int,
    report_or_inventory: ImageReport | Inventory,
    *,
    owner: str | None = None,
    settings: Settings | None = None,
    matcher: Callable[[Inventory], list[VulnerabilityFinding]] | None = None,
    now: int | None = None,
) -> bool:
    """An agent's scan result: vulnerabilities are matched here against the server's advisory DB.

    A job whose scope includes vulnerabilities fails (`failed`, reason given) when no advisory DB exists.
    """
    who = owner or _owner_of(session, job_pk)
    inv = (
        _inventory(report_or_inventory)
        if isinstance(report_or_inventory, ImageReport)
        else report_or_inventory
    )
    scope = session.scalar(
        select(ScanTask.scan_scope)
        .join(ScanTaskImage, ScanTaskImage.task_pk == ScanTask.id)
        .where(ScanTaskImage.id == job_pk)
    )
    vulns: list[VulnerabilityFinding] = []
    if scope is not None and ScanScope(int(scope)) & ScanScope.VULNERABILITY:
        try:
            vulns = (matcher or cached_matcher(settings or current_settings()))(inv)
        except NoAdvisoryDatabase as exc:
            return finish_job(session, job_pk, who, ScanStatus.FAILED, str(exc), now=now)
    return finish_job(session, job_pk, who, ScanStatus.SUCCESS, inventory=inv, vulnerabilities=vulns, now=now)


def fail_job(
    session: Session, job_pk: int, status: ScanStatus | str, reason: str, *, owner: str | None = None
) -> bool:
    """An agent could not scan: `status` is one of the final failure statuses (or image_scan_stop)."""
    st = ScanStatus(status)
    if not st.is_final or st is ScanStatus.SUCCESS:
        raise ValueError(f"{st.value} is not a failure status")
    return finish_job(session, job_pk, owner or _owner_of(session, job_pk), st, reason)


# --- automatic scans ---------------------------------------------------------------------------------


def on_new_image(session: Session, image_pk: int, settings: Settings | None = None) -> ScanTask | None:
    """An agent reported a new local image: queue a scan of it when `scans.scan_on_new_image` is on."""
    cfg = (settings or current_settings()).scans
    if not cfg.scan_on_new_image:
        return None
    from openhss.services.scan_tasks import queue_images

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
    )


def schedule_rescans(session: Session, settings: Settings | None = None, *, now: int | None = None) -> int:
    """Queue a `cycle` task per project and image type for images not scanned for the interval."""
    cfg = (settings or current_settings()).scans
    if cfg.rescan_interval_hours <= 0:
        return 0
    from openhss.services.scan_tasks import queue_images

    at = now if now is not None else now_ms()
    due_before = at - int(cfg.rescan_interval_hours * 3_600_000)
    groups: dict[tuple[str, str, str], list[int]] = {}
    rows = session.execute(
        select(Image.id, Image.project_id, Image.enterprise_project_id, Image.image_type).where(
            Image.latest_scan_time > 0,
            Image.latest_scan_time < due_before,
            Image.scan_status.not_in(ACTIVE),
        )
    ).all()
    for pk, project, ep, itype in rows:
        groups.setdefault((project, ep, itype), []).append(pk)
    queued = 0
    for (project, ep, itype), pks in groups.items():
        task = queue_images(session, project, ep, itype, pks, task_type="cycle")
        queued += task.total_num if task is not None else 0
    return queued


# --- re-match ----------------------------------------------------------------------------------------


def _pack_keys(keys: Iterable[tuple[str, str]]) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(sorted(keys)).encode())


def _unpack_keys(blob: bytes) -> set[tuple[str, str]]:
    return {(e, n) for e, n in json.loads(zstandard.ZstdDecompressor().decompress(blob))}


def create_rematch_run(session: Session, changed: Iterable[tuple[str, str]]) -> RematchRun:
    keys = set(changed)
    run = RematchRun(
        created_at=now_ms(),
        status="waiting",
        changed_num=len(keys),
        changed=_pack_keys(keys),
        finished_at=0,
        images_checked=0,
        images_rematched=0,
        images_newly_affected=0,
    )
    session.add(run)
    session.flush()
    return run


@dataclass(slots=True)
class RematchReport:
    run_pk: int
    checked: int = 0
    rematched: int = 0
    newly_affected: list[tuple[int, list[str]]] = field(default_factory=list)


def queue_rematch(session: Session, changed: Iterable[tuple[str, str]]) -> RematchRun:
    """Record a re-match run and send `openhss.rematch` for it once the transaction commits: whichever
    worker takes it runs `rematch`. A run whose message was lost stays `waiting` until queued again."""
    run = create_rematch_run(session, changed)
    dispatch.after_commit(session, REMATCH_TASK, [run.id])
    return run


#: Inventories whose stored keys are tested per query when the database cannot test them itself.
_SCAN_BATCH = 5000


def _touched(session: Session, wanted: list[str], after: int) -> tuple[int, list[int], int | None]:
    """(inventories checked, the touched ones among them, where the next call resumes or None at the end).

    On PostgreSQL the database answers from a GIN index over the inventories' key lines (migration 0017)
    and only the touched ids cross the wire; elsewhere the key lines are read in pages and tested here."""
    codec = ImageInventory.codec == INVENTORY_CODEC
    if session.get_bind().dialect.name == "postgresql":
        touched = list(
            session.scalars(
                select(ImageInventory.image_pk)
                .where(codec, INVENTORY_KEY_LINES.op("&&")(literal(wanted, postgresql.ARRAY(Text))))
                .order_by(ImageInventory.image_pk)
            )
        )
        return session.scalar(select(func.count()).select_from(ImageInventory)) or 0, touched, None
    rows = session.execute(
        select(ImageInventory.image_pk, ImageInventory.codec, ImageInventory.keys)
        .where(ImageInventory.image_pk > after)
        .order_by(ImageInventory.image_pk)
        .limit(_SCAN_BATCH)
    ).all()
    want = set(wanted)
    hit = [pk for pk, c, keys in rows if c == INVENTORY_CODEC and not want.isdisjoint(keys.split("\n"))]
    return len(rows), hit, (rows[-1][0] if len(rows) == _SCAN_BATCH else None)


Plan = tuple[frozenset[tuple[str, str, str]], list[VulnerabilityFinding]]


def _plan(
    blob: bytes, changed: set[tuple[str, str]], matcher: Callable[[Inventory], list[VulnerabilityFinding]]
) -> Plan:
    """The row keys of the packages the change touches and the findings of every package sharing one of
    those keys (a stored row is per name/version/path, whichever package produced it)."""
    os_info, packages = decode_inventory(blob)
    row_keys = frozenset(
        (p.name[:256], p.version[:256], p.path[:1024]) for p in needs_rematch(os_info, packages, changed)
    )
    subset = [p for p in packages if (p.name[:256], p.version[:256], p.path[:1024]) in row_keys]
    return row_keys, (matcher(Inventory(os=os_info, packages=subset)) if subset else [])


def rematch(
    sessions: sessionmaker[Session],
    run_pk: int,
    matcher: Callable[[Inventory], list[VulnerabilityFinding]],
    *,
    batch: int = 200,
    whole: bool = False,
) -> RematchReport:
    """Re-match the packages an advisory change touches, in the stored inventories that hold them, and
    record the images that became newly affected.

    Only touched packages are matched and only their rows rewritten (`results.rematch_packages`), in
    batches of images (one transaction each, progress written to the run row and logged), so a large
    fleet never holds one long lock and a crash leaves every finished batch in place (re-running the run
    is idempotent). `whole=True` matches every touched image's whole inventory again and rewrites all
    its rows, one image at a time: the previous algorithm, kept as the benchmark's baseline."""
    with transaction(sessions) as session:
        run = session.get(RematchRun, run_pk)
        if run is None:
            raise ValueError(f"re-match run {run_pk} does not exist")
        changed = _unpack_keys(run.changed)
        run.status = "running"
    report = RematchReport(run_pk)
    wanted = sorted(f"{e}\t{n}" for e, n in changed)
    #: Identical inventories (one image on many hosts and registries, retags) are matched once per run.
    plans: dict[bytes, Plan] = {}
    whole_matches: dict[bytes, list[VulnerabilityFinding]] = {}
    after: int | None = 0
    started = time.monotonic()
    while changed and after is not None:
        with transaction(sessions) as session:
            checked, touched, after = _touched(session, wanted, after)
        report.checked += checked
        for i in range(0, len(touched), batch):
            pks = touched[i : i + batch]
            with transaction(sessions) as session:
                blobs = dict(
                    session.execute(
                        select(ImageInventory.image_pk, ImageInventory.blob).where(
                            ImageInventory.image_pk.in_(pks)
                        )
                    ).all()
                )
                if whole:
                    gained = {}
                    for pk in pks:
                        if pk in blobs:
                            found = _rematch_whole(session, pk, bytes(blobs[pk]), matcher, whole_matches)
                            if found:
                                gained[pk] = found
                else:
                    items = []
                    for pk in pks:
                        if pk not in blobs:
                            continue  # deleted since it was found touched
                        blob = bytes(blobs[pk])
                        digest = hashlib.blake2b(blob, digest_size=20).digest()
                        plan = plans.get(digest)
                        if plan is None:
                            plan = plans[digest] = _plan(blob, changed, matcher)
                        items.append(results.PackageRematch(pk, plan[0], plan[1]))
                    gained = results.rematch_packages(session, items)
                # Per image, so skipped when no rule, statement or subscription exists at all.
                rules = session.scalar(select(ImageWhitelist.id).limit(1)) is not None
                statements = session.scalar(select(VexStatement.id).limit(1)) is not None
                subscribed = session.scalar(select(EventSubscription.id).limit(1)) is not None
                for pk in pks:
                    if pk in blobs and rules:
                        whitelists.apply_to_image(session, pk)
                    if pk in blobs and statements:
                        vex.apply_to_image(session, pk)
                report.rematched += len(blobs)
                for pk, vul_ids in sorted(gained.items()):
                    image = session.get_one(Image, pk)
                    if subscribed:
                        events.newly_affected(session, image, vul_ids, "rematch")
                    session.add(
                        RematchHit(
                            run_pk=run_pk,
                            project_id=image.project_id,
                            image_pk=pk,
                            vul_ids=",".join(vul_ids)[:60000],
                            found_time=now_ms(),
                        )
                    )
                    report.newly_affected.append((pk, vul_ids))
                _progress(session, report)
            log.info(
                "re-match run %s: %d of %d touched images done, %d newly affected, %.1fs",
                run_pk,
                min(i + batch, len(touched)),
                len(touched),
                len(report.newly_affected),
                time.monotonic() - started,
            )
    with transaction(sessions) as session:
        run = session.get(RematchRun, run_pk)
        if run is not None:
            _progress(session, report)
            run.status = "finished"
            run.finished_at = now_ms()
    return report


def _progress(session: Session, report: RematchReport) -> None:
    """The run row's counters as of the last finished batch (what an operator polls while it runs)."""
    session.execute(
        update(RematchRun)
        .where(RematchRun.id == report.run_pk)
        .values(
            images_checked=report.checked,
            images_rematched=report.rematched,
            images_newly_affected=len(report.newly_affected),
        )
    )


def _rematch_whole(
    session: Session,
    image_pk: int,
    blob: bytes,
    matcher: Callable[[Inventory], list[VulnerabilityFinding]],
    matches: dict[bytes, list[VulnerabilityFinding]],
) -> list[str]:
    digest = hashlib.blake2b(blob, digest_size=20).digest()
    vulns = matches.get(digest)
    if vulns is None:
        os_info, packages = decode_inventory(blob)
        vulns = matches[digest] = matcher(Inventory(os=os_info, packages=packages))
    before = set(session.scalars(select(VulImageIndex.vul_id).where(VulImageIndex.image_pk == image_pk)))
    results.rematch(session, image_pk, vulns)
    return sorted({v.vul_id for v in vulns} - before)


@dataclass(frozen=True, slots=True)
class NewlyAffected:
    image_pk: int
    image_id: str
    image_name: str
    image_version: str
    image_type: str
    vul_ids: list[str]
    found_time: int


def newly_affected(
    session: Session, scope: Scope, *, run_pk: int | None = None, offset: int = 0, limit: int = 100
) -> tuple[int, list[NewlyAffected]]:
    """Images a re-match found newly affected (latest finished run unless `run_pk`), in the caller's
    scope: the project *and* its enterprise projects, since a hit names an image of one EP."""
    if run_pk is None:
        run_pk = session.scalar(select(func.max(RematchRun.id)).where(RematchRun.status == "finished"))
        if run_pk is None:
            return 0, []
    base = scoped(
        select(RematchHit, Image)
        .join(Image, Image.id == RematchHit.image_pk)
        .where(RematchHit.run_pk == run_pk),
        scope,
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    out = [
        NewlyAffected(
            img.id,
            img.image_id,
            img.image_name,
            img.image_version,
            img.image_type,
            hit.vul_ids.split(",") if hit.vul_ids else [],
            hit.found_time,
        )
        for hit, img in session.execute(base.order_by(RematchHit.image_pk).offset(offset).limit(limit)).all()
    ]
    return total, out
