"""The one table of periodic work: Celery beat's schedule (distributed mode) and the embedded worker's
periodic thread (`openhss serve`) are both generated from `SCHEDULE`, so the two deployments run the
same jobs at the same intervals.

Each job names the Celery task beat sends and the service call that task makes; the embedded thread
makes the same call directly (it has no beat). A new periodic job is one `PeriodicJob` line here plus
its task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.services import (
    agents,
    dispatch,
    events,
    exports,
    maintenance,
    registries,
    rematch_lease,
    scan_queue,
    scan_tasks,
    vex,
)
from openhss.services.layer_cache import DbLayerCache
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str  # the beat entry
    task: str  # the Celery task beat sends
    every: Callable[[Settings], float]  # seconds between runs; 0 or less: the job is off
    run: Callable[[Runtime, Settings], object]  # what the task does, called directly when embedded
    #: False for work the embedded worker does in a thread of its own (webhook delivery polls faster
    #: than the periodic thread ticks, and a slow receiver must not hold up the sweeper).
    embedded: bool = True


def _purge(rt: Runtime, _settings: Settings) -> int:
    with transaction(rt.sessions) as session:
        return maintenance.purge_expired_auth_state(session)


def _sync_registries(rt: Runtime, _settings: Settings) -> int:
    with transaction(rt.sessions) as session:
        pks = registries.all_registry_pks(session)
        for pk in pks:  # to this deployment's broker (`session` names it), not the process's latest
            dispatch.send_now(dispatch.Message(registries.SYNC_TASK, (pk,)), session)
    return len(pks)


def _mark_offline(rt: Runtime, settings: Settings) -> int:
    with transaction(rt.sessions) as session:
        return agents.mark_offline(session, settings.agent_offline_seconds)


def _sweep(rt: Runtime, settings: Settings) -> str:
    with transaction(rt.sessions) as session:
        report = scan_queue.sweep(session, settings.scans)
    # Re-match runs whose worker died (lease expired) or whose message was lost are re-sent.
    with transaction(rt.sessions) as session:
        runs = rematch_lease.sweep_runs(session, settings.scans)
    # Exports whose worker died (lease expired) fail here, so their type is not blocked by HSS.1035.
    orphans = exports.sweep_exports(rt.sessions, settings)
    return (
        f"expired {report.expired}, re-sent {report.resent}, re-match runs re-sent {runs},"
        f" orphaned exports failed {orphans}"
    )


def _rescan(rt: Runtime, settings: Settings) -> int:
    with transaction(rt.sessions) as session:
        return scan_tasks.schedule_rescans(session, settings)


def _cleanup_exports(rt: Runtime, settings: Settings) -> int:
    return exports.cleanup_exports(rt.sessions, settings)


def _deliver_events(rt: Runtime, settings: Settings) -> int:
    return events.deliver_due(rt.sessions, rt.box, settings.webhooks)


def _expire_vex(rt: Runtime, _settings: Settings) -> int:
    with transaction(rt.sessions) as session:
        return vex.expire_due(session, now_ms())


def _prune_layer_cache(rt: Runtime, settings: Settings) -> int:
    return DbLayerCache(rt.sessions).prune(timedelta(days=settings.scans.layer_cache_retention_days))


PRUNE_LAYER_CACHE_TASK = "openhss.prune_layer_cache"
DELIVER_EVENTS_TASK = "openhss.deliver_events"
EXPIRE_VEX_TASK = "openhss.expire_vex"

SCHEDULE: tuple[PeriodicJob, ...] = (
    PeriodicJob("purge-expired-auth-state", "openhss.purge_expired_auth_state", lambda s: 600.0, _purge),
    PeriodicJob(
        "sync-registries",
        "openhss.sync_all_registries",
        lambda s: float(s.registry_sync_seconds),
        _sync_registries,
    ),
    PeriodicJob(
        "mark-agents-offline",
        "openhss.mark_agents_offline",
        lambda s: float(max(5, s.agent_heartbeat_seconds)),
        _mark_offline,
    ),
    PeriodicJob("sweep-scan-jobs", scan_queue.SWEEP_TASK, lambda s: s.scans.sweep_interval_seconds, _sweep),
    PeriodicJob("scheduled-rescans", scan_tasks.RESCAN_TASK, lambda s: 600.0, _rescan),
    PeriodicJob("cleanup-exports", "openhss.cleanup_exports", lambda s: 900.0, _cleanup_exports),
    PeriodicJob(
        "deliver-events",
        DELIVER_EVENTS_TASK,
        lambda s: s.webhooks.poll_seconds,
        _deliver_events,
        embedded=False,
    ),
    PeriodicJob(
        "expire-vex-statements", EXPIRE_VEX_TASK, lambda s: s.scans.sweep_interval_seconds, _expire_vex
    ),
    PeriodicJob(
        "prune-layer-cache",
        PRUNE_LAYER_CACHE_TASK,
        lambda s: 3600.0 if s.scans.layer_cache_retention_days > 0 else 0.0,
        _prune_layer_cache,
    ),
)
BY_TASK: dict[str, PeriodicJob] = {job.task: job for job in SCHEDULE}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        job.name: {"task": job.task, "schedule": job.every(settings)}
        for job in SCHEDULE
        if job.every(settings) > 0
    }


def tick(settings: Settings) -> float:
    """How often the embedded thread wakes: the shortest interval of its jobs."""
    return min(e for job in SCHEDULE if job.embedded and (e := job.every(settings)) > 0)
