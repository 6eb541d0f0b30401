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

from openhss.services import rematch as rematch_service
from openhss.services.leases import new_owner
from openhss.services.runtime import Runtime
from openhss.services.scan_executor import run_job
from openhss.services.scan_queue import SCAN_TASK, SWEEP_TASK, resend
from openhss.services.scan_tasks import RESCAN_TASK
from openhss.services.vulndb import VulnDbError
from openhss.worker.app import DeploymentCelery

log = logging.getLogger(__name__)
_RETRY: dict[str, Any] = {
    "autoretry_for": (DBAPIError,),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 60,
}


def runtime_for(task: Task[Any, Any]) -> Runtime:
    """The runtime of the deployment whose app runs `task` (one per app, shared by all its tasks).

    A worker runs the copy of a shared task bound to the app current in its pool thread: its own app,
    which it makes the process's default (`celery worker` does; `worker.embedded` does it for its
    thread pool)."""
    app = task.app
    if not isinstance(app, DeploymentCelery):
        raise RuntimeError(f"openhss tasks run only on an app made by worker.app.make_celery, not on {app!r}")
    return app.runtime()


def periodic(task: Task[Any, Any], name: str) -> Any:
    """Run the `worker/schedule.py` job of task `name`: the call the embedded thread makes too."""
    from openhss.worker.schedule import BY_TASK

    rt = runtime_for(task)
    return BY_TASK[name].run(rt, rt.settings)


@shared_task(bind=True, name="openhss.purge_expired_auth_state")  # type: ignore[untyped-decorator]
def purge_expired_auth_state(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.purge_expired_auth_state"))


@shared_task(bind=True, name=SCAN_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def scan_job(self: Task[Any, Any], job_pk: int) -> str:
    rt = runtime_for(self)
    owner = new_owner(str(self.request.id or ""))
    outcome = run_job(rt, int(job_pk), owner=owner)
    if outcome.deferred is not None:
        resend(int(job_pk), outcome.lane, outcome.deferred.countdown)
        return f"deferred {outcome.deferred.countdown:.1f}s: {outcome.deferred.reason}"
    return outcome.status.value if outcome.status is not None else (outcome.reason or "skipped")


@shared_task(bind=True, name=SWEEP_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def sweep(self: Task[Any, Any]) -> str:
    return str(periodic(self, SWEEP_TASK))


@shared_task(bind=True, name=RESCAN_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def scheduled_rescan(self: Task[Any, Any]) -> int:
    return int(periodic(self, RESCAN_TASK))


@shared_task(bind=True, name="openhss.prune_layer_cache", **_RETRY)  # type: ignore[untyped-decorator]
def prune_layer_cache(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.prune_layer_cache"))


@shared_task(bind=True, name=rematch_service.REMATCH_TASK, **_RETRY)  # type: ignore[untyped-decorator]
def rematch(self: Task[Any, Any], run_pk: int) -> int:
    rt = runtime_for(self)
    try:
        matcher = rt.matchers.get()
    except VulnDbError as exc:
        log.warning("re-match %s skipped: %s", run_pk, exc)
        return 0
    # The message id names the lease owner, so a retried delivery resumes its own run at once.
    owner = new_owner(str(self.request.id or ""))
    report = rematch_service.rematch(
        rt.sessions,
        int(run_pk),
        matcher,
        owner=owner,
        lease_seconds=rt.settings.scans.lease_seconds,
    )
    return len(report.newly_affected)


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
        sender.app.send_task(SWEEP_TASK, queue=sender.app.deployment.queue_prefix + "celery")
    except Exception:  # the broker may still be coming up; beat's sweep covers it
        log.exception("could not queue the start-up sweep")
