"""The in-process worker of `openhss serve`: a Celery WorkController in a daemon thread.

Same tasks and same broker protocol as `openhss worker`, so the embedded default exercises exactly the
code the distributed deployment runs. A WorkController (not `celery worker`) because the latter installs
signal handlers, which only the main thread may do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from celery.worker import WorkController

from openhss.config import Settings
from openhss.worker.app import make_celery


@dataclass
class EmbeddedWorker:
    controller: WorkController
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.controller.stop(in_sighandler=False)
        self.thread.join(timeout)


def start_embedded_worker(settings: Settings, concurrency: int = 2) -> EmbeddedWorker:
    app = make_celery(settings)
    controller = WorkController(
        app=app,
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname="embedded@openhss",
    )
    thread = threading.Thread(target=controller.start, name="openhss-worker", daemon=True)
    thread.start()
    return EmbeddedWorker(controller, thread)
