"""One schedule table drives Celery beat and the embedded periodic thread; the layer cache is pruned
by it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import openhss.worker.embedded as embedded
from openhss.db.engine import transaction
from openhss.db.models import utcnow
from openhss.db.scheduling import LayerCacheEntry
from openhss.services import dispatch
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.worker.app import make_celery
from openhss.worker.schedule import BY_TASK, PRUNE_LAYER_CACHE_TASK, SCHEDULE, beat_schedule, tick
from tests.support.service import make_settings


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    sent: list[dispatch.Message] = []
    dispatch.set_sender(sent.append)
    runtime = open_runtime(make_settings(tmp_path))
    bootstrap_admin(runtime)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()
        dispatch.set_sender(None)


def test_beat_runs_every_job_of_the_table_as_a_registered_task(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = make_celery(settings)
    app.loader.import_default_modules()  # the worker's `include`: registers the task modules' tasks
    schedule = app.conf.beat_schedule
    assert schedule == beat_schedule(settings)
    assert {entry["task"] for entry in schedule.values()} == {job.task for job in SCHEDULE}
    for job in SCHEDULE:
        assert job.task in app.tasks, job.task
        assert schedule[job.name]["schedule"] == job.every(settings) > 0
    # The embedded thread wakes for its own jobs; webhook delivery has a thread of its own there.
    assert tick(settings) == min(job.every(settings) for job in SCHEDULE if job.embedded)


def test_layer_cache_retention_zero_turns_the_prune_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, scans={"layer_cache_retention_days": 0})
    assert PRUNE_LAYER_CACHE_TASK not in {e["task"] for e in beat_schedule(settings).values()}


def _entries(rt: Runtime, ages_days: dict[str, float]) -> None:
    with transaction(rt.sessions) as s:
        for key, age in ages_days.items():
            s.add(
                LayerCacheEntry(
                    key=key,
                    diff_id="sha256:" + key,
                    codec=1,
                    size=1,
                    blob=b"x",
                    last_used_at=utcnow() - timedelta(days=age),
                )
            )


def _keys(rt: Runtime) -> set[str]:
    with transaction(rt.sessions) as s:
        return set(s.scalars(select(LayerCacheEntry.key)))


def test_the_prune_job_drops_entries_unread_past_the_retention(rt: Runtime) -> None:
    _entries(rt, {"old": 31, "recent": 29})
    assert BY_TASK[PRUNE_LAYER_CACHE_TASK].run(rt, rt.settings) == 1
    assert _keys(rt) == {"recent"}


def test_the_embedded_thread_runs_the_table(rt: Runtime) -> None:
    """At start the embedded thread runs every job once, as beat would at its first beat: the layer
    cache prune among them (a job beat had and the thread lacked before the table)."""
    _entries(rt, {"old": 400})
    app = make_celery(rt.settings)  # the thread runs the jobs with its app's runtime, on the same database
    periodic = embedded.Periodic(app)
    periodic.start()
    try:
        for _ in range(600):
            if not _keys(rt):
                break
            periodic.done.wait(0.05)
    finally:
        periodic.done.set()
        periodic.join(10)
        app.runtime().engine.dispose()
    assert _keys(rt) == set() and not periodic.is_alive()
