"""`/openapi.json` tells the truth about errors: for every operation it lists (generated from the app,
so a new route is covered automatically), the error statuses the running service answers to
unauthenticated, under-privileged, malformed and oversized requests are documented for that
operation, with the HSS error schema, and no operation documents the 422 this service never sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openhss.config import Limits
from openhss.db.engine import transaction
from openhss.domain.enums import Role
from openhss.services import identity
from tests.support.service import PROJECT, Service, running_service

from .conftest import signed

READER, READER_PASSWORD = "openapi-reader", "openapi-reader-password"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    limits = Limits(max_request_bytes=4096)
    with running_service(tmp_path_factory.mktemp("openapi"), limits=limits) as service:
        with transaction(service.runtime.sessions) as s:
            identity.create_user(s, READER, Role.READ_ONLY, password=READER_PASSWORD)
            identity.grant(s, READER, PROJECT)
        yield service


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            concrete = path.replace("{project_id}", PROJECT)
            while "{" in concrete:
                start = concrete.index("{")
                concrete = concrete[:start] + "no-such-id" + concrete[concrete.index("}") + 1 :]
            yield method.upper(), concrete, op


def _assert_documented(resp: httpx.Response, method: str, path: str, op: dict[str, Any]) -> None:
    status = str(resp.status_code)
    if resp.status_code < 400:
        return
    assert status in op["responses"], (method, path, status, sorted(op["responses"]), resp.text[:300])
    body = resp.json()
    assert set(body) >= {"error_code", "error_msg"}, (method, path, body)


def test_every_operation_documents_its_error_responses_with_the_hss_schema(svc: Service) -> None:
    doc = httpx.get(svc.base_url + "/openapi.json").json()
    assert "HssError" in doc["components"]["schemas"]
    ops = list(_operations(doc))
    assert len(ops) > 40
    for method, path, op in ops:
        assert "422" not in op["responses"], (method, path)
        for code, response in op["responses"].items():
            if int(code) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/HssError"}, (method, path, code)
        for code in ("400", "413", "500"):
            assert code in op["responses"], (method, path, code)


def test_the_statuses_the_service_answers_are_the_documented_ones(svc: Service) -> None:
    doc = httpx.get(svc.base_url + "/openapi.json").json()
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": READER, "password": READER_PASSWORD}},
            }
        }
    }
    reader = httpx.post(svc.base_url + "/v3/auth/tokens", json=login).headers["X-Subject-Token"]
    seen: set[int] = set()
    with httpx.Client(base_url=svc.base_url, timeout=30) as client:
        for method, path, op in _operations(doc):
            attempts = [
                client.request(method, path),  # unauthenticated
                client.request(method, path, headers={"X-Auth-Token": reader}),  # read-only role
                client.request(method, path, headers={"X-Auth-Token": reader, "X-Subject-Token": "x"}),
                client.request(  # a malformed body and query
                    method,
                    path + "?limit=-5&offset=x&enterprise_project_id=" + "e" * 300,
                    headers={"X-Auth-Token": reader, "content-type": "application/json"},
                    content=b"{not json",
                ),
                client.request(method, path, content=b"x" * 5000),  # an oversized body
            ]
            url, headers, raw = signed(svc, method, path, {"bogus": 1} if method != "GET" else None)
            attempts.append(client.request(method, url, headers=headers, content=raw))
            for resp in attempts:
                _assert_documented(resp, method, path, op)
                seen.add(resp.status_code)
    # The probes did reach the error paths this test is about.
    assert {400, 401, 403, 404, 413} <= seen, sorted(seen)


def test_no_route_is_left_without_an_error_schema(svc: Service) -> None:
    """Guards the central mechanism itself: the schema is built once and reused, not per request."""
    first = httpx.get(svc.base_url + "/openapi.json").content
    second = httpx.get(svc.base_url + "/openapi.json").content
    assert json.loads(first) == json.loads(second)


def test_an_undeclared_method_is_a_405_naming_the_allowed_ones(svc: Service) -> None:
    resp = httpx.request("TRACE", svc.base_url + "/v3/auth/tokens")
    assert resp.status_code == 405 and resp.json()["error_code"] == "HSS.0405"
    assert set(resp.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}
