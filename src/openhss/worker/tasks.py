"""Celery tasks. Each is a thin shell that opens the runtime and calls one service function.

Tasks take ids, never objects, and are idempotent: the database state decides what a (re)delivered
message still has to do. Database outages are retried with backoff; nothing is lost meanwhile because
the rows, not the messages, hold the state.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from sqlalchemy.exc import DBAPIError

from openhss.db.engine import transaction
from openhss.services import events, maintenance, scans, vex
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime, open_runtime
from openhss.services.scanning import NoAdvisoryDatabase
from openhss.worker.app import process_settings

log = logging.getLogger(__name__)
_RUNTIMES: dict[int, Runtime] = {}
_RETRY: dict[str, Any] = {
    "autoretry_for": (DBAPIError,),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 60,
}


def runtime_for(task: Task[Any, Any] | None = None) -> Runtime:
    """One runtime (engine, pool) per process settings, shared by all tasks of the process."""
    settings = process_settings()
    rt = _RUNTIMES.get(id(settings))
    if rt is None:
        rt = _RUNTIMES[id(settings)] = open_runtime(settings, migrate_schema=False)
        scans.configure(settings)
    return rt


@shared_task(bind=True, name="openhss.purge_expired_auth_state")  # type: ignore[untyped-decorator]
def purge_expired_auth_state(self: Task[Any, Any]) -> int:
    with transaction(runtime_for(self).sessions) as session:
        return maintenance.purge_expired_auth_state(session)


@shared_task(bind=True, name=scans.SCAN_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def scan_job(self: Task[Any, Any], job_pk: int) -> str:
    rt = runtime_for(self)
    owner = scans.new_owner(str(self.request.id or ""))
    outcome = scans.run_job(rt.sessions, rt.settings, int(job_pk), owner=owner)
    if outcome.deferred is not None:
        scans.resend(int(job_pk), outcome.lane, outcome.deferred.countdown)
        return f"deferred {outcome.deferred.countdown:.1f}s: {outcome.deferred.reason}"
    return outcome.status.value if outcome.status is not None else (outcome.reason or "skipped")


@shared_task(bind=True, name=scans.SWEEP_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def sweep(self: Task[Any, Any]) -> str:
    with transaction(runtime_for(self).sessions) as session:
        report = scans.sweep(session)
    return f"expired {report.expired}, re-sent {report.resent}"


@shared_task(bind=True, name=scans.RESCAN_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def scheduled_rescan(self: Task[Any, Any]) -> int:
    rt = runtime_for(self)
    with transaction(rt.sessions) as session:
        return scans.schedule_rescans(session, rt.settings)


@shared_task(bind=True, name=scans.REMATCH_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def rematch(self: Task[Any, Any], run_pk: int) -> int:
    rt = runtime_for(self)
    try:
        matcher = scans.cached_matcher(rt.settings)
    except NoAdvisoryDatabase as exc:
        log.warning("re-match %s skipped: %s", run_pk, exc)
        return 0
    return len(scans.rematch(rt.sessions, int(run_pk), matcher).newly_affected)


@shared_task(bind=True, name="openhss.deliver_events", **_RETRY)  # type: ignore[untyped-decorator]
def deliver_events(self: Task[Any, Any]) -> int:
    rt = runtime_for(self)
    return events.deliver_due(rt.sessions, rt.box, rt.settings.webhooks)


@shared_task(bind=True, name="openhss.expire_vex", **_RETRY)  # type: ignore[untyped-decorator]
def expire_vex(self: Task[Any, Any]) -> int:
    with transaction(runtime_for(self).sessions) as session:
        return vex.expire_due(session, now_ms())


@worker_ready.connect  # type: ignore[untyped-decorator]
def _sweep_at_start(sender: Any = None, **_: Any) -> None:
    """A worker that starts after a crash picks up what the crash left behind, without waiting for beat."""
    try:
        sender.app.send_task(scans.SWEEP_TASK, queue=process_settings().queue_prefix + "celery")
    except Exception:  # the broker may still be coming up; beat's sweep covers it
        log.exception("could not queue the start-up sweep")
