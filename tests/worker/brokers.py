"""The machine's real Redis and RabbitMQ, shared with other test runs: every run uses its own queue-name
prefix and removes only the queues and keys it created."""

from __future__ import annotations

import os

import pytest
from kombu import Connection  # type: ignore[attr-defined]

from openhss.config import Settings
from openhss.worker.app import queue_names

REDIS = os.environ.get("OPENHSS_TEST_REDIS", "redis://127.0.0.1:6379/14")
RABBIT = os.environ.get("OPENHSS_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
BROKERS = [REDIS, RABBIT]


def require_broker(url: str) -> None:
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"broker {url} unavailable: {exc}")


def cleanup_broker(settings: Settings) -> None:
    url = settings.resolved_broker_url
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{settings.queue_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    elif url.startswith("amqp"):
        with Connection(url) as conn:
            channel = conn.default_channel
            for name in queue_names(settings):
                try:
                    channel.queue_delete(name)
                except Exception:
                    channel = conn.channel()
