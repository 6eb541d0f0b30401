"""Schemathesis over the image API's OpenAPI document, authenticated, on a seeded SQLite service:
whatever it sends, the answer is never a 5xx (and never a stack trace)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from openhss.api.app import create_app
from openhss.db.engine import transaction
from openhss.db.models import Host, Image
from openhss.services import results
from tests.api.conftest import NGINX_VULS, nginx_inventory
from tests.support.server import live_server
from tests.support.service import ADMIN_PASSWORD, PROJECT, make_settings

_TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from openhss.services.runtime import bootstrap_admin, open_runtime

    settings = make_settings(tmp_path_factory.mktemp("fuzz"))
    rt = open_runtime(settings)
    bootstrap_admin(rt)
    with transaction(rt.sessions) as s:
        s.add(Host(project_id=PROJECT, agent_id="agent-1", host_name="node", private_ip="10.0.0.1"))
        img = Image(project_id=PROJECT, image_type="local", image_id="sha256:" + "a" * 64, image_name="nginx")
        s.add(img)
        s.flush()
        results.record_scan(s, img.id, nginx_inventory(), NGINX_VULS)
    app = create_app(settings, rt)
    with live_server(app) as base:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}},
                },
                "scope": {"project": {"id": PROJECT}},
            }
        }
        _TOKEN["base"] = base
        _TOKEN["value"] = httpx.post(base + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        yield schema.include(path_regex=r"^/v5/\{project_id\}/(image|vulnerability|export-task)")
    rt.engine.dispose()


def _fuzz(operation: Any, failures: list[str], calls: list[int]) -> Any:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        database=None,
    )
    def run(case: Any) -> None:
        if case.path_parameters is not None and "project_id" in case.path_parameters:
            case.path_parameters["project_id"] = PROJECT
        calls.append(1)
        try:
            response = case.call(headers={"X-Auth-Token": _TOKEN["value"]}, timeout=20)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            # h11 refuses requests that are not valid HTTP (control bytes in a header, an oversized
            # request line) before the app sees them and closes the connection. Fine, if the server lives.
            assert httpx.get(_TOKEN["base"] + "/health").status_code == 200
            return
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.text[:200]}")
        elif response.status_code >= 400:
            assert response.json()["error_code"].startswith("HSS.")

    return run


@pytest.mark.slow  # 68 s at load 10 on two workers: the longest test of `make test-fast` before it was marked
def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, positive and negative data; hypothesis-driven, bounded to keep it under a minute."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:
        _fuzz(operation, failures, calls)()
    assert failures == []
    assert len(calls) >= 10 * len(operations)


def test_fuzzed_paths_exist(tmp_path: Path) -> None:
    doc = create_app(make_settings(tmp_path)).openapi()
    fuzzed = [p for p in doc["paths"] if p.startswith("/v5/{project_id}/image")]
    assert len(fuzzed) >= 18
