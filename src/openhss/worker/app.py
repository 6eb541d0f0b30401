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

import threading
from collections.abc import Sequence
from typing import Any

from amqp import spec
from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from openhss.config import Settings
from openhss.services import dispatch
from openhss.services.exports import QUEUE as EXPORT_QUEUE
from openhss.services.runtime import Runtime, open_runtime
from openhss.services.scan_queue import LANES
from openhss.services.vulndb import MatcherCache
from openhss.worker.schedule import beat_schedule

DEFAULT_QUEUE = "celery"


class DeploymentCelery(Celery):  # type: ignore[misc]  # celery ships no type information
    """The Celery app of one deployment: its settings, and the `Runtime` its tasks run with.

    Every task is bound to the app that runs it (`task.app`), so the runtime lives here rather than in
    a process-wide variable: a test process that starts several services runs each one's tasks with its
    own settings, database and matcher cache. The runtime is opened on first use, in the process that
    uses it: a prefork worker's children each open their own engine after the fork; `openhss serve`
    passes the matcher cache of the runtime its API opened, so the process holds one.
    """

    #: Set by `make_celery` (the constructor keeps Celery's signature, which its pickling relies on).
    deployment: Settings
    _matchers: MatcherCache | None
    _runtime: Runtime | None
    _runtime_lock: threading.Lock

    def serve(self, settings: Settings, matchers: MatcherCache | None) -> None:
        self.deployment = settings
        self._matchers = matchers
        self._runtime = None
        self._runtime_lock = threading.Lock()

    def runtime(self) -> Runtime:
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = open_runtime(self.deployment, migrate_schema=False, matchers=self._matchers)
            return self._runtime


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


def make_celery(settings: Settings, matchers: MatcherCache | None = None) -> DeploymentCelery:
    settings.ensure_data_dir()
    app = DeploymentCelery(
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
    app.serve(settings, matchers)
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


class _Confirms:
    """Publisher confirms of one batch on an amqp channel, awaited once at the end.

    py-amqp waits for each message's confirm inside `basic_publish` (one broker round trip a message,
    the bulk of the ~3.8 ms a send under load). For a batch the channel publishes without waiting and
    then drains acks until the broker has confirmed every delivery tag of the batch: the same guarantee
    (each message accepted by RabbitMQ before the send returns) for one round trip. The batch runs on a
    fresh channel, whose delivery tags start at 1, so "confirmed through tag n" is exact.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.confirmed = 0
        self.nacked = False
        channel.confirm_select()
        channel._confirm_selected = True
        channel.basic_publish = channel._basic_publish  # no per-message wait; `wait_for` below
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)

    def _ack(self, delivery_tag: int, multiple: bool) -> None:
        # RabbitMQ confirms in publish order and a `multiple` ack covers every lower tag, so the highest
        # tag acked so far is the number of messages of the batch confirmed.
        self.confirmed = max(self.confirmed, delivery_tag)

    def _nack(self, delivery_tag: int, multiple: bool) -> None:
        self.nacked = True

    def wait_for(self, count: int, timeout: float) -> None:
        while self.confirmed < count and not self.nacked:
            self.channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=timeout)
        if self.nacked:
            raise RuntimeError("the broker refused (nacked) a message of the batch")


def make_batch_sender(app: Celery, settings: Settings) -> dispatch.BatchSender:
    """The batch form of `make_sender`: one commit's messages over one producer and channel.

    Acquiring a pooled producer per message and (on RabbitMQ) waiting for each publisher confirm made a
    10,000-image scan-all spend most of a minute sending inside its API request. Here the messages share
    one connection and one fresh channel; on RabbitMQ the confirms are awaited once after the last
    publish, on Redis the pushes are pipelined. An exception stops the batch: the messages not sent
    are re-sent by the sweeper.
    """
    prefix = settings.queue_prefix
    confirm = bool(_transport_options(settings).get("confirm_publish"))

    def send_all(messages: Sequence[dispatch.Message]) -> None:
        with app.pool.acquire(block=True) as conn:
            channel = conn.channel()
            try:
                confirms = _Confirms(channel) if confirm else None
                producer = app.amqp.Producer(channel, auto_declare=False)
                # On Redis kombu pipelines the LPUSHes of a batch (1,000 a round trip); elsewhere it
                # publishes each message at once. Unflushed messages of a failed batch are discarded.
                with producer.batch(max_size=1000):
                    for message in messages:
                        app.send_task(
                            message.name,
                            args=list(message.args),
                            queue=prefix + (message.queue or DEFAULT_QUEUE),
                            countdown=message.countdown,
                            priority=message.priority,
                            producer=producer,
                        )
                if confirms is not None:
                    confirms.wait_for(len(messages), timeout=60.0)
            finally:
                channel.close()

    return send_all


def install(settings: Settings, matchers: MatcherCache | None = None) -> DeploymentCelery:
    """Configure this process (serve, worker, tests): the Celery app (with the runtime its tasks use,
    opened on first use, matching with `matchers` when given) and the task sender."""
    app = make_celery(settings, matchers)
    dispatch.set_sender(
        make_sender(app, settings),
        make_batch_sender(app, settings),
        database=settings.resolved_database_url,
    )
    return app
