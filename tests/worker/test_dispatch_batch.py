"""A large task's messages on the real brokers: a scan-all's after-commit messages all arrive when sent
as one batch (counted on Redis and RabbitMQ), and a send that fails midway leaves the rest to one sweep.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
from kombu import Connection  # type: ignore[attr-defined]
from sqlalchemy import insert, select

from openhss.db.engine import transaction
from openhss.db.models import Image, ScanTaskImage
from openhss.domain.enums import ScanScope
from openhss.services import dispatch, scan_queue, scan_tasks
from openhss.services.identity import Scope
from openhss.services.results import now_ms
from openhss.services.runtime import Runtime
from openhss.worker.app import install, make_batch_sender, make_sender
from tests.support.service import PROJECT
from tests.worker.brokers import BROKERS, REDIS
from tests.worker.test_reliability import service

pytestmark = pytest.mark.slow
IMAGES = 1500


def _scan_all(rt: Runtime, images: int) -> list[int]:
    """`images` image rows (never scanned: no worker runs here), a scan-all over them, its messages
    sent; its job ids."""
    _create_scan_all(rt, images)
    assert dispatch.drain(), "the background sender did not finish"
    with transaction(rt.sessions) as s:
        return list(s.scalars(select(ScanTaskImage.id).order_by(ScanTaskImage.id)))


def _create_scan_all(rt: Runtime, images: int) -> None:
    with transaction(rt.sessions) as s:
        s.execute(
            insert(Image),
            [
                {
                    "project_id": PROJECT,
                    "image_type": "local",
                    "image_id": f"sha256:{n:064x}",
                    "image_name": f"batch/{n}",
                    "image_version": "1.0",
                    "source_ref": "oci:/nonexistent:x",
                }
                for n in range(images)
            ],
        )
    with transaction(rt.sessions) as s:
        scan_tasks.create_task(
            s,
            Scope(PROJECT, None),
            image_type="local",
            is_all=True,
            scan_scope=int(ScanScope.ALL & ~ScanScope.VULNERABILITY),
            settings=rt.settings.scans,
        )


def _bulk_queue(rt: Runtime) -> str:
    return rt.settings.queue_prefix + scan_queue.LANES["bulk"]


def _count(rt: Runtime) -> int:
    url = rt.settings.resolved_broker_url
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        try:
            return int(client.llen(rt.settings.queue_prefix + _bulk_queue(rt)))
        finally:
            client.close()
    with Connection(url) as conn:
        return int(conn.default_channel.queue_declare(_bulk_queue(rt), passive=True).message_count)


def _redis_job_ids(rt: Runtime) -> list[int]:
    """The job id of every message in the Redis bulk queue (Celery protocol 2, base64 JSON body)."""
    client = redis.Redis.from_url(rt.settings.resolved_broker_url)
    try:
        raw = client.lrange(rt.settings.queue_prefix + _bulk_queue(rt), 0, -1)
    finally:
        client.close()
    ids = []
    for item in raw:
        envelope = json.loads(item)
        args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        ids.append(int(args[0]))
    return ids


@pytest.mark.parametrize("broker", BROKERS, ids=["redis", "rabbitmq"])
def test_scan_all_messages_all_arrive(tmp_path: Path, broker: str) -> None:
    with service(tmp_path, broker) as rt:
        jobs = _scan_all(rt, IMAGES)
        assert len(jobs) == IMAGES
        # On RabbitMQ the batch returns only after every publisher confirm, so once drained the count
        # is exact.
        assert _count(rt) == IMAGES


def test_send_failure_midway_leaves_the_rest_to_one_sweep(tmp_path: Path) -> None:
    with service(tmp_path, REDIS) as rt:
        app = install(rt.settings)
        real = make_batch_sender(app, rt.settings)
        sent_before_failure = 400

        def failing(messages: Sequence[dispatch.Message]) -> None:
            real(messages[:sent_before_failure])
            raise ConnectionError("broker connection lost mid-batch")

        dispatch.set_sender(make_sender(app, rt.settings), failing)
        jobs = _scan_all(rt, IMAGES)
        assert _count(rt) == sent_before_failure
        assert set(jobs) - set(_redis_job_ids(rt)), "the failure left no job without a message"

        dispatch.set_sender(make_sender(app, rt.settings), real)
        later = now_ms() + rt.settings.scans.resend_after_seconds * 1000 + 1
        with transaction(rt.sessions) as s:
            report = scan_queue.sweep(s, rt.settings.scans, now=later, limit=IMAGES)
        assert dispatch.drain()
        assert report.resent == IMAGES  # every waiting job is re-sent; the scan task is idempotent
        assert set(jobs) <= set(_redis_job_ids(rt)), "a job still has no message after one sweep"


def test_large_commit_returns_before_its_messages_are_sent(tmp_path: Path) -> None:
    """A scan-all's request does not wait for its messages: the background sender sends them after."""
    with service(tmp_path, REDIS) as rt:
        app = install(rt.settings)
        real = make_batch_sender(app, rt.settings)
        release = threading.Event()

        def held(messages: Sequence[dispatch.Message]) -> None:
            assert release.wait(60), "the test never released the batch"
            real(messages)

        dispatch.set_sender(make_sender(app, rt.settings), held)
        try:
            _create_scan_all(rt, dispatch.BACKGROUND_AT)
            assert _count(rt) == 0  # committed and returned while the batch is still held
        finally:
            release.set()
        assert dispatch.drain()
        assert _count(rt) == dispatch.BACKGROUND_AT
