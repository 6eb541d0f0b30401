"""The Celery application, configured from `Settings`, and the task sender services use.

Embedded mode uses kombu's SQLAlchemy transport on a SQLite file in the data dir: it needs no server and
persists queued messages across restarts. On Redis and RabbitMQ, `acks_late` + `reject_on_worker_lost`
(and Redis' visibility timeout) mean a task whose worker dies is delivered again, so tasks are written
to be idempotent. The persisted scan state in the service database stays the source of truth either way:
the executor's sweeper re-sends what a lost message would have run.

Queues (all durable, all prefixed with `Settings.queue_prefix`): `scan.manual` (a few explicit images),
`scan.bulk` (is_all / many images), `exports` and `celery` (everything else). Workers consume all four;
on Redis in that fixed order (`queue_order_strategy=priority`), so a manual scan never waits behind a bulk
backlog; elsewhere round-robin, so it waits behind at most one bulk job per worker slot.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from openhss.config import Settings
from openhss.services import dispatch
from openhss.services.exports import QUEUE as EXPORT_QUEUE
from openhss.services.scans import LANES
from openhss.worker.schedule import beat_schedule

#: The settings of this process's Celery app. One process serves one deployment, and tasks may run on an
#: app instance other than the one configured here (shared tasks bind to the current app), so the
#: settings live at process level rather than on the app object.
_PROCESS_SETTINGS: list[Settings] = []
DEFAULT_QUEUE = "celery"


def process_settings() -> Settings:
    if not _PROCESS_SETTINGS:
        raise RuntimeError("the worker was started without make_celery(settings)")
    return _PROCESS_SETTINGS[0]


def queue_names(settings: Settings) -> list[str]:
    """Consumption order: manual lane, bulk lane, exports, then the default queue (last: the default)."""
    p = settings.queue_prefix
    return [p + LANES["manual"], p + LANES["bulk"], p + EXPORT_QUEUE, p + DEFAULT_QUEUE]


def _transport_options(settings: Settings) -> dict[str, object]:
    url = settings.resolved_broker_url
    if url.startswith("sqla+"):
        return {}  # the SQLAlchemy transport hands these options to create_engine(), which rejects them
    options: dict[str, object] = {"visibility_timeout": 3600}
    if url.startswith(("redis", "rediss")):
        options["queue_order_strategy"] = "priority"
        if settings.queue_prefix:
            options["global_keyprefix"] = settings.queue_prefix
    if url.startswith(("amqp", "amqps", "pyamqp")):
        # Publisher confirms: a task "sent" after commit has been accepted by RabbitMQ when send_task
        # returns. Without them a publish is fire-and-forget, and a broker stopped right after (or a
        # message count read right after, as the restart test does under load) missed some of them.
        options["confirm_publish"] = True
    return options


def make_celery(settings: Settings) -> Celery:
    settings.ensure_data_dir()
    app = Celery(
        "openhss",
        broker=settings.resolved_broker_url,
        include=["openhss.worker.tasks", "openhss.worker.export_tasks", "openhss.worker.registry_tasks"],
    )
    names = queue_names(settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_backend=settings.result_backend or None,
        task_ignore_result=not settings.result_backend,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings),
        # A worker started without -Q consumes every queue listed here; exports have their own queue so
        # that a long export never holds up scans (and can be given its own workers with -Q exports).
        task_queues=[Queue(n, durable=True) for n in names],  # type: ignore[no-untyped-call]
        task_default_queue=names[-1],
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
    )
    _PROCESS_SETTINGS[:] = [settings]
    return app


def make_sender(app: Celery, settings: Settings) -> dispatch.Sender:
    """The `services.dispatch` sender of this process: logical queue names get the deployment prefix."""
    prefix = settings.queue_prefix

    def send(message: dispatch.Message) -> None:
        app.send_task(
            message.name,
            args=list(message.args),
            queue=prefix + (message.queue or DEFAULT_QUEUE),
            countdown=message.countdown,
            priority=message.priority,
        )

    return send


def install(settings: Settings) -> Celery:
    """Configure this process (serve, worker, tests): Celery app, task sender, executor settings."""
    from openhss.services import scans

    app = make_celery(settings)
    dispatch.set_sender(make_sender(app, settings))
    scans.configure(settings)
    return app
