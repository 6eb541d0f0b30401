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

from openhss.config import Settings
from openhss.services import scans
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


def runtime_for(task: Task[Any, Any] | None = None, settings: Settings | None = None) -> Runtime:
    """One runtime (engine, pool) per settings, shared by all tasks of the process.

    Threads that were started with their own settings (the embedded periodic thread) pass them: the
    process settings are whatever was installed last, and a periodic thread outliving its service
    (as in a test process that starts several) must never sweep another service's database."""
    settings = settings or process_settings()
    rt = _RUNTIMES.get(id(settings))
    if rt is None:
        rt = _RUNTIMES[id(settings)] = open_runtime(settings, migrate_schema=False)
        scans.configure(settings)
    return rt


def periodic(task: Task[Any, Any], name: str) -> Any:
    """Run the `worker/schedule.py` job of task `name`: the call the embedded thread makes too."""
    from openhss.worker.schedule import BY_TASK

    rt = runtime_for(task)
    return BY_TASK[name].run(rt, rt.settings)


@shared_task(bind=True, name="openhss.purge_expired_auth_state")  # type: ignore[untyped-decorator]
def purge_expired_auth_state(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.purge_expired_auth_state"))


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
    return str(periodic(self, scans.SWEEP_TASK))


@shared_task(bind=True, name=scans.RESCAN_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def scheduled_rescan(self: Task[Any, Any]) -> int:
    return int(periodic(self, scans.RESCAN_TASK))


@shared_task(bind=True, name="openhss.prune_layer_cache", **_RETRY)  # type: ignore[untyped-decorator]
def prune_layer_cache(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.prune_layer_cache"))


@shared_task(bind=True, name=scans.REMATCH_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def rematch(self: Task[Any, Any], run_pk: int) -> int:
    rt = runtime_for(self)
    try:
        matcher = scans.cached_matcher(rt.settings)
    except NoAdvisoryDatabase as exc:
        log.warning("re-match %s skipped: %s", run_pk, exc)
        return 0
    # The message id names the lease owner, so a retried delivery resumes its own run at once.
    owner = scans.new_owner(str(self.request.id or ""))
    return len(scans.rematch(rt.sessions, int(run_pk), matcher, owner=owner).newly_affected)


@shared_task(bind=True, name="openhss.deliver_events", **_RETRY)  # type: ignore[untyped-decorator]
def deliver_events(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.deliver_events"))


@shared_task(bind=True, name="openhss.expire_vex", **_RETRY)  # type: ignore[untyped-decorator]
def expire_vex(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.expire_vex"))


@worker_ready.connect  # type: ignore[untyped-decorator]
def _sweep_at_start(sender: Any = None, **_: Any) -> None:
    """A worker that starts after a crash picks up what the crash left behind, without waiting for beat."""
    try:
        sender.app.send_task(scans.SWEEP_TASK, queue=process_settings().queue_prefix + "celery")
    except Exception:  # the broker may still be coming up; beat's sweep covers it
        log.exception("could not queue the start-up sweep")
