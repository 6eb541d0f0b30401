"""The in-process worker of `openhss serve`: a Celery WorkController in a daemon thread, plus the
periodic work that beat does in distributed mode, from the same table (`worker/schedule.py`).

Same tasks and same broker protocol as `openhss worker`, so the embedded default exercises exactly the
code the distributed deployment runs. A WorkController (not `celery worker`) because the latter installs
signal handlers, which only the main thread may do. Periodic work runs in a small thread of its own
(embedded mode has no beat) and calls the same service functions the periodic tasks call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadTaskPool
from celery.worker import WorkController

from openhss.config import Settings
from openhss.services import events
from openhss.services.vulndb import MatcherCache
from openhss.worker.app import DeploymentCelery, install, queue_names
from openhss.worker.schedule import SCHEDULE, tick

log = logging.getLogger(__name__)


class AppThreadPool(ThreadTaskPool):  # type: ignore[misc]  # celery ships no type information
    """Celery's thread pool, with this deployment's app made current in the thread that runs each task.

    A pool thread has no current app of its own, so Celery traces the task as bound to the process's
    *default* app (`trace_task_ret` without `app=`): with two deployments in one process (the test
    processes start many; every one makes itself the default) the tasks of one ran with the other's
    runtime, i.e. its database — a registry sync landed in another service's database and the console
    test waiting for it saw 0 synced images. `current_app` is thread-local, so setting it per task is
    exact where the process-wide default is "last one started wins"."""

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **rest: Any,
    ) -> Any:
        app = self.app

        def run(*a: Any, **k: Any) -> Any:
            app.set_current()
            return target(*a, **k)

        return super().on_apply(run, args, kwargs, callback, accept_callback, **rest)


class Periodic(threading.Thread):
    """Runs the jobs of `worker/schedule.SCHEDULE` when due (all of them at start), as beat would."""

    def __init__(self, app: DeploymentCelery) -> None:
        super().__init__(name="openhss-periodic", daemon=True)
        #: The periodic work of this app's deployment only: a thread outliving its service (a test
        #: process starts several) never sweeps another service's database.
        self.app = app
        self.settings = app.deployment
        self.done = threading.Event()

    def run(self) -> None:
        last: dict[str, float] = {}
        while True:
            now = time.monotonic()
            try:
                rt = self.app.runtime()
            except Exception:  # a database outage must not kill the loop
                log.exception("periodic work failed; retrying at the next interval")
            else:
                for job in SCHEDULE:
                    if not job.embedded:
                        continue
                    every = job.every(self.settings)
                    if every <= 0 or (job.name in last and now - last[job.name] < every):
                        continue
                    try:
                        job.run(rt, self.settings)
                    except Exception:  # one failing job must not stop the others
                        log.exception("periodic job %s failed; retrying at its next interval", job.name)
                    last[job.name] = now
            if self.done.wait(tick(self.settings)):
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


def start_embedded_worker(
    settings: Settings, concurrency: int | None = None, matchers: MatcherCache | None = None
) -> EmbeddedWorker:
    """Run this deployment's tasks in-process; `matchers` (the API runtime's, under `openhss serve`)
    is shared with them, so the process holds one matcher cache."""
    app = install(settings, matchers)
    # Each task thread gets this app as its current one (`AppThreadPool`), so the tasks find this
    # deployment's runtime even when the process holds several; the default is set too, for code
    # outside a task that asks Celery for "the" app (as `celery worker` does for its app).
    app.set_default()
    controller = WorkController(
        app=app,
        pool_cls=AppThreadPool,
        concurrency=concurrency or settings.scans.embedded_concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname="embedded@openhss",
        queues=queue_names(settings),
    )

    def consume() -> None:
        app.set_current()  # the consumer thread's own Celery calls see this deployment's app too
        controller.start()

    thread = threading.Thread(target=consume, name="openhss-worker", daemon=True)
    thread.start()
    periodic = Periodic(app)
    periodic.start()
    rt = app.runtime()
    deliverer = threading.Thread(
        target=events.run_deliverer,
        args=(rt.sessions, rt.box, settings.webhooks, periodic.done),
        name="openhss-webhooks",
        daemon=True,
    )
    deliverer.start()
    return EmbeddedWorker(controller, thread, periodic, deliverer)
