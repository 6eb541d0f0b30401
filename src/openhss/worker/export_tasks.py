"""Celery tasks of the exports: thin shells that take ids and call `services.exports`."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from openhss.services import exports
from openhss.worker.tasks import periodic, runtime_for


@shared_task(bind=True, name="openhss.run_export")  # type: ignore[untyped-decorator]
def run_export(self: Task[Any, Any], export_pk: int) -> str:
    rt = runtime_for(self)
    return exports.run_export(rt.sessions, rt.settings, int(export_pk))


@shared_task(bind=True, name="openhss.cleanup_exports")  # type: ignore[untyped-decorator]
def cleanup_exports(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.cleanup_exports"))
