"""Celery tasks of registries and agents: one registry's sync, the periodic fan-out, the offline sweep."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from openhss.services import registries
from openhss.worker.tasks import periodic, runtime_for


@shared_task(bind=True, name=registries.SYNC_TASK)  # type: ignore[untyped-decorator]
def sync_registry(self: Task[Any, Any], registry_pk: int) -> int:
    """Idempotent: a redelivered sync walks the registry again and applies the same state."""
    rt = runtime_for(self)
    result = registries.sync_registry(rt.settings, rt.sessions, rt.box, registry_pk)
    return result.total if result is not None else -1


@shared_task(bind=True, name="openhss.sync_all_registries")  # type: ignore[untyped-decorator]
def sync_all_registries(self: Task[Any, Any]) -> int:
    # Through the process's task sender (queue prefix included), as the embedded thread sends them.
    return int(periodic(self, "openhss.sync_all_registries"))


@shared_task(bind=True, name="openhss.mark_agents_offline")  # type: ignore[untyped-decorator]
def mark_agents_offline(self: Task[Any, Any]) -> int:
    return int(periodic(self, "openhss.mark_agents_offline"))
