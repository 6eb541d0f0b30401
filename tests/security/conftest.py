"""Services for the attack tests: a seeded PostgreSQL one (hostile input reaches real SQL) and a
SQLite one with a tiny login budget (so throttling a source does not disturb other tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from openhss.api.app import create_app
from openhss.config import Limits
from openhss.db.engine import transaction
from openhss.db.models import Host, Image
from openhss.services import results
from openhss.services.runtime import bootstrap_admin, open_runtime
from tests.api.conftest import NGINX_VULS, nginx_inventory
from tests.support.pg import temp_database
from tests.support.server import live_server
from tests.support.service import PROJECT, Service, make_settings, running_service
from tests.support.signed import signed_headers

LOGINS_PER_MINUTE = 5


@pytest.fixture(scope="module")
def pg_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with temp_database() as url, running_service(tmp_path_factory.mktemp("sec"), url) as svc:
        with transaction(svc.runtime.sessions) as s:
            s.add(Host(project_id=PROJECT, agent_id="agent-1", host_name="node", private_ip="10.0.0.1"))
            img = Image(
                project_id=PROJECT, image_type="local", image_id="sha256:" + "a" * 64, image_name="nginx"
            )
            s.add(img)
            s.flush()
            results.record_scan(s, img.id, nginx_inventory(), NGINX_VULS)
        yield svc


@pytest.fixture(scope="module")
def throttled_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = make_settings(tmp_path_factory.mktemp("throttle"))
    settings = settings.model_copy(update={"limits": Limits(auth_attempts_per_minute=LOGINS_PER_MINUTE)})
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    with live_server(create_app(settings, rt)) as base:
        yield Service(base, rt)
    rt.engine.dispose()


def signed(
    svc: Service,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of a request signed with the admin AK/SK, ready to send or to tamper with;
    `now` fixes `X-Sdk-Date`, as two calls of the SDK within one second would."""
    url = svc.base_url + path
    raw = b"" if body is None else json.dumps(body).encode()
    return url, signed_headers(svc, method, url, raw, headers=headers, when=now), raw


def send(method: str, url: str, headers: dict[str, str], raw: bytes) -> httpx.Response:
    return httpx.request(method, url, headers=headers, content=raw, timeout=30)
