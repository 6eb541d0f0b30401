"""Celery tasks. Each is a thin shell that opens the runtime and calls one service function."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from openhss.db.engine import transaction
from openhss.services import maintenance
from openhss.services.runtime import Runtime, open_runtime
from openhss.worker.app import process_settings

_RUNTIMES: dict[int, Runtime] = {}


def runtime_for(task: Task[Any, Any]) -> Runtime:
    """One runtime (engine, pool) per process settings, shared by all tasks of the process."""
    settings = process_settings()
    rt = _RUNTIMES.get(id(settings))
    if rt is None:
        rt = _RUNTIMES[id(settings)] = open_runtime(settings, migrate_schema=False)
    return rt


@shared_task(bind=True, name="openhss.purge_expired_auth_state")  # type: ignore[untyped-decorator]
def purge_expired_auth_state(self: Task[Any, Any]) -> int:
    with transaction(runtime_for(self).sessions) as session:
        return maintenance.purge_expired_auth_state(session)
