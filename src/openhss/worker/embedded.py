"""The in-process worker of `openhss serve`: a Celery WorkController in a daemon thread, plus the
periodic work (sweeper, scheduled rescans, auth-state purge, export cleanup, registry sync, agent
offline sweep, VEX expiry) that beat does in distributed mode, and the webhook deliverer's thread.

Same tasks and same broker protocol as `openhss worker`, so the embedded default exercises exactly the
code the distributed deployment runs. A WorkController (not `celery worker`) because the latter installs
signal handlers, which only the main thread may do. Periodic work runs in a small thread of its own
(embedded mode has no beat) and calls the same service functions the periodic tasks call.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from celery.worker import WorkController

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.services import agents, dispatch, events, exports, maintenance, registries, scans, vex
from openhss.services.results import now_ms
from openhss.worker.app import install, queue_names
from openhss.worker.tasks import runtime_for

log = logging.getLogger(__name__)
PURGE_EVERY = 600.0
RESCAN_EVERY = 600.0
EXPORT_CLEANUP_EVERY = 900.0


class Periodic(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="openhss-periodic", daemon=True)
        self.settings = settings
        self.done = threading.Event()

    def run(self) -> None:
        last_purge = last_rescan = last_cleanup = last_registry_sync = 0.0
        while True:
            now = time.monotonic()
            try:
                rt = runtime_for()
                with transaction(rt.sessions) as session:
                    scans.sweep(session)
                with transaction(rt.sessions) as session:
                    agents.mark_offline(session, self.settings.agent_offline_seconds)
                if now - last_registry_sync >= self.settings.registry_sync_seconds:
                    with transaction(rt.sessions) as session:
                        pks = registries.all_registry_pks(session)
                    for pk in pks:
                        dispatch.send_now(dispatch.Message(registries.SYNC_TASK, (pk,)))
                    last_registry_sync = now
                if now - last_rescan >= RESCAN_EVERY:
                    with transaction(rt.sessions) as session:
                        scans.schedule_rescans(session, self.settings)
                    last_rescan = now
                if now - last_purge >= PURGE_EVERY:
                    with transaction(rt.sessions) as session:
                        maintenance.purge_expired_auth_state(session)
                    last_purge = now
                with transaction(rt.sessions) as session:
                    vex.expire_due(session, now_ms())
                if now - last_cleanup >= EXPORT_CLEANUP_EVERY:
                    exports.cleanup_exports(rt.sessions, self.settings)
                    last_cleanup = now
            except Exception:  # a database outage must not kill the loop
                log.exception("periodic work failed; retrying at the next interval")
            if self.done.wait(self.settings.scans.sweep_interval_seconds):
                return


@dataclass
class EmbeddedWorker:
    controller: WorkController
    thread: threading.Thread
    periodic: Periodic
    deliverer: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.periodic.done.set()
        self.controller.stop(in_sighandler=False)
        self.thread.join(timeout)
        self.periodic.join(timeout)
        self.deliverer.join(timeout)


def start_embedded_worker(settings: Settings, concurrency: int | None = None) -> EmbeddedWorker:
    app = install(settings)
    controller = WorkController(
        app=app,
        pool_cls="threads",
        concurrency=concurrency or settings.scans.embedded_concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname="embedded@openhss",
        queues=queue_names(settings),
    )
    thread = threading.Thread(target=controller.start, name="openhss-worker", daemon=True)
    thread.start()
    periodic = Periodic(settings)
    periodic.start()
    rt = runtime_for()
    deliverer = threading.Thread(
        target=events.run_deliverer,
        args=(rt.sessions, rt.box, settings.webhooks, periodic.done),
        name="openhss-webhooks",
        daemon=True,
    )
    deliverer.start()
    return EmbeddedWorker(controller, thread, periodic, deliverer)
