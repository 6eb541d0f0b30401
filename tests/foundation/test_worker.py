"""One code path, two shapes: the same task through the embedded worker (SQLite broker, no server) and
through `openhss worker` processes on the real Redis and RabbitMQ with PostgreSQL."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openhss.config import Settings
from openhss.db.engine import transaction
from openhss.db.models import AuthToken
from openhss.services import identity
from openhss.services.runtime import Runtime, bootstrap_admin, open_runtime
from openhss.worker.app import make_celery
from openhss.worker.embedded import start_embedded_worker
from tests.support.pg import temp_database
from tests.support.service import make_settings


def _expired_token(rt: Runtime) -> None:
    with transaction(rt.sessions) as s:
        user = identity.get_user(s, "admin")
        _, row = identity.issue_token(s, user, 60, None, "password")
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)


def _wait(pred: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def _no_tokens(rt: Runtime) -> bool:
    return _tokens(rt) == 0


def _tokens(rt: Runtime) -> int:
    with transaction(rt.sessions) as s:
        return s.scalar(select(func.count()).select_from(AuthToken)) or 0


def test_embedded_worker_runs_tasks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    _expired_token(rt)
    worker = start_embedded_worker(settings)
    try:
        make_celery(settings).send_task("openhss.purge_expired_auth_state")
        assert _wait(lambda: _tokens(rt) == 0), "embedded worker did not run the task"
    finally:
        worker.stop()


def test_two_embedded_workers_in_one_process_each_run_their_own_tasks(tmp_path: Path) -> None:
    """The second worker started becomes Celery's default app; the first one's tasks must still run with
    the first deployment's runtime (its database), not the default's. Failed before the pool set the
    task thread's current app: A's task purged B's tokens and A's expired token stayed."""
    rts, workers = [], []
    try:
        for name in ("a", "b"):
            settings = make_settings(tmp_path / name)
            rt = open_runtime(settings)
            bootstrap_admin(rt)
            _expired_token(rt)  # purged by the worker's first periodic pass: that pass is then over
            workers.append(start_embedded_worker(settings, concurrency=1))
            assert _wait(functools.partial(_no_tokens, rt)), "first periodic pass did not run"
            rts.append(rt)
        a, b = rts
        _expired_token(a)
        _expired_token(b)
        make_celery(a.settings).send_task("openhss.purge_expired_auth_state")
        assert _wait(lambda: _tokens(a) == 0), "A's task did not run against A's database"
        assert _tokens(b) == 1, "A's task ran against B's database"
    finally:
        for w in workers:
            w.stop()


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/15", "amqp://guest:guest@127.0.0.1:5672//"])
def test_distributed_worker_process_runs_tasks(tmp_path: Path, broker: str) -> None:
    with temp_database() as url:
        settings = make_settings(tmp_path, url)
        settings = Settings(**{**settings.model_dump(), "broker_url": broker})
        rt = open_runtime(settings)
        bootstrap_admin(rt)
        _expired_token(rt)
        env = {
            **os.environ,
            "OPENHSS_DATA_DIR": str(tmp_path),
            "OPENHSS_DATABASE_URL": url,
            "OPENHSS_BROKER_URL": broker,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "openhss.cli", "worker", "--concurrency", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            try:
                make_celery(settings).send_task("openhss.purge_expired_auth_state")
            except Exception as exc:  # broker down on a developer machine
                if os.environ.get("CI"):
                    raise
                pytest.skip(f"broker {broker} unavailable: {exc}")
            ok = _wait(lambda: _tokens(rt) == 0, 60)
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
            rt.engine.dispose()
        assert ok, f"worker on {broker} did not run the task:\n{out[-3000:]}"
