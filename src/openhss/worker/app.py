"""The Celery application, configured from `Settings`.

Embedded mode uses kombu's SQLAlchemy transport on a SQLite file in the data dir: it needs no server and
persists queued messages across restarts. On Redis and RabbitMQ, `acks_late` + `reject_on_worker_lost`
(and Redis' visibility timeout) mean a task whose worker dies is delivered again, so tasks are written
to be idempotent. The persisted scan state in the service database stays the source of truth either way.
"""

from __future__ import annotations

from celery import Celery

from openhss.config import Settings

#: The settings of this process's Celery app. One process serves one deployment, and tasks may run on an
#: app instance other than the one configured here (shared tasks bind to the current app), so the
#: settings live at process level rather than on the app object.
_PROCESS_SETTINGS: list[Settings] = []


def process_settings() -> Settings:
    if not _PROCESS_SETTINGS:
        raise RuntimeError("the worker was started without make_celery(settings)")
    return _PROCESS_SETTINGS[0]


def make_celery(settings: Settings) -> Celery:
    settings.ensure_data_dir()
    app = Celery(
        "openhss",
        broker=settings.resolved_broker_url,
        include=["openhss.worker.tasks", "openhss.worker.registry_tasks"],
    )
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_backend=settings.result_backend or None,
        task_ignore_result=not settings.result_backend,
        broker_connection_retry_on_startup=True,
        # The SQLAlchemy transport hands these options to create_engine(), which rejects them.
        broker_transport_options={}
        if settings.resolved_broker_url.startswith("sqla+")
        else {"visibility_timeout": 3600},
        beat_schedule={
            "purge-expired-auth-state": {"task": "openhss.purge_expired_auth_state", "schedule": 600.0},
            "sync-registries": {
                "task": "openhss.sync_all_registries",
                "schedule": float(settings.registry_sync_seconds),
            },
            "mark-agents-offline": {
                "task": "openhss.mark_agents_offline",
                "schedule": float(max(5, settings.agent_heartbeat_seconds)),
            },
        },
    )
    _PROCESS_SETTINGS[:] = [settings]
    return app
