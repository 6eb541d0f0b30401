"""Celery tasks of registries and agents: one registry's sync, the periodic fan-out, the offline sweep."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from openhss.db.engine import transaction
from openhss.services import agents, registries
from openhss.worker.tasks import runtime_for


@shared_task(bind=True, name=registries.SYNC_TASK)  # type: ignore[untyped-decorator]
def sync_registry(self: Task[Any, Any], registry_pk: int) -> int:
    """Idempotent: a redelivered sync walks the registry again and applies the same state."""
    rt = runtime_for(self)
    result = registries.sync_registry(rt.settings, rt.sessions, rt.box, registry_pk)
    return result.total if result is not None else -1


@shared_task(bind=True, name="openhss.sync_all_registries")  # type: ignore[untyped-decorator]
def sync_all_registries(self: Task[Any, Any]) -> int:
    with transaction(runtime_for(self).sessions) as session:
        pks = registries.all_registry_pks(session)
    for pk in pks:
        self.app.send_task(registries.SYNC_TASK, args=[pk])
    return len(pks)


@shared_task(bind=True, name="openhss.mark_agents_offline")  # type: ignore[untyped-decorator]
def mark_agents_offline(self: Task[Any, Any]) -> int:
    rt = runtime_for(self)
    with transaction(rt.sessions) as session:
        return agents.mark_offline(session, rt.settings.agent_offline_seconds)
