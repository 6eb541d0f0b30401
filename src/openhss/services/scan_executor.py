"""The scan executor: running one queued job in a worker (embedded or distributed), start to finish.

`run_job`: resolve where the image is (`image_sources.resolve`; jobs of agent-only images are left for
`agent_jobs.claim_jobs_for_host`), start it (`scan_queue.start_job`), scan with `build_pipeline` (scope
from the task's `scan_scope`, the shared `DbLayerCache`, the runtime's matcher), renew the lease from a
heartbeat thread (`Lease`), stop at a layer boundary when the user stopped the task or the lease was
lost, and finish it (`scan_queue.finish_job`). What a failure means for the job is `classify`'s answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTask, ScanTaskImage
from openhss.domain.enums import ACTIVE_SCAN_STATUSES, ScanScope, ScanStatus
from openhss.domain.report import ImageReport
from openhss.scan.errors import ScanError
from openhss.scan.layers import Limits
from openhss.services import image_sources, unchanged
from openhss.services.layer_cache import DbLayerCache
from openhss.services.leases import new_owner
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime
from openhss.services.scan_queue import (
    Clock,
    Deferred,
    finish_job,
    inventory_of,
    rowcount,
    start_job,
)
from openhss.services.scanning import NoAdvisoryDatabase, build_pipeline
from openhss.services.vulndb import VulnDbError

log = logging.getLogger(__name__)


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
            if rowcount(got) != 1:
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


def classify(exc: BaseException) -> tuple[ScanStatus, str]:
    """The final status and reason of a scan that raised `exc` (a database error is not a scan's)."""
    if isinstance(exc, ScanError):
        return exc.status, exc.reason
    if isinstance(exc, (NoAdvisoryDatabase, VulnDbError)):
        return ScanStatus.FAILED, str(exc)
    if isinstance(exc, OSError):
        return ScanStatus.DOWNLOAD_FAILED, f"{type(exc).__name__}: {exc}"
    return ScanStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"


def run_job(
    rt: Runtime,
    job_pk: int,
    *,
    owner: str | None = None,
    clock: Clock = now_ms,
) -> JobOutcome:
    """Run one job to its end if it is startable. Database errors propagate (the task retries).

    The runtime brings the settings, the sessions and the process's one matcher cache."""
    settings, sessions = rt.settings, rt.sessions
    me = owner or new_owner()
    cfg = settings.scans
    with transaction(sessions) as session:
        job = session.get(ScanTaskImage, job_pk)
        if job is None or job.status not in ACTIVE_SCAN_STATUSES:
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
    scanned: unchanged.Scanned | None = None
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
                    options.matcher = rt.matchers.get()
                options.limits = scan_limits(settings)
                options.should_stop = lease.should_stop
                options.max_seconds = float(cfg.max_scan_seconds)
                scanned = unchanged.scan_unless_unchanged(
                    sessions, settings, started.image_pk, source, options
                )
                report = scanned.report
                status, reason = ScanStatus.SUCCESS, ""
            except DBAPIError:
                raise
            except Exception as exc:
                status, reason = classify(exc)
                log.info("job %s ended %s: %s", job_pk, status.value, reason)
    with transaction(sessions) as session:
        ok = finish_job(
            session,
            job_pk,
            me,
            status,
            reason,
            inventory=inventory_of(report) if report is not None else None,
            vulnerabilities=report.vulnerabilities if report is not None else (),
            now=clock(),
            fingerprint=scanned.fingerprint if scanned is not None else "",
            unchanged_results=scanned is not None and scanned.unchanged,
        )
    if not ok:
        log.warning("job %s: lease lost before it finished; another run owns it", job_pk)
        return JobOutcome(lane=lane)
    return JobOutcome(status, reason, lane=lane)
